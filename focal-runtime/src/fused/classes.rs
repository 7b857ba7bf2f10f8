//! A block's per-class rows for a kernel written once over the class count: where the count is a
//! small constant (a kernel instantiated for `C` classes), arrays and loops of a constant count
//! (the rows' slices taken once per block, what the compiler can unroll unrolled); otherwise the
//! block's own rows and the thread's scratch memory.

use super::driver::{BlockIn, BlockRows, Partial};
use super::math::Real;
use super::simd::{Level, Vector};
use super::BLOCK;

/// The most classes the kernels are instantiated for with a constant class count (from 2).
pub(crate) const MAX_FIXED_CLASSES: usize = 8;

/// Runs `$body` with `$c` a constant equal to `$classes` (its own instantiation of `$body` for
/// each count) where `$fixed` holds and the count is 2 to [`MAX_FIXED_CLASSES`]; otherwise does
/// nothing, and the caller's general path (the run-time count) follows. `$fixed` is the rule of
/// what runs instantiated, `L::VECTOR && R::FIXED_CLASSES` (float32 at a vector level: each
/// instantiation costs compile time) and, in the kernels, a whole block (the block's length a
/// constant too).
macro_rules! with_class_count {
    ($fixed:expr, $classes:expr, |$c:ident| $body:block) => {
        if $fixed {
            $crate::fused::classes::with_class_count!(@arms $classes, $c, $body, 2 3 4 5 6 7 8);
        }
    };
    (@arms $classes:expr, $c:ident, $body:block, $($n:literal)*) => {
        match $classes {
            $($n => {
                const $c: usize = $n;
                $body
            })*
            _ => {}
        }
    };
}
pub(crate) use with_class_count;

// The arms of `with_class_count!` list 2 to 8.
const _: () = assert!(MAX_FIXED_CLASSES == 8);

/// A kernel whose block is written once over the class count ([`on_class_rows`] runs it).
pub(crate) trait ClassRowsKernel<R: Real> {
    /// One block over `c` classes and `len` positions (constants where [`on_class_rows`] has
    /// them: a whole block of a class count it is compiled for): each class's logits from `x`,
    /// per-class lanes kept in `e` between class loops, the output rows `out`, each position's
    /// loss into `each` (`Reduction::None`), the sums into `partial`.
    #[allow(clippy::too_many_arguments)]
    fn block_rows<L: Level, X: LogitRows<R>, E: LaneRows<R, L>, O: OutRows<R>>(
        &self,
        level: L,
        shape: (usize, usize),
        b: &BlockIn<'_, R>,
        x: &X,
        e: E,
        out: Option<O>,
        each: Option<&mut [R]>,
        partial: &mut Partial,
    );
}

/// Runs `kernel` on block `b` (`out`: its output rows, `scratch`: [`BLOCK`] lanes per class). A
/// whole block with 2 to [`MAX_FIXED_CLASSES`] classes, at a vector level and for float32
/// ([`Real::FIXED_CLASSES`]), runs with the class count and the block's length as constants: the
/// class and position loops have constant counts (the loads' and stores' bounds checks fold away)
/// and the rows are taken once per block (`SoftmaxFocalLoss` at `2 x 4 x 128^3`, one thread:
/// 1.46-1.56x the arithmetic floor's time, where the general path took 1.76-1.99x, three rounds
/// of a probe timing both in turns). Otherwise with the block's own rows and the scratch.
#[inline(always)]
pub(crate) fn on_class_rows<R: Real, L: Level, K: ClassRowsKernel<R>>(
    kernel: &K,
    level: L,
    b: &BlockIn<'_, R>,
    mut out: Option<BlockRows<'_, R>>,
    scratch: &mut [R],
    each: Option<&mut [R]>,
    partial: &mut Partial,
) {
    // Only these instantiations: each costs compile time (the scalar level and float64 keep the
    // general path).
    let full = b.len == BLOCK && out.as_ref().is_none_or(|o| o.len() == BLOCK);
    with_class_count!(L::VECTOR && R::FIXED_CLASSES && full, b.classes, |C| {
        let rows = out.as_mut().map(|o| o.all::<C>());
        // (Rows of another class count cannot occur: the general path would take them.)
        if !matches!(rows, Some(None)) {
            let zero = <R::V<L>>::splat(level, R::ZERO);
            let x = logit_rows::<R, C>(b);
            let rows = rows.flatten();
            let shape = (C, BLOCK);
            return kernel.block_rows(level, shape, b, &x, [zero; C], rows, each, partial);
        }
    });
    kernel.block_rows(
        level,
        (b.classes, b.len),
        b,
        b,
        InScratch(scratch),
        out,
        each,
        partial,
    );
}

/// Each class's logits of a block.
pub(crate) trait LogitRows<R> {
    /// Class `k`'s positions (empty past the last class).
    fn logits(&self, k: usize) -> &[R];
}

impl<R> LogitRows<R> for BlockIn<'_, R> {
    #[inline(always)]
    fn logits(&self, k: usize) -> &[R] {
        self.row(k)
    }
}

impl<R, const C: usize> LogitRows<R> for [&[R]; C] {
    #[inline(always)]
    fn logits(&self, k: usize) -> &[R] {
        <[&[R]]>::get(self, k).copied().unwrap_or(&[])
    }
}

/// The rows of a block's logits, taken once, for a kernel instantiated for `C` classes.
#[inline(always)]
fn logit_rows<'a, R, const C: usize>(b: &BlockIn<'a, R>) -> [&'a [R]; C] {
    let mut rows: [&[R]; C] = [&[]; C];
    for (k, r) in rows.iter_mut().enumerate() {
        *r = b.row(k);
    }
    rows
}

/// Each class's vector of some per-position value (the exponentials) at lanes `i..`, kept
/// between the loops over the classes.
pub(crate) trait LaneRows<R: Real, L: Level> {
    /// Keeps class `k`'s vector `v` of lanes `i..`.
    fn put(&mut self, k: usize, i: usize, v: R::V<L>);
    /// Class `k`'s vector of lanes `i..`, as kept.
    fn lanes(&self, level: L, k: usize, i: usize) -> R::V<L>;
}

/// In registers, for `C` classes.
impl<R: Real, L: Level, const C: usize> LaneRows<R, L> for [R::V<L>; C] {
    #[inline(always)]
    fn put(&mut self, k: usize, _: usize, v: R::V<L>) {
        if let Some(slot) = <[R::V<L>]>::get_mut(self, k) {
            *slot = v;
        }
    }
    #[inline(always)]
    fn lanes(&self, level: L, k: usize, _: usize) -> R::V<L> {
        match <[R::V<L>]>::get(self, k) {
            Some(v) => *v,
            None => <R::V<L>>::splat(level, R::ZERO),
        }
    }
}

/// In a thread's scratch memory, [`BLOCK`] lanes per class, for any class count.
struct InScratch<'s, R>(&'s mut [R]);

impl<R: Real, L: Level> LaneRows<R, L> for InScratch<'_, R> {
    #[inline(always)]
    fn put(&mut self, k: usize, i: usize, v: R::V<L>) {
        v.store(self.0.get_mut(k * BLOCK..).unwrap_or_default(), i);
    }
    #[inline(always)]
    fn lanes(&self, level: L, k: usize, i: usize) -> R::V<L> {
        <R::V<L>>::load(level, self.0.get(k * BLOCK..).unwrap_or(&[]), i)
    }
}

/// Each class's row of a block's output buffer.
pub(crate) trait OutRows<R> {
    /// Class `k`'s row (empty past the last class).
    fn out(&mut self, k: usize) -> &mut [R];
}

impl<R> OutRows<R> for BlockRows<'_, R> {
    #[inline(always)]
    fn out(&mut self, k: usize) -> &mut [R] {
        self.row(k)
    }
}

impl<R, const C: usize> OutRows<R> for [&mut [R]; C] {
    #[inline(always)]
    fn out(&mut self, k: usize) -> &mut [R] {
        match self.get_mut(k) {
            Some(row) => row,
            None => &mut [],
        }
    }
}
