use focal::loss;
use tch::Tensor;

#[loss]
pub unsafe fn mse(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
