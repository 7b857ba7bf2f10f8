//! The one kernel driver: [`drive`] takes a loss that implements [`FusedLoss`] and owns what is
//! common to every kernel: eligibility (dtype, layout, device, reduction, target shape), the
//! dispatch on the input's and the targets' dtypes, the gradient buffer and (for
//! `Reduction::None`) the per-position loss buffer, the split over the pool's threads and the
//! SIMD level, the merge of the per-thread partial results, the fallback to the composed path on
//! a bad target, and the run counter. A kernel ([`Kernel`]) is left its per-block math.
//!
//! The Dice kernels (`dice.rs`) make two passes over the same blocks, the second with
//! coefficients from the first's merged sums (and, under `Reduction::None`, in the backward
//! pass), which [`drive`]'s one pass does not model; they take the same pieces from here:
//! [`eligible`], the dense-target conversion (`view::dense_targets`), [`class_ids`] and the class
//! target shapes, [`on_parts`] (the same split and SIMD level for both passes), [`SharedOut`] and
//! [`panicked`].

use std::marker::PhantomData;
use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

use super::math::Real;
use super::simd::{self, Level, WithLevel};
use super::view::{self, ClassIndex, Classes};
use super::{pool, Blocks, BLOCK};
use crate::{Fused, LossError, Reduction, Upstream};

/// A kernel's blocks are split into this many parts where each gets [`MIN_PART_ELEMENTS`] to
/// [`MAX_PART_ELEMENTS`] elements ([`Split`]).
const TARGET_PARTS: usize = 64;
const MIN_PART_ELEMENTS: usize = 1 << 15;
const MAX_PART_ELEMENTS: usize = 1 << 17;

/// What a loss's targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// Class indices `(N, *)` or `(N, 1, *)` for `(N, C, *)` logits, of an integer dtype.
    Classes,
    /// Floats in `[0, 1]` of the input's shape (any real dtype: converted to the input's). The
    /// kernel checks their range as it reads them (where its loads already have them) and
    /// reports one outside it in [`Partial::bad_target`].
    Dense,
}

/// What `Reduction::Mean` divides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MeanOver {
    /// The number of positions (class targets) or elements (dense targets): known before the
    /// pass, so the kernel scales its gradient as it writes it.
    Count,
    /// The sum of the weights of the positions' target classes (the count of the positions not
    /// ignored, without class weights), which the kernel also reports ([`Partial::weight`]). With
    /// a gradient under `Mean` the driver knows it before the pass (see [`weight_scale`]), so
    /// the kernel scales its gradient as it writes it.
    Weights,
}

/// A loss with a fused kernel.
pub(crate) trait FusedLoss: Sync {
    /// What its targets are.
    const TARGETS: TargetKind;
    /// What its mean divides by.
    const MEAN: MeanOver;
    /// Whether the kernel reads a buffer that [`FusedLoss::prefill`] fills (and, with a gradient,
    /// overwrites it with the gradient), rather than the input.
    const PREFILL: bool = false;
    /// Whether the kernel computes `Reduction::None`: it then writes each position's loss (class
    /// targets) or each element's (dense targets) into the `losses` rows [`Kernel::block`] is
    /// given, and its gradient is each loss's own derivative (unscaled), which the backward pass
    /// multiplies by the upstream gradient. Without it, `None` takes the composed path.
    const UNREDUCED: bool = false;
    /// The kernel for dtype `R`.
    type Kernel<'a, R: Real>: Kernel<R>
    where
        Self: 'a;
    /// The loss's reduction.
    fn reduction(&self) -> Reduction;
    /// The target value that contributes nothing (class targets only).
    fn ignore_index(&self) -> Option<i64> {
        None
    }
    /// The per-class weights whose sum over the positions' targets `Mean` divides by
    /// ([`MeanOver::Weights`]; `None`: every class weighs 1).
    fn class_weights(&self) -> Option<&[f64]> {
        None
    }
    /// The kernel for `R` on `blocks`, whose gradient is scaled by `scale` (the mean's `1 /
    /// count` or `1 / weight`, else 1), or `None` where the settings are outside the kernel (the
    /// composed path then runs).
    /// `needs_grad`: whether the kernel is to write the gradient.
    fn kernel<R: Real>(
        &self,
        blocks: &Blocks,
        scale: f64,
        needs_grad: bool,
    ) -> Option<Self::Kernel<'_, R>>;
    /// Fills `buffer` (the input's shape and dtype) before the pass, where [`FusedLoss::PREFILL`];
    /// keeps no handle to it (the kernels then write it through a slice: see `FreshFloats`).
    fn prefill(&self, input: &Tensor, buffer: &Tensor) -> Result<(), LossError> {
        let _ = (input, buffer);
        Ok(())
    }
}

/// The per-block math of a loss.
pub(crate) trait Kernel<R: Real>: Sync {
    /// Per-thread scratch memory.
    type Scratch;
    /// A thread's scratch.
    fn scratch(&self) -> Self::Scratch;
    /// One block: adds its loss (and weights) to `acc` (and, for dense targets, whether one is
    /// outside `[0, 1]` or NaN: [`TargetKind::Dense`]); where `out` is given, writes its rows of
    /// the output buffer; where `losses` is given (`Reduction::None`, only for a loss with
    /// [`FusedLoss::UNREDUCED`]), writes the loss of each of the block's `len` positions (class
    /// targets) or elements (dense targets) into it, 0 where ignored. Must be `#[inline(always)]`
    /// (it is compiled per SIMD level).
    #[allow(clippy::too_many_arguments)]
    fn block<L: Level>(
        &self,
        level: L,
        input: &BlockIn<'_, R>,
        out: Option<BlockRows<'_, R>>,
        losses: Option<&mut [R]>,
        scratch: &mut Self::Scratch,
        acc: &mut Partial,
    );
}

/// What a thread's share of the blocks adds up to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Partial {
    /// The sum of the elementwise losses.
    pub(crate) sum: f64,
    /// The sum of the weights (for [`MeanOver::Weights`]).
    pub(crate) weight: f64,
    /// Whether a target was out of range.
    pub(crate) bad_target: bool,
}

/// One block's inputs: positions `s0..s0 + len` of sample `n`.
pub(crate) struct BlockIn<'a, R> {
    pub(crate) n: usize,
    pub(crate) s0: usize,
    pub(crate) len: usize,
    pub(crate) classes: usize,
    pub(crate) spatial: usize,
    /// The logits (the whole input), or empty with [`FusedLoss::PREFILL`].
    pub(crate) x: &'a [R],
    /// Class targets of the block's positions as `i32` (`-1` where ignored; `BLOCK` entries, the
    /// first `len` meaningful); empty for dense targets.
    pub(crate) ids: &'a [i32],
    /// Dense targets of the block's elements; empty for class targets.
    pub(crate) dense: &'a [R],
}

impl<'a, R> BlockIn<'a, R> {
    /// The block's positions of class `k` in the input.
    #[inline(always)]
    pub(crate) fn row(&self, k: usize) -> &'a [R] {
        let start = (self.n * self.classes + k) * self.spatial + self.s0;
        self.x.get(start..start + self.len).unwrap_or(&[])
    }
}

/// A buffer the threads write into, each block its own rows: made from an exclusive borrow of
/// the buffer, for as long as that borrow lasts (`'a`).
pub(crate) struct SharedOut<'a, R> {
    ptr: *mut R,
    blocks: Blocks,
    _borrow: PhantomData<&'a mut [R]>,
}

// SAFETY: a `SharedOut` hands out mutable rows only through the unsafe `block`, whose contract
// (each block claimed by at most one live `BlockRows`) keeps the rows threads write disjoint;
// `R` is plain data sent between threads.
unsafe impl<R: Send> Sync for SharedOut<'_, R> {}

impl<'a, R> SharedOut<'a, R> {
    /// Wraps `out`, which must hold exactly the `(N, C, S)` elements of `blocks`.
    pub(crate) fn new(out: &'a mut [R], blocks: Blocks) -> Option<Self> {
        (out.len() == blocks.samples * blocks.classes * blocks.spatial).then_some(SharedOut {
            ptr: out.as_mut_ptr(),
            blocks,
            _borrow: PhantomData,
        })
    }

    /// Wraps an optional fresh buffer: `Some(None)` without one, `None` where it cannot be viewed
    /// as `blocks`' elements (the composed path then runs).
    pub(crate) fn of(
        buffer: Option<&'a mut view::FreshFloats<R>>,
        blocks: Blocks,
    ) -> Option<Option<Self>>
    where
        R: Real,
    {
        match buffer {
            None => Some(None),
            Some(t) => t
                .as_mut_slice()
                .and_then(|o| Self::new(o, blocks))
                .map(Some),
        }
    }

    /// The rows of block `item` (`None` past the last block).
    ///
    /// # Safety
    /// No other `BlockRows` of the same `item` may be alive at the same time (blocks are
    /// disjoint, so rows of different items never overlap).
    pub(crate) unsafe fn block(&self, item: usize) -> Option<BlockRows<'_, R>> {
        if item >= self.blocks.count() {
            return None;
        }
        let (n, s0, len) = self.blocks.get(item);
        Some(BlockRows {
            // SAFETY: `n < samples`, so the offset is inside the buffer (`new` checked its
            // length).
            base: unsafe {
                self.ptr
                    .add(n * self.blocks.classes * self.blocks.spatial + s0)
            },
            stride: self.blocks.spatial,
            classes: self.blocks.classes,
            len,
            _borrow: PhantomData,
        })
    }
}

/// The rows of one block of an `(N, C, S)` buffer: for each class `k`, its `len` positions from
/// `s0`. Rows of one block, and rows of different blocks, never overlap.
pub(crate) struct BlockRows<'b, R> {
    base: *mut R,
    stride: usize,
    classes: usize,
    len: usize,
    _borrow: PhantomData<&'b mut [R]>,
}

impl<R> BlockRows<'_, R> {
    /// Class `k`'s row (empty for `k` past the last class), borrowed from these rows: one at a
    /// time.
    #[inline(always)]
    pub(crate) fn row(&mut self, k: usize) -> &mut [R] {
        if k >= self.classes {
            return &mut [];
        }
        // SAFETY: `k < classes` and `s0 + len <= spatial`, so the row lies inside the buffer;
        // this block's rows are claimed by this `BlockRows` alone (the contract of
        // `SharedOut::block`), and the returned borrow of `self` keeps one row alive at a time.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(k * self.stride), self.len) }
    }

    /// The positions in each row.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every class's row at once, for a kernel compiled for `C` classes (`None` where the block
    /// has another number of classes), borrowed from these rows.
    #[inline(always)]
    pub(crate) fn all<const C: usize>(&mut self) -> Option<[&mut [R]; C]> {
        if C != self.classes {
            return None;
        }
        let (base, stride, len) = (self.base, self.stride, self.len);
        // SAFETY: as in `row`, each row `k < classes` lies inside the buffer and is claimed by
        // this `BlockRows` alone; the rows are disjoint (`len <= stride`: a block's positions lie
        // within one row of `spatial` positions), so the `C` slices never overlap, and the
        // returned borrow of `self` keeps them the only accessors while they live.
        Some(std::array::from_fn(|k| unsafe {
            std::slice::from_raw_parts_mut(base.add(k * stride), len)
        }))
    }
}

/// The targets, borrowed.
enum TargetView<'a, R> {
    Classes(Classes<'a>),
    Dense(&'a [R]),
}

/// The fused hook of a loss: the loss and its gradient from its kernel, or `None` where the
/// kernel does not cover the input (the composed path then runs, and reports what is invalid).
pub(crate) fn drive<F: FusedLoss>(
    loss: &F,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let covered = match loss.reduction() {
        Reduction::Mean | Reduction::Sum => true,
        Reduction::None => F::UNREDUCED,
        Reduction::Custom(_) => false,
    };
    if !covered || !eligible(input, target) {
        return Ok(None);
    }
    match input.kind() {
        Kind::Float => typed::<F, f32>(loss, input, target, needs_grad),
        Kind::Double => typed::<F, f64>(loss, input, target, needs_grad),
        _ => Ok(None),
    }
}

/// Whether the kernels may run at all: turned on on this thread ([`super::composed_only`]), both
/// tensors on the CPU, the input not empty.
pub(crate) fn eligible(input: &Tensor, target: &Tensor) -> bool {
    super::enabled()
        && input.device() == Device::Cpu
        && target.device() == Device::Cpu
        && input.numel() > 0
}

fn typed<F: FusedLoss, R: Real>(
    loss: &F,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let shape = input.size();
    let Some(x) = view::floats::<R>(input) else {
        return Ok(None);
    };
    // The targets, checked for shape and dtype, and the split into blocks.
    let dense_target;
    let (targets, blocks) = match F::TARGETS {
        TargetKind::Classes => {
            if shape.len() < 2 || !class_target_shape(&shape, &target.size()) {
                return Ok(None);
            }
            let Some(classes) = view::classes(target) else {
                return Ok(None);
            };
            let Some(blocks) = Blocks::of(&shape, x.len(), classes.len()) else {
                return Ok(None);
            };
            (TargetView::Classes(classes), blocks)
        }
        TargetKind::Dense => {
            if target.size() != shape {
                return Ok(None);
            }
            let Some(converted) = view::dense_targets::<R>(target)? else {
                return Ok(None);
            };
            dense_target = converted;
            let Some(t) = view::floats::<R>(&dense_target) else {
                return Ok(None);
            };
            let Some(blocks) = Blocks::of(&[1, 1], x.len(), x.len()) else {
                return Ok(None);
            };
            (TargetView::Dense(t), blocks)
        }
    };
    let count = match F::TARGETS {
        TargetKind::Classes => blocks.samples * blocks.spatial,
        TargetKind::Dense => x.len(),
    };
    let grad_scale = match F::MEAN {
        MeanOver::Count => {
            WeightScale::Known(view::reduction_scale(loss.reduction(), count as f64))
        }
        MeanOver::Weights if needs_grad && loss.reduction() == Reduction::Mean => {
            match weight_scale(loss, &targets, count) {
                Some(scale) => scale,
                // A bad target, or every position ignored: the composed path.
                None => return Ok(None),
            }
        }
        MeanOver::Weights => WeightScale::Known(1.0),
    };
    let Some(kernel) = loss.kernel::<R>(&blocks, grad_scale.value(), needs_grad) else {
        return Ok(None);
    };
    // Reduction::None: the losses, one per position (class targets: the input's shape without
    // the class dim, as the composed path returns them also for `(N, 1, *)` targets) or per
    // element (dense targets).
    let unreduced = loss.reduction() == Reduction::None;
    let mut losses = if unreduced {
        let loss_shape: Vec<i64> = match F::TARGETS {
            TargetKind::Classes => shape
                .iter()
                .enumerate()
                .filter_map(|(d, &n)| (d != 1).then_some(n))
                .collect(),
            TargetKind::Dense => shape.clone(),
        };
        Some(view::FreshFloats::<R>::new(&loss_shape)?)
    } else {
        None
    };
    // The output buffer: the gradient, or the prefilled buffer the kernel reads (and, with a
    // gradient, overwrites with it).
    let mut buffer = if needs_grad || F::PREFILL {
        let t = view::FreshFloats::<R>::new(&shape)?;
        if F::PREFILL {
            loss.prefill(input, t.tensor())?;
        }
        Some(t)
    } else {
        None
    };
    let parts = {
        let Some(out) = SharedOut::of(buffer.as_mut(), blocks) else {
            return Ok(None);
        };
        let Some(loss_out) = SharedOut::of(losses.as_mut(), blocks.positions()) else {
            return Ok(None);
        };
        let x = if F::PREFILL { &[][..] } else { x };
        let task = Task {
            kernel: &kernel,
            blocks,
            x,
            targets: &targets,
            ignore: loss.ignore_index(),
            out: out.as_ref(),
            losses: loss_out.as_ref(),
        };
        match run_parts(&task, count) {
            Some(parts) => parts,
            None => return Err(panicked()),
        }
    };
    if parts.iter().any(|p| p.bad_target) {
        // The composed path reports the target out of range.
        return Ok(None);
    }
    let grad = if needs_grad {
        buffer.map(view::FreshFloats::into_tensor)
    } else {
        None
    };
    if let Some(losses) = losses {
        super::count_run();
        let upstream = match F::TARGETS {
            TargetKind::Classes => Upstream::PerPosition,
            TargetKind::Dense => Upstream::Broadcast,
        };
        return Ok(Some(
            Fused::new(losses.into_tensor(), grad).with_upstream(upstream),
        ));
    }
    let total: f64 = parts.iter().map(|p| p.sum).sum();
    let (scale, correction) = match F::MEAN {
        MeanOver::Count => (grad_scale.value(), 1.0),
        MeanOver::Weights => {
            let weight: f64 = parts.iter().map(|p| p.weight).sum();
            if loss.reduction() == Reduction::Mean && weight == 0.0 {
                // Every element ignored: the composed path gives PyTorch's 0 / 0.
                return Ok(None);
            }
            let scale = view::reduction_scale(loss.reduction(), weight);
            match grad_scale {
                // The gradient was scaled by `1 / count` on the guess that no position is
                // ignored: where some were, the node scales it by `count / weight`.
                WeightScale::Guessed(count) if weight != count => (scale, count / weight),
                _ => (scale, 1.0),
            }
        }
    };
    super::count_run();
    let value = view::reduced::<R>(total, scale)?;
    Ok(Some(Fused::new(value, grad).with_grad_scale(correction)))
}

/// The scale a kernel writes its gradient with, for [`MeanOver::Weights`] known or guessed
/// before the pass.
#[derive(Clone, Copy, Debug)]
enum WeightScale {
    /// Exactly this.
    Known(f64),
    /// `1 / count`, on the guess that the weight is `count` (every position counted with weight
    /// 1): true unless some target is ignored.
    Guessed(f64),
}

impl WeightScale {
    fn value(self) -> f64 {
        match self {
            WeightScale::Known(s) => s,
            WeightScale::Guessed(count) => 1.0 / count,
        }
    }
}

/// The scale of the gradient of `Mean` over [`MeanOver::Weights`], before the pass, so that the
/// kernel scales as it writes (the node would otherwise make one more pass over the gradient,
/// 15% of the loss's time at `2 x 4 x 128^3`). Without class weights the weight is the count of
/// positions not ignored: `count` guessed (checked after the pass, the node scaling by the ratio
/// where it was wrong). With class weights, the weight of every position's target, summed over
/// the pool (one read of the targets, a sixth of the pass's traffic for int64 targets and four
/// float32 classes). `None` where a target is out of range or the weight is 0 (the composed path
/// reports the first and gives PyTorch's 0 / 0 for the second).
fn weight_scale<F: FusedLoss, R>(
    loss: &F,
    targets: &TargetView<'_, R>,
    count: usize,
) -> Option<WeightScale> {
    let Some(weights) = loss.class_weights() else {
        return Some(WeightScale::Guessed(count as f64));
    };
    let TargetView::Classes(classes) = targets else {
        return Some(WeightScale::Guessed(count as f64));
    };
    let weight = match classes {
        Classes::I64(y) => weight_sum(y, weights, loss.ignore_index())?,
        Classes::I32(y) => weight_sum(y, weights, loss.ignore_index())?,
        Classes::U8(y) => weight_sum(y, weights, loss.ignore_index())?,
    };
    (weight != 0.0).then(|| WeightScale::Known(1.0 / weight))
}

/// The sum of `weights[y]` over the targets `y` not equal to `ignore`, in parts over the pool
/// (merged in order); `None` where a target is outside `weights` (or a part panicked).
fn weight_sum<T: ClassIndex>(y: &[T], weights: &[f64], ignore: Option<i64>) -> Option<f64> {
    // Parts from the size alone (as `Split`), so that the sum is the same on any thread count.
    let parts = (y.len() / MIN_PART_ELEMENTS).clamp(1, TARGET_PARTS);
    let per = y.len().div_ceil(parts);
    let sums = on_pool(parts, |part| {
        let chunk = y.chunks(per.max(1)).nth(part).unwrap_or(&[]);
        let mut sum = 0.0;
        for t in chunk {
            let k = t.index();
            if Some(k) == ignore {
                continue;
            }
            sum += *usize::try_from(k).ok().and_then(|k| weights.get(k))?;
        }
        Some(sum)
    })?;
    sums.into_iter().sum()
}

/// Whether `target` is `(N, *)` or `(N, 1, *)` for input `(N, C, *)`.
pub(crate) fn class_target_shape(shape: &[i64], target: &[i64]) -> bool {
    let Some((&n, rest)) = shape.split_first() else {
        return false;
    };
    let Some((_, spatial)) = rest.split_first() else {
        return false;
    };
    let plain = target.first() == Some(&n) && target.get(1..) == Some(spatial);
    let with_channel =
        target.first() == Some(&n) && target.get(1) == Some(&1) && target.get(2..) == Some(spatial);
    plain || with_channel
}

/// One call's work, shared by the threads.
struct Task<'t, R: Real, K> {
    kernel: &'t K,
    blocks: Blocks,
    x: &'t [R],
    targets: &'t TargetView<'t, R>,
    ignore: Option<i64>,
    out: Option<&'t SharedOut<'t, R>>,
    /// The per-position (or per-element) losses, for `Reduction::None`: one row per block.
    losses: Option<&'t SharedOut<'t, R>>,
}

/// Runs the blocks in parts over the pool; each part's result, in order (`None` where a part
/// panicked).
fn run_parts<R: Real, K: Kernel<R>>(
    task: &Task<'_, R, K>,
    elements_count: usize,
) -> Option<Vec<Partial>> {
    on_parts(&task.blocks, elements_count, |first, end| Part {
        task,
        first,
        end,
    })
}

/// Runs `job(first, end)` on the pool for each part of `blocks` ([`Split::of`] with `elements`),
/// at this thread's SIMD level; the results in the parts' order (`None` where a part panicked).
/// Every pass of a kernel over the same blocks gets the same parts.
pub(crate) fn on_parts<J: WithLevel>(
    blocks: &Blocks,
    elements: usize,
    job: impl Fn(usize, usize) -> J + Sync,
) -> Option<Vec<J::Output>>
where
    J::Output: Send + Sync,
{
    let split = Split::of(blocks, elements);
    let level = simd::current();
    on_pool(split.parts, |part| {
        let (first, end) = split.range(part);
        simd::dispatch(level, job(first, end))
    })
}

/// The split of a task's blocks into parts for the pool, the same for every pass over them:
/// [`TARGET_PARTS`] parts where that gives each [`MIN_PART_ELEMENTS`] to [`MAX_PART_ELEMENTS`]
/// elements, fewer for small inputs and more for large ones (128 at `2 x 4 x 128^3`), from the
/// size alone, so that every thread count gives the same parts (and the same result, bit for
/// bit: the parts' results are merged in order). The threads take parts one at a time, so a
/// thread that gets less of a core (another process's work, or a libtorch worker still finishing
/// an op) takes fewer; with one part per thread the call waited for the slowed thread's whole
/// share.
#[derive(Clone, Copy)]
struct Split {
    items: usize,
    /// How many parts.
    parts: usize,
    per: usize,
}

impl Split {
    /// The split of `blocks`, counting at least `elements` elements (the blocks' own count where
    /// larger).
    fn of(blocks: &Blocks, elements: usize) -> Self {
        let items = blocks.count();
        let elements = items.saturating_mul(blocks.classes * BLOCK).max(elements);
        let per_part = (elements / TARGET_PARTS).clamp(MIN_PART_ELEMENTS, MAX_PART_ELEMENTS);
        let parts = (elements / per_part).clamp(1, items.max(1));
        Split {
            items,
            parts,
            per: items.div_ceil(parts),
        }
    }

    /// Part `part`'s blocks, `first..end`.
    fn range(&self, part: usize) -> (usize, usize) {
        (
            (part * self.per).min(self.items),
            ((part + 1) * self.per).min(self.items),
        )
    }
}

/// Runs `f(part)` for each part on the pool; the results in the parts' order (`None` where a
/// part panicked).
fn on_pool<T: Send + Sync>(parts: usize, f: impl Fn(usize) -> T + Sync) -> Option<Vec<T>> {
    let results: Vec<OnceLock<T>> = (0..parts).map(|_| OnceLock::new()).collect();
    let work = |part: usize| {
        let _ = results.get(part).map(|r| r.set(f(part)));
    };
    pool::run(parts, pool::threads(), &work).ok()?;
    results.into_iter().map(OnceLock::into_inner).collect()
}

/// The error of a kernel that panicked on some thread (the pool caught the panic).
pub(crate) fn panicked() -> LossError {
    LossError::from(tch::TchError::Torch("a fused kernel panicked".into()))
}

/// Blocks `first..end` of a task, at some SIMD level.
struct Part<'p, 't, R: Real, K> {
    task: &'p Task<'t, R, K>,
    first: usize,
    end: usize,
}

impl<R: Real, K: Kernel<R>> WithLevel for Part<'_, '_, R, K> {
    type Output = Partial;

    #[inline(always)]
    fn run<L: Level>(self, level: L) -> Partial {
        let task = self.task;
        let mut scratch = task.kernel.scratch();
        let mut acc = Partial::default();
        let mut ids = [-1i32; BLOCK];
        let (c, s) = (task.blocks.classes, task.blocks.spatial);
        for item in self.first..self.end {
            let (n, s0, len) = task.blocks.get(item);
            let (ids, dense): (&[i32], &[R]) = match task.targets {
                TargetView::Classes(classes) => {
                    let at = n * s + s0;
                    acc.bad_target |= match classes {
                        Classes::I64(y) => class_ids(y, at, len, c, task.ignore, &mut ids),
                        Classes::I32(y) => class_ids(y, at, len, c, task.ignore, &mut ids),
                        Classes::U8(y) => class_ids(y, at, len, c, task.ignore, &mut ids),
                    };
                    (&ids[..], &[])
                }
                TargetView::Dense(t) => {
                    // (Their values' range: the kernel's check.)
                    let t = t.get(s0..s0 + len).unwrap_or(&[]);
                    acc.bad_target |= t.len() != len;
                    (&[], t)
                }
            };
            let input = BlockIn {
                n,
                s0,
                len,
                classes: c,
                spatial: s,
                x: task.x,
                ids,
                dense,
            };
            // SAFETY: the parts are disjoint ranges of blocks, each part runs once (the pool
            // hands every part index out once), and this part claims each of its blocks once,
            // the rows living only for this call: no two live `BlockRows` share a block.
            let rows = task.out.and_then(|o| unsafe { o.block(item) });
            // SAFETY: the loss buffer is another exclusively borrowed buffer (its own
            // `SharedOut`, never aliasing the gradient's), and, as for `rows`, this part claims
            // its block of it once, for this call: no two live `BlockRows` of it share a block.
            let mut loss_rows = task.losses.and_then(|o| unsafe { o.block(item) });
            let losses = loss_rows.as_mut().map(|r| r.row(0));
            task.kernel
                .block(level, &input, rows, losses, &mut scratch, &mut acc);
        }
        acc
    }
}

/// How many blocks ahead [`class_ids`] fetches the targets (2, 4 and 8 measured the same).
const TARGETS_AHEAD: usize = 4;

/// Asks the CPU to bring `y[at..at + len]` into its caches (a hint: where the range is past the
/// end of `y` nothing is read, and no fault can occur).
#[inline(always)]
fn prefetch<T>(y: &[T], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = y.as_ptr().wrapping_add(at).cast::<i8>();
        for line in (0..len * std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch reads nothing the program sees and does not fault, whatever
            // the address (SSE, which every x86-64 CPU has).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (y, at, len);
}

/// Class ids of `len` positions from `at` as `i32` into `ids` (`-1` where `ignore`d); whether
/// one is outside `[0, classes)`.
///
/// Also asks the CPU to fetch the targets [`TARGETS_AHEAD`] blocks on, which a part's later
/// blocks read (its blocks' targets are consecutive): the conversion is a short loop at each
/// block's start that would otherwise wait for memory (`SoftmaxFocalLoss` at seg128, two
/// threads: 10% faster, `FocalLoss` 5%).
#[inline(always)]
pub(crate) fn class_ids<T: ClassIndex>(
    y: &[T],
    at: usize,
    len: usize,
    classes: usize,
    ignore: Option<i64>,
    ids: &mut [i32; BLOCK],
) -> bool {
    prefetch(y, at + TARGETS_AHEAD * BLOCK, BLOCK);
    let Some(targets) = y.get(at..at + len) else {
        return true;
    };
    let Some((kept, past)) = (len <= BLOCK).then(|| ids.split_at_mut(len)) else {
        return true;
    };
    // `k < 0 || k >= classes` as one unsigned comparison, in a loop without bounds checks or
    // branches, which the compiler vectorizes.
    let classes = classes as u64;
    let mut bad = 0u64;
    match ignore {
        None => {
            // No sentinel: without an ignore_index every value is a class index (i64::MIN
            // included).
            for (id, t) in kept.iter_mut().zip(targets) {
                let k = t.index();
                bad |= u64::from(k as u64 >= classes);
                *id = k as i32;
            }
        }
        Some(ignore) => {
            for (id, t) in kept.iter_mut().zip(targets) {
                let k = t.index();
                let valid = k != ignore;
                bad |= u64::from(valid & (k as u64 >= classes));
                *id = if valid { k as i32 } else { -1 };
            }
        }
    }
    past.fill(-1);
    bad != 0
}
