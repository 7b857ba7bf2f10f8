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

use super::inputs::Classes;
use super::simd::{exp, Avx2, Avx512, Isa, Lanes, FLUSH, MAX_CLASSES};
use super::threads::{split, Shared};

/// The smoothing of the numerator and of the denominator (MONAI's `smooth_nr`, `smooth_dr`).
pub const SMOOTH: f64 = 1e-5;

/// Pass 1 over positions `s0..s1` (multiples of `V::N`) of every sample of `inp`'s `(n, classes,
/// spatial)` logits and `(n, spatial)` targets: the probabilities written to `p_out`, and
/// `sums[(sample * classes + c) * 3 + j]` increased by the range's sum of `p t` (`j = 0`), `p`
/// (1) and `t` (2) of class `c`.
///
/// # Safety
/// The CPU has `V`'s instruction set; `inp.x` holds `n * classes * spatial` floats and `inp.y`
/// `n * spatial` targets in `0..classes`, `classes <= MAX_CLASSES`; `p_out` holds `n * classes *
/// spatial` floats; `s0` and `s1` are multiples of `V::N` with `s1 <= spatial`, so every
/// `V::N`-wide load and store stays inside its row; `sums` holds at least `3 * n * classes`
/// floats; no other thread reads or writes `p_out`'s positions `s0..s1` meanwhile (this call
/// touches no other element of `p_out`).
#[inline(always)]
unsafe fn dice_sums<V: Lanes>(
    inp: &Classes,
    p_out: *mut f32,
    s0: usize,
    s1: usize,
    sums: &mut [f64],
) {
    const { assert!(FLUSH.is_multiple_of(V::N)) };
    let (x, y) = (inp.x.as_ptr(), inp.y.as_ptr());
    let (n, classes, spatial) = (inp.n, inp.classes, inp.spatial);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let mut es = [zero; MAX_CLASSES];
    // Per class: the float32 lanes of `p t`, `p` and `t`, and their float64 totals.
    let mut lanes = [[zero; 3]; MAX_CLASSES];
    for sample in 0..n {
        let mut wide = [[V::wide_zero(); 3]; MAX_CLASSES];
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
            for (k, e) in es.iter_mut().enumerate().take(classes) {
                *e = exp::<true, V>(V::sub(V::load(xp.add(k * spatial)), m));
                sum = V::add(sum, *e);
            }
            let inv = V::div(one, sum);
            for (k, (e, lane)) in es.iter().zip(lanes.iter_mut()).enumerate().take(classes) {
                let is_y = V::is_class(ids, k);
                let p = V::mul(*e, inv);
                V::store(p_out.add(base + k * spatial + i), p);
                lane[0] = V::add(lane[0], V::and_mask(is_y, p));
                lane[1] = V::add(lane[1], p);
                lane[2] = V::add(lane[2], V::and_mask(is_y, one));
            }
            i += V::N;
            if (i - s0).is_multiple_of(FLUSH) || i == s1 {
                // Into float64 every 64 positions, as the kernels' per-block sums.
                for (lane, w) in lanes.iter_mut().zip(wide.iter_mut()).take(classes) {
                    for j in 0..3 {
                        w[j] = V::widen_add(w[j], lane[j]);
                        lane[j] = zero;
                    }
                }
            }
        }
        for (k, w) in wide.iter().enumerate().take(classes) {
            for (j, v) in w.iter().enumerate() {
                sums[(sample * classes + k) * 3 + j] += V::wide_sum(*v);
            }
        }
    }
}

/// [`dice_sums`] in 8 lanes.
///
/// # Safety
/// [`dice_sums`]'s, for [`Avx2`]: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn dice_sums_avx2(inp: &Classes, p_out: *mut f32, s0: usize, s1: usize, sums: &mut [f64]) {
    dice_sums::<Avx2>(inp, p_out, s0, s1, sums)
}

/// [`dice_sums`] in 16 lanes.
///
/// # Safety
/// [`dice_sums`]'s, for [`Avx512`]: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dice_sums_avx512(inp: &Classes, p_out: *mut f32, s0: usize, s1: usize, sums: &mut [f64]) {
    dice_sums::<Avx512>(inp, p_out, s0, s1, sums)
}

/// Pass 2 over positions `s0..s1` (multiples of `V::N`): `grad` holds the probabilities (pass
/// 1's) and gets the gradient in their place, with `coef[(sample * classes + c) * 2]` added to
/// `d loss / d p_c` where `t_c = 1` and `coef[... + 1]` everywhere.
///
/// # Safety
/// The CPU has `V`'s instruction set; `inp.y` holds `n * spatial` targets in `0..classes`,
/// `classes <= MAX_CLASSES`; `grad` holds `n * classes * spatial` floats; `s0` and `s1` are
/// multiples of `V::N` with `s1 <= spatial`, so every `V::N`-wide load and store stays inside its
/// row; `coef` holds at least `2 * n * classes` floats; no other thread reads or writes `grad`'s
/// positions `s0..s1` meanwhile (this call touches no other element).
#[inline(always)]
unsafe fn dice_grad<V: Lanes>(inp: &Classes, grad: *mut f32, coef: &[f32], s0: usize, s1: usize) {
    let y = inp.y.as_ptr();
    let (n, classes, spatial) = (inp.n, inp.classes, inp.spatial);
    let zero = V::splat(0.0);
    let mut ps = [zero; MAX_CLASSES];
    let mut gs = [zero; MAX_CLASSES];
    for sample in 0..n {
        let base = sample * classes * spatial;
        let mut a = [zero; MAX_CLASSES];
        let mut b = [zero; MAX_CLASSES];
        for k in 0..classes {
            a[k] = V::splat(coef[(sample * classes + k) * 2]);
            b[k] = V::splat(coef[(sample * classes + k) * 2 + 1]);
        }
        let mut i = s0;
        while i < s1 {
            let ids = V::class_ids(y.add(sample * spatial + i));
            let mut dot = zero;
            for k in 0..classes {
                ps[k] = V::load(grad.add(base + k * spatial + i));
                gs[k] = V::add(b[k], V::and_mask(V::is_class(ids, k), a[k]));
                dot = V::fmadd(ps[k], gs[k], dot);
            }
            for k in 0..classes {
                V::store(
                    grad.add(base + k * spatial + i),
                    V::mul(ps[k], V::sub(gs[k], dot)),
                );
            }
            i += V::N;
        }
    }
}

/// [`dice_grad`] in 8 lanes.
///
/// # Safety
/// [`dice_grad`]'s, for [`Avx2`]: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn dice_grad_avx2(inp: &Classes, grad: *mut f32, coef: &[f32], s0: usize, s1: usize) {
    dice_grad::<Avx2>(inp, grad, coef, s0, s1)
}

/// [`dice_grad`] in 16 lanes.
///
/// # Safety
/// [`dice_grad`]'s, for [`Avx512`]: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dice_grad_avx512(inp: &Classes, grad: *mut f32, coef: &[f32], s0: usize, s1: usize) {
    dice_grad::<Avx512>(inp, grad, coef, s0, s1)
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

/// Both passes in `isa`'s lanes over `threads` threads (each a slice of every sample's
/// positions), the float64 step between them on this one; the loss.
pub fn run(isa: Isa, inp: &Classes, grad: &mut [f32], threads: usize) -> f64 {
    isa.assert_detected();
    assert!(inp.spatial.is_multiple_of(isa.lanes()));
    assert!(inp.x.len() == inp.n * inp.classes * inp.spatial && grad.len() == inp.x.len());
    assert!(inp.classes <= MAX_CLASSES && inp.y.len() == inp.n * inp.spatial);
    let groups = inp.n * inp.classes;
    let out = Shared::new(grad);
    let parts = split(inp.spatial, isa.lanes(), threads, |s0, s1| {
        let mut sums = vec![0.0; 3 * groups];
        // SAFETY: `isa`'s instruction set was detected; the lengths and the class count were
        // checked above, the targets' range in `inputs::seg`; `s0`, `s1` are multiples of the
        // lane count within `spatial` (`split`'s ranges of a multiple of it); `sums` holds
        // `3 * n * classes`; this thread writes positions `s0..s1` of every class row, disjoint
        // from the other threads' (`Shared`'s assumption), while `grad` stays borrowed by this
        // call.
        unsafe {
            match isa {
                Isa::Avx2 => dice_sums_avx2(inp, out.ptr(), s0, s1, &mut sums),
                Isa::Avx512 => dice_sums_avx512(inp, out.ptr(), s0, s1, &mut sums),
            }
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
    split(inp.spatial, isa.lanes(), threads, |s0, s1| {
        // SAFETY: as for pass 1 (the same checks and ranges); `coef` holds `2 * n * classes`;
        // this thread reads and writes positions `s0..s1` of every class row, which pass 1's
        // thread of the same range wrote before `split` returned (the scope joined it), and no
        // other thread touches them.
        unsafe {
            match isa {
                Isa::Avx2 => dice_grad_avx2(inp, out.ptr(), &coef, s0, s1),
                Isa::Avx512 => dice_grad_avx512(inp, out.ptr(), &coef, s0, s1),
            }
        }
    });
    loss
}
