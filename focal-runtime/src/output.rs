//! What a loss body returns, and how it is reduced.

use tch::Tensor;

use crate::{LossError, Reduction};

/// Elementwise losses with optional per-element weights that `Mean` divides by.
///
/// A `#[loss]` body that returns this (instead of a bare `Tensor`) gets PyTorch's weighted mean:
/// `Mean` is `loss.sum() / weight.sum()`, exactly as `cross_entropy(weight=..., ignore_index=...)`
/// divides. `loss` should already carry the weights; `weight` is only the normaliser.
///
/// ```
/// use focal_runtime::{LossOutput, Reduction};
/// use tch::Tensor;
/// let out = LossOutput::weighted(Tensor::from_slice(&[1.0f64, 3.0, 0.0]), Tensor::from_slice(&[1.0f64, 1.0, 0.0]));
/// let mean = out.reduce("Example", Reduction::Mean).unwrap();
/// assert_eq!(mean.double_value(&[]), 2.0);
/// ```
#[derive(Debug)]
pub struct LossOutput {
    /// The elementwise losses.
    pub loss: Tensor,
    /// The per-element weights whose sum `Mean` divides by; `None` divides by the element count.
    pub weight: Option<Tensor>,
}

impl LossOutput {
    /// Elementwise losses, averaged by element count.
    pub fn new(loss: Tensor) -> Self {
        LossOutput { loss, weight: None }
    }

    /// Elementwise losses, averaged by the sum of `weight` (same shape as `loss`).
    pub fn weighted(loss: Tensor, weight: Tensor) -> Self {
        LossOutput {
            loss,
            weight: Some(weight),
        }
    }

    /// Applies `reduction`. `name` is the loss's name, for errors.
    pub fn reduce(self, name: &'static str, reduction: Reduction) -> Result<Tensor, LossError> {
        let result = match (reduction, self.weight) {
            (Reduction::None, _) => Ok(self.loss),
            (Reduction::Sum, _) => self.loss.f_sum(self.loss.kind()),
            (Reduction::Mean, None) => self.loss.f_mean(self.loss.kind()),
            (Reduction::Mean, Some(weight)) => {
                let kind = self.loss.kind();
                self.loss
                    .f_sum(kind)
                    .and_then(|s| s.f_div(&weight.f_sum(kind)?))
            }
        };
        result.map_err(|e| LossError::from(e).in_loss(name))
    }
}

impl From<Tensor> for LossOutput {
    fn from(loss: Tensor) -> Self {
        LossOutput::new(loss)
    }
}

/// What a `#[loss]` body may return: `Tensor`, [`LossOutput`], or a `Result` of either.
pub trait IntoLossOutput {
    /// Converts into a `LossOutput`, or the body's error.
    fn into_loss_output(self) -> Result<LossOutput, LossError>;
}

impl IntoLossOutput for Tensor {
    fn into_loss_output(self) -> Result<LossOutput, LossError> {
        Ok(LossOutput::new(self))
    }
}

impl IntoLossOutput for LossOutput {
    fn into_loss_output(self) -> Result<LossOutput, LossError> {
        Ok(self)
    }
}

impl<T: IntoLossOutput> IntoLossOutput for Result<T, LossError> {
    fn into_loss_output(self) -> Result<LossOutput, LossError> {
        self.and_then(IntoLossOutput::into_loss_output)
    }
}
