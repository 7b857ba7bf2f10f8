//! The fused `FocalLoss` kernel (the seed's semantics): from the softmax, each class's clamped
//! binary focal term `-alpha_t (1 - p_t)^gamma ln p_t` and the gradient through the clamp and the
//! softmax, `p_j (g_j - sum_c g_c p_c)`, in one pass, in the input's dtype and the composed
//! path's order of operations.
//!
//! The softmax itself is libtorch's, the one the seed's `nn.Softmax` runs: near `p = 1` the
//! seed's `1 - p` is ill-conditioned in float32 (an ulp of `p` moves `1 - p` by 5e-5 relative at
//! `p = 0.999`), and its gradient follows it, so only bit-identical probabilities reproduce the
//! seed's float32 gradients to 1e-5.

use tch::Tensor;

use super::driver::{self, BlockIn, BlockRows, FusedLoss, Kernel, MeanOver, Partial, TargetKind};
use super::math::Real;
use super::simd::{Level, Vector};
use super::softmax_focal::lane_total;
use super::{Blocks, Power, BLOCK};
use crate::losses::P_T_MIN;
use crate::{FocalLoss, Fused, LossError, Reduction};

/// The `#[loss(fused = ...)]` hook of `FocalLoss` (the arguments the macro passes): the loss
/// rebuilt, then [`driver::drive`].
pub(crate) fn seed_focal(
    input: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: f64,
    reduction: Reduction,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let loss = FocalLoss {
        gamma,
        alpha,
        reduction,
    };
    driver::drive(&loss, input, target, needs_grad)
}

impl FusedLoss for FocalLoss {
    const TARGETS: TargetKind = TargetKind::Classes;
    const MEAN: MeanOver = MeanOver::Count;
    // The softmax goes into a fresh buffer that, with a gradient, the kernel then overwrites
    // with the gradient block by block: one full-size allocation instead of two.
    const PREFILL: bool = true;
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
            alpha: R::of(self.alpha),
            // The gradient's scale: the reduction's, divided by the class count.
            scale: R::of(scale) / R::of(blocks.classes as f64),
            classes: blocks.classes,
            needs_grad,
        })
    }

    fn prefill(&self, input: &Tensor, buffer: &Tensor) -> Result<(), LossError> {
        let _written = input
            .f_detach()?
            .f_softmax_int_out(buffer, 1, input.kind())?;
        Ok(())
    }
}

pub(crate) struct SeedKernel<R> {
    power: Power,
    alpha: R,
    scale: R,
    classes: usize,
    needs_grad: bool,
}

impl<R: Real> Kernel<R> for SeedKernel<R> {
    /// Each class's gradient of a block before the softmax's backward.
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
        _losses: Option<&mut [R]>,
        g: &mut Vec<R>,
        partial: &mut Partial,
    ) {
        // The buffer holds the softmax (and takes the gradient).
        let Some(mut probs) = out else {
            return;
        };
        let c = self.classes;
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        let k_ = |v: R| <R::V<L> as Vector<R, L>>::splat(level, v);
        let (zero, one) = (k_(R::ZERO), k_(R::ONE));
        let (lo, hi) = (k_(R::of(P_T_MIN)), one);
        let (alpha_pos, alpha_neg) = (k_(self.alpha), k_(R::ONE - self.alpha));
        let scale = k_(self.scale);
        let mut losses = zero;
        let mut i = 0;
        while i < b.len {
            let in_block = <R::V<L>>::first(level, b.len - i);
            let mut acc = zero;
            let mut dot = zero;
            for k in 0..c {
                let pr = <R::V<L>>::load(level, probs.row(k), i);
                let pos = <R::V<L>>::class_is(level, b.ids, i, k as i32);
                let p_t_raw = <R::V<L>>::select(pos, pr, one - pr);
                // In this order a NaN stays NaN (the seed's clamp, and the composed path, give
                // NaN).
                let p_t = hi.min(lo.max(p_t_raw));
                let alpha_t = <R::V<L>>::select(pos, alpha_pos, alpha_neg);
                let base = one - p_t;
                let ln_p_t = p_t.ln();
                let (modulator, d_modulator) = self.power.lanes::<R, L>(level, base);
                acc = acc + -alpha_t * modulator * ln_p_t;
                if self.needs_grad {
                    // d term / d p_t, in the order autograd computes it on the composed path (so
                    // float32 rounds alike: near the clamp the softmax backward cancels digits),
                    // then through the clamp (whose gradient passes on [lo, hi]).
                    let from_log = scale * (-alpha_t * modulator) / p_t;
                    // Where 1 - p_t is 0, (1 - p_t)^(gamma - 1) ln p_t tends to 0 also for
                    // gamma < 1 (whose factor alone has an infinite derivative).
                    let from_power = <R::V<L>>::select(
                        modulator.eq(zero),
                        zero,
                        scale * ln_p_t * -alpha_t * d_modulator,
                    );
                    let d = from_log - from_power;
                    let inside = p_t_raw.ge(lo) & p_t_raw.le(hi);
                    let d = <R::V<L>>::select(inside, <R::V<L>>::select(pos, d, -d), zero);
                    d.store(&mut g[k * BLOCK..], i);
                    dot = d.mul_add(pr, dot);
                }
            }
            losses = losses + <R::V<L>>::select(in_block, acc, zero);
            if self.needs_grad {
                for k in 0..c {
                    // This chunk of row k still holds the probabilities: read, then overwritten.
                    let row = probs.row(k);
                    let pr = <R::V<L>>::load(level, row, i);
                    let gr = <R::V<L>>::load(level, &g[k * BLOCK..], i);
                    (pr * (gr - dot)).store(row, i);
                }
            }
            i += lanes;
        }
        partial.sum += lane_total::<R, L>(losses) / c as f64;
    }
}
