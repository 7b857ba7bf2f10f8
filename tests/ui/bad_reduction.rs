use focal::loss;
use tch::Tensor;

#[loss(reduction = "avg")]
pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
