//! MONAI's `DiceLoss(softmax=True, to_onehot_y=True)` (smoothing 1e-5 on both sides, mean over
//! samples and classes), in two passes, as its gradient needs every position's share of the
//! per-(sample, class) sums. Pass 1, per position: the softmax (the largest logit, one `exp` per
//! class, one division), each `p` stored into the gradient buffer, and per (sample, class) the
//! sums of `p t`, `p` and `t` in float32 lanes, flushed to float64 every 64 positions. Between
//! the passes, per (sample, class) in float64: `num = 2 sum(p t) + 1e-5`,
//! `den = sum(p) + sum(t) + 1e-5`, the loss `1 - num / den` and the coefficients of
//! `d loss / d p = (-2 t / den + num / den^2) / (n classes)`. Pass 2, per position: the stored
//! `p` and the targets read again, `g_c = d loss / d p_c`, and
//! `d loss / d x_j = p_j (g_j - sum_c p_c g_c)` written in place.

use std::arch::x86_64::*;

use super::inputs::Classes;
use super::simd::{c, exp, ids8, is_class, lane_sum_pd, widen_add, MAX_CLASSES};
use super::threads::{split, Shared};

/// The smoothing of the numerator and of the denominator (MONAI's `smooth_nr`, `smooth_dr`).
pub const SMOOTH: f64 = 1e-5;

/// Pass 1 over positions `s0..s1` (multiples of 8) of every sample of `(n, classes, spatial)`
/// logits `x` and `(n, spatial)` targets `y`: the probabilities written to `p_out`, and
/// `sums[(sample * classes + c) * 3 + j]` increased by the range's sum of `p t` (`j = 0`), `p`
/// (1) and `t` (2) of class `c`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x` and `p_out` hold `n * classes * spatial` floats and `y`
/// `n * spatial` targets in `0..classes`; `s0` and `s1` are multiples of 8 with `s1 <=
/// spatial`, so every 8-wide load and store stays inside its row; `classes <= MAX_CLASSES`;
/// `sums` holds at least `3 * n * classes` floats; no other thread reads or writes `p_out`'s
/// positions `s0..s1` meanwhile (this call touches no other element of `p_out`).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dice_sums(
    x: *const f32,
    y: *const i64,
    p_out: *mut f32,
    n: usize,
    classes: usize,
    spatial: usize,
    s0: usize,
    s1: usize,
    sums: &mut [f64],
) {
    let one = c(1.0);
    let mut es = [c(0.0); MAX_CLASSES];
    // Per class: the float32 lanes of `p t`, `p` and `t`, and their float64 totals.
    let mut lanes = [[c(0.0); 3]; MAX_CLASSES];
    for sample in 0..n {
        let mut wide = [[_mm256_setzero_pd(); 3]; MAX_CLASSES];
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
            for (k, e) in es.iter_mut().enumerate().take(classes) {
                *e = exp::<true>(_mm256_sub_ps(_mm256_loadu_ps(xp.add(k * spatial)), m));
                sum = _mm256_add_ps(sum, *e);
            }
            let inv = _mm256_div_ps(one, sum);
            for (k, (e, lane)) in es.iter().zip(lanes.iter_mut()).enumerate().take(classes) {
                let is_y = is_class(ids, k);
                let p = _mm256_mul_ps(*e, inv);
                _mm256_storeu_ps(p_out.add(base + k * spatial + i), p);
                lane[0] = _mm256_add_ps(lane[0], _mm256_and_ps(is_y, p));
                lane[1] = _mm256_add_ps(lane[1], p);
                lane[2] = _mm256_add_ps(lane[2], _mm256_and_ps(is_y, one));
            }
            i += 8;
            if (i - s0).is_multiple_of(64) || i == s1 {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                for (lane, w) in lanes.iter_mut().zip(wide.iter_mut()).take(classes) {
                    for j in 0..3 {
                        w[j] = widen_add(w[j], lane[j]);
                        lane[j] = c(0.0);
                    }
                }
            }
        }
        for (k, w) in wide.iter().enumerate().take(classes) {
            for (j, v) in w.iter().enumerate() {
                sums[(sample * classes + k) * 3 + j] += lane_sum_pd(*v);
            }
        }
    }
}

/// Pass 2 over positions `s0..s1` (multiples of 8): `grad` holds the probabilities (pass 1's)
/// and gets the gradient in their place, with `coef[(sample * classes + c) * 2]` added to
/// `d loss / d p_c` where `t_c = 1` and `coef[... + 1]` everywhere.
///
/// # Safety
/// The CPU has AVX2 and FMA; `grad` holds `n * classes * spatial` floats and `y` `n * spatial`
/// targets in `0..classes`; `s0` and `s1` are multiples of 8 with `s1 <= spatial`;
/// `classes <= MAX_CLASSES`; `coef` holds at least `2 * n * classes` floats; no other thread
/// reads or writes `grad`'s positions `s0..s1` meanwhile (this call touches no other element).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dice_grad(
    y: *const i64,
    grad: *mut f32,
    coef: &[f32],
    n: usize,
    classes: usize,
    spatial: usize,
    s0: usize,
    s1: usize,
) {
    let mut ps = [c(0.0); MAX_CLASSES];
    let mut gs = [c(0.0); MAX_CLASSES];
    for sample in 0..n {
        let base = sample * classes * spatial;
        let mut a = [c(0.0); MAX_CLASSES];
        let mut b = [c(0.0); MAX_CLASSES];
        for k in 0..classes {
            a[k] = c(coef[(sample * classes + k) * 2]);
            b[k] = c(coef[(sample * classes + k) * 2 + 1]);
        }
        let mut i = s0;
        while i < s1 {
            let ids = ids8(y.add(sample * spatial + i));
            let mut dot = c(0.0);
            for k in 0..classes {
                ps[k] = _mm256_loadu_ps(grad.add(base + k * spatial + i));
                gs[k] = _mm256_add_ps(b[k], _mm256_and_ps(is_class(ids, k), a[k]));
                dot = _mm256_fmadd_ps(ps[k], gs[k], dot);
            }
            for k in 0..classes {
                _mm256_storeu_ps(
                    grad.add(base + k * spatial + i),
                    _mm256_mul_ps(ps[k], _mm256_sub_ps(gs[k], dot)),
                );
            }
            i += 8;
        }
    }
}

/// The loss from the per-(sample, class) sums (`3` each: `p t`, `p`, `t`) and the gradient's
/// coefficients (`2` each, for [`dice_grad`]), in float64.
pub fn loss_and_coefficients(sums: &[f64], groups: usize) -> (f64, Vec<f32>) {
    let mut loss = 0.0;
    let mut coef = Vec::with_capacity(2 * groups);
    for g in sums.chunks_exact(3).take(groups) {
        let num = 2.0 * g[0] + SMOOTH;
        let den = g[1] + g[2] + SMOOTH;
        loss += 1.0 - num / den;
        coef.push((-2.0 / den / groups as f64) as f32);
        coef.push((num / (den * den) / groups as f64) as f32);
    }
    (loss / groups as f64, coef)
}

/// Both passes over `threads` threads (each a slice of every sample's positions), the float64
/// step between them on this one; the loss.
pub fn run(inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
    assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
    assert!(inp.spatial.is_multiple_of(8) && grad.len() == inp.x.len());
    assert!(inp.classes <= MAX_CLASSES && inp.y.len() == inp.n * inp.spatial);
    let groups = inp.n * inp.classes;
    let out = Shared::new(grad);
    let parts = split(inp.spatial, threads, |s0, s1| {
        let mut sums = vec![0.0; 3 * groups];
        // SAFETY: AVX2 and FMA were detected; the lengths and the class count were checked
        // above, the targets' range in `inputs::seg`; `s0`, `s1` are multiples of 8 within
        // `spatial` (`split`'s ranges of a multiple of 8); `sums` holds `3 * n * classes`; this
        // thread writes positions `s0..s1` of every class row, disjoint from the other threads'
        // (`Shared`'s assumption), while `grad` stays borrowed by this call.
        unsafe {
            dice_sums(
                inp.x.as_ptr(),
                inp.y.as_ptr(),
                out.ptr(),
                inp.n,
                inp.classes,
                inp.spatial,
                s0,
                s1,
                &mut sums,
            );
        }
        sums
    });
    let mut sums = vec![0.0; 3 * groups];
    for part in &parts {
        for (s, v) in sums.iter_mut().zip(part) {
            *s += v;
        }
    }
    let (loss, coef) = loss_and_coefficients(&sums, groups);
    split(inp.spatial, threads, |s0, s1| {
        // SAFETY: as for pass 1 (the same checks and ranges); `coef` holds `2 * n * classes`;
        // this thread reads and writes positions `s0..s1` of every class row, which pass 1's
        // thread of the same range wrote before `split` returned (the scope joined it), and no
        // other thread touches them.
        unsafe {
            dice_grad(
                inp.y.as_ptr(),
                out.ptr(),
                &coef,
                inp.n,
                inp.classes,
                inp.spatial,
                s0,
                s1,
            );
        }
    });
    loss
}
