use focal::loss;
use tch::Tensor;

// The loss is wrong (a `&mut Tensor` target), but code using `Mse` compiles: only the
// macro's own error is reported, no follow-on errors about a missing struct or method.
#[loss]
pub fn mse(input: &Tensor, target: &mut Tensor) -> Tensor {
    (input - &*target).square()
}

fn main() {
    let x = Tensor::from_slice(&[1.0f64]);
    let mut y = Tensor::from_slice(&[0.0f64]);
    let _ = Mse::new().with_reduction(focal::Reduction::Sum).f_forward(&x, &y);
    let _ = mse(&x, &mut y);
}
