use focal::loss;
use tch::Tensor;

#[loss]
pub fn scaled(
    input: &Tensor,
    target: &Tensor,
    reduction: f64,
    forward: f64,
    new: bool,
) -> Tensor {
    let _ = (reduction, forward, new);
    (input - target).square()
}

fn main() {}
