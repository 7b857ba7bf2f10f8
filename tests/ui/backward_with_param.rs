use focal::{loss, Reduction};
use tch::Tensor;

fn grad(input: &Tensor, _target: &Tensor, _scale: &Tensor, _reduction: Reduction) -> Tensor {
    input.ones_like()
}

#[loss(backward = grad)]
pub fn scaled(input: &Tensor, target: &Tensor, #[param(init = 1.0)] scale: &Tensor) -> Tensor {
    (input - target) * scale
}

fn main() {}
