//! The sigmoid focal loss (torchvision's `sigmoid_focal_loss`, `alpha = 0.25`, `gamma = 2`),
//! elementwise: `u = exp(-|x|)`, `p = sigmoid(x)` from `1 / (1 + u)` (the one division),
//! `ce = max(x, 0) - x t + log1p(u)` (the one `ln`, of `1 + u`, plus the rounding error of
//! `1 + u` times `1 / (1 + u)`: `log1p` to a few ulps at the cost of a subtraction and an FMA),
//! `p_t = p t + (1 - p)(1 - t)`, `alpha_t = alpha t + (1 - alpha)(1 - t)`, the loss
//! `alpha_t (1 - p_t)^2 ce` summed, and its exact derivative written per element:
//! `alpha_t q (q (p - t) - 2 (2t - 1) p (1 - p) ce)` with `q = 1 - p_t`.

use std::arch::x86_64::*;

use super::simd::{c, exp, lane_sum, ln};
use super::threads::{split, Shared};

/// The positives' weight.
pub const ALPHA: f32 = 0.25;

/// One vector of eight elements: the loss terms and the gradient.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[inline(always)]
unsafe fn element(xv: __m256, tv: __m256) -> (__m256, __m256) {
    let (one, two) = (c(1.0), c(2.0));
    // alpha_t = (1 - alpha) + t (2 alpha - 1).
    let (a0, a1) = (c(1.0 - ALPHA), c(2.0 * ALPHA - 1.0));
    let u = exp::<true>(_mm256_or_ps(xv, c(-0.0)));
    let one_u = _mm256_add_ps(one, u);
    let d = _mm256_div_ps(one, one_u);
    let nonneg = _mm256_cmp_ps::<_CMP_GE_OQ>(xv, c(0.0));
    let p = _mm256_blendv_ps(_mm256_mul_ps(u, d), d, nonneg);
    // log1p(u) = ln(1 + u) + (u - ((1 + u) - 1)) / (1 + u), the rounding of 1 + u undone.
    let lost = _mm256_sub_ps(u, _mm256_sub_ps(one_u, one));
    let log1p = _mm256_fmadd_ps(lost, d, ln::<true>(one_u));
    let ce = _mm256_add_ps(_mm256_fnmadd_ps(xv, tv, _mm256_max_ps(xv, c(0.0))), log1p);
    let one_p = _mm256_sub_ps(one, p);
    let two_t1 = _mm256_fmsub_ps(two, tv, one);
    // q = 1 - p_t = 1 - ((1 - p) + t (2p - 1)) = p - t (2p - 1).
    let q = _mm256_fnmadd_ps(tv, _mm256_fmsub_ps(two, p, one), p);
    let w = _mm256_mul_ps(_mm256_fmadd_ps(tv, a1, a0), q);
    let loss = _mm256_mul_ps(_mm256_mul_ps(w, q), ce);
    let slope = _mm256_mul_ps(_mm256_mul_ps(two_t1, _mm256_mul_ps(p, one_p)), ce);
    let inner = _mm256_fmsub_ps(q, _mm256_sub_ps(p, tv), _mm256_add_ps(slope, slope));
    (loss, _mm256_mul_ps(w, inner))
}

/// Elements `s0..s1` (multiples of 8) of logits `x` and targets `t`: the loss summed, the
/// gradient written to `grad`. Two vectors per step (16 elements), so that the out-of-order core
/// overlaps their `exp`, `ln` and division chains, then a last single vector if one is left.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x`, `t` and `grad` hold at least `s1` floats; `s0` and `s1` are
/// multiples of 8; no other thread reads or writes `grad`'s elements `s0..s1` meanwhile (this
/// call touches no other element of `grad`).
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_focal(x: *const f32, t: *const f32, grad: *mut f32, s0: usize, s1: usize) -> f64 {
    let mut total = 0.0;
    let mut acc = c(0.0);
    let mut i = s0;
    while i + 16 <= s1 {
        let (l0, g0) = element(_mm256_loadu_ps(x.add(i)), _mm256_loadu_ps(t.add(i)));
        let (l1, g1) = element(_mm256_loadu_ps(x.add(i + 8)), _mm256_loadu_ps(t.add(i + 8)));
        _mm256_storeu_ps(grad.add(i), g0);
        _mm256_storeu_ps(grad.add(i + 8), g1);
        acc = _mm256_add_ps(acc, _mm256_add_ps(l0, l1));
        i += 16;
        if (i - s0).is_multiple_of(64) {
            // Into float64 every 64 elements, as the kernels' per-block sums.
            total += lane_sum(acc);
            acc = c(0.0);
        }
    }
    if i < s1 {
        let (l0, g0) = element(_mm256_loadu_ps(x.add(i)), _mm256_loadu_ps(t.add(i)));
        _mm256_storeu_ps(grad.add(i), g0);
        acc = _mm256_add_ps(acc, l0);
    }
    total + lane_sum(acc)
}

/// The loop over `threads` threads (each its own range of elements) on logits `x` and targets
/// `t` of one shape; the loss.
pub fn run(x: &[f32], t: &[f32], grad: &mut [f32], threads: usize) -> f64 {
    assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
    assert!(x.len().is_multiple_of(8) && t.len() == x.len() && grad.len() == x.len());
    let out = Shared::new(grad);
    split(x.len(), threads, |s0, s1| {
        // SAFETY: AVX2 and FMA were detected; the three buffers hold `x.len()` floats (checked
        // above) and `s0 <= s1 <= x.len()` are multiples of 8 (`split`'s ranges of a multiple of
        // 8); this thread writes elements `s0..s1` only, disjoint from the other threads'
        // (`Shared`'s assumption), while `grad` stays borrowed by this call.
        unsafe { sigmoid_focal(x.as_ptr(), t.as_ptr(), out.ptr(), s0, s1) }
    })
    .into_iter()
    .sum()
}
