use focal::loss;
use tch::Tensor;

#[loss]
pub fn mse(input: &Tensor, target: &Tensor) -> Result<Tensor, String> {
    Ok((input - target).square())
}

fn main() {}
