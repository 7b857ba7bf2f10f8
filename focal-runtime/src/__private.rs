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
