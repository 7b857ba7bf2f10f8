//! The fused `SoftmaxFocalLoss` kernel (without label smoothing): per position, the log-softmax
//! of the target class, `log(1 - p_y)` from the other classes' sum, the loss
//! `-alpha_y (1 - p_y)^gamma ln p_y`, and its gradient
//! `-alpha_y (1 - p_y)^gamma ((onehot_j - p_j) + gamma ln p_y (w_j - p_j))`, where `w` is the
//! softmax over the classes other than `y` (the derivative of `log(1 - p_y)`); where `p_y < 1/2`
//! the same gradient as `F (onehot_j - p_j)`, `F = -alpha_y (1 - p_y)^gamma (1 - gamma ln p_y
//! p_y / (1 - p_y))` (since `w - p = -(p_y / (1 - p_y)) (onehot - p)`), which stays exact at any
//! logit gap where the first form multiplies a huge `gamma ln p_y` by a rounded `w_j - p_j`.

use std::ops::Range;

use tch::{Kind, Tensor};

use super::math::{lane_sum, max, select, Real};
use super::parallel::{for_ranges, SharedOut};
use super::view::{self, ClassIndex, Classes};
use super::{multiversion, Blocks, Power, BLOCK};
use crate::losses::class_index_target;
use crate::{Fused, LossError, Reduction};

/// The `#[loss(fused = ...)]` hook of `SoftmaxFocalLoss`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_focal(
    input: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: Option<Vec<f64>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    reduction: Reduction,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    if !super::enabled() || reduction == Reduction::None || label_smoothing != 0.0 {
        return Ok(None);
    }
    let shape = input.size();
    if shape.len() < 2 || shape[1] < 2 || input.numel() == 0 {
        return Ok(None);
    }
    if alpha.as_ref().is_some_and(|a| a.len() as i64 != shape[1]) {
        return Ok(None);
    }
    let Ok(target) = class_index_target("SoftmaxFocalLoss", input, target) else {
        return Ok(None);
    };
    let Some(classes) = view::classes(&target) else {
        return Ok(None);
    };
    let params = Params {
        shape: &shape,
        power: Power::of(gamma),
        gamma,
        alpha: alpha.as_deref(),
        ignore: ignore_index,
        reduction,
        needs_grad,
    };
    match input.kind() {
        Kind::Float => with_targets::<f32>(input, &classes, &params),
        Kind::Double => with_targets::<f64>(input, &classes, &params),
        _ => Ok(None),
    }
}

struct Params<'a> {
    shape: &'a [i64],
    power: Power,
    gamma: f64,
    alpha: Option<&'a [f64]>,
    ignore: Option<i64>,
    reduction: Reduction,
    needs_grad: bool,
}

fn with_targets<R: Real>(
    input: &Tensor,
    classes: &Classes<'_>,
    params: &Params<'_>,
) -> Result<Option<Fused>, LossError> {
    let Some(x) = view::floats::<R>(input) else {
        return Ok(None);
    };
    match classes {
        Classes::I64(y) => run(x, y, params),
        Classes::I32(y) => run(x, y, params),
        Classes::U8(y) => run(x, y, params),
    }
}

struct Ctx<'a, R, T> {
    x: &'a [R],
    y: &'a [T],
    blocks: Blocks,
    alpha: Vec<R>,
    /// The weight of every class where they are all equal (no per-class alpha).
    uniform_alpha: Option<R>,
    ignore: Option<i64>,
    power: Power,
    gamma: R,
}

fn run<R: Real, T: ClassIndex>(
    x: &[R],
    y: &[T],
    params: &Params<'_>,
) -> Result<Option<Fused>, LossError> {
    let Some(blocks) = Blocks::of(params.shape, x.len(), y.len()) else {
        return Ok(None);
    };
    let c = blocks.classes;
    let alpha: Vec<f64> = params.alpha.map_or_else(|| vec![1.0; c], <[f64]>::to_vec);
    let ctx = Ctx {
        x,
        y,
        blocks,
        alpha: alpha.iter().map(|&a| R::of(a)).collect(),
        uniform_alpha: params.alpha.is_none().then_some(R::ONE),
        ignore: params.ignore,
        power: params.power,
        gamma: R::of(params.gamma),
    };
    // One pass over the logits and targets: the loss, the sum of the weights `Mean` divides by,
    // the targets' range, and the gradient of the sum (scaled by the mean's 1 / weight later, on
    // the scalar in the backward pass).
    let items = blocks.count();
    let mut grad = if params.needs_grad {
        Some(view::new_floats::<R>(params.shape)?)
    } else {
        None
    };
    let parts = {
        let out = grad.as_mut().and_then(view::floats_mut::<R>);
        let out = out.map(SharedOut::new);
        for_ranges(items, c * BLOCK, |range| {
            work_dispatch(&ctx, range, out.as_ref())
        })
    };
    if parts.iter().any(|p| p.bad_target) {
        // The composed path reports the target out of range.
        return Ok(None);
    }
    let weight: f64 = parts.iter().map(|p| p.weight).sum();
    if params.reduction == Reduction::Mean && weight == 0.0 {
        // Every element ignored: the composed path gives PyTorch's 0 / 0.
        return Ok(None);
    }
    super::count_run();
    let scale = view::reduction_scale(params.reduction, weight);
    let total: f64 = parts.iter().map(|p| p.sum).sum();
    Ok(Some(
        Fused::new(view::reduced::<R>(total, scale)?, grad).with_grad_scale(scale),
    ))
}

/// What a thread returns: its share of the loss and of the weights, and whether it saw a target
/// out of range.
struct Partial {
    sum: f64,
    weight: f64,
    bad_target: bool,
}

multiversion! {
    fn work_dispatch<R: Real, T: ClassIndex>(ctx: &Ctx<'_, R, T>, range: Range<usize>, out: Option<&SharedOut<R>>) -> Partial = work;
}

#[inline(always)]
fn work<R: Real, T: ClassIndex>(
    ctx: &Ctx<'_, R, T>,
    range: Range<usize>,
    out: Option<&SharedOut<R>>,
) -> Partial {
    let mut e = vec![R::ZERO; ctx.blocks.classes * BLOCK];
    let mut partial = Partial {
        sum: 0.0,
        weight: 0.0,
        bad_target: false,
    };
    for item in range {
        let (n, s0, len) = ctx.blocks.get(item);
        block(ctx, n, s0, len, &mut e, out, &mut partial);
    }
    partial
}

#[inline(always)]
fn block<R: Real, T: ClassIndex>(
    ctx: &Ctx<'_, R, T>,
    n: usize,
    s0: usize,
    len: usize,
    e: &mut [R],
    out: Option<&SharedOut<R>>,
    partial: &mut Partial,
) {
    let (c, s) = (ctx.blocks.classes, ctx.blocks.spatial);
    let base = n * c * s + s0;
    let targets = &ctx.y[n * s + s0..][..len];
    // Class ids as i32 (ignored elements -1), so that comparing them with a class vectorizes at
    // the width of f32.
    let mut yi = [-1i32; BLOCK];
    let mut a = [R::ZERO; BLOCK];
    // No sentinel: without an ignore_index every value is a class index (i64::MIN included).
    let (has_ignore, ignore) = (ctx.ignore.is_some(), ctx.ignore.unwrap_or(0));
    let mut bad = false;
    for i in 0..len {
        let k = targets[i].index();
        let valid = !(has_ignore & (k == ignore));
        bad |= valid & ((k < 0) | (k >= c as i64));
        yi[i] = select(valid, k as i32, -1);
    }
    partial.bad_target |= bad;
    match ctx.uniform_alpha {
        Some(alpha) => {
            for i in 0..len {
                a[i] = select(yi[i] >= 0, alpha, R::ZERO);
            }
        }
        None => {
            for i in 0..len {
                a[i] = ctx.alpha.get(yi[i] as usize).copied().unwrap_or(R::ZERO);
            }
        }
    }
    let mut m = [R::ZERO; BLOCK];
    m[..len].copy_from_slice(&ctx.x[base..base + len]);
    for k in 1..c {
        let row = &ctx.x[base + k * s..][..len];
        for i in 0..len {
            m[i] = max(m[i], row[i]);
        }
    }
    let (mut sum, mut others) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let (mut x_y, mut e_y) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    for k in 0..c {
        let row = &ctx.x[base + k * s..][..len];
        let er = &mut e[k * BLOCK..][..len];
        for i in 0..len {
            let v = (row[i] - m[i]).exp();
            er[i] = v;
            sum[i] = sum[i] + v;
            let is_y = yi[i] == k as i32;
            others[i] = others[i] + select(is_y, R::ZERO, v);
            x_y[i] = select(is_y, row[i], x_y[i]);
            e_y[i] = select(is_y, v, e_y[i]);
        }
    }
    // The gradient is the composed path's, term by term:
    // -alpha_y mod ((onehot_j - p_j) + gamma ln p_y (w_j - p_j)), w the softmax of the others.
    let (mut b, mut d) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let (mut inv, mut inv_others) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let (mut log_p, mut q, mut log_q) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let mut lse = [R::ZERO; BLOCK];
    for i in 0..len {
        inv[i] = R::ONE / sum[i];
        // Where y is the top class (e_y = 1), the log-sum-exp is ln(1 + others), corrected for
        // the rounding of the sum (so that log p_y = -ln(1 + others) keeps its digits where p_y
        // rounds to 1: ln(sum) alone gives 0 for 1e-8 in float32).
        let correction = select(
            x_y[i] == m[i],
            ((sum[i] - R::ONE) - others[i]) * inv[i],
            R::ZERO,
        );
        lse[i] = sum[i].ln() - correction;
        log_p[i] = x_y[i] - m[i] - lse[i];
        q[i] = others[i] * inv[i];
    }
    if matches!(ctx.power, Power::Other(_)) {
        for i in 0..len {
            log_q[i] = others[i].ln() - lse[i];
        }
    }
    let mut modulator = [R::ZERO; BLOCK];
    ctx.power
        .apply_log(&log_q[..len], &q[..len], &mut modulator);
    let mut losses = [R::ZERO; BLOCK];
    for i in 0..len {
        let loss = -(modulator[i] * log_p[i]) * a[i];
        losses[i] = select(yi[i] >= 0, loss, R::ZERO);
    }
    partial.sum += lane_sum(&losses[..len]);
    partial.weight += lane_sum(&a[..len]);
    if out.is_some() {
        for i in 0..len {
            let valid = yi[i] >= 0;
            let base_coef = -(a[i] * modulator[i]);
            // 1 / others, 0 where it is not finite (others 0 or subnormal: y is the top class and
            // the others' terms, which it weighs, are below the subnormal range).
            let inv_o = R::ONE / others[i];
            inv_others[i] = select(
                (others[i] > R::ZERO) & (inv_o < R::INFINITY),
                inv_o,
                R::ZERO,
            );
            // p_y >= 1/2: as the composed path, which differentiates log(1 - p_y) through the
            // other classes there. p_y < 1/2: the gradient is `F (onehot - p)` with
            // `F = base (1 - gamma ln p_y p_y / (1 - p_y))`, `ln p_y * (p_y / (1 - p_y))` taken
            // first (it is small where ln p_y is huge: no overflow, no cancellation at any logit
            // gap), 0 where p_y is 0.
            let top = e_y[i] >= others[i];
            let ratio = select(
                e_y[i] > R::ZERO,
                log_p[i] * (e_y[i] * inv_others[i]),
                R::ZERO,
            );
            let whole = select(top, base_coef, base_coef * (R::ONE - ctx.gamma * ratio));
            b[i] = select(valid, whole, R::ZERO);
            d[i] = select(valid & top, base_coef * ctx.gamma * log_p[i], R::ZERO);
        }
    }
    if let Some(out) = out {
        for k in 0..c {
            let er = &e[k * BLOCK..][..len];
            // SAFETY: block (n, s0) writes only its own positions s0..s0+len of each class row.
            let o = unsafe { out.slice(base + k * s, len) };
            for i in 0..len {
                let is_y = yi[i] == k as i32;
                let p = er[i] * inv[i];
                // onehot - p: 1 - p_y is q, the others' share (not a subtraction that cancels
                // where p_y is near 1).
                let onehot_minus_p = select(is_y, q[i], -p);
                let w = select(is_y, R::ZERO, er[i] * inv_others[i]);
                o[i] = b[i] * onehot_minus_p + d[i] * (w - p);
            }
        }
    }
}
