//! The fused `SoftmaxFocalLoss` kernel, every reduction (`Reduction::None` writes each
//! position's loss, and the gradient is each position's own derivative, which the backward pass
//! multiplies by the upstream gradient along the classes).
//!
//! Without label smoothing: per position, the log-softmax of the target class, `log(1 - p_y)`
//! from the other classes' sum, the loss `-alpha_y (1 - p_y)^gamma ln p_y`, and its gradient
//! `-alpha_y (1 - p_y)^gamma ((onehot_j - p_j) + gamma ln p_y (w_j - p_j))`, where `w` is the
//! softmax over the classes other than `y` (the derivative of `log(1 - p_y)`); where `p_y < 1/2`
//! the same gradient as `F (onehot_j - p_j)`, `F = -alpha_y (1 - p_y)^gamma (1 - gamma ln p_y
//! p_y / (1 - p_y))` (since `w - p = -(p_y / (1 - p_y)) (onehot - p)`), which stays exact at any
//! logit gap where the first form multiplies a huge `gamma ln p_y` by a rounded `w_j - p_j`.
//!
//! With label smoothing `eps`: every class's focal term `f_c = -alpha_c (1 - p_c)^gamma ln p_c`,
//! the loss `sum_c v_c f_c` with `v_c = eps / C + (1 - eps) [c = y]`, and its gradient
//! `sum_c v_c F_c (onehot_c - p)`, `F_c = -alpha_c (1 - p_c)^gamma (1 - gamma ln p_c p_c / (1 -
//! p_c))` (a moderate factor at any logit gap), that is `G_j - p_j sum_c G_c` with `G_c = v_c
//! F_c`. The top class `t` of each position (the first largest logit) takes
//! `ln p_t = -ln(1 + rest)` (`rest` the others' `exp(x_k - x_t)`, the logarithm corrected for the
//! rounding of `1 + rest`), `1 - p_t = rest / (1 + rest)` and the gradient
//! `G_t (1 - p_t) - p_t sum_{c != t} G_c`, none of them a subtraction that cancels where `p_t`
//! rounds to 1; the others (`p_c <= 1/2`) take `ln p_c = x_c - x_t - ln(1 + rest)` and
//! `ln(1 - p_c)` as `ln_1p(-p_c)`, and, as the composed path, a constant `(1 - p_c)^gamma` where
//! `ln p_c < -80` (where `p_c` is 0 to rounding: the term's gradient stays finite at a `-inf`
//! logit).

use super::classes::{on_class_rows, ClassRowsKernel, LaneRows, LogitRows, OutRows};
use super::driver::{BlockIn, BlockRows, FusedLoss, Kernel, MeanOver, Partial, TargetKind};
use super::math::Real;
use super::simd::{Level, Vector};
use super::{Blocks, Power, BLOCK};
use crate::{Reduction, SoftmaxFocalLoss};

impl FusedLoss for SoftmaxFocalLoss {
    const TARGETS: TargetKind = TargetKind::Classes;
    // One pass: the loss, the sum of the weights `Mean` divides by, and the gradient scaled by
    // the mean's 1 / weight (known to the driver before the pass).
    const MEAN: MeanOver = MeanOver::Weights;
    const UNREDUCED: bool = true;
    type Kernel<'a, R: Real> = SoftmaxKernel<R>;

    fn reduction(&self) -> Reduction {
        self.reduction
    }

    fn ignore_index(&self) -> Option<i64> {
        self.ignore_index
    }

    fn class_weights(&self) -> Option<&[f64]> {
        self.alpha.as_deref()
    }

    fn kernel<R: Real>(
        &self,
        blocks: &Blocks,
        scale: f64,
        needs_grad: bool,
    ) -> Option<SoftmaxKernel<R>> {
        let c = blocks.classes;
        // One class: the composed path's error. Past 2^24 classes a class index is not exact in
        // float32, which the smoothing kernel keeps the top class in.
        if c < 2 || (self.label_smoothing != 0.0 && c > 1 << 24) {
            return None;
        }
        if self.alpha.as_ref().is_some_and(|a| a.len() != c) {
            return None;
        }
        let eps = self.label_smoothing;
        let smoothing = (eps != 0.0).then(|| Smoothing {
            alpha: match &self.alpha {
                Some(a) => a.iter().map(|&v| R::of(v)).collect(),
                None => vec![R::ONE; c],
            },
            share: R::of(eps / c as f64),
            target_share: R::of(1.0 - eps + eps / c as f64),
            keep: R::of(1.0 - eps),
        });
        Some(SoftmaxKernel {
            alpha: self
                .alpha
                .as_ref()
                .map(|a| a.iter().map(|&v| R::of(v)).collect()),
            power: Power::of(self.gamma),
            gamma: R::of(self.gamma),
            scale: R::of(scale),
            classes: c,
            smoothing,
            needs_grad,
        })
    }
}

pub(crate) struct SoftmaxKernel<R> {
    /// Per-class weights, or `None` for weight 1 everywhere.
    alpha: Option<Vec<R>>,
    power: Power,
    gamma: R,
    /// The gradient's scale (the mean's `1 / weight`, else 1).
    scale: R,
    classes: usize,
    /// Label smoothing, where it is not 0.
    smoothing: Option<Smoothing<R>>,
    /// Whether the kernel writes a gradient (the smoothing kernel's scratch holds it per class).
    needs_grad: bool,
}

impl<R: Real> SoftmaxKernel<R> {
    /// The alpha of each of the block's positions' target class (0 where ignored; unused
    /// without per-class alpha).
    #[inline(always)]
    fn target_alphas(&self, b: &BlockIn<'_, R>) -> [R; BLOCK] {
        let mut a_of = [R::ZERO; BLOCK];
        if let Some(alpha) = &self.alpha {
            for (a, &k) in a_of.iter_mut().zip(b.ids.iter().take(b.len)) {
                *a = alpha.get(k as usize).copied().unwrap_or(R::ZERO);
            }
        }
        a_of
    }
}

/// The largest logit over the classes of the block's positions `i..i + LANES`.
#[inline(always)]
pub(crate) fn class_max<R: Real, L: Level>(level: L, b: &BlockIn<'_, R>, i: usize) -> R::V<L> {
    let mut m = <R::V<L>>::load(level, b.row(0), i);
    for k in 1..b.classes {
        m = m.max(<R::V<L>>::load(level, b.row(k), i));
    }
    m
}

/// What label smoothing `eps` needs.
struct Smoothing<R> {
    /// Per-class weights (1 without alpha).
    alpha: Vec<R>,
    /// `eps / C`: each class's share of the smoothed loss.
    share: R,
    /// `1 - eps + eps / C`: the target class's share.
    target_share: R,
    /// `1 - eps`.
    keep: R,
}

/// Below this `1 - p` of the top class, `ln p * p / (1 - p)` is its limit -1 to rounding in
/// float32 and float64 (the ratio is `-ln(1 + rest) / rest`, `1 + O(rest)`); above it, `1 / (1 -
/// p)` is finite.
const TINY: f64 = 1e-30;

/// Below this log-probability the composed path (`LOG_P_NEGLIGIBLE`) takes `log(1 - p)` as the
/// constant 0.
const LOG_P_NEGLIGIBLE: f64 = -80.0;

/// Class `k`'s `BLOCK` lanes of a block's per-class scratch.
#[inline(always)]
fn class_lanes<R>(scratch: &[R], k: usize) -> &[R] {
    scratch.get(k * BLOCK..(k + 1) * BLOCK).unwrap_or(&[])
}

/// Class `k`'s `BLOCK` lanes of a block's per-class scratch, to write.
#[inline(always)]
fn class_lanes_mut<R>(scratch: &mut [R], k: usize) -> &mut [R] {
    scratch
        .get_mut(k * BLOCK..(k + 1) * BLOCK)
        .unwrap_or_default()
}

impl<R: Real> Kernel<R> for SoftmaxKernel<R> {
    /// Each class's exponentials of a block (and, smoothing with a gradient, each class's
    /// gradient factor `G_c` after them).
    type Scratch = Vec<R>;

    fn scratch(&self) -> Vec<R> {
        let per_class = if self.smoothing.is_some() && self.needs_grad {
            2
        } else {
            1
        };
        vec![R::ZERO; per_class * self.classes * BLOCK]
    }

    #[inline(always)]
    fn block<L: Level>(
        &self,
        level: L,
        b: &BlockIn<'_, R>,
        out: Option<BlockRows<'_, R>>,
        each: Option<&mut [R]>,
        e: &mut Vec<R>,
        partial: &mut Partial,
    ) {
        if let Some(smoothing) = &self.smoothing {
            self.smoothed::<L>(level, smoothing, b, out, each, e, partial);
            return;
        }
        on_class_rows(self, level, b, out, e, each, partial);
    }
}

impl<R: Real> ClassRowsKernel<R> for SoftmaxKernel<R> {
    /// One block without label smoothing, over `c` classes and `len` positions (constants where
    /// the caller has them): the logits' rows from `x`, the exponentials kept in `e` between the
    /// two class loops.
    // Inlined into the caller's instruction-set level in an optimized build; its own frame in an
    // unoptimized one (the class counts' copies in one frame overflow a thread's stack).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    #[allow(clippy::too_many_arguments)]
    fn block_rows<L: Level, X: LogitRows<R>, E: LaneRows<R, L>, O: OutRows<R>>(
        &self,
        level: L,
        (c, len): (usize, usize),
        b: &BlockIn<'_, R>,
        x: &X,
        mut e: E,
        mut out: Option<O>,
        mut each: Option<&mut [R]>,
        partial: &mut Partial,
    ) {
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        // Constants by direct calls: a closure would be compiled without the level's target
        // features, its intrinsics out of line.
        let k_ = <R::V<L> as Vector<R, L>>::splat;
        let (zero, one) = (k_(level, R::ZERO), k_(level, R::ONE));
        // Per-class alpha of each position's target (0 where ignored): the weight `Mean`
        // divides by.
        let a_of = self.target_alphas(b);
        let (mut losses, mut weights) = (zero, zero);
        let mut i = 0;
        while i < len {
            let valid = <R::V<L>>::class_valid(level, b.ids, i);
            let a = match &self.alpha {
                Some(_) => <R::V<L>>::load(level, &a_of, i),
                None => <R::V<L>>::select(valid, one, zero),
            };
            let mut m = <R::V<L>>::load(level, x.logits(0), i);
            for k in 1..c {
                m = m.max(<R::V<L>>::load(level, x.logits(k), i));
            }
            let (mut sum, mut others, mut x_y, mut e_y) = (zero, zero, zero, zero);
            for k in 0..c {
                let row = <R::V<L>>::load(level, x.logits(k), i);
                // At most 0 (a lane with a NaN logit, where `m` may not be the largest, ends NaN).
                let v = (row - m).exp_nonpositive();
                e.put(k, i, v);
                sum = sum + v;
                let is_y = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                others = others + <R::V<L>>::select(is_y, zero, v);
                x_y = <R::V<L>>::select(is_y, row, x_y);
                e_y = <R::V<L>>::select(is_y, v, e_y);
            }
            // The gradient is the composed path's, term by term:
            // -alpha_y mod ((onehot_j - p_j) + gamma ln p_y (w_j - p_j)), w the softmax of the
            // others.
            let inv = one / sum;
            // Where y is the top class (e_y = 1), the log-sum-exp is ln(1 + others), corrected
            // for the rounding of the sum (so that log p_y = -ln(1 + others) keeps its digits
            // where p_y rounds to 1: ln(sum) alone gives 0 for 1e-8 in float32).
            let correction = <R::V<L>>::select(x_y.eq(m), ((sum - one) - others) * inv, zero);
            // The sum is in [1, C] (or NaN).
            let lse = sum.ln_normal() - correction;
            let log_p = x_y - m - lse;
            let q = others * inv;
            let log_q = match self.power {
                Power::Other(_) => others.ln() - lse,
                _ => zero,
            };
            let modulator = self.power.lanes_log::<R, L>(level, log_q, q);
            let loss = <R::V<L>>::select(valid, -(modulator * log_p) * a, zero);
            losses = losses + loss;
            weights = weights + a;
            if let Some(each) = each.as_deref_mut() {
                loss.store(each, i);
            }
            if let Some(out) = out.as_mut() {
                let base_coef = -(a * modulator) * k_(level, self.scale);
                // 1 / others, 0 where it is not finite (others 0 or subnormal: y is the top
                // class and the others' terms, which it weighs, are below the subnormal range).
                let inv_o = one / others;
                let inv_others = <R::V<L>>::select(
                    others.gt(zero) & inv_o.lt(k_(level, R::INFINITY)),
                    inv_o,
                    zero,
                );
                // p_y >= 1/2: as the composed path, which differentiates log(1 - p_y) through
                // the other classes there. p_y < 1/2: the gradient is `F (onehot - p)` with
                // `F = base (1 - gamma ln p_y p_y / (1 - p_y))`, `ln p_y * (p_y / (1 - p_y))`
                // taken first (it is small where ln p_y is huge: no overflow, no cancellation at
                // any logit gap), 0 where p_y is 0.
                let top = e_y.ge(others);
                let ratio = <R::V<L>>::select(e_y.gt(zero), log_p * (e_y * inv_others), zero);
                let gamma = k_(level, self.gamma);
                let whole = <R::V<L>>::select(top, base_coef, base_coef * (one - gamma * ratio));
                let bb = <R::V<L>>::select(valid, whole, zero);
                let d = <R::V<L>>::select(valid & top, base_coef * gamma * log_p, zero);
                for k in 0..c {
                    let er = e.lanes(level, k, i);
                    let is_y = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                    let p = er * inv;
                    // onehot - p: 1 - p_y is q, the others' share (not a subtraction that
                    // cancels where p_y is near 1).
                    let onehot_minus_p = <R::V<L>>::select(is_y, q, zero - p);
                    let w = <R::V<L>>::select(is_y, zero, er * inv_others);
                    (bb * onehot_minus_p + d * (w - p)).store(out.out(k), i);
                }
            }
            i += lanes;
        }
        partial.sum += losses.lane_sum();
        partial.weight += weights.lane_sum();
    }
}

impl<R: Real> SoftmaxKernel<R> {
    /// One block with label smoothing (see the module's documentation).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn smoothed<L: Level>(
        &self,
        level: L,
        sm: &Smoothing<R>,
        b: &BlockIn<'_, R>,
        mut out: Option<BlockRows<'_, R>>,
        mut each: Option<&mut [R]>,
        scratch: &mut [R],
        partial: &mut Partial,
    ) {
        let (c, len) = (self.classes, b.len);
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        // Constants by direct calls: a closure would be compiled without the level's target
        // features, its intrinsics out of line.
        let k_ = <R::V<L> as Vector<R, L>>::splat;
        let (zero, one) = (k_(level, R::ZERO), k_(level, R::ONE));
        let (gamma, tiny, negligible) = (
            k_(level, self.gamma),
            k_(level, R::of(TINY)),
            k_(level, R::of(LOG_P_NEGLIGIBLE)),
        );
        let (share, target_share, keep, scale) = (
            k_(level, sm.share),
            k_(level, sm.target_share),
            k_(level, sm.keep),
            k_(level, self.scale),
        );
        let (e, g) = scratch.split_at_mut((c * BLOCK).min(scratch.len()));
        // Per-class alpha of each position's target (0 where ignored): the weight `Mean`
        // divides by.
        let a_of = self.target_alphas(b);
        let (mut losses, mut weights) = (zero, zero);
        let mut i = 0;
        while i < len {
            let valid = <R::V<L>>::class_valid(level, b.ids, i);
            let a = match &self.alpha {
                Some(_) => <R::V<L>>::load(level, &a_of, i),
                None => <R::V<L>>::select(valid, one, zero),
            };
            let m = class_max(level, b, i);
            // The exponentials, their sum, the top class (the first at the largest logit, as a
            // class index) and the others' sum `rest`.
            let (mut sum, mut rest, mut top) = (zero, zero, k_(level, R::of(-1.0)));
            let mut found = zero.gt(zero);
            for k in 0..c {
                let row = <R::V<L>>::load(level, b.row(k), i);
                // At most 0 (a lane with a NaN logit, where `m` may not be the largest, ends NaN).
                let v = (row - m).exp_nonpositive();
                v.store(class_lanes_mut(e, k), i);
                sum = sum + v;
                let is_top = row.eq(m) & !found;
                found = found | is_top;
                top = <R::V<L>>::select(is_top, k_(level, R::of(k as f64)), top);
                rest = rest + <R::V<L>>::select(is_top, zero, v);
            }
            let inv = one / sum;
            // ln(1 + rest), from the rounded sum 1 + rest, corrected for its rounding.
            let lse = sum.ln_normal() - ((sum - one) - rest) * inv;
            // 1 - p of the top class, and the logarithm of its numerator.
            let q_top = rest * inv;
            let ln_rest = match self.power {
                Power::Other(_) => rest.ln(),
                _ => zero,
            };
            let (mut all, mut f_y) = (zero, zero);
            // The gradient factors: the top class's, and the sum of the others'.
            let (mut g_top, mut g_rest) = (zero, zero);
            for k in 0..c {
                let is_top = top.eq(k_(level, R::of(k as f64)));
                let is_y = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                let row = <R::V<L>>::load(level, b.row(k), i);
                let log_p = (row - m) - lse;
                let p = <R::V<L>>::load(level, class_lanes(e, k), i) * inv;
                // 1 - p: the others' share at the top class, else a subtraction from 1 that
                // does not cancel (p <= 1/2).
                let w = one - p;
                let q = <R::V<L>>::select(is_top, q_top, w);
                let grad = out.is_some();
                let inv_q = if grad || matches!(self.power, Power::Other(_)) {
                    one / q
                } else {
                    zero
                };
                let log_q = match self.power {
                    // ln(1 - p) as ln_1p(-p): ln w corrected for the rounding of w = 1 - p.
                    Power::Other(_) => {
                        <R::V<L>>::select(is_top, ln_rest - lse, w.ln() - ((w - one) + p) * inv_q)
                    }
                    _ => zero,
                };
                let modulator = self.power.lanes_log::<R, L>(level, log_q, q);
                let alpha = k_(level, sm.alpha.get(k).copied().unwrap_or(R::ONE));
                let f = -(alpha * modulator * log_p);
                all = all + f;
                f_y = <R::V<L>>::select(is_y, f, f_y);
                if grad {
                    // F_k = -alpha_k (1 - p_k)^gamma (1 - gamma r), r = ln p_k p_k / (1 - p_k):
                    // its limit -1 where 1 - p_k underflows (the top class), 0 where p_k is
                    // negligible (as the composed path's constant modulator there).
                    let coef = match self.power {
                        Power::Zero => -alpha,
                        _ => {
                            let r = <R::V<L>>::select(q.ge(tiny), log_p * p * inv_q, -one);
                            let r = <R::V<L>>::select(log_p.lt(negligible), zero, r);
                            -(alpha * modulator) * (one - gamma * r)
                        }
                    };
                    let gk = <R::V<L>>::select(is_y, target_share, share) * (coef * scale);
                    gk.store(class_lanes_mut(g, k), i);
                    g_top = <R::V<L>>::select(is_top, gk, g_top);
                    g_rest = g_rest + <R::V<L>>::select(is_top, zero, gk);
                }
            }
            let loss = <R::V<L>>::select(valid, keep * f_y + share * all, zero);
            losses = losses + loss;
            weights = weights + a;
            if let Some(each) = each.as_deref_mut() {
                loss.store(each, i);
            }
            if let Some(out) = out.as_mut() {
                let g_all = g_rest + g_top;
                for k in 0..c {
                    let is_top = top.eq(k_(level, R::of(k as f64)));
                    let p = <R::V<L>>::load(level, class_lanes(e, k), i) * inv;
                    let gk = <R::V<L>>::load(level, class_lanes(g, k), i);
                    // G_k - p_k sum_c G_c; at the top class as G_t (1 - p_t) - p_t sum_{c != t}
                    // G_c (no cancellation where p_t rounds to 1).
                    let d = <R::V<L>>::select(is_top, gk * q_top - p * g_rest, gk - p * g_all);
                    <R::V<L>>::select(valid, d, zero).store(out.row(k), i);
                }
            }
            i += lanes;
        }
        partial.sum += losses.lane_sum();
        partial.weight += weights.lane_sum();
    }
}
