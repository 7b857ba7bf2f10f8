//! A user's crate: depends on focal (and tch), has no build script and no link flags of its
//! own, and declares its own loss the plainest way (no hand-written backward, no kernel). Its
//! test checks that `libtorch_cuda` is linked, so that `Device::Cuda` works.

use focal::{loss, LossError};
use tch::{Kind, Tensor};

/// Mean squared error, declared with `#[loss]`.
#[loss]
pub fn squared_error(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
) -> Result<Tensor, LossError> {
    Ok((input - target).square())
}

/// The mean squared error of `input` against `target`, on their device.
pub fn mean_squared_error(input: &Tensor, target: &Tensor) -> f64 {
    SquaredError::new()
        .forward(input, target)
        .to_kind(Kind::Double)
        .double_value(&[])
}
