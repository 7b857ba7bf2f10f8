//! The seed's multi-class focal loss: softmax, then the binary focal loss of each class.

use focal_macros::loss;
use tch::{Kind, Tensor};

use super::common::{downcast, log_share, log_softmax_parts, modulator, upcast, LogSoftmaxParts};
use super::focal::P_T_MIN;
use crate::{checks, LossError, LossOutput};

/// Multi-class focal loss, the seed's `FocalLoss`: `p = softmax(input, dim 1)`, then for each
/// class `c` the binary [`Focal`](crate::Focal) loss of `p[:, c]` against `target == c`
/// (`-alpha_t (1 - p_t)^gamma ln(clamp(p_t, 1e-4, 1))`), averaged over the `C` classes.
///
/// `input` holds logits `(N, C, *)` with any number of trailing dims (none, 2-D images, 3-D
/// volumes); `target` holds class indices in `[0, C)`, shaped `(N, 1, *)` as in the seed or
/// `(N, *)`. With `Reduction::None` the result has the target's `(N, *)` shape and holds, per
/// element, the sum over classes of the binary focal terms divided by `C`; `Mean` and `Sum`
/// reduce it, matching the seed's `size_average=True` and `False`.
///
/// The seed's function, computed in log space: `ln p_t` from the log-softmax and `1 - p_t`
/// without the subtraction `1 - p` that cancels where a probability is near 1 (for the largest
/// logit of a position, `1 - p` is the other classes' share). Float64 results equal the seed's
/// to rounding; float32 results follow the float64 truth (within 1e-5 of it, relative to the
/// largest magnitude, where the seed's own float32 gradient is up to 4e-4 off, and NaN at
/// `gamma < 1` with a saturated logit). The clamp's gradient is the seed's: 0 where `p_t <
/// 1e-4`. Half and bfloat16 inputs are computed in float32 and returned in their dtype.
///
/// ```
/// use focal_runtime::FocalLoss;
/// use tch::{Device, Kind, Tensor};
/// let logits = Tensor::randn([2, 3, 4, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
/// let target = Tensor::randint(3, [2, 4, 4], (Kind::Int64, Device::Cpu));
/// let loss = FocalLoss::default().forward(&logits, &target);
/// loss.backward();
/// assert_eq!(logits.grad().size(), [2, 3, 4, 4]);
/// ```
#[loss(crate = crate, register = "focal_loss", fused = crate::fused::seed_focal::seed_focal)]
pub fn focal_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    /// The focusing exponent of each class's binary focal loss.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// The weight of positives in each class's binary focal loss; negatives get `1 - alpha`.
    #[hyper(default = 0.25, check = 0.0..=1.0)]
    alpha: f64,
) -> Result<LossOutput, LossError> {
    let target = class_index_target(FocalLoss::NAME, input, target)?;
    let classes = input.size()[1];
    checks::class_indices(FocalLoss::NAME, "target", &target, classes, None)?;
    let x = upcast(input)?;
    let kind = x.kind();
    if classes == 0 {
        // No class: the seed's sum over none divided by C = 0.
        let none = x.f_sum_dim_intlist(1, false, kind)?.f_div_scalar(0.0)?;
        return Ok(downcast(LossOutput::new(none), input.kind()));
    }
    let positive = one_hot_mask(&target, classes, x.dim())?;
    let parts = log_softmax_parts(&x)?;
    let log_q = log_one_minus_probs(&parts)?;
    let terms = log_space_focal_terms(&parts.log_p, &log_q, &positive, gamma, alpha)?;
    let per_position = terms
        .f_sum_dim_intlist(1, false, kind)?
        .f_div_scalar(classes as f64)?;
    Ok(downcast(LossOutput::new(per_position), input.kind()))
}

/// `ln(1 - p)` of every class: for the top class `ln(rest) - ln(1 + rest)` from the others' share
/// (`-inf` where it is 0, with a zero gradient), for the others (`p <= 1/2`) `log1p(-p)` at every
/// probability (where [`log_one_minus_softmax`](super::common::log_one_minus_softmax) takes the
/// constant 0 below `ln p = -80`: here `ln(1 - p)` of a negative class is the loss itself, however
/// small, and its gradient `-p / (1 - p)` meets a finite upstream, `-alpha_t (1 - p_t)^gamma`).
fn log_one_minus_probs(parts: &LogSoftmaxParts) -> Result<Tensor, LossError> {
    let top = log_share(&parts.rest, &parts.log1p_rest)?;
    // Evaluated at a safe point at the top class (unused there, and its gradient not NaN).
    let others = parts
        .log_p
        .f_masked_fill(&parts.is_top, -1.0)?
        .f_exp()?
        .f_neg()?
        .f_log1p()?;
    Ok(top
        .f_expand_as(&others)?
        .f_where_self(&parts.is_top, &others)?)
}

/// The seed's binary focal terms `-alpha_t (1 - p_t)^gamma ln(clamp(p_t, 1e-4, 1))` of every
/// class from `log p` and `log(1 - p)` (`p_t` is `p` where `positive`, else `1 - p`): the factor
/// `(1 - p_t)^gamma` as `exp(gamma log(1 - p_t))`, and where `p_t < 1e-4` the clamped constants
/// `ln 1e-4` and `(1 - 1e-4)^gamma`, whose gradient is 0 as the clamp's.
fn log_space_focal_terms(
    log_p: &Tensor,
    log_q: &Tensor,
    positive: &Tensor,
    gamma: f64,
    alpha: f64,
) -> Result<Tensor, LossError> {
    let log_p_t = log_p.f_where_self(positive, log_q)?;
    let log_one_minus_p_t = log_q.f_where_self(positive, log_p)?;
    let clamped = log_p_t.f_lt(P_T_MIN.ln())?;
    let log_p_t = log_p_t.f_masked_fill(&clamped, P_T_MIN.ln())?;
    let factor = modulator(&log_one_minus_p_t, gamma)?
        .f_masked_fill(&clamped, (1.0 - P_T_MIN).powf(gamma))?;
    let alpha_t = Tensor::f_scalar_tensor(alpha, (log_p.kind(), log_p.device()))?
        .f_where_scalarother(positive, 1.0 - alpha)?;
    Ok(alpha_t.f_neg()?.f_mul(&factor)?.f_mul(&log_p_t)?)
}

/// The target as `(N, *)` int64: accepts `(N, *)` and `(N, 1, *)` for input `(N, C, *)`.
pub(crate) fn class_index_target(
    loss: &'static str,
    input: &Tensor,
    target: &Tensor,
) -> Result<Tensor, LossError> {
    let shape = input.size();
    if shape.len() < 2 {
        return Err(checks::shape_of(
            loss,
            "input",
            input,
            "should be (N, C, *) logits with at least 2 dims",
        ));
    }
    let expected: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    // Class indices are compared in i64 whatever the target's integer type: a scalar compared
    // with a `u8` tensor wraps to `u8` (`-100` would become 156, and a target of 156 "ignored").
    let as_i64 = |t: Tensor| -> Result<Tensor, LossError> {
        Ok(if t.kind() == Kind::Int64 {
            t
        } else {
            t.f_to_kind(Kind::Int64)?
        })
    };
    let found = target.size();
    if found == expected {
        return as_i64(target.shallow_clone());
    }
    let mut with_channel = expected.clone();
    with_channel.insert(1, 1);
    if found == with_channel {
        return as_i64(target.f_squeeze_dim(1)?);
    }
    Err(checks::shape_of(
        loss,
        "target",
        target,
        format!("should be (N, *) = {expected:?} or (N, 1, *) = {with_channel:?} for input of shape {shape:?}"),
    ))
}

/// `target[n, *] == c` as a boolean `(N, C, *)` mask, built without a loop over classes.
pub(crate) fn one_hot_mask(
    target: &Tensor,
    classes: i64,
    input_dims: usize,
) -> Result<Tensor, LossError> {
    let mut view = vec![1i64; input_dims];
    view[1] = classes;
    let class_ids =
        Tensor::f_arange(classes, (Kind::Int64, target.device()))?.f_view(view.as_slice())?;
    Ok(target.f_unsqueeze(1)?.f_eq_tensor(&class_ids)?)
}
