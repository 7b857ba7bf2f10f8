use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(input: &Tensor, target: &Tensor) -> f64 {
    (input - target).square().mean(None).double_value(&[])
}

fn main() {}
