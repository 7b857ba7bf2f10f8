use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(input: &Tensor, #[hyper(default = 1.0)] target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
