use focal::loss;
use tch::Tensor;

#[loss(register = 3)]
pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
