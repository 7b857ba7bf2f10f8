use focal::loss;
use tch::Tensor;

#[loss(name = "my loss")]
pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
