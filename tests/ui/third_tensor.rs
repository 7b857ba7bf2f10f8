use focal::loss;
use tch::Tensor;

#[loss]
pub fn weighted(input: &Tensor, target: &Tensor, weights: &Tensor) -> Tensor {
    (input - target).square() * weights
}

fn main() {}
