use focal::loss;
use tch::Tensor;

#[loss(reduction = "average", nmae = Mse)]
pub async fn mse<T>(
    input: Tensor,
    #[tensor(flaot)] target: &Tensor,
    #[hyper(default = 1.0, chekc = 0.0..)] new: f64,
    (a, b): (f64, f64),
) -> Vec<f64> {
    let _ = (input, target, new, a, b);
    Vec::new()
}

fn main() {}
