//! The fused `SigmoidFocalLoss` kernel: per element, with `u = e^-|x|`, `p = sigmoid(x)` and
//! `q = 1 - p` from `u` without cancellation, `ce = max(x, 0) - x t + ln(1 + u)`,
//! `1 - p_t = t q + (1 - t) p`, the loss `alpha_t (1 - p_t)^gamma ce` and its gradient
//! `alpha_t (1 - p_t)^gamma ((p - t) + gamma ce (1 - 2t) p q / (1 - p_t))`, with `p - t` as
//! `(1 - t) p - t q` (no cancellation for hard targets). Every reduction: `Reduction::None` writes
//! each element's loss, and its gradient is the elementwise derivative.
//!
//! The kernel checks the targets' range itself, on the vectors it loads (the driver's separate pass
//! over them had cost a tenth of the call). A whole block at `gamma = 2` first runs as if every
//! target were 0 or 1 and no logit infinite (hard labels, the common case: no clamp, none of the
//! soft targets' division, no per-vector branch), checking both as it goes; where either did not
//! hold, the block runs again in general, and a thread's next block starts there (so that soft
//! labels do not pay twice). Where they held, both give the same values bit for bit.

use super::driver::{BlockIn, BlockRows, FusedLoss, Kernel, MeanOver, Partial, TargetKind};
use super::math::Real;
use super::simd::{Level, Mask, Vector};
use super::{Blocks, Power, BLOCK};
use crate::{Reduction, SigmoidFocalLoss};

impl FusedLoss for SigmoidFocalLoss {
    const TARGETS: TargetKind = TargetKind::Dense;
    const MEAN: MeanOver = MeanOver::Count;
    const UNREDUCED: bool = true;
    type Kernel<'a, R: Real> = SigmoidKernel<R>;

    fn reduction(&self) -> Reduction {
        self.reduction
    }

    fn kernel<R: Real>(&self, _: &Blocks, scale: f64, _: bool) -> Option<SigmoidKernel<R>> {
        Some(SigmoidKernel {
            power: Power::of(self.gamma),
            gamma: R::of(self.gamma),
            alpha: match self.alpha {
                Some(a) => (R::of(a), R::of(1.0 - a)),
                None => (R::ONE, R::ONE),
            },
            scale: R::of(scale),
        })
    }
}

pub(crate) struct SigmoidKernel<R> {
    power: Power,
    gamma: R,
    /// `alpha` and `1 - alpha`, or `(1, 1)` without alpha.
    alpha: (R, R),
    scale: R,
}

/// What [`SigmoidKernel::elements`] found besides the gradient.
struct Elements<V> {
    /// The lanes' sums of the losses.
    losses: V,
    /// Whether every target was in `[0, 1]` (not NaN).
    valid: bool,
    /// Whether every target was 0 or 1.
    hard: bool,
}

impl<R: Real> Kernel<R> for SigmoidKernel<R> {
    /// Whether the thread's last whole block had a target other than 0 and 1 (the next one then
    /// goes straight to the general elements).
    type Scratch = bool;

    fn scratch(&self) -> bool {
        false
    }

    #[inline(always)]
    fn block<L: Level>(
        &self,
        level: L,
        b: &BlockIn<'_, R>,
        mut out: Option<BlockRows<'_, R>>,
        each: Option<&mut [R]>,
        soft_before: &mut bool,
        partial: &mut Partial,
    ) {
        let (x_all, t_all) = (b.row(0), b.dense);
        let out = out.as_mut().map(|o| o.row(0));
        // A whole block runs with its length a constant: the loads' and stores' bounds checks
        // and the tail mask fold away.
        let whole = (
            b.len == BLOCK,
            x_all.get(..BLOCK),
            t_all.get(..BLOCK),
            out.as_deref().is_none_or(|o| o.len() >= BLOCK),
            each.as_deref().is_none_or(|e| e.len() >= BLOCK),
        );
        let all = match whole {
            (true, Some(x), Some(t), true, true) => {
                let mut out = out.and_then(|o| o.get_mut(..BLOCK));
                let mut each = each.and_then(|e| e.get_mut(..BLOCK));
                // At `gamma = 2`, hard labels first (at every level, so that each gives the
                // one-lane values), which stand where they held; else the block again, in
                // general.
                if !*soft_before && matches!(self.power, Power::Two) {
                    let (losses, held) =
                        self.hard_block(level, x, t, out.as_deref_mut(), each.as_deref_mut());
                    if held {
                        partial.sum += losses.lane_sum();
                        return;
                    }
                }
                // The general elements, the length a constant at a vector level (the scalar
                // level keeps one general path: compile time).
                let all = if L::VECTOR {
                    self.elements(level, BLOCK, x, t, out, each)
                } else {
                    self.elements(level, b.len, x_all, t_all, out, each)
                };
                *soft_before = !all.hard;
                all
            }
            _ => self.elements(level, b.len, x_all, t_all, out, each),
        };
        partial.sum += all.losses.lane_sum();
        partial.bad_target |= !all.valid;
    }
}

impl<R: Real> SigmoidKernel<R> {
    /// A whole block of logits `x_all` and targets `t_all` at `gamma = 2`, as if every target
    /// were 0 or 1 and no logit infinite: the gradient into `out`, each element's loss into
    /// `each`; the lanes' sums of the losses, and whether that held (else the values are not the
    /// loss's, and the caller runs the block again in general).
    ///
    /// With `s = 2t - 1` and `z = s x`: `p_t = sigmoid(z)`, `1 - p_t = sigmoid(-z)`, `ce =
    /// softplus(-z)`, the loss `alpha_t (1 - p_t)^2 ce` (the general elements' value bit for bit)
    /// and its derivative `-s alpha_t (1 - p_t)^2 (1 - p_t + 2 p_t ce)` (every term positive: no
    /// cancellation). No clamp, no per-vector branch, none of the soft targets' division.
    #[inline(always)]
    fn hard_block<L: Level>(
        &self,
        level: L,
        x_all: &[R],
        t_all: &[R],
        mut out: Option<&mut [R]>,
        mut each: Option<&mut [R]>,
    ) -> (R::V<L>, bool) {
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        // Constants by direct calls: a closure would be compiled without the level's target
        // features, its intrinsics out of line.
        let k_ = <R::V<L> as Vector<R, L>>::splat;
        let (zero, one, neg_inf) = (
            k_(level, R::ZERO),
            k_(level, R::ONE),
            k_(level, -R::INFINITY),
        );
        let (alpha_pos, alpha_neg) = (k_(level, self.alpha.0), k_(level, self.alpha.1));
        // `-s alpha_t` times the mean's scale, per target.
        let (slope_pos, slope_neg) = (
            k_(level, -(self.alpha.0 * self.scale)),
            k_(level, self.alpha.1 * self.scale),
        );
        let mut losses = zero;
        // Per lane, over the vectors so far: whether `t (1 - t)` was 0 (`t` is 0 or 1: the
        // product is not 0 for any other float, NaN and infinities included) and `x` finite
        // (`-|x| > -inf`; a NaN logit counts as finite, and gives NaN either way).
        let mut held = zero.eq(zero);
        let mut i = 0;
        while i < BLOCK {
            let x = <R::V<L>>::load(level, x_all, i);
            let t = <R::V<L>>::load(level, t_all, i);
            let neg = x.lt(zero);
            let neg_abs = <R::V<L>>::select(neg, x, -x);
            held = held & (t * (one - t)).eq(zero) & !neg_abs.eq(neg_inf);
            let positive = t.eq(one);
            let z = <R::V<L>>::select(positive, x, -x);
            let u = neg_abs.exp_nonpositive();
            let w = one + u;
            let inv = one / w;
            let small = u * inv;
            // sigmoid(-z) is the smaller of the two where z >= 0.
            let z_neg = z.lt(zero);
            let q = <R::V<L>>::select(z_neg, inv, small);
            let p = <R::V<L>>::select(z_neg, small, inv);
            // ln(1 + u) from w = 1 + u and 1 / w, as `math::ln_1p_from`.
            // w in [1, 2] (or NaN).
            let ln_1p = w.ln_normal() - ((w - one) - u) * inv;
            let ce = (-z).max(zero) + ln_1p;
            let modulator = q * q;
            let loss = <R::V<L>>::select(positive, alpha_pos, alpha_neg) * modulator * ce;
            losses = losses + loss;
            if let Some(each) = each.as_deref_mut() {
                loss.store(each, i);
            }
            if let Some(out) = out.as_deref_mut() {
                let slope = <R::V<L>>::select(positive, slope_pos, slope_neg);
                (slope * modulator * (p + p).mul_add(ce, q)).store(out, i);
            }
            i += lanes;
        }
        (losses, held.all())
    }

    /// The first `len` elements of logits `x_all` and targets `t_all`, any targets in `[0, 1]`
    /// and any `gamma`: the gradient into `out`, each element's loss into `each`; the lanes'
    /// sums of the losses and the targets' checks.
    #[inline(always)]
    fn elements<L: Level>(
        &self,
        level: L,
        len: usize,
        x_all: &[R],
        t_all: &[R],
        mut out: Option<&mut [R]>,
        mut each: Option<&mut [R]>,
    ) -> Elements<R::V<L>> {
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        // Constants by direct calls: a closure would be compiled without the level's target
        // features, its intrinsics out of line.
        let k_ = <R::V<L> as Vector<R, L>>::splat;
        let (zero, one, half) = (k_(level, R::ZERO), k_(level, R::ONE), k_(level, R::of(0.5)));
        let (inf, big) = (k_(level, R::INFINITY), k_(level, R::MAX));
        let (alpha_pos, alpha_neg, gamma, scale) = (
            k_(level, self.alpha.0),
            k_(level, self.alpha.1),
            k_(level, self.gamma),
            k_(level, self.scale),
        );
        let mut losses = zero;
        // Per lane, over the vectors so far: whether `0 <= t <= 1`, whether `t` is 0 or 1.
        let yes = zero.eq(zero);
        let (mut valid, mut hard_all) = (yes, yes);
        let mut i = 0;
        while i < len {
            let x = <R::V<L>>::load(level, x_all, i);
            let t = <R::V<L>>::load(level, t_all, i);
            valid = valid & t.ge(zero) & t.le(one);
            let hard = t.eq(zero) | t.eq(one);
            hard_all = hard_all & hard;
            // Infinite logits count as the largest finite ones, as on the composed path.
            // (`max` and `min` keep their second operand where it is NaN: a NaN logit stays NaN.)
            let xi = big.min((-big).max(x));
            let neg = xi.lt(zero);
            let u = <R::V<L>>::select(neg, xi, -xi).exp_nonpositive();
            let w = one + u;
            let inv = one / w;
            let p = <R::V<L>>::select(neg, u * inv, inv);
            let q = <R::V<L>>::select(neg, inv, u * inv);
            // ln(1 + u) from w = 1 + u and 1 / w, as `math::ln_1p_from`.
            // w in [1, 2] (or NaN).
            let ln_1p = w.ln_normal() - ((w - one) - u) * inv;
            let ce = xi.max(zero) - xi * t + ln_1p;
            let one_minus_t = one - t;
            let omt = t * q + one_minus_t * p;
            let alpha_t = alpha_pos * t + alpha_neg * one_minus_t;
            let (modulator, _) = self.power.lanes::<R, L>(level, omt);
            let loss = alpha_t * modulator * ce;
            let in_block = <R::V<L>>::first(level, len - i);
            losses = losses + <R::V<L>>::select(in_block, loss, zero);
            if let Some(each) = each.as_deref_mut() {
                loss.store(each, i);
            }
            if let Some(out) = out.as_deref_mut() {
                // p q / (1 - p_t): for hard targets 1 - p_t is q (t = 1) or p (t = 0), so the
                // ratio is the other one, without a division.
                let hard_ratio = <R::V<L>>::select(t.gt(half), p, q);
                // The division only where a lane needs it (none with hard targets).
                let ratio = if hard.all() {
                    hard_ratio
                } else {
                    <R::V<L>>::select(
                        hard,
                        hard_ratio,
                        <R::V<L>>::select(omt.gt(zero), p * q / omt, hard_ratio),
                    )
                };
                let d_modulator = gamma * modulator * (one - t - t) * ratio;
                // p - t as (1 - t) p - t q: exact for hard targets where p rounds to 1 (at x =
                // 50 in float32, p - 1 is 0 but -q is -2e-22).
                let p_minus_t = (one - t) * p - t * q;
                let g = alpha_t * (p_minus_t * modulator + ce * d_modulator) * scale;
                // An infinite logit counts as the largest finite one, with a zero gradient (as
                // `nan_to_num` gives the composed path).
                let infinite = x.eq(inf) | x.eq(-inf);
                <R::V<L>>::select(infinite, zero, g).store(out, i);
            }
            i += lanes;
        }
        Elements {
            losses,
            valid: valid.all(),
            hard: hard_all.all(),
        }
    }
}
