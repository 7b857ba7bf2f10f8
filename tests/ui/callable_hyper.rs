use focal::loss;
use tch::Tensor;

#[loss]
pub fn triplet(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    distance: fn(&Tensor, &Tensor) -> Tensor,
    squash: Box<dyn Fn(f64) -> f64>,
) -> Tensor {
    let _ = squash;
    (distance(anchor, positive) - distance(anchor, negative)).relu()
}

fn main() {}
