use focal::loss;
use tch::Tensor;

#[loss]
pub fn smooth(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0, check = <..2.0)] beta: f64,
    #[hyper(default = 1.0, check = 0.0<..1.0..2.0)] delta: f64,
) -> Tensor {
    (input - target).abs() * beta * delta
}

fn main() {}
