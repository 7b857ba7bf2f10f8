use focal::{loss, Fused, LossError, Reduction};
use tch::Tensor;

fn kernel(
    _input: &Tensor,
    _target: &Tensor,
    _scale: &Tensor,
    _reduction: Reduction,
    _needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    Ok(None)
}

#[loss(fused = kernel)]
pub fn scaled(input: &Tensor, target: &Tensor, #[param(init = 1.0)] scale: &Tensor) -> Tensor {
    (input - target) * scale
}

fn main() {}
