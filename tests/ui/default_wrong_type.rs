use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = "two")] gamma: f64,
) -> Tensor {
    (input - target).square() * gamma
}

fn main() {}
