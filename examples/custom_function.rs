//! A custom autograd function from Rust: a clamp whose gradient passes straight through.
//!
//! `Tensor::clamp` has a zero gradient outside its range, so a parameter that starts outside it
//! never moves. `StraightThroughClamp` clamps in the forward pass and hands the upstream
//! gradient through unchanged in the backward pass (a straight-through estimator, as used for
//! quantization-aware training); `focal::autograd::apply` records it as a real libtorch autograd
//! node. Run with `make custom-function` (or `cargo run --example custom_function`).

use focal::autograd::{apply, BackwardContext, ForwardContext, Function, FunctionError};
use tch::{Kind, Tensor};

/// Clamps to `[min, max]` forward; the identity's gradient backward.
struct StraightThroughClamp {
    min: f64,
    max: f64,
}

impl Function for StraightThroughClamp {
    fn forward(
        &mut self,
        _ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        Ok(vec![inputs[0].f_clamp(self.min, self.max)?])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        Ok(vec![ctx
            .needs_input_grad(0)
            .then(|| grad_outputs[0].shallow_clone())])
    }
}

/// Gradient descent on `(f(w) - target)^2` from `w = 3`, with `f` a clamp to `[-1, 1]`.
fn fit(
    name: &str,
    f: impl Fn(&Tensor) -> Result<Tensor, tch::TchError>,
) -> Result<(), tch::TchError> {
    let mut w = Tensor::from_slice(&[3.0f64]).set_requires_grad(true);
    let target = 0.5;
    for step in 0..=40 {
        let loss = (f(&w)? - target).square().sum(Kind::Double);
        if step % 10 == 0 {
            println!(
                "{name:>22}  step {step:>2}  w = {:+.4}  loss = {:.6}",
                w.double_value(&[0]),
                loss.double_value(&[])
            );
        }
        w.zero_grad();
        loss.f_backward()?;
        tch::no_grad(|| -> Result<(), tch::TchError> {
            let _ = w.f_sub_(&(w.grad() * 0.2))?;
            Ok(())
        })?;
    }
    Ok(())
}

fn main() -> Result<(), tch::TchError> {
    fit("clamp (tch)", |w| w.f_clamp(-1.0, 1.0))?;
    fit("straight-through clamp", |w| {
        Ok(apply(
            StraightThroughClamp {
                min: -1.0,
                max: 1.0,
            },
            &[w],
        )?
        .remove(0))
    })?;
    Ok(())
}
