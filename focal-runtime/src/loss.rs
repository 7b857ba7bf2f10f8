//! The trait every loss implements.

use tch::Tensor;

use crate::{LossError, Reduction};

/// A loss module: a configured loss function from `(input, target)` to a tensor.
///
/// Object safe, so `Box<dyn Loss>` holds any loss. Implemented by every `#[loss]` struct.
///
/// ```
/// use focal_runtime::{FocalLoss, Loss, Reduction};
/// let loss: Box<dyn Loss> = Box::new(FocalLoss::default());
/// assert_eq!(loss.name(), "FocalLoss");
/// assert_eq!(loss.reduction(), Reduction::Mean);
/// ```
pub trait Loss {
    /// The loss's name, as used in its error messages (`"FocalLoss"`).
    fn name(&self) -> &'static str;

    /// How the elementwise losses are reduced.
    fn reduction(&self) -> Reduction;

    /// Computes the loss, or says why it cannot.
    fn f_forward(&self, input: &tch::Tensor, target: &tch::Tensor) -> Result<Tensor, LossError>;

    /// Computes the loss.
    ///
    /// # Panics
    /// With the error's message where [`Loss::f_forward`] fails, as tch's non-`f_` functions do;
    /// the panic points at the caller (`#[track_caller]`).
    #[track_caller]
    fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        match self.f_forward(input, target) {
            Ok(loss) => loss,
            Err(err) => panic!("{err}"),
        }
    }
}

impl<L: Loss + ?Sized> Loss for Box<L> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reduction(&self) -> Reduction {
        (**self).reduction()
    }
    fn f_forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor, LossError> {
        (**self).f_forward(input, target)
    }
}

impl<L: Loss + ?Sized> Loss for &L {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reduction(&self) -> Reduction {
        (**self).reduction()
    }
    fn f_forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor, LossError> {
        (**self).f_forward(input, target)
    }
}
