//! The fused `FocalLoss` kernel (the seed's function, in log space): per position the softmax
//! from the logits, then for each class `c` the clamped binary focal term
//! `-alpha_t (1 - p_t)^gamma ln p_t` with `ln p_c` from the log-sum-exp and `1 - p_c` exact for
//! the top class (the other classes' share), and the gradient in one pass.
//!
//! The gradient: with `A_c = d term_c / d ln p_c` and `B_c = d term_c / d ln(1 - p_c)`, and
//! `d ln p_c / dx_j = onehot_cj - p_j`, `d ln(1 - p_c) / dx_j = -(p_c / (1 - p_c)) (onehot_cj -
//! p_j)`, every class contributes `w_c (onehot_cj - p_j)` with `w_c = A_c - B_c p_c / (1 - p_c)`:
//! `grad_j = w_j - p_j W`, `W = sum_c w_c`. For the top class `t`, `w_t - p_t W = w_t (1 - p_t) -
//! p_t sum_{c != t} w_c`, with the exact `1 - p_t`: no digit lost where `p_t` is near 1. A
//! clamped class (`p_t < 1e-4`) has `w_c = 0`, as the clamp's gradient.

use super::classes::{on_class_rows, ClassRowsKernel, LaneRows, LogitRows, OutRows};
use super::driver::{BlockIn, BlockRows, FusedLoss, Kernel, MeanOver, Partial, TargetKind};
use super::math::Real;
use super::simd::{Level, Vector};
use super::{Blocks, Power, BLOCK};
use crate::losses::P_T_MIN;
use crate::{FocalLoss, Reduction};

impl FusedLoss for FocalLoss {
    const TARGETS: TargetKind = TargetKind::Classes;
    const MEAN: MeanOver = MeanOver::Count;
    const UNREDUCED: bool = true;
    type Kernel<'a, R: Real> = SeedKernel<R>;

    fn reduction(&self) -> Reduction {
        self.reduction
    }

    fn kernel<R: Real>(
        &self,
        blocks: &Blocks,
        scale: f64,
        needs_grad: bool,
    ) -> Option<SeedKernel<R>> {
        Some(SeedKernel {
            power: Power::of(self.gamma),
            gamma: R::of(self.gamma),
            alpha: R::of(self.alpha),
            // The gradient's scale: the reduction's, divided by the class count.
            scale: R::of(scale / blocks.classes as f64),
            log_p_t_min: R::of(P_T_MIN.ln()),
            clamped_factor: R::of((1.0 - P_T_MIN).powf(self.gamma)),
            classes: blocks.classes,
            needs_grad,
        })
    }
}

pub(crate) struct SeedKernel<R> {
    power: Power,
    gamma: R,
    alpha: R,
    scale: R,
    /// `ln 1e-4`, the clamped `ln p_t`.
    log_p_t_min: R,
    /// `(1 - 1e-4)^gamma`, the clamped modulating factor.
    clamped_factor: R,
    classes: usize,
    needs_grad: bool,
}

impl<R: Real> Kernel<R> for SeedKernel<R> {
    /// Each class's exponentials `exp(x_k - max)` of a block.
    type Scratch = Vec<R>;

    fn scratch(&self) -> Vec<R> {
        vec![R::ZERO; self.classes * BLOCK]
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
        on_class_rows(self, level, b, out, e, each, partial);
    }
}

impl<R: Real> ClassRowsKernel<R> for SeedKernel<R> {
    /// One block over `c` classes and `len` positions (constants where the caller has them): the
    /// logits' rows from `x`, the exponentials kept in `e` between the class loops, the gradient
    /// into `out`.
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
        let lo = k_(level, R::of(P_T_MIN));
        let (alpha_pos, alpha_neg) = (k_(level, self.alpha), k_(level, R::ONE - self.alpha));
        let (gamma, scale) = (k_(level, self.gamma), k_(level, self.scale));
        let (log_lo, clamped_factor) =
            (k_(level, self.log_p_t_min), k_(level, self.clamped_factor));
        let classes = k_(level, R::of(c as f64));
        let mut losses = zero;
        let mut i = 0;
        while i < len {
            let in_block = <R::V<L>>::first(level, len - i);
            // The largest logit and its class (the first where several are largest).
            let mut m = <R::V<L>>::load(level, x.logits(0), i);
            let mut top = zero;
            for k in 1..c {
                let row = <R::V<L>>::load(level, x.logits(k), i);
                let above = row.gt(m);
                m = <R::V<L>>::select(above, row, m);
                top = <R::V<L>>::select(above, k_(level, R::of(k as f64)), top);
            }
            // exp(x_k - max), their sum, and the others' sum `rest` (1 - p_top = rest / sum).
            let (mut sum, mut rest) = (zero, zero);
            for k in 0..c {
                // At most 0 (a lane with a NaN logit, where `m` may not be the largest, ends NaN).
                let v = (<R::V<L>>::load(level, x.logits(k), i) - m).exp_nonpositive();
                e.put(k, i, v);
                sum = sum + v;
                rest = rest + <R::V<L>>::select(top.eq(k_(level, R::of(k as f64))), zero, v);
            }
            let inv = one / sum;
            // ln(sum) = ln(1 + rest), corrected for the rounding of the sum (exact also where
            // the sum rounds to 1).
            // The sum is in [1, C] (or NaN).
            let lse = sum.ln_normal() - ((sum - one) - rest) * inv;
            let q_top = rest * inv;
            let log_q_top = rest.ln() - lse;
            // 1 / (1 - p_top) = sum / rest (infinite where rest is 0 or subnormal), and
            // ln p_top / (1 - p_top) = -ln(1 + rest) (1 + rest) / rest, whose limit there is -1
            // (the product of an overflowed ratio and a shrinking logarithm is not).
            let inv_q_top = sum / rest;
            let ratio_top = <R::V<L>>::select(
                inv_q_top.lt(k_(level, R::INFINITY)),
                (zero - lse) * inv_q_top,
                zero - one,
            );
            let (mut acc, mut w_top, mut w_others) = (zero, zero, zero);
            for k in 0..c {
                let is_top = top.eq(k_(level, R::of(k as f64)));
                let pos = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                let ek = e.lanes(level, k, i);
                let p = ek * inv;
                let log_p = (<R::V<L>>::load(level, x.logits(k), i) - m) - lse;
                // 1 - p: the others' share for the top class; elsewhere p <= 1/2, the
                // subtraction is exact to rounding, and ln(1 - p) is ln q corrected for the
                // rounding of q (as log1p: -p where q rounds to 1).
                let q_other = one - p;
                let inv_q_other = one / q_other;
                // Off the top class p <= 1/2, so q is in [1/2, 1] (or NaN): the logarithm
                // without edge handling (the top class's lanes take `log_q_top` below).
                let log_q_other = q_other.ln_normal() + ((one - q_other) - p) * inv_q_other;
                let q = <R::V<L>>::select(is_top, q_top, q_other);
                let log_q = <R::V<L>>::select(is_top, log_q_top, log_q_other);
                let p_t = <R::V<L>>::select(pos, p, q);
                let log_p_t = <R::V<L>>::select(pos, log_p, log_q);
                let base = <R::V<L>>::select(pos, q, p);
                let log_base = <R::V<L>>::select(pos, log_q, log_p);
                let factor = self.power.lanes_log::<R, L>(level, log_base, base);
                // The clamp at 1e-4 (a NaN p_t compares false and stays NaN, as the seed's).
                let clamped = p_t.lt(lo);
                let alpha_t = <R::V<L>>::select(pos, alpha_pos, alpha_neg);
                let term = -(alpha_t * <R::V<L>>::select(clamped, clamped_factor, factor))
                    * <R::V<L>>::select(clamped, log_lo, log_p_t);
                acc = acc + term;
                if self.needs_grad {
                    // w = A - B p / (1 - p): A = -alpha_t factor, B = -alpha_t factor gamma
                    // ln p_t for a positive (the factor's base is 1 - p); A = -alpha_t factor
                    // gamma ln p_t, B = -alpha_t factor for a negative. For the top class
                    // `ln p * p / (1 - p)` is `ratio_top * p`.
                    let r = p * <R::V<L>>::select(is_top, inv_q_top, inv_q_other);
                    let log_p_r = <R::V<L>>::select(is_top, ratio_top * p, log_p * r);
                    let coef = -(alpha_t * factor);
                    let w_pos = coef * (one - gamma * log_p_r);
                    let w_neg = coef * (gamma * log_p_t - r);
                    let w = <R::V<L>>::select(clamped, zero, <R::V<L>>::select(pos, w_pos, w_neg));
                    if let Some(out) = out.as_mut() {
                        w.store(out.out(k), i);
                    }
                    w_top = <R::V<L>>::select(is_top, w, w_top);
                    w_others = w_others + <R::V<L>>::select(is_top, zero, w);
                }
            }
            losses = losses + <R::V<L>>::select(in_block, acc, zero);
            if let Some(each) = each.as_deref_mut() {
                // Reduction::None: each position's mean over the classes.
                (acc / classes).store(each, i);
            }
            if let Some(out) = out.as_mut() {
                // grad_j = w_j - p_j W; for the top class w_t (1 - p_t) - p_t sum_{c != t} w_c.
                let w_all = w_top + w_others;
                for k in 0..c {
                    let is_top = top.eq(k_(level, R::of(k as f64)));
                    let row = out.out(k);
                    let w = <R::V<L>>::load(level, row, i);
                    let p = e.lanes(level, k, i) * inv;
                    let g = <R::V<L>>::select(
                        is_top,
                        w.mul_add(q_top, -(p * w_others)),
                        (zero - w_all).mul_add(p, w),
                    );
                    (scale * g).store(row, i);
                }
            }
            i += lanes;
        }
        partial.sum += losses.lane_sum() / c as f64;
    }
}
