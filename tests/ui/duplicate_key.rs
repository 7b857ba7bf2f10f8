use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 2.0, default = 3.0)] gamma: f64,
) -> Tensor {
    (input - target).square() * gamma
}

fn main() {}
