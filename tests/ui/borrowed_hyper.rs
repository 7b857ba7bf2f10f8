use focal::loss;
use tch::Tensor;

#[loss]
pub fn weighted(input: &Tensor, target: &Tensor, weights: &[f64]) -> Tensor {
    (input - target).square() * Tensor::from_slice(weights)
}

fn main() {}
