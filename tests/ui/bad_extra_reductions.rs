use focal::{loss, Reduction};
use tch::Tensor;

#[loss(extra_reductions = ["mean", "Batch Mean", "batchmean", "batchmean", 3])]
pub fn kl(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    let _ = reduction;
    target * (target.log() - input)
}

#[loss(extra_reductions = "batchmean", reduction = "batchmean")]
pub fn kl2(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    let _ = reduction;
    target * (target.log() - input)
}

fn main() {}
