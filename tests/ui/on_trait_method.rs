use focal::loss;
use tch::Tensor;

pub trait Losses {
    #[loss]
    fn mse(input: &Tensor, #[hyper(default = 1.0)] target: &Tensor) -> Tensor;
}

fn main() {}
