//! What the code `#[loss]` generates refers to. Not public API: may change in any release.

pub use crate::output::IntoLossOutput;
pub use serde;
pub use tch;

/// The default of a hyperparameter without `#[hyper(default = ...)]`: its type's `Default`, with
/// an error that says what to do where the type has none.
#[diagnostic::on_unimplemented(
    message = "hyperparameter type `{Self}` has no default value",
    label = "`{Self}` does not implement `Default`: give this hyperparameter `#[hyper(default = ...)]`"
)]
pub trait HyperDefault: Sized {
    /// `<Self as Default>::default()`.
    fn hyper_default() -> Self;
}

impl<T: Default> HyperDefault for T {
    fn hyper_default() -> Self {
        T::default()
    }
}

/// A `#[hyper(check = range)]` range, checked against the hyperparameter's number type `T` with an
/// error that says how to write it.
#[diagnostic::on_unimplemented(
    message = "the range `{Self}` cannot check a hyperparameter whose numbers are `{T}`",
    label = "write the range with `{T}` bounds (`0.0..10.0` for floats, `0..10` for integers)"
)]
pub trait CheckRange<T>: core::ops::RangeBounds<T> {}

impl<T, R: core::ops::RangeBounds<T>> CheckRange<T> for R {}

/// [`checks::hyper_in_range`](crate::checks::hyper_in_range) as the macro calls it, spanned at
/// the user's range: a range that does not fit the hyperparameter is reported there, once.
pub fn hyper_in_range<T, V: crate::checks::InRange<T> + core::fmt::Debug, R: CheckRange<T>>(
    loss: &'static str,
    name: &'static str,
    value: &V,
    range: &R,
    range_text: &str,
) -> Result<(), crate::LossError> {
    crate::checks::hyper_in_range(loss, name, value, range, range_text)
}

pub use crate::autograd::is_grad_enabled;
pub use crate::autograd::state::state_tensor;

/// The composed value (computed without autograd) with a node whose backward pass calls the
/// hand-written `backward(upstream, tensors)` (`#[loss(backward = ...)]`); `tensors` are the
/// call-time tensors and the loss's own, in order.
pub fn with_backward<G, B>(
    loss: &'static str,
    value: tch::Tensor,
    tensors: &[&tch::Tensor],
    backward: B,
) -> Result<tch::Tensor, crate::LossError>
where
    G: crate::IntoGradients,
    B: Fn(&tch::Tensor, &[tch::Tensor]) -> G + Send + 'static,
{
    let count = tensors.len();
    crate::autograd::node::hand_written_output(loss, value, tensors, move |upstream, saved| {
        backward(upstream, saved)
            .into_gradients(count)
            .map_err(|e| e.in_loss(loss))
    })
}

/// The result of a `#[loss(fused = ...)]` kernel: `Some(loss)` (with its gradient node where
/// needed) where the kernel covered the input, `None` to take the composed path.
pub fn fused_result(
    loss: &'static str,
    fused: Result<Option<crate::Fused>, crate::LossError>,
    input: &tch::Tensor,
    needs_grad: bool,
) -> Result<Option<tch::Tensor>, crate::LossError> {
    let Some(fused) = fused.map_err(|e| e.in_loss(loss))? else {
        return Ok(None);
    };
    crate::autograd::node::kernel_output(loss, fused, input, needs_grad)
}

/// How many times a fused kernel has computed a loss on the current thread (for the tests: which
/// path a call took).
pub fn fused_kernel_runs() -> u64 {
    crate::fused::kernel_runs()
}

/// The data pointer of the gradient buffer the last fused kernel on this thread handed to an
/// autograd node (for the tests: autograd takes it as `x.grad` without a copy).
pub fn last_kernel_gradient() -> usize {
    crate::autograd::node::last_kernel_gradient()
}

/// Runs `f` with the fused kernels handing back their value and gradient instead of recording a
/// node (for the benchmark, which compares ways of registering the gradient).
pub fn capture_kernel<T>(f: impl FnOnce() -> T) -> (T, Option<crate::Fused>) {
    crate::autograd::node::capture_kernel(f)
}
