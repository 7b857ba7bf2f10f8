use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled(input: &Tensor, target: &Tensor, #[param(shape = [1], intt = 1.0)] scale: f64) -> Tensor {
    (input - target) * scale
}

fn main() {}
