use focal::loss;
use tch::Tensor;

#[loss]
pub struct Smooth {
    pub beta: f64,
    pub weights: Option<Tensor>,
}

fn main() {}
