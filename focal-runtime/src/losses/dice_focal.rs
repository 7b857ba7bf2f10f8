//! Dice plus focal loss, the focal part on the Dice part's activation (MONAI's `DiceFocalLoss`).

use focal_macros::loss;
use tch::Tensor;

use super::common::{downcast, log_one_minus_softmax, modulator, per_class, TopSoftmax};
use super::dice::{spatial_mean, Activation, DiceParts};
use super::sigmoid_focal::sigmoid_focal_terms;
use crate::{LossError, LossOutput};

/// Weighted sum of the [`DiceLoss`](crate::DiceLoss) and a focal loss per sample and class, as
/// MONAI's `DiceFocalLoss`, except that the focal part always uses the Dice part's activation
/// (MONAI's focal part is a sigmoid focal loss even with `softmax=True`).
///
/// Per `(n, c)`: `lambda_dice * dice[n, c] + lambda_focal * focal[n, c]`, where `focal[n, c]` is
/// the mean over the spatial positions of the focal term of channel `c`: with the sigmoid
/// activation the [`SigmoidFocalLoss`](crate::SigmoidFocalLoss) terms
/// (`alpha_t = alpha t + (1 - alpha)(1 - t)`); with the softmax, `-alpha_c t_c (1 - p_c)^gamma
/// log p_c` with `alpha_c = 1 - alpha` for class 0 and `alpha` for the others (MONAI's and
/// kornia's scalar alpha), computed in log space (over all `C` classes for a dense target; for
/// class indices the target class's term alone, the others being 0). `include_background =
/// false` drops channel 0 from both parts after the activation. `Reduction::None` gives the
/// `(N, C)` values (MONAI's `none` output averaged over the spatial dims), `Mean` their mean and
/// `Sum` their sum, which equal MONAI's `mean` and `sum`. Targets as for `DiceLoss`.
///
/// Empty inputs: with `N = 0` or `C = 0`, `Mean` gives NaN (a mean over nothing), as MONAI;
/// `Sum` gives 0, where MONAI gives NaN for an input without spatial dims (its focal part's
/// mean over nothing). With empty spatial dims the focal part is a mean over no positions: NaN
/// under every reduction. Inputs without spatial dims, one channel with the softmax and `C = 0`
/// with class indices: as for `DiceLoss`.
///
/// On the CPU the same inputs as for `DiceLoss` run a fused kernel (both activations, every
/// hyperparameter, the focal sums and gradient computed with the Dice part's), and the same
/// others take the composed path.
///
/// ```
/// use focal_runtime::{Activation, DiceFocalLoss, Loss};
/// use tch::{Device, Kind, Tensor};
/// let logits = Tensor::randn([2, 4, 6, 6, 6], (Kind::Float, Device::Cpu)).set_requires_grad(true);
/// let target = Tensor::randint(4, [2, 1, 6, 6, 6], (Kind::Int64, Device::Cpu));
/// let loss = DiceFocalLoss::new().with_activation(Activation::Softmax).with_lambda_focal(0.5);
/// loss.forward(&logits, &target).backward();
/// assert!(logits.grad().isfinite().all().int64_value(&[]) == 1);
/// ```
#[loss(crate = crate, register = "dice_focal", fused = crate::fused::dice::dice_focal)]
#[allow(clippy::too_many_arguments)]
pub fn dice_focal_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, integer, bool)] target: &Tensor,
    /// Softmax over the classes, or a sigmoid per channel, for both parts.
    activation: Activation,
    /// Whether channel 0 (the background) counts, in both parts.
    #[hyper(default = true)]
    include_background: bool,
    /// Sums of squares in the Dice denominator.
    #[hyper(default = false)]
    squared_pred: bool,
    /// Added to the Dice numerator.
    #[hyper(default = 1e-5, check = 0.0..)]
    smooth_nr: f64,
    /// Added to the Dice denominator.
    #[hyper(default = 1e-5, check = 0.0..)]
    smooth_dr: f64,
    /// The focal part's focusing exponent.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// The focal part's alpha (see above); `None` weighs everything by 1.
    #[hyper(check = 0.0..=1.0)]
    alpha: Option<f64>,
    /// The weight of the Dice part.
    #[hyper(default = 1.0, check = 0.0..)]
    lambda_dice: f64,
    /// The weight of the focal part.
    #[hyper(default = 1.0, check = 0.0..)]
    lambda_focal: f64,
) -> Result<LossOutput, LossError> {
    let mut parts = DiceParts::new(
        DiceFocalLoss::NAME,
        input,
        target,
        activation,
        include_background,
    )?;
    // The softmax focal terms first, then the softmax's parts are freed before the Dice terms;
    // a class-index target's come from the target class alone (`target_class_terms`).
    let softmax_terms = match &parts.softmax {
        Some(top) => Some(match &parts.index {
            Some(index) => target_class_terms(top, &parts.t_all, index, gamma)?,
            None => every_class_terms(top, &parts.t_all, gamma)?,
        }),
        None => None,
    };
    drop(parts.softmax.take());
    let dice = parts.dice(squared_pred, smooth_nr, smooth_dr)?;
    let (x, t) = (&parts.x, &parts.t_all);
    let classes = x.size()[1];
    let focal_map = match softmax_terms {
        // The sigmoid activation (the softmax always has its parts).
        None => sigmoid_focal_terms(x, t, gamma, alpha)?,
        Some(mut map) => {
            if let Some(a) = alpha {
                let mut weights = vec![a; classes as usize];
                weights[0] = 1.0 - a;
                map = map.f_mul(&per_class(&weights, x.dim(), x.kind(), x.device())?)?;
            }
            map
        }
    };
    let focal_map = if include_background {
        focal_map
    } else {
        focal_map.f_narrow(1, 1, classes - 1)?
    };
    let focal = spatial_mean(&focal_map)?;
    let total = dice
        .f_mul_scalar(lambda_dice)?
        .f_add(&focal.f_mul_scalar(lambda_focal)?)?;
    Ok(downcast(LossOutput::new(total), input.kind()))
}

/// The softmax focal terms `-t_c (1 - p_c)^gamma log p_c`, `(N, C, *)`, of a class-index target
/// (`index`, `(N, 1, *)`; `t` its one-hot): the target class's term alone, which is all that is
/// not 0, from its log-probability and `log(1 - p_y)` gathered from the Dice part's softmax
/// ([`TopSoftmax::at`], the values of `SoftmaxFocalLoss`'s; where the terms of every class take
/// some twenty full-size passes), 0 elsewhere (also where the target class's term is infinite:
/// not `0 * inf`).
fn target_class_terms(
    top: &TopSoftmax,
    t: &Tensor,
    index: &Tensor,
    gamma: f64,
) -> Result<Tensor, LossError> {
    let (log_p_y, log_rest) = top.at(index)?;
    let term = modulator(&log_rest, gamma)?.f_mul(&log_p_y)?.f_neg()?;
    Ok(term.f_where_scalarother(&t.f_ne(0.0)?, 0.0)?)
}

/// The softmax focal terms `-t_c (1 - p_c)^gamma log p_c` of every class, `(N, C, *)`, for a
/// dense (one-hot or soft) target `t`, from the Dice part's softmax.
fn every_class_terms(top: &TopSoftmax, t: &Tensor, gamma: f64) -> Result<Tensor, LossError> {
    let log_p = top.log_p()?;
    let factor = modulator(&log_one_minus_softmax(&log_p, &top.is_top)?, gamma)?;
    // t log p with 0 log 0 = 0: a class masked by a -inf logit adds nothing (not NaN).
    let t_log_p = log_p.f_masked_fill(&t.f_eq(0.0)?, 0.0)?.f_mul(t)?;
    Ok(factor.f_mul(&t_log_p)?.f_neg()?)
}
