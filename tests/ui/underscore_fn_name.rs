use focal::loss;
use tch::Tensor;

#[loss]
pub fn __(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
