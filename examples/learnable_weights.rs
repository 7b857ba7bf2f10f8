//! Multi-task uncertainty weighting (Kendall, Gal and Cipolla, 2018) with a learnable loss.
//!
//! Two regression tasks share one model; task A's targets carry noise of standard deviation 0.1,
//! task B's of 1.0. The loss owns one log-variance `s_k` per task, a `#[param]` registered on the
//! same `VarStore` as the model, and weighs each task's squared error by `exp(-s_k)`:
//! `0.5 exp(-s_k) (x - y)^2 + 0.5 s_k`. Minimising it over `s_k` gives `exp(s_k)` = the task's
//! mean squared error, which tends to the noise variance, so the learned weights `exp(-s_k)`
//! approach `1 / 0.1^2 = 100` and `1 / 1.0^2 = 1`.
//!
//! Run with `make learnable-weights` (or `cargo run --release --example learnable_weights`).

use focal::loss;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Homoscedastic uncertainty weighting of two regression tasks (columns of input and target).
#[loss]
fn uncertainty_weighted(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// One log-variance per task, learned with the model.
    #[param(shape = [2], init = 0.0)]
    log_vars: &Tensor,
) -> Tensor {
    (input - target).square() * (-log_vars).exp() * 0.5 + log_vars * 0.5
}

fn main() {
    tch::manual_seed(0);
    let (noise_a, noise_b) = (0.1, 1.0);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let model = nn::linear(&root / "model", 4, 2, Default::default());
    let loss = UncertaintyWeighted::new(&(&root / "loss"));

    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    println!("variables the optimizer steps: {}", names.join(", "));
    let mut opt = nn::Adam::default().build(&vs, 0.02).expect("an optimizer");

    let x = Tensor::rand([1024, 4], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    let true_w = Tensor::from_slice(&[1.0f32, -2.0, 0.5, 3.0, 0.3, 1.5, -1.0, 2.0]).view([4, 2]);
    let noise = Tensor::randn([1024, 2], (Kind::Float, Device::Cpu))
        * Tensor::from_slice(&[noise_a as f32, noise_b as f32]);
    let y = x.matmul(&true_w) + noise;

    println!(
        "{:>6}  {:>10}  {:>12}  {:>12}",
        "step",
        loss.name(),
        "weight A",
        "weight B"
    );
    for step in 0..=1500 {
        let value = loss.forward(&model.forward(&x), &y);
        opt.backward_step(&value);
        if step % 250 == 0 {
            let w = (-&loss.log_vars).exp();
            println!(
                "{step:>6}  {:>10.4}  {:>12.2}  {:>12.3}",
                value.double_value(&[]),
                w.double_value(&[0]),
                w.double_value(&[1])
            );
        }
    }
    let mse = tch::no_grad(|| {
        (model.forward(&x) - &y)
            .square()
            .mean_dim(0, false, Kind::Float)
    });
    println!(
        "learned weights exp(-s): A {:.2}, B {:.3}; 1 / (model's MSE): A {:.2}, B {:.3}; 1 / noise variance: A {:.0}, B {:.0}",
        (-loss.log_vars.double_value(&[0])).exp(),
        (-loss.log_vars.double_value(&[1])).exp(),
        1.0 / mse.double_value(&[0]),
        1.0 / mse.double_value(&[1]),
        1.0 / (noise_a * noise_a),
        1.0 / (noise_b * noise_b),
    );
}
