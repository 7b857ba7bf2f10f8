//! The AVX2 helpers every loop shares: broadcasts, multiply-add, Cephes' `exp` and `ln` (as the
//! fused kernels'), int64 class ids as int32 lanes, and a lane sum in float64.
//!
//! Every function here needs a CPU with AVX2 and FMA. They are `#[inline(always)]` and called only
//! from the loops' `#[target_feature(enable = "avx2,fma")]` functions, whose callers check
//! `is_x86_feature_detected!` first.

use std::arch::x86_64::*;

/// The most classes the softmax loops keep per-class vectors for.
pub const MAX_CLASSES: usize = 16;

/// Every lane `v`.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub unsafe fn c(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

/// `a * b + d`: one FMA, or a multiply and an add.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[inline(always)]
pub unsafe fn madd<const FMA: bool>(a: __m256, b: __m256, d: __m256) -> __m256 {
    if FMA {
        _mm256_fmadd_ps(a, b, d)
    } else {
        _mm256_add_ps(_mm256_mul_ps(a, b), d)
    }
}

/// Cephes `expf` for `x <= 0` (the range of `x - max` and of `-|x|`), 0 below -104.
///
/// # Safety
/// The CPU has AVX2 and FMA. (A lane above 0 gives a wrong value, never undefined behaviour.)
#[inline(always)]
pub unsafe fn exp<const FMA: bool>(x: __m256) -> __m256 {
    let xc = _mm256_max_ps(x, c(-104.0));
    let t = madd::<FMA>(xc, c(std::f32::consts::LOG2_E), c(12_582_912.0));
    let fx = _mm256_sub_ps(t, c(12_582_912.0));
    let r = madd::<FMA>(fx, c(-0.693_359_4), xc);
    let r = madd::<FMA>(fx, c(2.121_944_4e-4), r);
    let z = _mm256_mul_ps(r, r);
    let mut p = c(1.987_569_1e-4);
    for k in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5e-1,
    ] {
        p = madd::<FMA>(p, r, c(k));
    }
    let p = _mm256_add_ps(madd::<FMA>(p, z, r), c(1.0));
    let n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(c(12_582_912.0)));
    let half = _mm256_srai_epi32::<1>(n);
    let bias = _mm256_set1_epi32(127);
    let a = _mm256_slli_epi32::<23>(_mm256_add_epi32(half, bias));
    let b = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_sub_epi32(n, half), bias));
    let y = _mm256_mul_ps(
        _mm256_mul_ps(p, _mm256_castsi256_ps(a)),
        _mm256_castsi256_ps(b),
    );
    _mm256_blendv_ps(y, c(0.0), _mm256_cmp_ps::<_CMP_LT_OQ>(x, c(-104.0)))
}

/// Cephes `logf` for normal positive `x` (a sum of exponentials, or `1 + exp(-|x|)`).
///
/// # Safety
/// The CPU has AVX2 and FMA. (A lane that is not a normal positive float gives a wrong value,
/// never undefined behaviour.)
#[inline(always)]
pub unsafe fn ln<const FMA: bool>(x: __m256) -> __m256 {
    let bits = _mm256_castps_si256(x);
    let e = _mm256_cvtepi32_ps(_mm256_and_si256(
        _mm256_srli_epi32::<23>(bits),
        _mm256_set1_epi32(0xff),
    ));
    let m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
        _mm256_set1_epi32(0x3f00_0000),
    ));
    let low = _mm256_cmp_ps::<_CMP_LT_OQ>(m, c(std::f32::consts::FRAC_1_SQRT_2));
    let e = _mm256_sub_ps(_mm256_sub_ps(e, c(126.0)), _mm256_and_ps(low, c(1.0)));
    let f = _mm256_sub_ps(_mm256_blendv_ps(m, _mm256_add_ps(m, m), low), c(1.0));
    let z = _mm256_mul_ps(f, f);
    let mut y = c(7.037_683_6e-2);
    for k in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        y = madd::<FMA>(y, f, c(k));
    }
    let y = _mm256_mul_ps(_mm256_mul_ps(y, f), z);
    let y = madd::<FMA>(c(-2.121_944_4e-4), e, y);
    let y = madd::<FMA>(c(-0.5), z, y);
    madd::<FMA>(c(0.693_359_4), e, _mm256_add_ps(f, y))
}

/// Eight int64 targets as eight int32 lanes.
///
/// # Safety
/// `p..p + 8` are readable `i64`s; the CPU has AVX2.
#[inline(always)]
pub unsafe fn ids8(p: *const i64) -> __m256i {
    let perm = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    let a = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.cast()), perm);
    let b = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.add(4).cast()), perm);
    _mm256_blend_epi32::<0xF0>(a, b)
}

/// All ones in the lanes whose id is `k`, as a float mask.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub unsafe fn is_class(ids: __m256i, k: usize) -> __m256 {
    _mm256_castsi256_ps(_mm256_cmpeq_epi32(ids, _mm256_set1_epi32(k as i32)))
}

/// The lanes' sum in float64.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub unsafe fn lane_sum(v: __m256) -> f64 {
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), v);
    lanes.iter().map(|&v| f64::from(v)).sum()
}

/// `acc` plus the eight lanes of `v` in float64 (four lanes each: the low and the high half).
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub unsafe fn widen_add(acc: __m256d, v: __m256) -> __m256d {
    let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v));
    _mm256_add_pd(acc, _mm256_add_pd(lo, hi))
}

/// The four float64 lanes' sum.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub unsafe fn lane_sum_pd(v: __m256d) -> f64 {
    let mut lanes = [0.0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), v);
    lanes.iter().sum()
}
