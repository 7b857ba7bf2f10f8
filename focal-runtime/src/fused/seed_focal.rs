//! The fused `FocalLoss` kernel (the seed's semantics): from the softmax, each class's clamped
//! binary focal term `-alpha_t (1 - p_t)^gamma ln p_t` and the gradient through the clamp and the
//! softmax, `p_j (g_j - sum_c g_c p_c)`, in one pass, in the input's dtype and the composed
//! path's order of operations.
//!
//! The softmax itself is libtorch's, the one the seed's `nn.Softmax` runs: near `p = 1` the
//! seed's `1 - p` is ill-conditioned in float32 (an ulp of `p` moves `1 - p` by 5e-5 relative at
//! `p = 0.999`), and its gradient follows it, so only bit-identical probabilities reproduce the
//! seed's float32 gradients to 1e-5.

use std::ops::Range;

use tch::{Kind, Tensor};

use super::math::{lane_sum, max, min, select, Real};
use super::parallel::{for_ranges, SharedOut};
use super::view::{self, ClassIndex, Classes};
use super::{multiversion, Blocks, Power, BLOCK};
use crate::losses::class_index_target;
use crate::{Fused, LossError, Reduction};

/// The lower clamp of `p_t` (the seed's).
const P_T_MIN: f64 = 1e-4;

/// The `#[loss(fused = ...)]` hook of `FocalLoss`.
pub(crate) fn seed_focal(
    input: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: f64,
    reduction: Reduction,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    if !super::enabled() || reduction == Reduction::None {
        return Ok(None);
    }
    let shape = input.size();
    if shape.len() < 2 || input.numel() == 0 {
        return Ok(None);
    }
    let Ok(target) = class_index_target("FocalLoss", input, target) else {
        return Ok(None);
    };
    let Some(classes) = view::classes(&target) else {
        return Ok(None);
    };
    let params = Params {
        shape: &shape,
        power: Power::of(gamma),
        alpha,
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
    alpha: f64,
    reduction: Reduction,
    needs_grad: bool,
}

fn with_targets<R: Real>(
    input: &Tensor,
    classes: &Classes<'_>,
    params: &Params<'_>,
) -> Result<Option<Fused>, LossError> {
    if view::floats::<R>(input).is_none() {
        return Ok(None);
    }
    // The softmax goes into a fresh buffer that, with a gradient, the kernel then overwrites with
    // the gradient block by block: one full-size allocation instead of two.
    let mut probs = view::new_floats::<R>(params.shape)?;
    let _written = input.f_detach()?.f_softmax_int_out(&probs, 1, R::KIND)?;
    let Some(buffer) = view::floats_mut::<R>(&mut probs) else {
        return Ok(None);
    };
    let buffer = SharedOut::new(buffer);
    let result = match classes {
        Classes::I64(y) => run(&buffer, y, params),
        Classes::I32(y) => run(&buffer, y, params),
        Classes::U8(y) => run(&buffer, y, params),
    }?;
    Ok(result.map(|(value, has_grad)| Fused::new(value, has_grad.then_some(probs))))
}

struct Ctx<'a, R, T> {
    /// The softmax of the input, overwritten by the gradient where there is one.
    p: &'a SharedOut<R>,
    y: &'a [T],
    blocks: Blocks,
    power: Power,
    alpha: R,
    /// The gradient's scale: the reduction's, divided by the class count.
    scale: R,
    needs_grad: bool,
}

/// What a thread returns: its share of the loss and whether it saw a target out of range.
struct Partial {
    sum: f64,
    bad_target: bool,
}

/// The reduced loss and whether the buffer now holds the gradient.
fn run<R: Real, T: ClassIndex>(
    p: &SharedOut<R>,
    y: &[T],
    params: &Params<'_>,
) -> Result<Option<(Tensor, bool)>, LossError> {
    let Some(blocks) = Blocks::of(params.shape, p.len(), y.len()) else {
        return Ok(None);
    };
    let (n, c, spatial) = (blocks.samples, blocks.classes, blocks.spatial);
    let elements = (n * spatial) as f64;
    let scale = view::reduction_scale(params.reduction, elements);
    let ctx = Ctx {
        p,
        y,
        blocks,
        power: params.power,
        alpha: R::of(params.alpha),
        scale: R::of(scale) / R::of(c as f64),
        needs_grad: params.needs_grad,
    };
    let items = blocks.count();
    let parts = for_ranges(items, 2 * c * BLOCK, |range| work_dispatch(&ctx, range));
    if parts.iter().any(|p| p.bad_target) {
        // The composed path reports the target out of range.
        return Ok(None);
    }
    super::count_run();
    let total: f64 = parts.iter().map(|p| p.sum).sum();
    Ok(Some((view::reduced::<R>(total, scale)?, params.needs_grad)))
}

multiversion! {
    fn work_dispatch<R: Real, T: ClassIndex>(ctx: &Ctx<'_, R, T>, range: Range<usize>) -> Partial = work;
}

#[inline(always)]
fn work<R: Real, T: ClassIndex>(ctx: &Ctx<'_, R, T>, range: Range<usize>) -> Partial {
    let mut g = vec![R::ZERO; ctx.blocks.classes * BLOCK];
    let mut probs = vec![R::ZERO; ctx.blocks.classes * BLOCK];
    let mut partial = Partial {
        sum: 0.0,
        bad_target: false,
    };
    for item in range {
        let (n, s0, len) = ctx.blocks.get(item);
        block(ctx, n, s0, len, &mut probs, &mut g, &mut partial);
    }
    partial
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<R: Real, T: ClassIndex>(
    ctx: &Ctx<'_, R, T>,
    n: usize,
    s0: usize,
    len: usize,
    probs: &mut [R],
    g: &mut [R],
    partial: &mut Partial,
) {
    let (c, s) = (ctx.blocks.classes, ctx.blocks.spatial);
    let base_index = n * c * s + s0;
    let targets = &ctx.y[n * s + s0..][..len];
    // Class ids as i32, so that comparing them with a class vectorizes at the width of f32.
    let mut yi = [0i32; BLOCK];
    let mut bad = false;
    for i in 0..len {
        let k = targets[i].index();
        bad |= (k < 0) | (k >= c as i64);
        yi[i] = k as i32;
    }
    partial.bad_target |= bad;
    // This block's probabilities, copied out before the gradient overwrites them.
    for k in 0..c {
        // SAFETY: block (n, s0) reads and writes only its own positions s0..s0+len of each class
        // row, and no other slice of these rows is alive while this one is.
        let row = unsafe { ctx.p.slice(base_index + k * s, len) };
        probs[k * BLOCK..][..len].copy_from_slice(row);
    }
    let (lo, hi) = (R::of(P_T_MIN), R::ONE);
    let (alpha_pos, alpha_neg) = (ctx.alpha, R::ONE - ctx.alpha);
    let mut acc = [R::ZERO; BLOCK];
    let mut dot = [R::ZERO; BLOCK];
    let (mut p_t_raw, mut p_t, mut alpha_t) =
        ([R::ZERO; BLOCK], [R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let (mut base, mut ln_p_t) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    let (mut modulator, mut d_modulator) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
    for k in 0..c {
        let pr = &probs[k * BLOCK..][..len];
        for i in 0..len {
            let pos = yi[i] == k as i32;
            p_t_raw[i] = select(pos, pr[i], R::ONE - pr[i]);
            // In this order a NaN stays NaN (the seed's clamp, and the composed path, give NaN).
            p_t[i] = min(hi, max(lo, p_t_raw[i]));
            alpha_t[i] = select(pos, alpha_pos, alpha_neg);
            base[i] = R::ONE - p_t[i];
            ln_p_t[i] = p_t[i].ln();
        }
        ctx.power
            .apply(&base[..len], &mut modulator, &mut d_modulator);
        for i in 0..len {
            acc[i] = acc[i] + -alpha_t[i] * modulator[i] * ln_p_t[i];
        }
        if ctx.needs_grad {
            let gr = &mut g[k * BLOCK..][..len];
            for i in 0..len {
                // d term / d p_t, in the order autograd computes it on the composed path (so
                // float32 rounds alike: near the clamp the softmax backward cancels digits), then
                // through the clamp (whose gradient passes on [lo, hi]).
                let from_log = ctx.scale * (-alpha_t[i] * modulator[i]) / p_t[i];
                // Where 1 - p_t is 0, (1 - p_t)^(gamma - 1) ln p_t tends to 0 also for gamma < 1
                // (whose factor alone has an infinite derivative).
                let from_power = select(
                    modulator[i] == R::ZERO,
                    R::ZERO,
                    ctx.scale * ln_p_t[i] * -alpha_t[i] * d_modulator[i],
                );
                let d = from_log - from_power;
                let inside = (p_t_raw[i] >= lo) & (p_t_raw[i] <= hi);
                let pos = yi[i] == k as i32;
                let d = select(inside, select(pos, d, -d), R::ZERO);
                gr[i] = d;
                dot[i] = d.mul_add(pr[i], dot[i]);
            }
        }
    }
    partial.sum += lane_sum(&acc[..len]) / c as f64;
    if ctx.needs_grad {
        for k in 0..c {
            let pr = &probs[k * BLOCK..][..len];
            let gr = &g[k * BLOCK..][..len];
            // SAFETY: as above; the rows were copied out, so this overwrites them.
            let o = unsafe { ctx.p.slice(base_index + k * s, len) };
            for i in 0..len {
                o[i] = pr[i] * (gr[i] - dot[i]);
            }
        }
    }
}
