//! Soft Dice loss on softmax or sigmoid probabilities (MONAI's `DiceLoss`).

use focal_macros::loss;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::common::{dense_target, downcast, upcast, TopSoftmax};
use crate::{checks, LossError, LossOutput};

/// How logits become probabilities in [`DiceLoss`] and [`DiceFocalLoss`](crate::DiceFocalLoss).
///
/// ```
/// use focal_runtime::Activation;
/// let a: Activation = serde_json::from_str("\"sigmoid\"").unwrap();
/// assert_eq!(a, Activation::Sigmoid);
/// assert_eq!(Activation::default(), Activation::Softmax);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `softmax` over the classes (dim 1): mutually exclusive classes; needs `C >= 2`.
    #[default]
    Softmax,
    /// `sigmoid` of each logit: independent (multi-label or binary) channels.
    Sigmoid,
}

impl Activation {
    /// The probabilities `p` of `x` (`(N, C, *)` logits) and `1 - p`, so that neither they nor
    /// their gradients form `1 - p` by a subtraction that cancels where `p` rounds to 1
    /// (libtorch's `softmax` and `sigmoid` backward do: at a saturated top class their gradient
    /// is 0 or has no correct digits). The softmax from the top logit ([`TopSoftmax`]); the
    /// sigmoid from `log sigmoid(x)` and `log sigmoid(-x)`.
    pub(crate) fn probabilities(self, x: &Tensor) -> Result<Probabilities, LossError> {
        match self {
            Activation::Softmax => {
                let top = TopSoftmax::of(x)?;
                let (p, q) = top.p_and_q()?;
                Ok(Probabilities {
                    p,
                    q,
                    softmax: Some(top),
                })
            }
            Activation::Sigmoid => Ok(Probabilities {
                p: x.f_log_sigmoid()?.f_exp()?,
                q: x.f_neg()?.f_log_sigmoid()?.f_exp()?,
                softmax: None,
            }),
        }
    }
}

/// What [`Activation::probabilities`] gives.
pub(crate) struct Probabilities {
    /// `p`.
    pub p: Tensor,
    /// `1 - p`.
    pub q: Tensor,
    /// The softmax's parts, for the focal part's `log p`.
    pub softmax: Option<TopSoftmax>,
}

/// Soft Dice loss (Milletari et al. 2016) per sample and class, as MONAI's `DiceLoss`:
/// `1 - (2 sum(p t) + smooth_nr) / (sum(p) + sum(t) + smooth_dr)`, the sums running over the
/// spatial dims, with `p` the `activation` of the logits (sums of squares in the denominator
/// with `squared_pred`).
///
/// `input` holds logits `(N, C, *)`; `target` holds class indices `(N, *)` or `(N, 1, *)` (one-hot
/// encoded inside), or has the input's shape: one-hot or soft float labels in `[0, 1]`, or
/// integer 0/1 masks (so `(N, 1, *)` is a binary mask where `C = 1`). `Reduction::None` gives the
/// `(N, C)` Dice losses (`(N, C - 1)` without the background), where MONAI gives `(N, C, 1, ...)`;
/// `Mean` and `Sum` reduce them as MONAI does. Half and bfloat16 inputs are computed in float32
/// and returned in their dtype.
///
/// Where this differs from MONAI on purpose:
/// - Without spatial dims (`(N, C)` input) each `(n, c)` is its own Dice loss; MONAI sums such an
///   input over the whole batch (its spatial sum over no dims sums every dim) into one Dice.
///   With `N = 0` or `C = 0` as well, `Mean` gives 0, as MONAI does for its default (equal)
///   smooths (MONAI gives `1 - smooth_nr / smooth_dr`); `Sum` gives 0 and `None` an empty `(N, C)`.
///   An empty input with spatial dims gives NaN under `Mean`, 0 under `Sum`, as MONAI.
/// - The softmax activation needs `C >= 2` (an error for `C = 0` or 1): MONAI ignores
///   `softmax=True` with a warning for one channel, and applies it to none.
/// - Class-index targets must hold indices in `[0, C)`: a target of an input with `C = 0` is an
///   error.
///
/// On the CPU, float32 and float64 contiguous inputs under `Mean` or `Sum` run a fused kernel
/// (two passes: the per-`(n, c)` sums, then the gradient), with either activation, class-index or
/// dense targets and every setting of the hyperparameters; the sums are accumulated in float64.
/// Everything else takes the composed path (the same loss from tch operations, to rounding):
/// `Reduction::None`, other dtypes (half, bfloat16), a non-contiguous input or class-index
/// target, CUDA tensors, empty inputs, a non-finite logit, a Dice denominator of 0 (both smooths
/// 0) or a non-finite sum or gradient, and the invalid inputs the composed path reports.
/// [`fused::composed_only`](crate::fused::composed_only) turns the kernel off on a thread.
///
/// ```
/// use focal_runtime::{DiceLoss, Loss, Reduction};
/// use tch::{Device, Kind, Tensor};
/// let logits = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
/// let target = Tensor::randint(3, [2, 8, 8], (Kind::Int64, Device::Cpu));
/// let per_class = DiceLoss::new().with_reduction(Reduction::None).forward(&logits, &target);
/// assert_eq!(per_class.size(), [2, 3]);
/// let loss = DiceLoss::new().with_include_background(false).forward(&logits, &target);
/// loss.backward();
/// ```
#[loss(crate = crate, register = "dice", fused = crate::fused::dice::dice)]
pub fn dice_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, integer, bool)] target: &Tensor,
    /// Softmax over the classes, or a sigmoid per channel.
    activation: Activation,
    /// Whether channel 0 (the background) counts; `false` drops it after the activation.
    #[hyper(default = true)]
    include_background: bool,
    /// Sums of squares `sum(p^2) + sum(t^2)` in the denominator.
    #[hyper(default = false)]
    squared_pred: bool,
    /// Added to the numerator.
    #[hyper(default = 1e-5, check = 0.0..)]
    smooth_nr: f64,
    /// Added to the denominator.
    #[hyper(default = 1e-5, check = 0.0..)]
    smooth_dr: f64,
) -> Result<LossOutput, LossError> {
    let mut parts = DiceParts::new(
        DiceLoss::NAME,
        input,
        target,
        activation,
        include_background,
    )?;
    // The softmax's parts serve the focal part's `log p` only: freed before the Dice terms.
    drop(parts.softmax.take());
    let dice = parts.dice(squared_pred, smooth_nr, smooth_dr)?;
    if input.dim() == 2 && dice.numel() == 0 {
        // No (n, c) and no spatial dims (N = 0 or C = 0): MONAI sums such an input over the whole
        // batch and gives the Dice of nothing, 0 (for equal smooths); a mean over no (n, c)
        // would be 0 / 0. The normaliser 1 makes `Mean` 0 (and leaves `None` and `Sum` as
        // they are: empty, and 0).
        let one = Tensor::f_ones([1], (dice.kind(), dice.device()))?;
        return Ok(downcast(LossOutput::weighted(dice, one), input.kind()));
    }
    Ok(downcast(LossOutput::new(dice), input.kind()))
}

/// What Dice and Dice-Focal compute from: compute-precision logits, probabilities and a dense
/// target, with the background channel already dropped from `p` and `t` where asked.
pub(crate) struct DiceParts {
    /// The logits in compute precision, all channels.
    pub x: Tensor,
    /// The dense target, all channels.
    pub t_all: Tensor,
    /// The class indices `(N, 1, *)` (int64), where the target held them (`t_all` is their
    /// one-hot encoding).
    pub index: Option<Tensor>,
    /// The probabilities, without the background where it is excluded.
    pub p: Tensor,
    /// `1 - p`, without cancellation ([`Activation::probabilities`]).
    pub q: Tensor,
    /// The softmax's parts, all channels (`None` for the sigmoid).
    pub softmax: Option<TopSoftmax>,
    /// The dense target, without the background where it is excluded.
    pub t: Tensor,
}

impl DiceParts {
    pub(crate) fn new(
        loss: &'static str,
        input: &Tensor,
        target: &Tensor,
        activation: Activation,
        include_background: bool,
    ) -> Result<Self, LossError> {
        let x = upcast(input)?;
        let (t_all, index) = dense_target(loss, input, target, x.kind())?;
        let classes = input.size()[1];
        if activation == Activation::Softmax && classes < 2 {
            return Err(checks::shape_of(
                loss,
                "input",
                input,
                "should have at least 2 channels for the softmax activation (use the sigmoid for one)",
            ));
        }
        if !include_background && classes < 2 {
            return Err(checks::shape_of(
                loss,
                "input",
                input,
                "should have at least 2 channels without the background",
            ));
        }
        let Probabilities {
            p: p_all,
            q: q_all,
            softmax,
        } = activation.probabilities(&x)?;
        let (p, q, t) = if include_background {
            (p_all, q_all, t_all.shallow_clone())
        } else {
            (
                p_all.f_narrow(1, 1, classes - 1)?,
                q_all.f_narrow(1, 1, classes - 1)?,
                t_all.f_narrow(1, 1, classes - 1)?,
            )
        };
        Ok(DiceParts {
            x,
            t_all,
            index,
            p,
            q,
            softmax,
            t,
        })
    }

    /// The `(N, C)` Dice losses `1 - num / den`, written so that neither the loss nor its
    /// gradient cancels: where the loss is below 1/2 as `(den - num) / den`, `den - num` summed
    /// from `p (1 - t) + t (1 - p)` (from `(p (1 - t) - t (1 - p))^2` with `squared_pred`) with
    /// `1 - p` from log space (where `p` rounds to `t`, a class predicted almost perfectly, `1 -
    /// num / den` and, with `squared_pred`, its gradient `2 (p num / den - t) / den` cancel); at
    /// 1/2 and above as `1 - num / den` (where `num` is small, the other form's gradient at `t =
    /// 0`, `(1 - loss) / den`, cancels). Autograd takes the gradient of the form chosen.
    pub(crate) fn dice(
        &self,
        squared_pred: bool,
        smooth_nr: f64,
        smooth_dr: f64,
    ) -> Result<Tensor, LossError> {
        let (p, q, t) = (&self.p, &self.q, &self.t);
        // One full-size term at a time (two with `squared_pred`), each summed and freed, or
        // changed in place, before the next: autograd saves none of them (the products save
        // their factors, which live on), so the forward pass's peak is the parts and a term.
        let mut pt = p.f_mul(t)?;
        let numerator = spatial_sum(&pt)?
            .f_mul_scalar(2.0)?
            .f_add_scalar(smooth_nr)?;
        let (p_den, t_den) = if squared_pred {
            (spatial_sum(&p.f_square()?)?, spatial_sum(&t.f_square()?)?)
        } else {
            (spatial_sum(p)?, spatial_sum(t)?)
        };
        let denominator = p_den.f_add(&t_den)?.f_add_scalar(smooth_dr)?;
        // `p t - p = -p (1 - t)`, in place of `p t` (exact for t in {0, 1}; for a soft t the
        // terms are not small): no `1 - t` tensor for autograd to keep.
        let _ = pt.f_sub_(p)?;
        let apart_negated = pt;
        let den_less_num = if squared_pred {
            // `(p (1 - t) - t (1 - p))^2` from its negation, `t (1 - p) - p (1 - t)`.
            let mut d = apart_negated;
            let _ = d.f_addcmul_(t, q)?;
            spatial_sum(&d.f_square()?)?
        } else {
            // The sums of `p (1 - t)` and of `t (1 - p)`, both of non-negative terms.
            let apart = spatial_sum(&apart_negated)?.f_neg()?;
            drop(apart_negated);
            apart.f_add(&spatial_sum(&t.f_mul(q)?)?)?
        };
        let by_difference = den_less_num
            .f_add_scalar(smooth_dr - smooth_nr)?
            .f_div(&denominator)?;
        let by_ratio = numerator.f_div(&denominator)?.f_neg()?.f_add_scalar(1.0)?;
        let small = by_difference.f_detach()?.f_lt(0.5)?;
        Ok(by_difference.f_where_self(&small, &by_ratio)?)
    }
}

/// The sum over the spatial dims (2 and on) of `(N, C, *)`; `(N, C)` is returned as it is.
pub(crate) fn spatial_sum(t: &Tensor) -> Result<Tensor, LossError> {
    let dims: Vec<i64> = (2..t.dim() as i64).collect();
    Ok(if dims.is_empty() {
        t.shallow_clone()
    } else {
        t.f_sum_dim_intlist(dims.as_slice(), false, t.kind())?
    })
}

/// The mean over the spatial dims (2 and on) of `(N, C, *)`; `(N, C)` is returned as it is.
pub(crate) fn spatial_mean(t: &Tensor) -> Result<Tensor, LossError> {
    let dims: Vec<i64> = (2..t.dim() as i64).collect();
    Ok(if dims.is_empty() {
        t.shallow_clone()
    } else {
        t.f_mean_dim(dims.as_slice(), false, t.kind())?
    })
}
