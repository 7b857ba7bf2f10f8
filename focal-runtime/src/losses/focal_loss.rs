//! The seed's multi-class focal loss: softmax, then the binary focal loss of each class.

use focal_macros::loss;
use tch::{Kind, Tensor};

use super::common::{downcast, first_argmax, log_share, modulator, upcast};
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
#[loss(crate = crate, register = "focal_loss", fused = crate::fused::drive)]
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
    let per_position = log_space_focal_sum(&x, &target, gamma, alpha)?
        .f_squeeze_dim(1)?
        .f_div_scalar(classes as f64)?;
    Ok(downcast(LossOutput::new(per_position), input.kind()))
}

/// The sum over classes of the seed's binary focal terms, `(N, 1, *)`, for logits `x` `(N, C, *)`
/// (`C >= 1`) and class indices `target` `(N, *)`, in log space. Per position, with `k` the top
/// class ([`first_argmax`]) and `y` the target, every class but `k` and `y` is a negative whose
/// `p <= 1/2`: its term is `-(1 - alpha) p^gamma log1p(-p)`, exact at every probability (its
/// `p_t = 1 - p >= 1/2` is never clamped), computed in a handful of full-size passes with `p`
/// as `exp(x_c - x_k) / (1 + rest)`. The two special classes are computed on `(N, 1, *)` slices:
/// `y` as the positive (`ln p_y` from the log-softmax, `ln(1 - p_y)` as `log1p(-p_y)`, or from
/// `rest` where `y` is `k`) and, where `y` is not `k`, `k` as a negative (`ln(1 - p_k)` from the
/// others' share `rest`, `ln p_k = -log1p(rest)`), both through [`focal_terms`] (the clamp).
/// `rest`, the sum of `exp(x_c - x_k)` over the classes but `k`, gives `1 - p_k = rest / (1 +
/// rest)` without a subtraction from 1, and carries NaN where the top logit is not finite (NaN
/// everywhere there, as `log_softmax` gives). The values and gradients are the former per-class
/// formulation's (the one-hot `where`s over all `C` classes) to rounding, with no full-size mask
/// and a third fewer full-size buffers.
fn log_space_focal_sum(
    x: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: f64,
) -> Result<Tensor, LossError> {
    let y = target.f_unsqueeze(1)?;
    let top = first_argmax(x)?;
    let y_is_top = y.f_eq_tensor(&top)?;
    // x_k and x_y from one gather (one full-size buffer in the backward pass).
    let both = Tensor::f_cat(&[&top, &y], 1)?;
    let x_both = x.f_gather(1, &both, false)?;
    let x_top = x_both.f_narrow(1, 0, 1)?;
    let x_y = x_both.f_narrow(1, 1, 1)?;
    // z = x - x_k, set to -inf at k and y behind autograd's back (z is saved by no operation): to
    // autograd, z is then a constant -inf there, whose exp is 0 with a zero gradient, as the
    // seed-exact detach at the top class (z_k = x_k - x_k is constant) and the exclusion of y.
    let mut z = x.f_sub(&x_top)?;
    let _ = z
        .f_detach()?
        .f_scatter_value_(1, &both, f64::NEG_INFINITY)?;
    // exp in place unless z is needed again (the modulator of 0 < gamma < 1, below).
    let e = if gamma > 0.0 && gamma < 1.0 {
        z.f_exp()?
    } else {
        z.f_exp_()?
    };
    // x_y - x_k: 0 where y is k (NaN where x_k is not finite), taken there as 0 (ln p_y) and -inf
    // (exp(x_y - x_k) in rest) through masks, so that no gradient of a subtraction that cancels
    // (x_k - x_k) reaches the logits.
    let d_y = x_y.f_sub(&x_top)?;
    let e_y = d_y.f_masked_fill(&y_is_top, f64::NEG_INFINITY)?.f_exp()?;
    // The others' sum at k, plus x_k - x_k (0, or NaN where x_k is not finite, so that an infinite
    // logit gives log_softmax's NaN everywhere; constant).
    let rest = e
        .f_sum_dim_intlist(1, true, x.kind())?
        .f_add(&e_y)?
        .f_add(&x_top.f_sub(&x_top)?.f_detach()?)?;
    let log1p_rest = rest.f_log1p()?;
    // ln(1 - p_k) and ln p_k = -ln(1 + rest).
    let log_q_top = log_share(&rest, &log1p_rest)?;
    let log_p_top = log1p_rest.f_neg()?;
    let inv = log_p_top.f_exp()?;
    // The positive class y: ln p_y = x_y - x_k - ln(1 + rest); ln(1 - p_y) = log1p(-p_y) (p_y <=
    // 1/2), or ln(1 - p_k) where y is k (where p_y as exp(-inf) is 0: the unused log1p is finite).
    let log_p_y = d_y.f_masked_fill(&y_is_top, 0.0)?.f_add(&log_p_top)?;
    let log_q_y = log_q_top.f_where_self(&y_is_top, &e_y.f_mul(&inv)?.f_neg()?.f_log1p()?)?;
    let positive = focal_terms(&log_p_y, &log_q_y, gamma, alpha)?;
    // The top class as a negative where it is not the target: p_t = 1 - p_k.
    let top_negative =
        focal_terms(&log_q_top, &log_p_top, gamma, 1.0 - alpha)?.f_masked_fill(&y_is_top, 0.0)?;
    // The other negatives: -p = e * (-1 / (1 + rest)), 0 at k and y (whose terms are then 0).
    let neg_p = e.f_mul(&inv.f_neg()?)?;
    let log_q = neg_p.f_log1p()?;
    let (terms, sign) = if gamma == 0.0 {
        (log_q, 1.0)
    } else if gamma.fract() == 0.0 {
        // An integer gamma: p^gamma as (-p)^gamma (-1)^gamma, no pass to negate p.
        let odd = gamma % 2.0 == 1.0;
        let sign = if odd { -1.0 } else { 1.0 };
        (neg_p.f_pow_tensor_scalar(gamma)?.f_mul(&log_q)?, sign)
    } else if gamma > 1.0 {
        // p^gamma: pow's derivative gamma p^(gamma - 1) is finite at p = 0 for gamma >= 1.
        (
            neg_p.f_neg()?.f_pow_tensor_scalar(gamma)?.f_mul(&log_q)?,
            1.0,
        )
    } else {
        // 0 < gamma < 1: exp(gamma ln p), ln p = z - ln(1 + rest) (-inf at k and y: 0 there, with a
        // finite gradient, where pow's derivative at p = 0 is infinite).
        let mut scaled = z.f_add(&log_p_top)?;
        let _ = scaled.f_mul_scalar_(gamma)?;
        let _ = scaled.f_exp_()?;
        (scaled.f_mul(&log_q)?, 1.0)
    };
    let negatives = terms
        .f_sum_dim_intlist(1, true, x.kind())?
        .f_mul_scalar(-(1.0 - alpha) * sign)?;
    Ok(positive.f_add(&top_negative)?.f_add(&negatives)?)
}

/// The seed's binary focal term `-weight (1 - p_t)^gamma ln(clamp(p_t, 1e-4, 1))` from `ln p_t`
/// and `ln(1 - p_t)`: the factor `(1 - p_t)^gamma` as `exp(gamma ln(1 - p_t))` ([`modulator`]),
/// and where `p_t < 1e-4` the clamped constants `ln 1e-4` and `(1 - 1e-4)^gamma`, whose gradient
/// is 0 as the clamp's.
fn focal_terms(
    log_p_t: &Tensor,
    log_one_minus_p_t: &Tensor,
    gamma: f64,
    weight: f64,
) -> Result<Tensor, LossError> {
    let clamped = log_p_t.f_lt(P_T_MIN.ln())?;
    let log_p_t = log_p_t.f_masked_fill(&clamped, P_T_MIN.ln())?;
    let factor = modulator(log_one_minus_p_t, gamma)?
        .f_masked_fill(&clamped, (1.0 - P_T_MIN).powf(gamma))?;
    Ok(factor.f_mul(&log_p_t)?.f_mul_scalar(-weight)?)
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
