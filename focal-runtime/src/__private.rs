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

/// What a `#[loss(backward = ...)]` function may return: `Tensor` or `Result<Tensor, LossError>`.
pub trait IntoGradient {
    /// The gradient, or the function's error.
    fn into_gradient(self) -> Result<tch::Tensor, crate::LossError>;
}

impl IntoGradient for tch::Tensor {
    fn into_gradient(self) -> Result<tch::Tensor, crate::LossError> {
        Ok(self)
    }
}

impl IntoGradient for Result<tch::Tensor, crate::LossError> {
    fn into_gradient(self) -> Result<tch::Tensor, crate::LossError> {
        self
    }
}

/// The composed value with a hand-written gradient attached (`#[loss(backward = ...)]`).
pub fn with_backward(
    loss: &'static str,
    value: tch::Tensor,
    input: &tch::Tensor,
    grad: impl IntoGradient,
) -> Result<tch::Tensor, crate::LossError> {
    let grad = grad.into_gradient().map_err(|e| e.in_loss(loss))?;
    crate::attach_gradient(&value, input, &grad).map_err(|e| tag(e, loss))
}

/// The result of a `#[loss(fused = ...)]` kernel: `Some(loss)` (with its gradient attached when
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
    match (needs_grad, fused.grad) {
        (false, _) => Ok(Some(fused.value)),
        (true, Some(grad)) => {
            crate::attach_scaled_gradient(&fused.value, input, &grad, fused.grad_scale)
                .map(Some)
                .map_err(|e| tag(e, loss))
        }
        (true, None) => Ok(None),
    }
}

fn tag(e: crate::LossError, loss: &'static str) -> crate::LossError {
    match e {
        crate::LossError::ShapeMismatch {
            loss: "",
            arg,
            expected,
            found,
        } => crate::LossError::ShapeMismatch {
            loss,
            arg,
            expected,
            found,
        },
        other => other.in_loss(loss),
    }
}
