//! Fused CPU kernels for the focal-family losses: one pass over the logits that computes the
//! loss and, when the input requires grad, its gradient, on all of tch's intra-op threads, for
//! contiguous float32 and float64 inputs (two passes for `DiceLoss` and `DiceFocalLoss`: the
//! per-`(n, c)` sums, then the gradient; see `dice.rs`). They plug into the losses through
//! `#[loss(fused = ...)]`; any input they do not cover (another dtype, a non-contiguous layout, a
//! CUDA tensor, a custom reduction, a hyperparameter setting outside the kernel, invalid values)
//! takes the composed path, which computes the same loss from tch operations.
//!
//! `SoftmaxFocalLoss` (label smoothing included) and `SigmoidFocalLoss` run at every standard
//! reduction: under `Reduction::None` the kernel writes each position's loss (`(N, *)`) or
//! element's, and each one's own gradient, which the backward pass multiplies by the upstream
//! gradient (broadcast along the classes for the softmax: [`crate::Upstream`]); so does
//! `FocalLoss`. `DiceLoss` and `DiceFocalLoss` run at every standard reduction too: their
//! unreduced values are one per `(n, c)`, whose gradient mixes the classes under the softmax, so
//! under `Reduction::None` the kernel computes the values and runs its gradient pass in the
//! backward pass, with the upstream gradient in its coefficients ([`crate::Fused::with_backward`]).
//!
//! [`composed_only`] runs a closure with the kernels off on the current thread, to compare the
//! two paths or to rule the kernels out.
//!
//! The kernels' large output buffers are recycled: once a gradient of at least 1 MiB is freed
//! (a training step drops the previous step's), its memory is kept for the next call's buffer of
//! the same size instead of a fresh mapping whose every page faults on first write
//! ([`kept_buffers`], [`set_kept_buffer_limits`], [`release_kept_buffers`]).
//!
//! ```
//! use focal_runtime::{fused, FocalLoss, Loss};
//! use tch::{Device, Kind, Tensor};
//! let logits = Tensor::randn([2, 3, 8, 8], (Kind::Double, Device::Cpu));
//! let target = Tensor::randint(3, [2, 8, 8], (Kind::Int64, Device::Cpu));
//! let loss = FocalLoss::default();
//! let fused_value = loss.forward(&logits, &target);
//! let composed_value = fused::composed_only(|| loss.forward(&logits, &target));
//! let diff = (fused_value - composed_value).abs().double_value(&[]);
//! assert!(diff < 1e-12);
//! ```

mod buffers;
mod classes;
pub(crate) mod dice;
mod driver;
mod math;
mod pool;
pub(crate) mod seed_focal;
pub(crate) mod sigmoid_focal;
mod simd;
pub(crate) mod softmax_focal;
mod view;

pub use buffers::{
    kept_buffers, release_kept_buffers, set_kept_buffer_limits, KeptBuffers, DEFAULT_MAX_BUFFERS,
    DEFAULT_MAX_BYTES,
};
pub(crate) use driver::drive;
pub use simd::{detected as detected_simd_level, with_level as with_simd_level, SimdLevel};

/// Runs `f(part)` for each part on the kernels' threads (`pool::run`); `false` where a part
/// panicked.
pub(crate) fn run_parts(parts: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
    pool::run(parts, threads, f).is_ok()
}

/// The most pool workers that have run kernel work at once in this process (for the tests: never
/// more than `tch::get_num_threads()`).
pub(crate) fn peak_pool_workers() -> usize {
    pool::peak_workers()
}

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
    static RUNS: Cell<u64> = const { Cell::new(0) };
}

/// How many times a fused kernel has computed a loss on the current thread: diagnostics for the
/// tests, to see which path a call took (`__private::fused_kernel_runs`).
pub(crate) fn kernel_runs() -> u64 {
    RUNS.with(Cell::get)
}

/// Counts a kernel run (see [`kernel_runs`]).
pub(crate) fn count_run() {
    RUNS.with(|r| r.set(r.get() + 1));
}

/// Whether the fused kernels are on for the current thread (they are unless inside
/// [`composed_only`]).
pub(crate) fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Runs `f` with the fused kernels off on the current thread: every loss takes its composed
/// path. The previous setting is restored afterwards, also if `f` panics.
///
/// ```
/// use focal_runtime::{fused, Loss, SigmoidFocalLoss};
/// use tch::Tensor;
/// let x = Tensor::from_slice(&[0.5f64, -2.0]);
/// let t = Tensor::from_slice(&[1.0f64, 0.0]);
/// let composed = fused::composed_only(|| SigmoidFocalLoss::new().forward(&x, &t));
/// let fused = SigmoidFocalLoss::new().forward(&x, &t);
/// assert!((composed - fused).abs().double_value(&[]) < 1e-15);
/// ```
pub fn composed_only<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(ENABLED.with(|e| e.replace(false)));
    f()
}

/// Positions processed together: each class's logits for `BLOCK` consecutive positions are
/// contiguous in an `(N, C, *)` tensor, so a block is `C` short rows the compiler vectorizes over.
pub(crate) const BLOCK: usize = 64;

/// How an `(N, C, *)` tensor of `len` elements splits into blocks of [`BLOCK`] positions: the
/// work items of the class-index kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks {
    pub(crate) samples: usize,
    pub(crate) classes: usize,
    /// Positions per sample (the product of the trailing dims).
    pub(crate) spatial: usize,
    per_sample: usize,
}

impl Blocks {
    /// The split of `len` elements shaped `(shape[0], shape[1], *)`, or `None` where `targets`
    /// (the number of class indices) is not one per position.
    pub(crate) fn of(shape: &[i64], len: usize, targets: usize) -> Option<Self> {
        let (samples, classes) = (*shape.first()? as usize, *shape.get(1)? as usize);
        let spatial = len.checked_div(samples * classes)?;
        (targets == samples * spatial).then_some(Blocks {
            samples,
            classes,
            spatial,
            per_sample: spatial.div_ceil(BLOCK),
        })
    }

    /// The same split with one value per position (one class): the layout of per-position
    /// losses, `(N, S)`.
    pub(crate) fn positions(&self) -> Self {
        Blocks {
            classes: 1,
            ..*self
        }
    }

    /// How many blocks there are.
    pub(crate) fn count(&self) -> usize {
        self.samples * self.per_sample
    }

    /// Block `item`: its sample, its first position and its number of positions.
    #[inline(always)]
    pub(crate) fn get(&self, item: usize) -> (usize, usize, usize) {
        let n = item / self.per_sample;
        let s0 = (item % self.per_sample) * BLOCK;
        (n, s0, BLOCK.min(self.spatial - s0))
    }
}

/// The exponent of a focal modulating factor, with the common cases computed without `exp`/`ln`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Power {
    Zero,
    One,
    Two,
    Other(f64),
}

impl Power {
    pub(crate) fn of(gamma: f64) -> Self {
        if gamma == 0.0 {
            Power::Zero
        } else if gamma == 1.0 {
            Power::One
        } else if gamma == 2.0 {
            Power::Two
        } else {
            Power::Other(gamma)
        }
    }

    /// `base^gamma` and its derivative with respect to `base`, per lane.
    #[inline(always)]
    pub(crate) fn lanes<R: math::Real, L: simd::Level>(
        self,
        level: L,
        base: R::V<L>,
    ) -> (R::V<L>, R::V<L>) {
        let c = |v: f64| <R::V<L> as simd::Vector<R, L>>::splat(level, R::of(v));
        match self {
            Power::Zero => (c(1.0), c(0.0)),
            Power::One => (base, c(1.0)),
            Power::Two => (base * base, base + base),
            Power::Other(g) => {
                let l = simd::Vector::ln(base);
                (
                    simd::Vector::exp(c(g) * l),
                    c(g) * simd::Vector::exp(c(g - 1.0) * l),
                )
            }
        }
    }

    /// `exp(gamma * log_base)` per lane: the factor from the logarithm of its base (`base` for
    /// the exponents computed without `exp`).
    #[inline(always)]
    pub(crate) fn lanes_log<R: math::Real, L: simd::Level>(
        self,
        level: L,
        log_base: R::V<L>,
        base: R::V<L>,
    ) -> R::V<L> {
        match self {
            Power::Zero => simd::Vector::splat(level, R::ONE),
            Power::One => base,
            Power::Two => base * base,
            Power::Other(g) => simd::Vector::exp(
                <R::V<L> as simd::Vector<R, L>>::splat(level, R::of(g)) * log_base,
            ),
        }
    }
}
