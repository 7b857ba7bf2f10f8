//! The sigmoid focal loss (torchvision's `sigmoid_focal_loss`, `alpha = 0.25`, `gamma = 2`),
//! elementwise: `u = exp(-|x|)`, `p = sigmoid(x)` from `1 / (1 + u)` (the one division),
//! `ce = max(x, 0) - x t + log1p(u)` (the one `ln`, of `1 + u`, plus the rounding error of
//! `1 + u` times `1 / (1 + u)`: `log1p` to a few ulps at the cost of a subtraction and an FMA),
//! `p_t = p t + (1 - p)(1 - t)`, `alpha_t = alpha t + (1 - alpha)(1 - t)`, the loss
//! `alpha_t (1 - p_t)^2 ce` summed, and its exact derivative written per element:
//! `alpha_t q (q (p - t) - 2 (2t - 1) p (1 - p) ce)` with `q = 1 - p_t`.

use super::simd::{exp, ln, Avx2, Avx512, Isa, Lanes, FLUSH};
use super::threads::{split, Shared};

/// The positives' weight.
pub const ALPHA: f32 = 0.25;

/// One vector of `V::N` elements: the loss terms and the gradient.
///
/// # Safety
/// The CPU has `V`'s instruction set.
#[inline(always)]
unsafe fn element<V: Lanes>(xv: V, tv: V) -> (V, V) {
    let (zero, one, two) = (V::splat(0.0), V::splat(1.0), V::splat(2.0));
    // alpha_t = (1 - alpha) + t (2 alpha - 1).
    let (a0, a1) = (V::splat(1.0 - ALPHA), V::splat(2.0 * ALPHA - 1.0));
    // -|x|: the sign bit set.
    let neg_abs = V::from_bits(V::int_or(V::to_bits(xv), V::to_bits(V::splat(-0.0))));
    let u = exp::<true, V>(neg_abs);
    let one_u = V::add(one, u);
    let d = V::div(one, one_u);
    let nonneg = V::ge(xv, zero);
    let p = V::blend(V::mul(u, d), d, nonneg);
    // log1p(u) = ln(1 + u) + (u - ((1 + u) - 1)) / (1 + u), the rounding of 1 + u undone.
    let lost = V::sub(u, V::sub(one_u, one));
    let log1p = V::fmadd(lost, d, ln::<true, V>(one_u));
    let ce = V::add(V::fnmadd(xv, tv, V::max(xv, zero)), log1p);
    let one_p = V::sub(one, p);
    let two_t1 = V::fmsub(two, tv, one);
    // q = 1 - p_t = 1 - ((1 - p) + t (2p - 1)) = p - t (2p - 1).
    let q = V::fnmadd(tv, V::fmsub(two, p, one), p);
    let w = V::mul(V::fmadd(tv, a1, a0), q);
    let loss = V::mul(V::mul(w, q), ce);
    let slope = V::mul(V::mul(two_t1, V::mul(p, one_p)), ce);
    let inner = V::fmsub(q, V::sub(p, tv), V::add(slope, slope));
    (loss, V::mul(w, inner))
}

/// Elements `s0..s1` (multiples of `V::N`) of logits `x` and targets `t`: the loss summed, the
/// gradient written to `grad`. Two vectors per step (`2 V::N` elements), so that the
/// out-of-order core overlaps their `exp`, `ln` and division chains, then a last single vector if
/// one is left.
///
/// # Safety
/// The CPU has `V`'s instruction set; `x`, `t` and `grad` hold at least `s1` floats; `s0` and
/// `s1` are multiples of `V::N`, so every `V::N`-wide load and store stays inside `0..s1`; no
/// other thread reads or writes `grad`'s elements `s0..s1` meanwhile (this call touches no other
/// element of `grad`).
#[inline(always)]
unsafe fn sigmoid_focal<V: Lanes>(
    x: *const f32,
    t: *const f32,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    const { assert!(FLUSH.is_multiple_of(2 * V::N)) };
    let mut total = 0.0;
    let mut acc = V::splat(0.0);
    let mut i = s0;
    while i + 2 * V::N <= s1 {
        let (l0, g0) = element(V::load(x.add(i)), V::load(t.add(i)));
        let (l1, g1) = element(V::load(x.add(i + V::N)), V::load(t.add(i + V::N)));
        V::store(grad.add(i), g0);
        V::store(grad.add(i + V::N), g1);
        acc = V::add(acc, V::add(l0, l1));
        i += 2 * V::N;
        if (i - s0).is_multiple_of(FLUSH) {
            // Into float64 every 64 elements, as the kernels' per-block sums.
            total += V::lane_sum(acc);
            acc = V::splat(0.0);
        }
    }
    if i < s1 {
        let (l0, g0) = element(V::load(x.add(i)), V::load(t.add(i)));
        V::store(grad.add(i), g0);
        acc = V::add(acc, l0);
    }
    total + V::lane_sum(acc)
}

/// [`sigmoid_focal`] in 8 lanes.
///
/// # Safety
/// [`sigmoid_focal`]'s, for [`Avx2`]: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_focal_avx2(
    x: *const f32,
    t: *const f32,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    sigmoid_focal::<Avx2>(x, t, grad, s0, s1)
}

/// [`sigmoid_focal`] in 16 lanes.
///
/// # Safety
/// [`sigmoid_focal`]'s, for [`Avx512`]: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn sigmoid_focal_avx512(
    x: *const f32,
    t: *const f32,
    grad: *mut f32,
    s0: usize,
    s1: usize,
) -> f64 {
    sigmoid_focal::<Avx512>(x, t, grad, s0, s1)
}

/// The loop in `isa`'s lanes over `threads` threads (each its own range of elements) on logits
/// `x` and targets `t` of one shape; the loss.
pub fn run(isa: Isa, x: &[f32], t: &[f32], grad: &mut [f32], threads: usize) -> f64 {
    isa.assert_detected();
    assert!(x.len().is_multiple_of(isa.lanes()) && t.len() == x.len() && grad.len() == x.len());
    let out = Shared::new(grad);
    split(x.len(), isa.lanes(), threads, |s0, s1| {
        // SAFETY: `isa`'s instruction set was detected; the three buffers hold `x.len()` floats
        // (checked above) and `s0 <= s1 <= x.len()` are multiples of the lane count (`split`'s
        // ranges of a multiple of it); this thread writes elements `s0..s1` only, disjoint from
        // the other threads' (`Shared`'s assumption), while `grad` stays borrowed by this call.
        unsafe {
            match isa {
                Isa::Avx2 => sigmoid_focal_avx2(x.as_ptr(), t.as_ptr(), out.ptr(), s0, s1),
                Isa::Avx512 => sigmoid_focal_avx512(x.as_ptr(), t.as_ptr(), out.ptr(), s0, s1),
            }
        }
    })
    .into_iter()
    .sum()
}
