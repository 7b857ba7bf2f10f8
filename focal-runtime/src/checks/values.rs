use tch::{Kind, Tensor};

use crate::LossError;

fn first_value(t: &Tensor, bad: &Tensor) -> Result<String, LossError> {
    let offending = t.f_masked_select(bad)?;
    let first = offending.f_get(0)?;
    Ok(if first.is_floating_point() {
        format!("{}", first.f_double_value(&[])?)
    } else {
        format!("{}", first.f_int64_value(&[])?)
    })
}

fn refuse_where(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    bad: Tensor,
    expected: impl FnOnce() -> String,
) -> Result<(), LossError> {
    if t.numel() == 0 || !bad.f_any()?.f_int64_value(&[])?.eq(&1) {
        return Ok(());
    }
    let count = bad.f_sum(Kind::Int64)?.f_int64_value(&[])?;
    let first = first_value(t, &bad)?;
    let found = if count == 1 {
        first
    } else {
        format!("{first} (and {} more)", count - 1)
    };
    Err(LossError::TargetOutOfRange {
        loss,
        arg,
        expected: expected(),
        found,
    })
}

/// Whether every value of `t` lies in `[low, high]` (an empty `t` does; NaN does not), from one
/// `aminmax` pass: the checks' common case, accepted before the elementwise comparisons that
/// find and report a bad value.
fn all_within(t: &Tensor, low: i64, high: i64) -> Result<bool, LossError> {
    if t.numel() == 0 {
        return Ok(true);
    }
    let (min, max) = t.f_aminmax(None, false)?;
    Ok(min.f_double_value(&[])? >= low as f64 && max.f_double_value(&[])? <= high as f64)
}

/// Checks that `target` holds class indices in `[0, num_classes)`, or `ignore_index`.
///
/// ```
/// let t = tch::Tensor::from_slice(&[0i64, 2, 5]);
/// let err = focal_runtime::checks::class_indices("MyLoss", "target", &t, 3, None).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: target should hold class indices in [0, 3) but holds 5");
/// // The ignore index is accepted, and only it.
/// use focal_runtime::checks::class_indices;
/// let ignored = tch::Tensor::from_slice(&[0i64, -100, 2]);
/// assert!(class_indices("MyLoss", "target", &ignored, 3, Some(-100)).is_ok());
/// assert!(class_indices("MyLoss", "target", &ignored, 3, None).is_err());
/// let bad = tch::Tensor::from_slice(&[0i64, -100, -1]);
/// let err = class_indices("MyLoss", "target", &bad, 3, Some(-100)).unwrap_err();
/// assert!(err.to_string().ends_with("but holds -1"), "{err}");
/// ```
pub fn class_indices(
    loss: &'static str,
    arg: &'static str,
    target: &Tensor,
    num_classes: i64,
    ignore_index: Option<i64>,
) -> Result<(), LossError> {
    // Compared in i64: a scalar compared with a narrower integer tensor wraps to its type.
    let wide;
    let target = if target.kind() == Kind::Int64 {
        target
    } else {
        wide = target.f_to_kind(Kind::Int64)?;
        &wide
    };
    // Every index a class (with an ignore index: once it is replaced by class 0, which the
    // bounds refuse where there is no class).
    let last = num_classes - 1;
    if all_within(target, 0, last)? {
        return Ok(());
    }
    if let Some(ignore) = ignore_index {
        if all_within(&target.f_masked_fill(&target.f_eq(ignore)?, 0)?, 0, last)? {
            return Ok(());
        }
    }
    let mut bad = target.f_lt(0)?.f_logical_or(&target.f_ge(num_classes)?)?;
    if let Some(ignore) = ignore_index {
        bad = bad.f_logical_and(&target.f_ne(ignore)?)?;
    }
    refuse_where(loss, arg, target, bad, || match ignore_index {
        Some(i) => format!("class indices in [0, {num_classes}) or the ignore_index {i}"),
        None => format!("class indices in [0, {num_classes})"),
    })
}

/// Checks that `target` holds only 0 and 1 (any dtype).
///
/// ```
/// let t = tch::Tensor::from_slice(&[0.0f32, 1.0, 0.5]);
/// let err = focal_runtime::checks::binary_values("Focal", "target", &t).unwrap_err();
/// assert_eq!(err.to_string(), "Focal: target should hold only 0 and 1 but holds 0.5");
/// let mask = tch::Tensor::from_slice(&[0i64, 1, 1]);
/// assert!(focal_runtime::checks::binary_values("Focal", "target", &mask).is_ok());
/// let flags = tch::Tensor::from_slice(&[true, false]);
/// assert!(focal_runtime::checks::binary_values("Focal", "target", &flags).is_ok());
/// let labels = tch::Tensor::from_slice(&[0i64, 1, 2]);
/// assert!(focal_runtime::checks::binary_values("Focal", "target", &labels).is_err());
/// ```
pub fn binary_values(
    loss: &'static str,
    arg: &'static str,
    target: &Tensor,
) -> Result<(), LossError> {
    // Integer (and bool) targets between 0 and 1 are binary.
    if !target.is_floating_point() && all_within(target, 0, 1)? {
        return Ok(());
    }
    let bad = target.f_ne(0)?.f_logical_and(&target.f_ne(1)?)?;
    refuse_where(loss, arg, target, bad, || "only 0 and 1".to_owned())
}

/// Checks that a floating-point `target` holds values in `[0, 1]` (soft labels); NaN is refused.
///
/// ```
/// let t = tch::Tensor::from_slice(&[0.0f32, 1.0, 1.5]);
/// let err = focal_runtime::checks::values_in_unit_interval("Dice", "target", &t).unwrap_err();
/// assert_eq!(err.to_string(), "Dice: target should hold values in [0, 1] but holds 1.5");
/// ```
pub fn values_in_unit_interval(
    loss: &'static str,
    arg: &'static str,
    target: &Tensor,
) -> Result<(), LossError> {
    if all_within(target, 0, 1)? {
        return Ok(());
    }
    let inside = target.f_ge(0)?.f_logical_and(&target.f_le(1)?)?;
    refuse_where(loss, arg, target, inside.f_logical_not()?, || {
        "values in [0, 1]".to_owned()
    })
}
