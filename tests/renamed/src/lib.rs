//! A crate that depends on focal under another name (`my_focal`), as a user may, and declares a
//! loss with `#[loss(crate = my_focal)]`.

use my_focal::{loss, LossError};
use tch::Tensor;

/// Absolute error, with a fallible body.
#[loss(crate = my_focal, reduction = "sum")]
pub fn absolute(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// Scales the loss.
    #[hyper(default = 1.0, check = 0.0..)]
    scale: f64,
) -> Result<Tensor, LossError> {
    Ok(input.f_sub(target)?.f_abs()? * scale)
}
