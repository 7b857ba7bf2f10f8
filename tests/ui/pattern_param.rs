use focal::loss;
use tch::Tensor;

#[loss]
pub fn clipped(input: &Tensor, target: &Tensor, (low, high): (f64, f64)) -> Tensor {
    (input - target).square().clamp(low, high)
}

fn main() {}
