//! The fused `SigmoidFocalLoss` kernel: per element, with `u = e^-|x|`, `p = sigmoid(x)` and
//! `q = 1 - p` from `u` without cancellation, `ce = max(x, 0) - x t + ln(1 + u)`,
//! `1 - p_t = t q + (1 - t) p`, the loss `alpha_t (1 - p_t)^gamma ce` and its gradient
//! `alpha_t (1 - p_t)^gamma ((p - t) + gamma ce (1 - 2t) p q / (1 - p_t))`, with `p - t` as
//! `(1 - t) p - t q` (no cancellation for hard targets).

use std::ops::Range;

use tch::{Kind, Tensor};

use super::math::{lane_sum, ln_1p_from, max, select, Real};
use super::parallel::{for_ranges, SharedOut};
use super::view;
use super::{multiversion, Power, BLOCK};
use crate::{Fused, LossError, Reduction};

/// The `#[loss(fused = ...)]` hook of `SigmoidFocalLoss`.
pub(crate) fn sigmoid_focal(
    input: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: Option<f64>,
    reduction: Reduction,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    if !super::enabled() || reduction == Reduction::None || input.numel() == 0 {
        return Ok(None);
    }
    if !matches!(input.kind(), Kind::Float | Kind::Double) || target.size() != input.size() {
        return Ok(None);
    }
    let target = if target.kind() == input.kind() {
        target.shallow_clone()
    } else {
        target.f_to_kind(input.kind())?
    };
    let params = Params {
        power: Power::of(gamma),
        gamma,
        alpha,
        reduction,
        needs_grad,
    };
    match input.kind() {
        Kind::Float => run::<f32>(input, &target, &params),
        _ => run::<f64>(input, &target, &params),
    }
}

struct Params {
    power: Power,
    gamma: f64,
    alpha: Option<f64>,
    reduction: Reduction,
    needs_grad: bool,
}

struct Ctx<'a, R> {
    x: &'a [R],
    t: &'a [R],
    power: Power,
    gamma: R,
    /// `alpha` and `1 - alpha`, or `(1, 1)` without alpha.
    alpha: (R, R),
    scale: R,
}

struct Partial {
    sum: f64,
    bad_target: bool,
}

fn run<R: Real>(
    input: &Tensor,
    target: &Tensor,
    params: &Params,
) -> Result<Option<Fused>, LossError> {
    let (Some(x), Some(t)) = (view::floats::<R>(input), view::floats::<R>(target)) else {
        return Ok(None);
    };
    let scale = view::reduction_scale(params.reduction, x.len() as f64);
    let ctx = Ctx {
        x,
        t,
        power: params.power,
        gamma: R::of(params.gamma),
        alpha: match params.alpha {
            Some(a) => (R::of(a), R::of(1.0 - a)),
            None => (R::ONE, R::ONE),
        },
        scale: R::of(scale),
    };
    let mut grad = if params.needs_grad {
        Some(view::new_floats::<R>(&input.size())?)
    } else {
        None
    };
    let items = x.len().div_ceil(BLOCK);
    let parts = {
        let out = grad.as_mut().and_then(view::floats_mut::<R>);
        let out = out.map(SharedOut::new);
        for_ranges(items, BLOCK, |range| {
            work_dispatch(&ctx, range, out.as_ref())
        })
    };
    if parts.iter().any(|p| p.bad_target) {
        // The composed path reports the target outside [0, 1].
        return Ok(None);
    }
    super::count_run();
    let total: f64 = parts.iter().map(|p| p.sum).sum();
    Ok(Some(Fused::new(view::reduced::<R>(total, scale)?, grad)))
}

multiversion! {
    fn work_dispatch<R: Real>(ctx: &Ctx<'_, R>, range: Range<usize>, out: Option<&SharedOut<R>>) -> Partial = work;
}

#[inline(always)]
fn work<R: Real>(ctx: &Ctx<'_, R>, range: Range<usize>, out: Option<&SharedOut<R>>) -> Partial {
    let mut partial = Partial {
        sum: 0.0,
        bad_target: false,
    };
    let len_all = ctx.x.len();
    for item in range {
        let start = item * BLOCK;
        let len = BLOCK.min(len_all - start);
        let x = &ctx.x[start..][..len];
        let t = &ctx.t[start..][..len];
        let (mut p, mut q, mut ce) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK], [R::ZERO; BLOCK]);
        let (mut omt, mut alpha_t) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
        let (mut bad, mut soft) = (false, false);
        for i in 0..len {
            let (xi, ti) = (x[i], t[i]);
            // Infinite logits count as the largest finite ones, as on the composed path.
            let xi = select(
                xi == R::INFINITY,
                R::MAX,
                select(xi == -R::INFINITY, -R::MAX, xi),
            );
            bad |= !((ti >= R::ZERO) & (ti <= R::ONE));
            soft |= (ti != R::ZERO) & (ti != R::ONE);
            let neg = xi < R::ZERO;
            let u = select(neg, xi, -xi).exp();
            let w = R::ONE + u;
            let inv = R::ONE / w;
            p[i] = select(neg, u * inv, inv);
            q[i] = select(neg, inv, u * inv);
            ce[i] = max(xi, R::ZERO) - xi * ti + ln_1p_from(u, w, inv);
            let one_minus_t = R::ONE - ti;
            omt[i] = ti * q[i] + one_minus_t * p[i];
            alpha_t[i] = ctx.alpha.0 * ti + ctx.alpha.1 * one_minus_t;
        }
        partial.bad_target |= bad;
        let (mut modulator, mut unused) = ([R::ZERO; BLOCK], [R::ZERO; BLOCK]);
        ctx.power.apply(&omt[..len], &mut modulator, &mut unused);
        let mut losses = [R::ZERO; BLOCK];
        for i in 0..len {
            losses[i] = alpha_t[i] * modulator[i] * ce[i];
        }
        partial.sum += lane_sum(&losses[..len]);
        if let Some(out) = out {
            // SAFETY: each block writes only its own elements.
            let o = unsafe { out.slice(start, len) };
            // p q / (1 - p_t): for hard targets 1 - p_t is q (t = 1) or p (t = 0), so the ratio
            // is the other one, without a division.
            let mut ratio = [R::ZERO; BLOCK];
            if soft {
                for i in 0..len {
                    ratio[i] = select(
                        omt[i] > R::ZERO,
                        p[i] * q[i] / omt[i],
                        select(t[i] > R::of(0.5), p[i], q[i]),
                    );
                }
            } else {
                for i in 0..len {
                    ratio[i] = select(t[i] > R::of(0.5), p[i], q[i]);
                }
            }
            for i in 0..len {
                let ti = t[i];
                let d_modulator = ctx.gamma * modulator[i] * (R::ONE - ti - ti) * ratio[i];
                // p - t as (1 - t) p - t q: exact for hard targets where p rounds to 1 (at x = 50
                // in float32, p - 1 is 0 but -q is -2e-22).
                let p_minus_t = (R::ONE - ti) * p[i] - ti * q[i];
                let g = alpha_t[i] * (p_minus_t * modulator[i] + ce[i] * d_modulator) * ctx.scale;
                // An infinite logit counts as the largest finite one, with a zero gradient (as
                // `nan_to_num` gives the composed path).
                let infinite = (x[i] == R::INFINITY) | (x[i] == -R::INFINITY);
                o[i] = select(infinite, R::ZERO, g);
            }
        }
    }
    partial
}
