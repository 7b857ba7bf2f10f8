use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(input: &Tensor, #[tensor(same_shape_as = labels)] target: &Tensor) -> Tensor {
    (input - target).square()
}

fn main() {}
