use focal::loss;
use tch::Tensor;

fn main() {
    let _mse = #[loss]
    |input: &Tensor, target: &Tensor| -> Tensor { (input - target).square() };
    let _unused: Option<Tensor> = None;
}
