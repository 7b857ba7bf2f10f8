//! Quickstart: both seed losses, and their gradients, on a random batch.
//!
//! Run with `make demo` (or `cargo run --example quickstart` after `make test` set libtorch up).

use focal::{Focal, FocalLoss, Reduction};
use tch::{Device, Kind, Tensor};

fn main() -> Result<(), focal::LossError> {
    tch::manual_seed(0);
    let device = Device::cuda_if_available();
    println!("device: {}", focal::device_name(device));

    // Multi-class: logits (N, C, Z, X, Y) and class indices (N, 1, Z, X, Y), as in the seed.
    let logits = Tensor::randn([2, 4, 8, 8, 8], (Kind::Float, device)).set_requires_grad(true);
    let target = Tensor::randint(4, [2, 1, 8, 8, 8], (Kind::Int64, device));
    let multi = FocalLoss::default();
    let loss = multi.f_forward(&logits, &target)?;
    loss.backward();
    println!(
        "{} (gamma {}, alpha {}, {}): loss {:.6}, |d loss / d logits| {:.6e}",
        multi.name(),
        multi.gamma,
        multi.alpha,
        multi.reduction,
        loss.double_value(&[]),
        logits.grad().norm().double_value(&[]),
    );

    // Binary: probabilities and 0/1 targets of any shape.
    let probs = Tensor::rand([2, 1, 8, 8, 8], (Kind::Float, device)).set_requires_grad(true);
    let labels = Tensor::rand([2, 1, 8, 8, 8], (Kind::Float, device))
        .gt(0.5)
        .to_kind(Kind::Float);
    let binary = Focal::new().with_reduction(Reduction::Sum);
    let loss = binary.f_forward(&probs, &labels)?;
    loss.backward();
    println!(
        "{} (gamma {}, alpha {}, {}): loss {:.6}, |d loss / d probs| {:.6e}",
        binary.name(),
        binary.gamma,
        binary.alpha,
        binary.reduction,
        loss.double_value(&[]),
        probs.grad().norm().double_value(&[]),
    );

    // A mistake is a typed error, not a C++ stack trace.
    let wrong = Tensor::randint(4, [2, 1, 8, 8, 7], (Kind::Int64, device));
    if let Err(err) = multi.f_forward(&logits, &wrong) {
        println!("error, as expected: {err}");
    }
    Ok(())
}
