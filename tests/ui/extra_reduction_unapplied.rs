use focal::loss;
use tch::Tensor;

// A reduction of the loss's own needs the body to apply it.
#[loss(extra_reductions = ["batchmean"])]
pub fn kl(input: &Tensor, target: &Tensor) -> Tensor {
    target * (target.log() - input)
}

fn main() {}
