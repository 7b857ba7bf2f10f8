//! The seed's `FocalLoss` (`alpha = 0.25`, `gamma = 2`, summed rather than averaged, without the
//! seed's clamp of `p_t` at 1e-4): per position the softmax (the largest logit, one `exp` per
//! class, one division, one `ln` of the sum), then for every class `c` the binary focal term,
//! `-alpha (1 - p_c)^2 ln p_c` for the target class and `-(1 - alpha) p_c^2 ln(1 - p_c)` for the
//! others. `ln p_c` comes from the log-sum-exp; `1 - p_c` is the other classes' share (their
//! exponentials' sum, from prefix and suffix sums: exact where `p_c` is near 1), so every
//! element costs one `ln` (of that share) and one division (`p / (1 - p)`, the gradient's).
//! The exact gradient is written per class: with `h_c = p_c d term_c / d p_c`
//! (`alpha q (2 p ln p - q)` for the target, `(1 - alpha) p^2 (p / q - 2 ln q)` for the others,
//! `q = 1 - p`), `d loss / d x_j = h_j - p_j sum_c h_c`.

use super::inputs::Classes;
use super::simd::{exp, ln, Avx2, Avx512, Isa, Lanes, FLUSH, MAX_CLASSES};
use super::threads::{split, Shared};

/// The positives' weight; negatives get `1 - ALPHA`.
pub const ALPHA: f32 = 0.25;

/// Positions `s0..s1` (multiples of `V::N`) of every sample of `inp`'s `(n, classes, spatial)`
/// logits and `(n, spatial)` targets: the loss summed, the gradient written to `grad`.
///
/// # Safety
/// The CPU has `V`'s instruction set; `inp.x` holds `n * classes * spatial` floats and `inp.y`
/// `n * spatial` targets in `0..classes`, `classes <= MAX_CLASSES`; `grad` holds `n * classes *
/// spatial` floats; `s0` and `s1` are multiples of `V::N` with `s1 <= spatial`, so every
/// `V::N`-wide load and store stays inside its row; no other thread reads or writes `grad`'s
/// positions `s0..s1` meanwhile (this call touches no other element of `grad`).
#[inline(always)]
unsafe fn seed_focal<V: Lanes>(inp: &Classes, grad: *mut f32, s0: usize, s1: usize) -> f64 {
    const { assert!(FLUSH.is_multiple_of(V::N)) };
    let (x, y) = (inp.x.as_ptr(), inp.y.as_ptr());
    let (n, classes, spatial) = (inp.n, inp.classes, inp.spatial);
    let zero = V::splat(0.0);
    let (one, two) = (V::splat(1.0), V::splat(2.0));
    let (pos, neg) = (V::splat(ALPHA), V::splat(1.0 - ALPHA));
    let mut total = 0.0;
    // Per class: `x - max`, then `exp(x - max)`, then `p`; the others' share; `h`.
    let mut zs = [zero; MAX_CLASSES];
    let mut es = [zero; MAX_CLASSES];
    let mut rest = [zero; MAX_CLASSES];
    let mut hs = [zero; MAX_CLASSES];
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
            let mut sum = zero;
            for k in 0..classes {
                zs[k] = V::sub(V::load(xp.add(k * spatial)), m);
                es[k] = exp::<true, V>(zs[k]);
                sum = V::add(sum, es[k]);
            }
            // The others' share: the suffix sums, then the prefix sums added.
            let mut run = zero;
            for k in (0..classes).rev() {
                rest[k] = run;
                run = V::add(run, es[k]);
            }
            let mut run = zero;
            for k in 0..classes {
                rest[k] = V::add(rest[k], run);
                run = V::add(run, es[k]);
            }
            let inv = V::div(one, sum);
            let ln_sum = ln::<true, V>(sum);
            let mut h_sum = zero;
            for k in 0..classes {
                let is_y = V::is_class(ids, k);
                let p = V::mul(es[k], inv);
                let q = V::mul(rest[k], inv);
                let ln_p = V::sub(zs[k], ln_sum);
                let ln_q = V::sub(ln::<true, V>(rest[k]), ln_sum);
                let ratio = V::div(p, q);
                // The term: -weight s^2 ln p_t, s = 1 - p_t.
                let s = V::blend(p, q, is_y);
                let weight = V::blend(neg, pos, is_y);
                let ln_p_t = V::blend(ln_q, ln_p, is_y);
                acc = V::fnmadd(V::mul(weight, V::mul(s, s)), ln_p_t, acc);
                let h_pos = V::mul(V::mul(pos, q), V::fmsub(V::mul(two, p), ln_p, q));
                let h_neg = V::mul(V::mul(neg, V::mul(p, p)), V::fnmadd(two, ln_q, ratio));
                hs[k] = V::blend(h_neg, h_pos, is_y);
                h_sum = V::add(h_sum, hs[k]);
                es[k] = p;
            }
            for k in 0..classes {
                V::store(
                    grad.add(base + k * spatial + i),
                    V::fnmadd(es[k], h_sum, hs[k]),
                );
            }
            i += V::N;
            if (i - s0).is_multiple_of(FLUSH) {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                total += V::lane_sum(acc);
                acc = zero;
            }
        }
        total += V::lane_sum(acc);
    }
    total
}

/// [`seed_focal`] in 8 lanes.
///
/// # Safety
/// [`seed_focal`]'s, for [`Avx2`]: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn seed_focal_avx2(inp: &Classes, grad: *mut f32, s0: usize, s1: usize) -> f64 {
    seed_focal::<Avx2>(inp, grad, s0, s1)
}

/// [`seed_focal`] in 16 lanes.
///
/// # Safety
/// [`seed_focal`]'s, for [`Avx512`]: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn seed_focal_avx512(inp: &Classes, grad: *mut f32, s0: usize, s1: usize) -> f64 {
    seed_focal::<Avx512>(inp, grad, s0, s1)
}

/// The loop in `isa`'s lanes over `threads` threads (each a slice of every sample's positions);
/// the loss.
pub fn run(isa: Isa, inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
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
                Isa::Avx2 => seed_focal_avx2(inp, out.ptr(), s0, s1),
                Isa::Avx512 => seed_focal_avx512(inp, out.ptr(), s0, s1),
            }
        }
    })
    .into_iter()
    .sum()
}
