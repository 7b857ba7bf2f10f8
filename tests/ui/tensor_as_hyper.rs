use focal::loss;
use tch::Tensor;

// Tensors that are no call-time argument: each error says what to write instead.
#[loss]
pub fn weighted(
    input: &Tensor,
    target: &Tensor,
    weight: Option<Tensor>,
    stack: Vec<Tensor>,
    mask: &mut Tensor,
) -> Tensor {
    let _ = (weight, stack, mask);
    (input - target).square()
}

fn main() {}
