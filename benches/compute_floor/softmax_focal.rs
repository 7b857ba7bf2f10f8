//! The softmax focal loss (`gamma = 2`, no alpha): per position the largest logit, one `exp` per
//! class, one `ln`, the loss `-(1 - p_y)^2 ln p_y`, and the gradient `(1 - p_y)^2 (onehot - p)`
//! written per class (not the exact derivative: the same memory traffic and about the same
//! arithmetic as the real one).

use super::inputs::Classes;
use super::simd::{exp, ln, madd, Avx2, Avx512, Isa, Lanes, FLUSH, MAX_CLASSES};
use super::threads::{split, Shared};

/// Positions `s0..s1` (multiples of `V::N`) of every sample of `inp`'s `(n, classes, spatial)`
/// logits and `(n, spatial)` targets: the loss summed, the gradient written to `grad`. `FMA`: the
/// polynomials as FMA (as the kernels), else as multiply-then-add.
///
/// # Safety
/// The CPU has `V`'s instruction set; `inp.x` holds `n * classes * spatial` floats and `inp.y`
/// `n * spatial` targets in `0..classes`, `classes <= MAX_CLASSES`; `grad` holds `n * classes *
/// spatial` floats; `s0` and `s1` are multiples of `V::N` with `s1 <= spatial`, so every
/// `V::N`-wide load and store stays inside its row; no other thread reads or writes `grad`'s
/// positions `s0..s1` meanwhile (it may write the others: this call touches no other element of
/// `grad`).
#[inline(always)]
unsafe fn softmax_focal<V: Lanes, const FMA: bool>(
    inp: &Classes,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    const { assert!(FLUSH.is_multiple_of(V::N)) };
    let (x, y) = (inp.x.as_ptr(), inp.y.as_ptr());
    let (n, classes, spatial) = (inp.n, inp.classes, inp.spatial);
    let zero = V::splat(0.0);
    let mut total = 0.0;
    let mut es = [zero; MAX_CLASSES];
    for sample in 0..n {
        let mut acc = zero;
        let base = sample * classes * spatial;
        let mut i = s0;
        while i < s1 {
            let ids = V::class_ids(y.add(sample * spatial + i));
            let xp = x.add(base + i);
            let mut m = V::load(xp);
            for k in 1..classes {
                m = V::max(m, V::load(xp.add(k * spatial)));
            }
            let (mut sum, mut others, mut x_y) = (zero, zero, zero);
            for (k, e) in es.iter_mut().enumerate().take(classes) {
                let row = V::load(xp.add(k * spatial));
                let v = exp::<FMA, V>(V::sub(row, m));
                *e = v;
                sum = V::add(sum, v);
                let is_y = V::is_class(ids, k);
                others = V::add(others, V::andnot_mask(is_y, v));
                x_y = V::blend(x_y, row, is_y);
            }
            let inv = V::div(V::splat(1.0), sum);
            let log_p = V::sub(V::sub(x_y, m), ln::<FMA, V>(sum));
            let q = V::mul(others, inv);
            let modulator = V::mul(q, q);
            acc = madd::<FMA, V>(modulator, log_p, acc);
            for (k, e) in es.iter().enumerate().take(classes) {
                let is_y = V::is_class(ids, k);
                let p = V::mul(*e, inv);
                let d = V::blend(V::sub(zero, p), q, is_y);
                V::store(grad.add(base + k * spatial + i), V::mul(modulator, d));
            }
            i += V::N;
            if (i - s0).is_multiple_of(FLUSH) {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                total -= V::lane_sum(acc);
                acc = zero;
            }
        }
        total -= V::lane_sum(acc);
    }
    total
}

/// [`softmax_focal`] in 8 lanes.
///
/// # Safety
/// [`softmax_focal`]'s, for [`Avx2`]: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_focal_avx2<const FMA: bool>(
    inp: &Classes,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    softmax_focal::<Avx2, FMA>(inp, grad, s0, s1)
}

/// [`softmax_focal`] in 16 lanes.
///
/// # Safety
/// [`softmax_focal`]'s, for [`Avx512`]: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_focal_avx512<const FMA: bool>(
    inp: &Classes,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    softmax_focal::<Avx512, FMA>(inp, grad, s0, s1)
}

/// The loop in `isa`'s lanes over `threads` threads (each a slice of every sample's positions);
/// the loss.
pub fn run<const FMA: bool>(isa: Isa, inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
    isa.assert_detected();
    assert!(inp.spatial.is_multiple_of(isa.lanes()));
    assert!(inp.x.len() == inp.n * inp.classes * inp.spatial && grad.len() == inp.x.len());
    assert!(inp.classes <= MAX_CLASSES && inp.y.len() == inp.n * inp.spatial);
    let out = Shared::new(grad);
    split(inp.spatial, isa.lanes(), threads, |s0, s1| {
        // SAFETY: `isa`'s instruction set was detected; the lengths and the class count were
        // checked above, the targets' range in `inputs::seg`; `s0`, `s1` are multiples of the
        // lane count within `spatial` (`split`'s ranges of a multiple of it); this thread writes
        // positions `s0..s1` of every class row, disjoint from the other threads' (`Shared`'s
        // assumption), while `grad` stays borrowed by this call.
        unsafe {
            match isa {
                Isa::Avx2 => softmax_focal_avx2::<FMA>(inp, out.ptr(), s0, s1),
                Isa::Avx512 => softmax_focal_avx512::<FMA>(inp, out.ptr(), s0, s1),
            }
        }
    })
    .into_iter()
    .sum()
}
