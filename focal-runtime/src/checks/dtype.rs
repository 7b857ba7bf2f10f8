use tch::{Kind, Tensor};

use crate::LossError;

/// A set of dtype families a tensor argument may have.
///
/// ```
/// use focal_runtime::checks::DTypes;
/// assert!(DTypes::FLOAT.allows(tch::Kind::BFloat16));
/// assert!(!DTypes::FLOAT.allows(tch::Kind::Int64));
/// assert!(DTypes::FLOAT.or(DTypes::INTEGER).allows(tch::Kind::Int64));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DTypes(u8);

impl DTypes {
    /// Floating point: half, bfloat16, float, double.
    pub const FLOAT: DTypes = DTypes(1);
    /// Integers (class indices): uint8, int8, int16, int32, int64.
    pub const INTEGER: DTypes = DTypes(2);
    /// Booleans.
    pub const BOOL: DTypes = DTypes(4);

    /// Either family.
    pub const fn or(self, other: DTypes) -> DTypes {
        DTypes(self.0 | other.0)
    }

    /// Whether `kind` belongs to the set.
    pub fn allows(self, kind: Kind) -> bool {
        let family = match kind {
            Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double => DTypes::FLOAT,
            Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64 => DTypes::INTEGER,
            Kind::Bool => DTypes::BOOL,
            _ => return false,
        };
        self.0 & family.0 != 0
    }

    /// The set as a phrase: "a floating-point", "an integer or bool".
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (DTypes::FLOAT, "floating-point"),
            (DTypes::INTEGER, "integer"),
            (DTypes::BOOL, "bool"),
        ]
        .into_iter()
        .filter(|(d, _)| self.0 & d.0 != 0)
        .map(|(_, n)| n)
        .collect();
        let joined = names.join(" or ");
        let article = if joined.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {joined}")
    }
}

/// Checks that `t` has a dtype in `allowed`.
///
/// ```
/// use focal_runtime::checks::{dtype, DTypes};
/// let t = tch::Tensor::from_slice(&[1i64, 2]);
/// let err = dtype("MyLoss", "input", &t, DTypes::FLOAT).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: input should have a floating-point dtype but has Int64");
/// ```
pub fn dtype(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    allowed: DTypes,
) -> Result<(), LossError> {
    let found = t.kind();
    if allowed.allows(found) {
        Ok(())
    } else {
        Err(LossError::DTypeMismatch {
            loss,
            arg,
            expected: allowed.describe(),
            found,
        })
    }
}
