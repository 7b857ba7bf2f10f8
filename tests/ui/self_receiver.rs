use focal::loss;
use tch::Tensor;

pub struct Thing;

impl Thing {
    #[loss]
    pub fn mse(&self, input: &Tensor, target: &Tensor) -> Tensor {
        (input - target).square()
    }
}

fn main() {}
