//! What the code `#[loss]` generates refers to. Not public API: may change in any release.

pub use crate::config::Registration;
pub use crate::output::IntoLossOutput;
pub use inventory;
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
pub use crate::body_panics::catch_tch_panics;
pub use crate::loss::check_arguments;

/// The composed value (computed without autograd) with a node whose backward pass calls the
/// hand-written `backward(upstream, tensors)` (`#[loss(backward = ...)]`). `tensors` are the
/// call-time tensors and the loss's own, in order, `None` for a left-out optional one: the node
/// takes the present ones; `backward` sees every slot (an undefined tensor for a left-out one)
/// and returns a gradient per slot, of which those of left-out tensors are dropped.
pub fn with_backward<G, B>(
    loss: &'static str,
    value: tch::Tensor,
    tensors: &[Option<&tch::Tensor>],
    backward: B,
) -> Result<tch::Tensor, crate::LossError>
where
    G: crate::IntoGradients,
    B: Fn(&tch::Tensor, &[tch::Tensor]) -> G + Send + 'static,
{
    let present: Vec<bool> = tensors.iter().map(Option::is_some).collect();
    let inputs: Vec<&tch::Tensor> = tensors.iter().flatten().copied().collect();
    crate::autograd::node::hand_written_output(loss, value, &inputs, move |upstream, saved| {
        let mut saved = saved.iter();
        let slots: Vec<tch::Tensor> = present
            .iter()
            .map(|&p| match p.then(|| saved.next()).flatten() {
                Some(t) => t.shallow_clone(),
                None => tch::Tensor::new(),
            })
            .collect();
        let gradients = crate::body_panics::catch_tch_panics(|| backward(upstream, &slots))
            .and_then(|g| g.into_gradients(present.len()))
            .map_err(|e| e.in_loss(loss))?;
        Ok(gradients
            .into_iter()
            .zip(&present)
            .filter_map(|(g, &p)| p.then_some(g))
            .collect())
    })
}

/// A saved optional tensor as the backward function takes it: `None` where it was left out.
pub fn saved_optional(saved: &tch::Tensor) -> Option<&tch::Tensor> {
    saved.defined().then_some(saved)
}

/// The error of a required tensor missing from a [`DynLoss`](crate::DynLoss) call that
/// [`check_arguments`] let through (it does not).
pub fn missing_argument(loss: &'static str) -> crate::LossError {
    crate::LossError::WrongArguments {
        loss,
        expected: "its required tensors".to_owned(),
        found: "one left out".to_owned(),
    }
}

/// Checks that `reduction` is one `accepted` names (a custom one must be the loss's own).
pub fn check_reduction(
    loss: &'static str,
    reduction: crate::Reduction,
    accepted: &'static [&'static str],
) -> Result<(), crate::LossError> {
    let known = match reduction {
        crate::Reduction::Custom(name) => {
            !crate::Reduction::STANDARD_NAMES.contains(&name) && accepted.contains(&name)
        }
        _ => true,
    };
    if known {
        Ok(())
    } else {
        Err(crate::LossError::InvalidHyperparameter {
            loss,
            name: "reduction",
            expected: format!("one of {}", crate::reduction::quoted_list(accepted)),
            found: format!("{:?}", reduction.as_str()),
        })
    }
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

/// What the composed path of a generated `f_forward` returns.
pub type CheckedResult = Result<tch::Tensor, crate::LossError>;

/// Runs `f(part)` for each part in `0..parts` on the calling thread and up to `threads - 1` of
/// libtorch's intra-op threads, as the fused kernels do (for the benchmark's floor loops, so that
/// they meet the same threads as ours). `false` where a part panicked.
pub fn run_on_intra_op_threads(parts: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
    crate::fused::run_parts(parts, threads, f)
}

/// The most pool workers that have run fused-kernel work at once in this process (for the tests:
/// never more than `tch::get_num_threads()`).
pub fn fused_pool_peak_workers() -> usize {
    crate::fused::peak_pool_workers()
}
