use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled<T: Into<f64>>(input: &Tensor, target: &Tensor, scale: T) -> Tensor {
    (input - target).square() * scale.into()
}

fn main() {}
