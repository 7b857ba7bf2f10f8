//! The fused `SoftmaxFocalLoss` kernel (without label smoothing): per position, the log-softmax
//! of the target class, `log(1 - p_y)` from the other classes' sum, the loss
//! `-alpha_y (1 - p_y)^gamma ln p_y`, and its gradient
//! `-alpha_y (1 - p_y)^gamma ((onehot_j - p_j) + gamma ln p_y (w_j - p_j))`, where `w` is the
//! softmax over the classes other than `y` (the derivative of `log(1 - p_y)`); where `p_y < 1/2`
//! the same gradient as `F (onehot_j - p_j)`, `F = -alpha_y (1 - p_y)^gamma (1 - gamma ln p_y
//! p_y / (1 - p_y))` (since `w - p = -(p_y / (1 - p_y)) (onehot - p)`), which stays exact at any
//! logit gap where the first form multiplies a huge `gamma ln p_y` by a rounded `w_j - p_j`.

use tch::Tensor;

use super::driver::{self, BlockIn, BlockRows, FusedLoss, Kernel, MeanOver, Partial, TargetKind};
use super::math::Real;
use super::simd::{Level, Vector};
use super::{Blocks, Power, BLOCK};
use crate::{Fused, LossError, Reduction, SoftmaxFocalLoss};

/// The `#[loss(fused = ...)]` hook of `SoftmaxFocalLoss` (the arguments the macro passes): the
/// loss rebuilt, then [`driver::drive`].
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
    let loss = SoftmaxFocalLoss {
        gamma,
        alpha,
        ignore_index,
        label_smoothing,
        reduction,
    };
    driver::drive(&loss, input, target, needs_grad)
}

impl FusedLoss for SoftmaxFocalLoss {
    const TARGETS: TargetKind = TargetKind::Classes;
    // One pass: the loss, the sum of the weights `Mean` divides by, and the gradient of the sum
    // (scaled by the mean's 1 / weight later, on the scalar in the backward pass).
    const MEAN: MeanOver = MeanOver::Weights;
    type Kernel<'a, R: Real> = SoftmaxKernel<R>;

    fn reduction(&self) -> Reduction {
        self.reduction
    }

    fn ignore_index(&self) -> Option<i64> {
        self.ignore_index
    }

    fn kernel<R: Real>(&self, blocks: &Blocks, _: f64, _: bool) -> Option<SoftmaxKernel<R>> {
        let c = blocks.classes;
        if self.label_smoothing != 0.0 || c < 2 {
            return None;
        }
        if self.alpha.as_ref().is_some_and(|a| a.len() != c) {
            return None;
        }
        Some(SoftmaxKernel {
            alpha: self
                .alpha
                .as_ref()
                .map(|a| a.iter().map(|&v| R::of(v)).collect()),
            power: Power::of(self.gamma),
            gamma: R::of(self.gamma),
            classes: c,
        })
    }
}

pub(crate) struct SoftmaxKernel<R> {
    /// Per-class weights, or `None` for weight 1 everywhere.
    alpha: Option<Vec<R>>,
    power: Power,
    gamma: R,
    classes: usize,
}

impl<R: Real> Kernel<R> for SoftmaxKernel<R> {
    /// Each class's exponentials of a block.
    type Scratch = Vec<R>;

    fn scratch(&self) -> Vec<R> {
        vec![R::ZERO; self.classes * BLOCK]
    }

    #[inline(always)]
    fn block<L: Level>(
        &self,
        level: L,
        b: &BlockIn<'_, R>,
        mut out: Option<BlockRows<'_, R>>,
        e: &mut Vec<R>,
        partial: &mut Partial,
    ) {
        let c = self.classes;
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        let k_ = |v: R| <R::V<L> as Vector<R, L>>::splat(level, v);
        let (zero, one) = (k_(R::ZERO), k_(R::ONE));
        // Per-class alpha of each position (0 where ignored).
        let mut a_of = [R::ZERO; BLOCK];
        if let Some(alpha) = &self.alpha {
            for (a, &k) in a_of.iter_mut().zip(&b.ids[..b.len]) {
                *a = alpha.get(k as usize).copied().unwrap_or(R::ZERO);
            }
        }
        let (mut losses, mut weights) = (zero, zero);
        let mut i = 0;
        while i < b.len {
            let valid = <R::V<L>>::class_valid(level, b.ids, i);
            let a = match &self.alpha {
                Some(_) => <R::V<L>>::load(level, &a_of, i),
                None => <R::V<L>>::select(valid, one, zero),
            };
            let mut m = <R::V<L>>::load(level, b.row(0), i);
            for k in 1..c {
                m = m.max(<R::V<L>>::load(level, b.row(k), i));
            }
            let (mut sum, mut others, mut x_y, mut e_y) = (zero, zero, zero, zero);
            for k in 0..c {
                let row = <R::V<L>>::load(level, b.row(k), i);
                let v = (row - m).exp();
                v.store(&mut e[k * BLOCK..], i);
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
            let lse = sum.ln() - correction;
            let log_p = x_y - m - lse;
            let q = others * inv;
            let log_q = match self.power {
                Power::Other(_) => others.ln() - lse,
                _ => zero,
            };
            let modulator = self.power.lanes_log::<R, L>(level, log_q, q);
            let loss = -(modulator * log_p) * a;
            losses = losses + <R::V<L>>::select(valid, loss, zero);
            weights = weights + a;
            if let Some(out) = out.as_mut() {
                let base_coef = -(a * modulator);
                // 1 / others, 0 where it is not finite (others 0 or subnormal: y is the top
                // class and the others' terms, which it weighs, are below the subnormal range).
                let inv_o = one / others;
                let inv_others =
                    <R::V<L>>::select(others.gt(zero) & inv_o.lt(k_(R::INFINITY)), inv_o, zero);
                // p_y >= 1/2: as the composed path, which differentiates log(1 - p_y) through
                // the other classes there. p_y < 1/2: the gradient is `F (onehot - p)` with
                // `F = base (1 - gamma ln p_y p_y / (1 - p_y))`, `ln p_y * (p_y / (1 - p_y))`
                // taken first (it is small where ln p_y is huge: no overflow, no cancellation at
                // any logit gap), 0 where p_y is 0.
                let top = e_y.ge(others);
                let ratio = <R::V<L>>::select(e_y.gt(zero), log_p * (e_y * inv_others), zero);
                let gamma = k_(self.gamma);
                let whole = <R::V<L>>::select(top, base_coef, base_coef * (one - gamma * ratio));
                let bb = <R::V<L>>::select(valid, whole, zero);
                let d = <R::V<L>>::select(valid & top, base_coef * gamma * log_p, zero);
                for k in 0..c {
                    let er = <R::V<L>>::load(level, &e[k * BLOCK..], i);
                    let is_y = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                    let p = er * inv;
                    // onehot - p: 1 - p_y is q, the others' share (not a subtraction that
                    // cancels where p_y is near 1).
                    let onehot_minus_p = <R::V<L>>::select(is_y, q, zero - p);
                    let w = <R::V<L>>::select(is_y, zero, er * inv_others);
                    (bb * onehot_minus_p + d * (w - p)).store(out.row(k), i);
                }
            }
            i += lanes;
        }
        partial.sum += lane_total::<R, L>(losses);
        partial.weight += lane_total::<R, L>(weights);
    }
}

/// The sum of a vector's lanes, in float64.
#[inline(always)]
pub(crate) fn lane_total<R: Real, L: Level>(v: R::V<L>) -> f64 {
    let mut lanes = [R::ZERO; 16];
    v.store(&mut lanes, 0);
    lanes.iter().map(|x| x.to_f64()).sum()
}
