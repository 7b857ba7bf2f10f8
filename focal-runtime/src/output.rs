//! What a loss body returns, and how it is reduced.

use tch::{Kind, Tensor};

use crate::{LossError, Reduction};

/// Elementwise losses with optional per-element weights that `Mean` divides by.
///
/// A `#[loss]` body that returns this (instead of a bare `Tensor`) gets PyTorch's weighted mean:
/// `Mean` is `loss.sum() / weight.sum()`, exactly as `cross_entropy(weight=..., ignore_index=...)`
/// divides. `loss` should already carry the weights; `weight` is only the normaliser.
///
/// ```
/// use focal_runtime::{LossOutput, Reduction};
/// use tch::{Kind, Tensor};
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
    /// The dtype of the result, where it differs from `loss`'s: a body that computes a half or
    /// bfloat16 input in float32 sets it, so the reduction also runs in float32 (a half-precision
    /// sum of weights overflows past 65504) and only the result is cast back.
    pub output_kind: Option<Kind>,
}

impl LossOutput {
    /// Elementwise losses, averaged by element count.
    pub fn new(loss: Tensor) -> Self {
        LossOutput {
            loss,
            weight: None,
            output_kind: None,
        }
    }

    /// Elementwise losses, averaged by the sum of `weight` (same shape as `loss`).
    pub fn weighted(loss: Tensor, weight: Tensor) -> Self {
        LossOutput {
            loss,
            weight: Some(weight),
            output_kind: None,
        }
    }

    /// The result in `kind` (the input's dtype), reduced in the loss's own dtype first.
    ///
    /// ```
    /// use focal_runtime::{LossOutput, Reduction};
    /// use tch::{Device, Kind, Tensor};
    /// // 100,000 ones: their sum overflows half precision, their mean does not.
    /// let ones = Tensor::ones([100_000], (Kind::Float, Device::Cpu));
    /// let out = LossOutput::weighted(ones.shallow_clone(), ones).with_output_kind(Kind::Half);
    /// let mean = out.reduce("Example", Reduction::Mean).unwrap();
    /// assert_eq!((mean.kind(), mean.double_value(&[])), (Kind::Half, 1.0));
    /// ```
    #[must_use]
    pub fn with_output_kind(mut self, kind: Kind) -> Self {
        self.output_kind = Some(kind);
        self
    }

    /// Applies `reduction`. `name` is the loss's name, for errors. A [`Reduction::Custom`] is an
    /// error here: a loss with reductions of its own applies them in its body.
    pub fn reduce(self, name: &'static str, reduction: Reduction) -> Result<Tensor, LossError> {
        let output_kind = self.output_kind;
        let result = match (reduction, self.weight) {
            (Reduction::Custom(_), _) => return reduction.apply(name, &self.loss),
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
        let result = match output_kind {
            Some(kind) => result.and_then(|r| {
                if r.kind() == kind {
                    Ok(r)
                } else {
                    r.f_to_kind(kind)
                }
            }),
            None => result,
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
