// A known limitation: a trait method with a body (or an associated function without `self` in an
// impl block) looks exactly like a free function to an attribute macro, so rustc, not #[loss],
// reports the misuse, at the attribute, when the generated struct lands in the trait.
use focal::loss;
use tch::Tensor;

pub trait Losses {
    #[loss]
    fn mse(input: &Tensor, target: &Tensor) -> Tensor {
        (input - target).square()
    }
}

fn main() {}
