use focal::{loss, Reduction};
use tch::Tensor;

#[loss]
pub fn twice(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = Reduction::Sum)] reduction: Reduction,
    again: Reduction,
) -> Tensor {
    let _ = (reduction, again);
    (input - target).square()
}

fn main() {}
