//! Running a loss on one path: the fused kernels on, or the composed tch operations alone
//! (`focal::fused::composed_only`), counting the kernel runs so that a test knows which one ran.

use focal::{fused, Loss};
use tch::{Device, Kind, Tensor};

/// What the gradient of a loss's value is taken through.
#[derive(Clone, Copy)]
pub enum Upstream<'a> {
    /// A scalar's own gradient, an unreduced value's sum (an upstream gradient of ones).
    Ones,
    /// A scalar's own gradient, an unreduced value's product with [`varied_upstream`] of its
    /// shape, summed.
    Varied,
    /// The value times this tensor (cast to the value's dtype), summed: scalars included.
    Given(&'a Tensor),
}

/// Varied values of both signs, `2 sin(0.731 k) + 0.1` (float64 on the CPU) of `shape`, made
/// without the global generator (which tests running at the same time draw from).
pub fn varied_upstream(shape: &[i64]) -> Tensor {
    let numel: i64 = shape.iter().product();
    ((Tensor::arange(numel, (Kind::Double, Device::Cpu)) * 0.731).sin() * 2.0 + 0.1).view(shape)
}

/// One path's result: the loss's value (detached), the input's gradient, and how many times a
/// fused kernel ran meanwhile (on this thread).
pub struct PathRun {
    pub value: Tensor,
    pub grad: Tensor,
    pub kernel_runs: u64,
}

/// Forwards `loss` on a fresh leaf copy of `input` and differentiates its value through
/// `upstream`, with the kernels on (`kernels`) or inside `fused::composed_only`; the caller
/// asserts on `kernel_runs`.
pub fn run_path(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    kernels: bool,
    upstream: Upstream,
) -> PathRun {
    let run = || {
        let x = input.detach().set_requires_grad(true);
        let value = loss.forward(&x, target);
        let scalar = match upstream {
            Upstream::Ones | Upstream::Varied if value.dim() == 0 => value.shallow_clone(),
            Upstream::Ones => value.sum(value.kind()),
            Upstream::Varied => (&value
                * varied_upstream(value.size().as_slice()).to_kind(value.kind()))
            .sum(value.kind()),
            Upstream::Given(u) => (&value * u.to_kind(value.kind())).sum(value.kind()),
        };
        scalar.backward();
        (value.detach(), x.grad())
    };
    let before = focal::__private::fused_kernel_runs();
    let (value, grad) = if kernels {
        run()
    } else {
        fused::composed_only(run)
    };
    PathRun {
        value,
        grad,
        kernel_runs: focal::__private::fused_kernel_runs() - before,
    }
}
