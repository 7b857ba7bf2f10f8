//! Helpers shared by the focal-family losses: precision, log-space focal factors, targets.

use tch::{Kind, Tensor};

use super::focal_loss::{class_index_target, one_hot_mask};
use crate::{checks, LossError, LossOutput};

/// `t` in the dtype the losses compute in: float32 for half and bfloat16, else unchanged.
pub(crate) fn compute_kind(kind: Kind) -> Kind {
    match kind {
        Kind::Half | Kind::BFloat16 => Kind::Float,
        other => other,
    }
}

/// `t` cast to [`compute_kind`] of its dtype (a no-op, sharing storage, where it already is).
pub(crate) fn upcast(t: &Tensor) -> Result<Tensor, LossError> {
    let kind = compute_kind(t.kind());
    Ok(if kind == t.kind() {
        t.shallow_clone()
    } else {
        t.f_to_kind(kind)?
    })
}

/// `loss` to be returned in `kind` (the input's dtype), reduced before the cast.
pub(crate) fn downcast(loss: LossOutput, kind: Kind) -> LossOutput {
    loss.with_output_kind(kind)
}

/// The focal modulating factor `(1 - p)^gamma` from `log(1 - p)`, as `exp(gamma * log(1 - p))`:
/// finite with a finite gradient for every `gamma >= 0`, also where `1 - p` underflows to 0
/// (where `pow` has an infinite derivative for `gamma < 1`). Exactly 1 for `gamma = 0`.
pub(crate) fn modulator(log_one_minus_p: &Tensor, gamma: f64) -> Result<Tensor, LossError> {
    if gamma == 0.0 {
        return Ok(log_one_minus_p.f_ones_like()?);
    }
    Ok(log_one_minus_p.f_mul_scalar(gamma)?.f_exp()?)
}

/// Below this log-probability, `log(1 - p)` is 0 to rounding in float32 and float64
/// (`|log p| p < 1e-33`): [`log_one_minus_softmax`] takes it as the constant 0 there.
pub(crate) const LOG_P_NEGLIGIBLE: f64 = -80.0;

/// `log_softmax(x, 1)` with the top class of each position (a bool mask, `(N, 1, *)` positions
/// marked along dim 1), accurate also where a probability rounds to 1: the top logit's
/// log-probability is `-log1p(rest)`, `rest` the sum of the others' `exp(x_k - x_top)`, where
/// `log_softmax` gives `-log(1 + rest)` with `1 + rest` rounded (0 for `rest = 1e-8` in float32,
/// and for `rest < 1e-16` in float64). Its gradient is exact there too: the top logit's is
/// `onehot - p` with `1 - p_top = rest / (1 + rest)`, where `log_softmax`'s backward forms
/// `1 - p_top` by a subtraction that cancels. NaN and infinite logits give `log_softmax`'s
/// non-finite pattern. Needs at least 2 classes.
pub(crate) fn log_softmax_with_top(x: &Tensor) -> Result<(Tensor, Tensor), LossError> {
    let top = TopSoftmax::of(x)?;
    Ok((top.log_p()?, top.is_top))
}

/// The softmax of `(N, C, *)` logits from the top logit of each position, the parts
/// [`log_softmax_with_top`] and [`TopSoftmax::p_and_q`] compute from.
pub(crate) struct TopSoftmax {
    /// `x - x_top`: exactly 0 at the top logit (NaN where it is not finite), and detached there,
    /// so that its gradient does not meet the others' in a sum that cancels (the top logit's
    /// gradient, `-sum` of the others', comes through the gather alone).
    z: Tensor,
    /// `exp(z)`: 1 at the top class.
    e: Tensor,
    /// The others' sum of `exp(z)`, `(N, 1, *)`, plus `z` at the top (0, or NaN where the top
    /// logit is not finite, so that an infinite logit gives `log_softmax`'s NaN everywhere;
    /// constant there).
    rest: Tensor,
    /// The top class of each position, marked along dim 1.
    pub is_top: Tensor,
}

impl TopSoftmax {
    pub(crate) fn of(x: &Tensor) -> Result<Self, LossError> {
        let top = first_argmax(x)?;
        // Class k == top, broadcast: one pass writing bytes.
        let classes = x.size().get(1).copied().unwrap_or(1);
        let mut view = vec![1i64; x.dim()];
        if let Some(v) = view.get_mut(1) {
            *v = classes;
        }
        let is_top = Tensor::f_arange(classes, (Kind::Int64, x.device()))?
            .f_view(view.as_slice())?
            .f_eq_tensor(&top)?;
        let shifted = x.f_sub(&x.f_gather(1, &top, false)?)?;
        let z = shifted.f_detach()?.f_where_self(&is_top, &shifted)?;
        // Not saved by autograd: free it before the next full-size tensors.
        drop(shifted);
        let e = z.f_exp()?;
        let rest = e
            .f_masked_fill(&is_top, 0.0)?
            .f_sum_dim_intlist(1, true, x.kind())?
            .f_add(&z.f_gather(1, &top, false)?)?;
        Ok(TopSoftmax { z, e, rest, is_top })
    }

    /// `log p`: `z - log1p(rest)`.
    pub(crate) fn log_p(&self) -> Result<Tensor, LossError> {
        Ok(self.z.f_sub(&self.rest.f_log1p()?)?)
    }

    /// `(log p_y, log(1 - p_y))` of the class `index` (`(N, 1, *)` class ids in `[0, C)`) of each
    /// position, `(N, 1, *)`, with the values and gradients of [`target_log_probs`] (the same
    /// branches: where `y` is the top class both from `rest`, elsewhere `log1p(-p_y)`, the
    /// constant 0 below [`LOG_P_NEGLIGIBLE`]) from these parts, gathered: no full-size pass.
    pub(crate) fn at(&self, index: &Tensor) -> Result<(Tensor, Tensor), LossError> {
        let y_is_top = self.is_top.f_gather(1, index, false)?;
        let log1p_rest = self.rest.f_log1p()?;
        let log_p_y = self.z.f_gather(1, index, false)?.f_sub(&log1p_rest)?;
        let log_q_top = log_share(&self.rest, &log1p_rest)?;
        let log_q_other = log1p_neg_exp(&log_p_y, &y_is_top)?;
        Ok((log_p_y, log_q_top.f_where_self(&y_is_top, &log_q_other)?))
    }

    /// `p` and `1 - p`: `exp(z) / (1 + rest)`, and `rest / (1 + rest)` at the top class (`1 - p`
    /// elsewhere, where `p <= 1/2`), neither with a subtraction that cancels, nor their
    /// gradients (the top class's `1 - p` has `d / d rest = 1 / (1 + rest)^2`, taken without
    /// forming `1 - p`).
    pub(crate) fn p_and_q(&self) -> Result<(Tensor, Tensor), LossError> {
        let inv = self.rest.f_add_scalar(1.0)?.f_reciprocal()?;
        let p = self.e.f_mul(&inv)?;
        let q = self
            .rest
            .f_mul(&inv)?
            .f_where_self(&self.is_top, &p.f_rsub_scalar(1.0)?)?;
        Ok((p, q))
    }
}

/// The first index of the largest value along dim 1 (`(N, 1, *)` int64), as `argmax(1)` for
/// finite inputs, from two reductions that libtorch's CPU backend runs fast (its `argmax` over
/// dim 1 of an `(N, C, *)` tensor took 76 ms where `amax` took 0.4 ms, at `2 x 4 x 64^3`), the
/// ranks held in one byte per element where `C <= 255`. Where a position holds NaN (whose
/// results are NaN anyway) it is the last class.
pub(crate) fn first_argmax(x: &Tensor) -> Result<Tensor, LossError> {
    let shape = x.size();
    let classes = shape.get(1).copied().unwrap_or(1);
    let mut view = vec![1i64; shape.len()];
    if let Some(v) = view.get_mut(1) {
        *v = classes;
    }
    // C - k for class k: the largest among the maxima is the first of them.
    let rank_kind = if classes <= 255 {
        Kind::Uint8
    } else {
        Kind::Int64
    };
    let rank = Tensor::f_arange_start_step(classes, 0, -1, (Kind::Int64, x.device()))?
        .f_to_kind(rank_kind)?
        .f_view(view.as_slice())?;
    let is_max = x.f_eq_tensor(&x.f_amax([1i64].as_slice(), true)?)?;
    let first = rank
        .f_where_scalarother(&is_max, 0)?
        .f_amax([1i64].as_slice(), true)?
        .f_to_kind(Kind::Int64)?;
    Ok(first
        .f_neg()?
        .f_add_scalar(classes)?
        .f_clamp_max(classes - 1)?)
}

/// `log(1 - softmax(x, 1))` for every class, accurate and with finite gradients also where a
/// probability rounds to 1: for the largest logit of each position it is the log-sum-exp of the
/// other classes' log-probabilities; for the others (whose probability is at most 1/2)
/// `log1p(-p)`, and the constant 0 where `log p` is below [`LOG_P_NEGLIGIBLE`]. The constant keeps
/// the backward pass free of `inf * 0` at huge logit gaps: the focal term's derivative with
/// respect to `log(1 - p)` is `gamma (1 - p)^gamma |log p|`, which overflows at `log p = -3e38`
/// (a float32 gap), while `d log(1 - p) / d log p = -p / (1 - p)` underflows to 0 long before;
/// and it keeps the gradient of the term in `log p` alone, so that the softmax backward does not
/// cancel a huge gradient of `log(1 - p)` against another class's (at a gap of 1e7 in float32
/// that cancellation gave `[-1, 0, 0]` for `[-1, 1, 0]`). `log_p` is `log_softmax(x, 1)`; needs
/// at least 2 classes; `is_top` marks the top class of each position (see
/// [`log_softmax_with_top`], which gives both).
pub(crate) fn log_one_minus_softmax(log_p: &Tensor, is_top: &Tensor) -> Result<Tensor, LossError> {
    // The others' log-sum-exp, at the top class (masked so the top class does not count). A
    // position without a finite other (one class, or the others' logits -inf) gets -inf, its
    // log-sum-exp taken over zeros instead: over -inf alone its backward is `0 * exp(-inf + inf)`,
    // NaN, also under a zero upstream gradient.
    let others = log_p.f_masked_fill(is_top, f64::NEG_INFINITY)?;
    let no_other = others
        .f_amax([1i64].as_slice(), true)?
        .f_eq(f64::NEG_INFINITY)?;
    let others = others
        .f_masked_fill(&no_other, 0.0)?
        .f_logsumexp(&[1i64][..], true)?
        .f_masked_fill(&no_other, f64::NEG_INFINITY)?;
    // log1p(-p) at every class but the top one.
    let rest = log1p_neg_exp(log_p, is_top)?;
    Ok(others.f_expand_as(&rest)?.f_where_self(is_top, &rest)?)
}

/// `(log p_y, log(1 - p_y))` of the class `index` (`(N, 1, *)` class ids in `[0, C)`) of each
/// position, `(N, 1, *)`: the same values and gradients as [`log_softmax_with_top`] and
/// [`log_one_minus_softmax`] gathered at `y`, accurate at any logit gap, with a handful of
/// full-size passes instead of some twenty (the target class is all a loss without label
/// smoothing needs). Where `y` is the top class, both come from `rest`, the sum of the others'
/// `exp(x_k - x_y)` (at most `C - 1`): `log p_y = -log1p(rest)` and `log(1 - p_y) = log(rest) -
/// log1p(rest)`; elsewhere `p_y < 1/2`, so `log p_y` is `log_softmax`'s and `log(1 - p_y) =
/// log1p(-p_y)`, the constant 0 below [`LOG_P_NEGLIGIBLE`]. NaN and infinite logits give
/// `log_softmax`'s non-finite pattern.
pub(crate) fn target_log_probs(x: &Tensor, index: &Tensor) -> Result<(Tensor, Tensor), LossError> {
    let kind = x.kind();
    let log_softmax_y = x.f_log_softmax(1, kind)?.f_gather(1, index, false)?;
    let x_y = x.f_gather(1, index, false)?;
    // NaN compares false: such a position takes log_softmax's NaN.
    let top = x_y.f_ge_tensor(&x.f_amax([1i64].as_slice(), true)?)?;
    // exp(x_k - x_y) for the other classes, clamped at 0 (used where y is the top class, where
    // nothing is clamped; elsewhere the clamp keeps the unused branch finite).
    // The -inf scattered in place (autograd saves no `x - x_y`): one full-size buffer fewer.
    let mut shifted = x.f_sub(&x_y)?;
    let _ = shifted.f_scatter_value_(1, index, f64::NEG_INFINITY)?;
    let rest = shifted
        .f_clamp_max(0.0)?
        .f_exp()?
        .f_sum_dim_intlist(1, true, kind)?
        // NaN where the top target logit is not finite, as log_softmax gives (added where y is
        // the top class only: NaN in the unused branch would make its zero gradient NaN).
        .f_add(&x_y.f_sub(&x_y)?.f_where_scalarother(&top, 0.0)?)?;
    let log1p_rest = rest.f_log1p()?;
    let log_rest_top = log_share(&rest, &log1p_rest)?;
    // log1p(-p_y) where y is not the top class.
    let log_rest_other = log1p_neg_exp(&log_softmax_y, &top)?;
    let log_p_y = log1p_rest.f_neg()?.f_where_self(&top, &log_softmax_y)?;
    let log_rest = log_rest_top.f_where_self(&top, &log_rest_other)?;
    Ok((log_p_y, log_rest))
}

/// `log(1 - p)` as `log1p(-exp(log_p))`, for probabilities at most 1/2 (those of every class
/// but the top one), the constant 0 where `log p` is below [`LOG_P_NEGLIGIBLE`]; evaluated at a
/// safe point where `other` marks a branch another form serves (the top class) and where `p` is
/// negligible, so that the unused branch's gradient is not NaN.
fn log1p_neg_exp(log_p: &Tensor, other: &Tensor) -> Result<Tensor, LossError> {
    let negligible = log_p.f_lt(LOG_P_NEGLIGIBLE)?;
    // In steps: a chain keeps every full-size intermediate until its statement ends, and none of
    // these masked inputs is saved by autograd.
    let safe = log_p
        .f_masked_fill(other, -1.0)?
        .f_masked_fill(&negligible, -1.0)?;
    let neg_p = safe.f_exp()?.f_neg()?;
    drop(safe);
    Ok(neg_p.f_log1p()?.f_masked_fill(&negligible, 0.0)?)
}

/// `ln(1 - p)` of a position's top class from `rest`, the others' `exp(x_k - x_top)` summed
/// (`1 - p = rest / (1 + rest)`), and `log1p_rest = ln(1 + rest)`: `ln(rest) - ln(1 + rest)`, no
/// subtraction from 1 that cancels where `p` rounds to 1; `-inf` where `rest` is 0, with a zero
/// gradient (the logarithm is taken at 1 there).
pub(crate) fn log_share(rest: &Tensor, log1p_rest: &Tensor) -> Result<Tensor, LossError> {
    let positive = rest.f_gt(0.0)?;
    Ok(rest
        .f_where_scalarother(&positive, 1.0)?
        .f_log()?
        .f_sub(log1p_rest)?
        .f_where_scalarother(&positive, f64::NEG_INFINITY)?)
}

/// A float `(N, C, *)` target for input `(N, C, *)`: a float target of the input's shape (one-hot
/// or soft, values in `[0, 1]`), an integer or bool target of the input's shape (values 0 and 1),
/// or class indices `(N, *)` / `(N, 1, *)` in `[0, C)`, one-hot encoded; with the class indices
/// `(N, 1, *)` (int64) where the target held them.
pub(crate) fn dense_target(
    loss: &'static str,
    input: &Tensor,
    target: &Tensor,
    kind: Kind,
) -> Result<(Tensor, Option<Tensor>), LossError> {
    let shape = input.size();
    if shape.len() < 2 {
        return Err(checks::shape_of(
            loss,
            "input",
            input,
            "should be (N, C, *) logits with at least 2 dims",
        ));
    }
    if target.size() == shape {
        if target.is_floating_point() {
            checks::values_in_unit_interval(loss, "target", target)?;
        } else {
            checks::binary_values(loss, "target", target)?;
        }
        return Ok((target.f_to_kind(kind)?, None));
    }
    if target.is_floating_point() {
        return Err(checks::shape_of(
            loss,
            "target",
            target,
            format!("a floating-point target should have the shape of input, {shape:?} (or use class indices)"),
        ));
    }
    let indices = class_index_target(loss, input, target)?;
    checks::class_indices(loss, "target", &indices, shape[1], None)?;
    let dense = one_hot_mask(&indices, shape[1], shape.len())?.f_to_kind(kind)?;
    Ok((dense, Some(indices.f_unsqueeze(1)?)))
}

/// Checks that a per-class weight vector has one entry per class.
pub(crate) fn per_class_len(
    loss: &'static str,
    name: &'static str,
    weights: &Option<Vec<f64>>,
    classes: i64,
) -> Result<(), LossError> {
    match weights {
        Some(w) if w.len() as i64 != classes => Err(LossError::InvalidHyperparameter {
            loss,
            name,
            expected: format!("one weight per class of input, {classes} values"),
            found: format!("{} values {w:?}", w.len()),
        }),
        _ => Ok(()),
    }
}

/// A `(1, C, 1, ...)` view of per-class values, for broadcasting against `(N, C, *)`.
pub(crate) fn per_class(
    values: &[f64],
    dims: usize,
    kind: Kind,
    device: tch::Device,
) -> Result<Tensor, LossError> {
    let mut view = vec![1i64; dims];
    view[1] = values.len() as i64;
    Ok(Tensor::f_from_slice(values)?
        .f_to_kind(kind)?
        .f_to_device(device)?
        .f_view(view.as_slice())?)
}
