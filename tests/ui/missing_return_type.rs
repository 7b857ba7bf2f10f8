use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(input: &Tensor, target: &Tensor) {
    let _ = (input - target).square();
}

fn main() {}
