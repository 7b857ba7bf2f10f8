use std::fmt::Debug;
use std::ops::RangeBounds;

use crate::LossError;

/// Hyperparameter values whose every number can be tested against a range: numbers, and
/// `Option`s and `Vec`s of them (`None` and empty vectors pass).
#[diagnostic::on_unimplemented(
    message = "a range check cannot test a hyperparameter of type `{Self}`",
    label = "`check = range` applies to numbers and to `Option`s and `Vec`s of numbers; use `check = function` for other types"
)]
pub trait InRange<T> {
    /// Whether every number in `self` lies in `range`. NaN never does, and an infinity only
    /// where the range names it as a bound (`0.0..=f64::INFINITY`): a range written `0.0..` means
    /// the finite numbers from 0.
    fn in_range<R: RangeBounds<T>>(&self, range: &R) -> bool;

    /// Whether some number in `self` is NaN or infinite (for the error message).
    fn has_non_finite(&self) -> bool {
        false
    }
}

macro_rules! in_range_for_integers {
    ($($t:ty),*) => {$(
        impl InRange<$t> for $t {
            fn in_range<R: RangeBounds<$t>>(&self, range: &R) -> bool {
                range.contains(self)
            }
        }
    )*};
}
in_range_for_integers!(i64, i32, i16, i8, u64, u32, u16, u8, usize, isize);

macro_rules! in_range_for_floats {
    ($($t:ty),*) => {$(
        impl InRange<$t> for $t {
            fn in_range<R: RangeBounds<$t>>(&self, range: &R) -> bool {
                use std::ops::Bound;
                let named = |bound: Bound<&$t>| matches!(bound, Bound::Included(b) if *b == *self);
                range.contains(self)
                    && (self.is_finite() || named(range.start_bound()) || named(range.end_bound()))
            }

            fn has_non_finite(&self) -> bool {
                !self.is_finite()
            }
        }
    )*};
}
in_range_for_floats!(f64, f32);

impl<T, X: InRange<T>> InRange<T> for Option<X> {
    fn in_range<R: RangeBounds<T>>(&self, range: &R) -> bool {
        self.as_ref().is_none_or(|x| x.in_range(range))
    }

    fn has_non_finite(&self) -> bool {
        self.as_ref().is_some_and(X::has_non_finite)
    }
}

impl<T, X: InRange<T>> InRange<T> for Vec<X> {
    fn in_range<R: RangeBounds<T>>(&self, range: &R) -> bool {
        self.iter().all(|x| x.in_range(range))
    }

    fn has_non_finite(&self) -> bool {
        self.iter().any(X::has_non_finite)
    }
}

/// Checks a hyperparameter against a range; `range_text` is the range as written (`"0.0..=1.0"`).
/// Floats must also be finite unless the range names the infinity as its bound.
///
/// ```
/// use focal_runtime::checks::hyper_in_range;
/// let err = hyper_in_range("Focal", "alpha", &1.5f64, &(0.0..=1.0), "0.0..=1.0").unwrap_err();
/// assert_eq!(err.to_string(), "Focal: hyperparameter alpha should be in 0.0..=1.0 but is 1.5");
/// let err = hyper_in_range("Focal", "gamma", &f64::INFINITY, &(0.0..), "0.0..").unwrap_err();
/// assert_eq!(err.to_string(), "Focal: hyperparameter gamma should be finite and in 0.0.. but is inf");
/// assert!(hyper_in_range("L", "beta", &f64::INFINITY, &(0.0..=f64::INFINITY), "0.0..=inf").is_ok());
/// ```
pub fn hyper_in_range<T, V: InRange<T> + Debug, R: RangeBounds<T>>(
    loss: &'static str,
    name: &'static str,
    value: &V,
    range: &R,
    range_text: &str,
) -> Result<(), LossError> {
    if value.in_range(range) {
        Ok(())
    } else {
        let finite = if value.has_non_finite() {
            "finite and "
        } else {
            ""
        };
        Err(LossError::InvalidHyperparameter {
            loss,
            name,
            expected: format!("{finite}in {range_text}"),
            found: crate::shorten(&format!("{value:?}")),
        })
    }
}

/// Checks a hyperparameter with a function that returns what it expected on failure.
///
/// ```
/// use focal_runtime::checks::hyper_check;
/// let finite = |v: &f64| if v.is_finite() { Ok(()) } else { Err("finite".to_string()) };
/// let err = hyper_check("MyLoss", "beta", &f64::NAN, finite).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: hyperparameter beta should be finite but is NaN");
/// ```
pub fn hyper_check<V: Debug + ?Sized>(
    loss: &'static str,
    name: &'static str,
    value: &V,
    check: impl FnOnce(&V) -> Result<(), String>,
) -> Result<(), LossError> {
    check(value).map_err(|expected| LossError::InvalidHyperparameter {
        loss,
        name,
        expected,
        found: crate::shorten(&format!("{value:?}")),
    })
}
