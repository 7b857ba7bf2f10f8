use focal::{loss, Fused, LossError, Reduction};
use tch::Tensor;

// The kernel takes the hyperparameters one by one: it must take the loss struct.
fn kernel(
    _input: &Tensor,
    _target: &Tensor,
    _scale: f64,
    _reduction: Reduction,
    _needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    Ok(None)
}

#[loss(fused = kernel)]
pub fn scaled(input: &Tensor, target: &Tensor, #[hyper(default = 1.0)] scale: f64) -> Tensor {
    (input - target) * scale
}

fn main() {}
