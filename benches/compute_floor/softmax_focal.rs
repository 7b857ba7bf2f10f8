//! The softmax focal loss (`gamma = 2`, no alpha): per position the largest logit, one `exp` per
//! class, one `ln`, the loss `-(1 - p_y)^2 ln p_y`, and the gradient `(1 - p_y)^2 (onehot - p)`
//! written per class (not the exact derivative: the same memory traffic and about the same
//! arithmetic as the real one).

use std::arch::x86_64::*;

use super::inputs::Classes;
use super::simd::{c, exp, ids8, is_class, lane_sum, ln, madd, MAX_CLASSES};
use super::threads::{split, Shared};

/// Positions `s0..s1` (multiples of 8) of every sample of `(n, classes, spatial)` logits `x`
/// and `(n, spatial)` targets `y`: the loss summed, the gradient written to `grad`. `FMA`: the
/// polynomials as FMA (as the kernels), else as multiply-then-add.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x` and `grad` hold `n * classes * spatial` floats and `y`
/// `n * spatial` targets in `0..classes`; `s0` and `s1` are multiples of 8 with `s1 <=
/// spatial`, so every 8-wide load and store stays inside its row; `classes <= MAX_CLASSES`;
/// no other thread reads or writes `grad`'s positions `s0..s1` meanwhile (it may write the
/// others: this call touches no other element of `grad`).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn softmax_focal<const FMA: bool>(
    x: *const f32,
    y: *const i64,
    grad: *mut f32,
    n: usize,
    classes: usize,
    spatial: usize,
    s0: usize,
    s1: usize,
) -> f64 {
    let mut total = 0.0;
    let mut es = [c(0.0); MAX_CLASSES];
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
            let (mut sum, mut others, mut x_y) = (c(0.0), c(0.0), c(0.0));
            for (k, e) in es.iter_mut().enumerate().take(classes) {
                let row = _mm256_loadu_ps(xp.add(k * spatial));
                let v = exp::<FMA>(_mm256_sub_ps(row, m));
                *e = v;
                sum = _mm256_add_ps(sum, v);
                let is_y = is_class(ids, k);
                others = _mm256_add_ps(others, _mm256_andnot_ps(is_y, v));
                x_y = _mm256_blendv_ps(x_y, row, is_y);
            }
            let inv = _mm256_div_ps(c(1.0), sum);
            let log_p = _mm256_sub_ps(_mm256_sub_ps(x_y, m), ln::<FMA>(sum));
            let q = _mm256_mul_ps(others, inv);
            let modulator = _mm256_mul_ps(q, q);
            acc = madd::<FMA>(modulator, log_p, acc);
            if (i - s0) % 64 == 56 {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                total -= lane_sum(acc);
                acc = c(0.0);
            }
            for (k, e) in es.iter().enumerate().take(classes) {
                let is_y = is_class(ids, k);
                let p = _mm256_mul_ps(*e, inv);
                let d = _mm256_blendv_ps(_mm256_sub_ps(c(0.0), p), q, is_y);
                _mm256_storeu_ps(
                    grad.add(base + k * spatial + i),
                    _mm256_mul_ps(modulator, d),
                );
            }
            i += 8;
        }
        total -= lane_sum(acc);
    }
    total
}

/// The loop over `threads` threads (each a slice of every sample's positions); the loss.
pub fn run<const FMA: bool>(inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
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
            softmax_focal::<FMA>(
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
