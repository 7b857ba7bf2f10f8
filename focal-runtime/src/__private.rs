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
