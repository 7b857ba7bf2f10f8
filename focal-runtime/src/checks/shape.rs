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
