//! Sigmoid focal loss on logits, in log space (torchvision's `sigmoid_focal_loss`).

use focal_macros::loss;
use tch::Tensor;

use super::common::{downcast, modulator, upcast};
use crate::{checks, LossError, LossOutput};

/// Sigmoid focal loss on logits (Lin et al. 2017), elementwise as torchvision's
/// `sigmoid_focal_loss`: `alpha_t * (1 - p_t)^gamma * bce_with_logits(x, t)`, where
/// `p = sigmoid(x)`, `p_t = p t + (1 - p)(1 - t)` and `alpha_t = alpha t + (1 - alpha)(1 - t)`.
///
/// `input` holds logits of any shape; `target` has the same shape and holds float labels in
/// `[0, 1]` (soft labels allowed). Computed in log space: `log(1 - p_t)` is the log-sum-exp of
/// `log t + log sigmoid(-x)` and `log(1 - t) + log sigmoid(x)`, and the modulating factor is
/// `exp(gamma * log(1 - p_t))`, so the loss and its gradient stay finite at saturated logits
/// and for `gamma < 1`. The cross entropy is `-(t log sigmoid(x) + (1 - t) log sigmoid(-x))`, a
/// sum of two non-negative terms: where libtorch's `binary_cross_entropy_with_logits` (which
/// torchvision calls) cancels at saturated logits (it gives 0 for `x = -40, t = 0`, where the
/// loss is 4.2e-18), this keeps full precision. Infinite logits count as the largest finite ones,
/// so a class masked by a `-inf` logit against target 0 adds 0 with a zero gradient (the literal
/// formula, and torchvision, give NaN there). At logits near the dtype's largest value
/// torchvision's gradient overflows to NaN under `none` and `sum` (`gamma (1 - p_t)^(gamma - 1)
/// ce` is beyond the range before it meets the zero `p (1 - p)`); ours is the finite limit. Half and bfloat16 inputs are computed in float32
/// and the loss is returned in the input's dtype. `Mean` averages over every element, `Sum` adds
/// them.
///
/// Contiguous float32 and float64 CPU inputs run a fused kernel ([`crate::fused`]) that computes
/// the loss and the input's gradient in one pass, at every standard reduction (`Mean`, `Sum`,
/// `None`); other inputs (CUDA, half precision, non-contiguous layouts, a custom reduction, a
/// target outside `[0, 1]`) take the composed path, which gives the same values (and reports
/// invalid ones).
///
/// ```
/// use focal_runtime::{Loss, Reduction, SigmoidFocalLoss};
/// use tch::Tensor;
/// let x = Tensor::from_slice(&[2.0f64, -1.0]);
/// let t = Tensor::from_slice(&[1.0f64, 1.0]);
/// let loss = SigmoidFocalLoss::new().with_reduction(Reduction::None).forward(&x, &t);
/// let p = |z: f64| 1.0 / (1.0 + (-z).exp());
/// for (i, z) in [2.0f64, -1.0].iter().enumerate() {
///     let expected = 0.25 * (1.0 - p(*z)).powi(2) * -p(*z).ln();
///     assert!((loss.double_value(&[i as i64]) - expected).abs() < 1e-15);
/// }
/// ```
#[loss(crate = crate, register = "sigmoid_focal", fused = crate::fused::drive)]
pub fn sigmoid_focal_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// The focusing exponent: larger values down-weight well-classified elements more.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// The weight of the positive term (the negative term gets `1 - alpha`); `None` weighs both
    /// by 1 (torchvision's `alpha = -1`).
    #[hyper(default = Some(0.25), check = 0.0..=1.0)]
    alpha: Option<f64>,
) -> Result<LossOutput, LossError> {
    checks::values_in_unit_interval(SigmoidFocalLoss::NAME, "target", target)?;
    let x = upcast(input)?;
    let t = target.f_to_kind(x.kind())?;
    Ok(downcast(
        LossOutput::new(sigmoid_focal_terms(&x, &t, gamma, alpha)?),
        input.kind(),
    ))
}

/// The elementwise sigmoid focal loss of logits `x` against targets `t` in `[0, 1]` (same dtype).
/// Infinite logits count as the largest finite ones (a `-inf` logit against target 0, a masked
/// class, adds 0 and gets a zero gradient; the formula taken literally gives NaN).
pub(crate) fn sigmoid_focal_terms(
    x: &Tensor,
    t: &Tensor,
    gamma: f64,
    alpha: Option<f64>,
) -> Result<Tensor, LossError> {
    let x = &finite_logits(x)?;
    let log_p = x.f_log_sigmoid()?;
    let log_q = x.f_neg()?.f_log_sigmoid()?;
    // Hard targets that need no gradient (the usual case) take `log(1 - p_t)` and the cross
    // entropy as one of `log p` and `log(1 - p)`, selected: exactly the general forms' values
    // there, without their several full-size steps (which autograd would keep).
    let positives = if t.requires_grad() {
        None
    } else {
        hard_positives(t)?
    };
    let (ce, log_one_minus_p_t) = match &positives {
        Some(positive) => (
            log_p.f_where_self(positive, &log_q)?.f_neg()?,
            log_q.f_where_self(positive, &log_p)?,
        ),
        None => {
            let one_minus_t = t.f_rsub_scalar(1.0)?;
            // -(t log p + (1 - t) log q): a sum of two non-negative terms, accurate at saturated
            // logits, where libtorch's `binary_cross_entropy_with_logits` ((1 - t) x - log p)
            // cancels to 0 (at x = -40, t = 0 it gives 0 for 4.2e-18; at x = -20, 6.5e-7
            // relative error).
            let ce = t
                .f_mul(&log_p)?
                .f_add(&one_minus_t.f_mul(&log_q)?)?
                .f_neg()?;
            (ce, log_one_minus_p_t(&log_p, &log_q, t, &one_minus_t)?)
        }
    };
    // Autograd keeps what it needs of these (the products save their other factor): the
    // handles go before the next full-size tensors, which keeps the forward pass's peak down.
    drop((log_p, log_q));
    // At logits near the dtype's largest value, `d loss / d log(1 - p_t) = gamma (1 - p_t)^gamma
    // ce` overflows (ce is about |x|) and meets `d log(1 - p_t) / dx`, a multiple of `p (1 - p)`,
    // which is 0 in the dtype: inf * 0. The modulator's gradient is exactly 0 there: it is
    // detached.
    let log_one_minus_p_t = if gamma > 0.0 {
        let limit = max_finite(x.kind()) / (4.0 * gamma.max(1.0));
        let moderate = x.f_abs()?.f_le(limit)?;
        log_one_minus_p_t.f_where_self(&moderate, &log_one_minus_p_t.f_detach()?)?
    } else {
        log_one_minus_p_t
    };
    let modulator = modulator(&log_one_minus_p_t, gamma)?;
    drop(log_one_minus_p_t);
    let mut loss = ce.f_mul(&modulator)?;
    if let Some(a) = alpha {
        loss = match &positives {
            Some(positive) => loss
                .f_mul_scalar(a)?
                .f_where_self(positive, &loss.f_mul_scalar(1.0 - a)?)?,
            None => {
                // `1 - t` again rather than kept from above: one full-size tensor fewer alive
                // through the modulator's steps.
                let alpha_t = t
                    .f_mul_scalar(a)?
                    .f_add(&t.f_rsub_scalar(1.0)?.f_mul_scalar(1.0 - a)?)?;
                loss.f_mul(&alpha_t)?
            }
        };
    }
    Ok(loss)
}

/// Where every target is 0 or 1 (targets in `[0, 1]`), the mask of the 1s; `None` for soft
/// targets.
fn hard_positives(t: &Tensor) -> Result<Option<Tensor>, LossError> {
    let positive = t.f_gt(0.5)?;
    let hard = t
        .f_eq_tensor(&positive.f_to_kind(t.kind())?)?
        .f_all()?
        .f_int64_value(&[])?
        != 0;
    Ok(hard.then_some(positive))
}

/// `log(1 - p_t) = log(t (1 - p) + (1 - t) p)` from `log p` and `log(1 - p)`: the log of the sum
/// of its two non-negative terms where that sum is a normal number (no cancellation), and where
/// it underflows (a saturated logit agreeing with a hard target, where the other term is as
/// small) the log of the larger target's term in log space, `log t + log(1 - p)` for `t >= 1/2`,
/// else `log(1 - t) + log p`. Every branch has finite derivatives of every order in `x` and `t`,
/// also at a hard target (`t log(1 - p)` and `(1 - t) log p` in a log-sum-exp took `log 0`: a NaN
/// target gradient and second derivative), and no branch evaluates `log` at 0, so the branch
/// `where` leaves out passes no `0 * inf` back.
fn log_one_minus_p_t(
    log_p: &Tensor,
    log_q: &Tensor,
    t: &Tensor,
    one_minus_t: &Tensor,
) -> Result<Tensor, LossError> {
    let tiny = match t.kind() {
        tch::Kind::Double => f64::MIN_POSITIVE,
        _ => f32::MIN_POSITIVE as f64,
    };
    let sum = t
        .f_mul(&log_q.f_exp()?)?
        .f_add(&one_minus_t.f_mul(&log_p.f_exp()?)?)?;
    let normal = sum.f_ge(tiny)?;
    let direct = sum.f_where_scalarother(&normal, 1.0)?.f_log()?;
    drop(sum);
    // The log of `v` where `keep` (there at least 1/2), 0 elsewhere.
    let log_where = |v: &Tensor, keep: &Tensor| -> Result<Tensor, LossError> {
        Ok(v.f_where_scalarother(keep, 1.0)?.f_log()?)
    };
    let high = t.f_ge(0.5)?;
    let low = high.f_logical_not()?;
    let underflowed = log_where(t, &high)?
        .f_add(log_q)?
        .f_where_self(&high, &log_where(one_minus_t, &low)?.f_add(log_p)?)?;
    Ok(direct.f_where_self(&normal, &underflowed)?)
}

/// `x` with `±inf` replaced by `±` the dtype's largest finite value (NaN stays NaN); the
/// gradient is zero there.
pub(crate) fn finite_logits(x: &Tensor) -> Result<Tensor, LossError> {
    let max = max_finite(x.kind());
    Ok(x.f_nan_to_num(Some(f64::NAN), Some(max), Some(-max))?)
}

/// The largest finite value of a float dtype.
fn max_finite(kind: tch::Kind) -> f64 {
    match kind {
        tch::Kind::Double => f64::MAX,
        tch::Kind::Half => 65504.0,
        tch::Kind::BFloat16 => 3.389_531_389_251_535_5e38,
        _ => f32::MAX as f64,
    }
}
