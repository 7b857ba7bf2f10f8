//! Softmax focal loss on logits with per-class alpha, ignore_index and label smoothing.

use focal_macros::loss;
use tch::{Kind, Tensor};

use super::common::{
    downcast, log_one_minus_softmax, log_softmax_with_top, modulator, per_class, per_class_len,
    target_log_probs, upcast,
};
use super::focal_loss::class_index_target;
use crate::{checks, LossError, LossOutput};

/// Multi-class focal loss on logits, from `log_softmax`, with per-class weights, an ignored
/// label and label smoothing; with `gamma = 0` it is exactly
/// `cross_entropy(weight = alpha, ignore_index, label_smoothing)`.
///
/// `input` holds logits `(N, C, *)` (`C >= 2`, any number of trailing dims); `target` holds class
/// indices `(N, *)` (or `(N, 1, *)`) in `[0, C)` or `ignore_index`. With `p = softmax(input, 1)`,
/// the focal term of class `c` is `f_c = -alpha[c] (1 - p_c)^gamma log p_c`, and the loss of an
/// element with target `y` is `(1 - label_smoothing) f_y + label_smoothing / C * sum_c f_c`,
/// 0 where `y == ignore_index`. `Mean` divides the sum by `sum(alpha[y])` over the non-ignored
/// elements (their count without `alpha`), exactly as `cross_entropy` divides, label smoothing
/// included. `Reduction::None` gives the `(N, *)` losses.
///
/// The log-probabilities are `log_softmax`'s, except at the top logit of each position, where
/// `log p = -log1p(rest)` (`rest` the others' `exp(x_k - x_top)`) keeps the digits `log_softmax`
/// rounds away where `p` rounds to 1 (the whole loss of a well-classified position at logit gaps
/// past 17 in float32, 37 in float64), with an exact gradient there. `log(1 - p_c)` is computed
/// from log-probabilities (as the log-sum-exp of the other classes' wherever `p_c` may exceed
/// 1/2), and `(1 - p_c)^gamma` as `exp(gamma log(1 - p_c))`, so the loss and its gradient stay
/// finite at saturated logits and for `gamma < 1`. Half and bfloat16 inputs are computed
/// in float32 and the loss is returned in the input's dtype.
///
/// Contiguous float32 and float64 CPU inputs (class-index targets of an integer dtype, contiguous)
/// run a fused kernel ([`crate::fused`]) that computes the loss and the input's gradient in one
/// pass, at every standard reduction (`Mean`, `Sum`, `None`), with and without label smoothing,
/// alpha and `ignore_index`; other inputs (CUDA, half precision, non-contiguous layouts, a custom
/// reduction, a target out of range) take the composed path, which gives the same values (and
/// reports invalid ones).
///
/// ```
/// use focal_runtime::{Loss, SoftmaxFocalLoss};
/// use tch::{Kind, Tensor};
/// let logits = Tensor::from_slice(&[2.0f64, 0.0, -1.0, 0.5, 0.5, 3.0]).view([2, 3]);
/// let target = Tensor::from_slice(&[0i64, 2]);
/// let focal = SoftmaxFocalLoss::new().with_gamma(0.0).with_alpha(Some(vec![0.2, 0.3, 0.5]));
/// let weight = Tensor::from_slice(&[0.2f64, 0.3, 0.5]);
/// let ce = logits.cross_entropy_loss(&target, Some(&weight), tch::Reduction::Mean, -100, 0.0);
/// let ours = focal.forward(&logits, &target);
/// assert!((ours.double_value(&[]) - ce.double_value(&[])).abs() < 1e-15);
/// ```
#[loss(crate = crate, register = "softmax_focal", fused = crate::fused::drive)]
pub fn softmax_focal_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    /// The focusing exponent: larger values down-weight well-classified elements more.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// Per-class weights (one per class, at least 0); `None` weighs every class by 1.
    #[hyper(check = 0.0..)]
    alpha: Option<Vec<f64>>,
    /// The target value whose elements contribute nothing (and do not count in `Mean`).
    #[hyper(default = Some(-100))]
    ignore_index: Option<i64>,
    /// The share of the loss spread uniformly over the classes, as in `cross_entropy`.
    #[hyper(default = 0.0, check = 0.0..=1.0)]
    label_smoothing: f64,
) -> Result<LossOutput, LossError> {
    const NAME: &str = SoftmaxFocalLoss::NAME;
    let target = class_index_target(NAME, input, target)?;
    let shape = input.size();
    let classes = shape[1];
    if classes < 2 {
        return Err(checks::shape_of(
            NAME,
            "input",
            input,
            "should have at least 2 classes along dim 1",
        ));
    }
    per_class_len(NAME, "alpha", &alpha, classes)?;
    checks::class_indices(NAME, "target", &target, classes, ignore_index)?;

    let x = upcast(input)?;
    let kind = x.kind();
    let valid = match ignore_index {
        Some(i) => target.f_ne(i)?,
        None => target.f_ones_like()?.f_to_kind(Kind::Bool)?,
    };
    let safe_target = target
        .f_to_kind(Kind::Int64)?
        .f_where_scalarother(&valid, 0)?;
    let index = safe_target.f_unsqueeze(1)?;
    // alpha[y] per element, (N, *).
    let alpha_y = match &alpha {
        Some(a) => {
            let table = Tensor::f_from_slice(a)?
                .f_to_kind(kind)?
                .f_to_device(x.device())?;
            Some(
                table
                    .f_index_select(0, &safe_target.f_reshape([-1])?)?
                    .f_reshape(valid.size())?,
            )
        }
        None => None,
    };
    let mut loss = if label_smoothing == 0.0 {
        // Only the target class. log(1 - p_y) is the log-sum-exp of the other classes where y
        // is the top class, else log1p(-p_y) (a function of log p_y alone, so that the gradient
        // is `F (onehot - p)` with a moderate `F` at any logit gap: see log_one_minus_softmax).
        let (log_p_y, log_rest) = target_log_probs(&x, &index)?;
        let mut f_y = modulator(&log_rest, gamma)?
            .f_mul(&log_p_y)?
            .f_neg()?
            .f_squeeze_dim(1)?;
        if let Some(a_y) = &alpha_y {
            f_y = f_y.f_mul(a_y)?;
        }
        f_y
    } else {
        // f_c = -alpha_c (1 - p_c)^gamma log p_c for every class, shaped (N, C, *), with
        // log_softmax accurate where p_c rounds to 1 (see log_softmax_with_top).
        let (log_p, is_top) = log_softmax_with_top(&x)?;
        let factor = modulator(&log_one_minus_softmax(&log_p, &is_top)?, gamma)?;
        let mut per_class_terms = factor.f_mul(&log_p)?.f_neg()?;
        if let Some(a) = &alpha {
            per_class_terms =
                per_class_terms.f_mul(&per_class(a, shape.len(), kind, x.device())?)?;
        }
        let f_y = per_class_terms
            .f_gather(1, &index, false)?
            .f_squeeze_dim(1)?;
        let smooth = per_class_terms.f_sum_dim_intlist(1, false, kind)?;
        f_y.f_mul_scalar(1.0 - label_smoothing)?
            .f_add(&smooth.f_mul_scalar(label_smoothing / classes as f64)?)?
    };
    let zero = loss.f_zeros_like()?;
    loss = loss.f_where_self(&valid, &zero)?;
    let weight = match alpha_y {
        Some(a_y) => a_y,
        None => zero.f_ones_like()?,
    }
    .f_where_self(&valid, &zero)?;
    let out_kind = input.kind();
    Ok(downcast(LossOutput::weighted(loss, weight), out_kind))
}
