use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0, check = 0..10)] gamma: f64,
) -> Tensor {
    (input - target).square() * gamma
}

fn main() {}
