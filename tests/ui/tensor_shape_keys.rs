use focal::loss;
use tch::Tensor;

#[loss]
pub fn ranking(
    #[tensor(per_sample, rank = 2, min_rank = 1)] input1: &Tensor,
    #[tensor(broadcastable_to = input3, min_rank = 3, max_rank = 1)] input2: &Tensor,
    #[tensor(rank = "two", broadcastable_to = target)] target: &Tensor,
) -> Tensor {
    (input1 - input2) * target
}

fn main() {}
