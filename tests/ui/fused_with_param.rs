use focal::{loss, Fused, LossError};
use tch::Tensor;

fn kernel(
    _loss: &Scaled,
    _input: &Tensor,
    _target: &Tensor,
    _needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    Ok(None)
}

#[loss(fused = kernel)]
pub fn scaled(input: &Tensor, target: &Tensor, #[param(init = 1.0)] scale: &Tensor) -> Tensor {
    (input - target) * scale
}

fn main() {}
