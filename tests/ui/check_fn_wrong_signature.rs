use focal::loss;
use tch::Tensor;

fn positive(x: i64) -> bool {
    x > 0
}

#[loss]
pub fn scaled(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0, check = positive)] gamma: f64,
) -> Tensor {
    (input - target).square() * gamma
}

fn main() {}
