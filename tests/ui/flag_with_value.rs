use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(#[tensor(float = true)] input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
