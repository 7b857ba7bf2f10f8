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

use std::arch::x86_64::*;

use super::inputs::Classes;
use super::simd::{c, exp, ids8, is_class, lane_sum, ln, MAX_CLASSES};
use super::threads::{split, Shared};

/// The positives' weight; negatives get `1 - ALPHA`.
pub const ALPHA: f32 = 0.25;

/// Positions `s0..s1` (multiples of 8) of every sample of `(n, classes, spatial)` logits `x`
/// and `(n, spatial)` targets `y`: the loss summed, the gradient written to `grad`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x` and `grad` hold `n * classes * spatial` floats and `y`
/// `n * spatial` targets in `0..classes`; `s0` and `s1` are multiples of 8 with `s1 <=
/// spatial`, so every 8-wide load and store stays inside its row; `classes <= MAX_CLASSES`;
/// no other thread reads or writes `grad`'s positions `s0..s1` meanwhile (this call touches no
/// other element of `grad`).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn seed_focal(
    x: *const f32,
    y: *const i64,
    grad: *mut f32,
    n: usize,
    classes: usize,
    spatial: usize,
    s0: usize,
    s1: usize,
) -> f64 {
    let (one, two) = (c(1.0), c(2.0));
    let (pos, neg) = (c(ALPHA), c(1.0 - ALPHA));
    let mut total = 0.0;
    // Per class: `x - max`, then `exp(x - max)`, then `p`; the others' share; `h`.
    let mut zs = [c(0.0); MAX_CLASSES];
    let mut es = [c(0.0); MAX_CLASSES];
    let mut rest = [c(0.0); MAX_CLASSES];
    let mut hs = [c(0.0); MAX_CLASSES];
    for sample in 0..n {
        let mut acc = c(0.0);
        let base = sample * classes * spatial;
        let mut i = s0;
        while i < s1 {
            let ids = ids8(y.add(sample * spatial + i));
            let xp = x.add(base + i);
            let mut m = _mm256_loadu_ps(xp);
            for k in 1..classes {
                m = _mm256_max_ps(m, _mm256_loadu_ps(xp.add(k * spatial)));
            }
            let mut sum = c(0.0);
            for k in 0..classes {
                zs[k] = _mm256_sub_ps(_mm256_loadu_ps(xp.add(k * spatial)), m);
                es[k] = exp::<true>(zs[k]);
                sum = _mm256_add_ps(sum, es[k]);
            }
            // The others' share: the suffix sums, then the prefix sums added.
            let mut run = c(0.0);
            for k in (0..classes).rev() {
                rest[k] = run;
                run = _mm256_add_ps(run, es[k]);
            }
            let mut run = c(0.0);
            for k in 0..classes {
                rest[k] = _mm256_add_ps(rest[k], run);
                run = _mm256_add_ps(run, es[k]);
            }
            let inv = _mm256_div_ps(one, sum);
            let ln_sum = ln::<true>(sum);
            let mut h_sum = c(0.0);
            for k in 0..classes {
                let is_y = is_class(ids, k);
                let p = _mm256_mul_ps(es[k], inv);
                let q = _mm256_mul_ps(rest[k], inv);
                let ln_p = _mm256_sub_ps(zs[k], ln_sum);
                let ln_q = _mm256_sub_ps(ln::<true>(rest[k]), ln_sum);
                let ratio = _mm256_div_ps(p, q);
                // The term: -weight s^2 ln p_t, s = 1 - p_t.
                let s = _mm256_blendv_ps(p, q, is_y);
                let weight = _mm256_blendv_ps(neg, pos, is_y);
                let ln_p_t = _mm256_blendv_ps(ln_q, ln_p, is_y);
                acc = _mm256_fnmadd_ps(_mm256_mul_ps(weight, _mm256_mul_ps(s, s)), ln_p_t, acc);
                let h_pos = _mm256_mul_ps(
                    _mm256_mul_ps(pos, q),
                    _mm256_fmsub_ps(_mm256_mul_ps(two, p), ln_p, q),
                );
                let h_neg = _mm256_mul_ps(
                    _mm256_mul_ps(neg, _mm256_mul_ps(p, p)),
                    _mm256_fnmadd_ps(two, ln_q, ratio),
                );
                hs[k] = _mm256_blendv_ps(h_neg, h_pos, is_y);
                h_sum = _mm256_add_ps(h_sum, hs[k]);
                es[k] = p;
            }
            if (i - s0) % 64 == 56 {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                total += lane_sum(acc);
                acc = c(0.0);
            }
            for k in 0..classes {
                _mm256_storeu_ps(
                    grad.add(base + k * spatial + i),
                    _mm256_fnmadd_ps(es[k], h_sum, hs[k]),
                );
            }
            i += 8;
        }
        total += lane_sum(acc);
    }
    total
}

/// The loop over `threads` threads (each a slice of every sample's positions); the loss.
pub fn run(inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
    assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
    assert!(inp.spatial.is_multiple_of(8) && grad.len() == inp.x.len());
    assert!(inp.classes <= MAX_CLASSES && inp.y.len() == inp.n * inp.spatial);
    let out = Shared::new(grad);
    split(inp.spatial, threads, |s0, s1| {
        // SAFETY: AVX2 and FMA were detected; the lengths and the class count were checked
        // above, the targets' range in `inputs::seg`; `s0`, `s1` are multiples of 8 within
        // `spatial` (`split`'s ranges of a multiple of 8); this thread writes positions `s0..s1`
        // of every class row, disjoint from the other threads' (`Shared`'s assumption), while
        // `grad` stays borrowed by this call.
        unsafe {
            seed_focal(
                inp.x.as_ptr(),
                inp.y.as_ptr(),
                out.ptr(),
                inp.n,
                inp.classes,
                inp.spatial,
                s0,
                s1,
            )
        }
    })
    .into_iter()
    .sum()
}
