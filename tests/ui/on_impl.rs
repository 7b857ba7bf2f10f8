use focal::loss;
use tch::Tensor;

pub struct Thing;

#[loss]
impl Thing {
    pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
        (input - target).square()
    }
}

fn main() {}
