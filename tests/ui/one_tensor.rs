use focal::loss;
use tch::Tensor;

#[loss]
pub fn norm(input: &Tensor) -> Tensor {
    input.square()
}

fn main() {}
