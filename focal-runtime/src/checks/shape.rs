use tch::Tensor;

use crate::LossError;

/// Checks that `t` has the shape of `reference`.
///
/// ```
/// use tch::{Kind, Tensor};
/// let a = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
/// let b = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu));
/// let err = focal_runtime::checks::same_shape("MyLoss", "target", &b, "input", &a).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: target has shape [3, 2] but should have the shape of input, [2, 3]");
/// ```
pub fn same_shape(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    reference: &'static str,
    reference_tensor: &Tensor,
) -> Result<(), LossError> {
    let (found, expected) = (t.size(), reference_tensor.size());
    if found == expected {
        Ok(())
    } else {
        Err(LossError::ShapeMismatch {
            loss,
            arg,
            expected: format!("should have the shape of {reference}, {expected:?}"),
            found,
        })
    }
}

/// A shape-mismatch error with a free-form expectation ("should be (N, C, *) with at least 2 dims").
pub fn shape_of(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    expected: impl Into<String>,
) -> LossError {
    LossError::ShapeMismatch {
        loss,
        arg,
        expected: expected.into(),
        found: t.size(),
    }
}

/// Checks that `t` broadcasts to the shape of `reference` (PyTorch's broadcasting rules: from
/// the last dimension, each of `t`'s sizes is 1 or the reference's, and `t` has no more
/// dimensions).
///
/// ```
/// use tch::{Kind, Tensor};
/// let input = Tensor::zeros([4, 3], (Kind::Float, tch::Device::Cpu));
/// let weight = Tensor::zeros([3], (Kind::Float, tch::Device::Cpu));
/// focal_runtime::checks::broadcastable_to("MyLoss", "weight", &weight, "input", &input).unwrap();
/// let bad = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
/// let err = focal_runtime::checks::broadcastable_to("MyLoss", "weight", &bad, "input", &input).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: weight has shape [4] but should broadcast to the shape of input, [4, 3]");
/// ```
pub fn broadcastable_to(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    reference: &'static str,
    reference_tensor: &Tensor,
) -> Result<(), LossError> {
    let (found, expected) = (t.size(), reference_tensor.size());
    let fits = found.len() <= expected.len()
        && found
            .iter()
            .rev()
            .zip(expected.iter().rev())
            .all(|(f, e)| f == e || *f == 1);
    if fits {
        Ok(())
    } else {
        Err(LossError::ShapeMismatch {
            loss,
            arg,
            expected: format!("should broadcast to the shape of {reference}, {expected:?}"),
            found,
        })
    }
}

/// Checks that `t` holds one entry per sample of `reference`: the shape `[N]` where `N` is the
/// reference's first dimension, or `[]` where the reference is one unbatched sample (rank 1 or
/// less).
///
/// ```
/// use tch::{Kind, Tensor};
/// let input = Tensor::zeros([4, 3], (Kind::Float, tch::Device::Cpu));
/// let target = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
/// focal_runtime::checks::per_sample("MyLoss", "target", &target, "input", &input).unwrap();
/// let err = focal_runtime::checks::per_sample("MyLoss", "target", &input, "input", &input).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: target has shape [4, 3] but should hold one entry per sample of input, [4]");
/// ```
pub fn per_sample(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    reference: &'static str,
    reference_tensor: &Tensor,
) -> Result<(), LossError> {
    let reference_shape = reference_tensor.size();
    let expected: Vec<i64> = if reference_shape.len() <= 1 {
        Vec::new()
    } else {
        vec![reference_shape[0]]
    };
    let found = t.size();
    if found == expected {
        Ok(())
    } else {
        Err(LossError::ShapeMismatch {
            loss,
            arg,
            expected: format!("should hold one entry per sample of {reference}, {expected:?}"),
            found,
        })
    }
}

/// Checks that `t` has between `min` and `max` dimensions (both inclusive).
///
/// ```
/// use tch::{Kind, Tensor};
/// let t = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
/// focal_runtime::checks::rank("MyLoss", "input", &t, 1, 2).unwrap();
/// let err = focal_runtime::checks::rank("MyLoss", "input", &t, 2, usize::MAX).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: input has shape [4] but should have at least 2 dimensions");
/// let err = focal_runtime::checks::rank("MyLoss", "input", &t, 2, 2).unwrap_err();
/// assert_eq!(err.to_string(), "MyLoss: input has shape [4] but should have 2 dimensions");
/// ```
pub fn rank(
    loss: &'static str,
    arg: &'static str,
    t: &Tensor,
    min: usize,
    max: usize,
) -> Result<(), LossError> {
    let found = t.size();
    if (min..=max).contains(&found.len()) {
        return Ok(());
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let expected = if min == max {
        format!("should have {min} dimension{}", plural(min))
    } else if max == usize::MAX {
        format!("should have at least {min} dimension{}", plural(min))
    } else if min == 0 {
        format!("should have at most {max} dimension{}", plural(max))
    } else {
        format!("should have {min} to {max} dimensions")
    };
    Err(LossError::ShapeMismatch {
        loss,
        arg,
        expected,
        found,
    })
}
