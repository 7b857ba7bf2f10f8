use focal::loss;
use tch::Tensor;

#[loss]
pub fn maybe_squared(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = true, check = 0..1)] square: bool,
) -> Tensor {
    let diff = input - target;
    if square {
        diff.square()
    } else {
        diff.abs()
    }
}

fn main() {}
