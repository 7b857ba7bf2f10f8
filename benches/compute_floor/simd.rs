//! What every loop shares: the instruction sets ([`Isa`]), the vector operations the loops use
//! ([`Lanes`], implemented by [`Avx2`]'s 8 float32 lanes and [`Avx512`]'s 16), Cephes' `exp` and
//! `ln` (as the fused kernels'), written once over [`Lanes`], and multiply-add.
//!
//! Every vector function here needs a CPU with its type's instruction set (AVX2 and FMA for
//! [`Avx2`]; AVX-512F, AVX2 and FMA for [`Avx512`]). They are `#[inline(always)]` and called only
//! from the loops' entry functions of that instruction set (`#[target_feature(enable =
//! "avx2,fma")]` or `#[target_feature(enable = "avx512f,avx2,fma")]`), whose callers check the
//! CPU first ([`Isa::assert_detected`]). Loads and stores are plain unaligned ones of a whole
//! vector (never masked ones: those are slow on Zen 5), so the loops' sizes are multiples of the
//! lane count.

use std::arch::x86_64::*;

/// The most classes the softmax loops keep per-class vectors for.
pub const MAX_CLASSES: usize = 16;

/// The positions (or elements) summed in float32 lanes before the sum goes into float64, as the
/// kernels' per-block sums: a multiple of every loop's step (8, 16 or 32 positions).
pub const FLUSH: usize = 64;

/// An instruction set the loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 and FMA: 8 float32 lanes ([`Avx2`]).
    Avx2,
    /// AVX-512F (with AVX2 and FMA): 16 float32 lanes ([`Avx512`]).
    Avx512,
}

impl Isa {
    /// Both, the narrower first.
    pub const ALL: [Isa; 2] = [Isa::Avx2, Isa::Avx512];

    /// Whether this CPU has the instruction set (with AVX2 and FMA for AVX-512F).
    pub fn detected(self) -> bool {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        match self {
            Isa::Avx2 => avx2,
            Isa::Avx512 => avx2 && is_x86_feature_detected!("avx512f"),
        }
    }

    /// Panics unless this CPU has the instruction set (what makes the loops' entry functions
    /// of this set safe to call).
    pub fn assert_detected(self) {
        assert!(self.detected(), "this CPU lacks {}", self.name());
    }

    /// The instruction sets this CPU has, the narrower first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.detected()).collect()
    }

    /// The widest instruction set this CPU has: AVX-512F where it has AVX-512F, AVX2 and FMA,
    /// else AVX2 where it has AVX2 and FMA. Panics on a CPU without AVX2 and FMA.
    pub fn best() -> Isa {
        *Isa::available()
            .last()
            .expect("the floor loops need AVX2 and FMA")
    }

    /// The float32 lanes of a vector.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx2 => Avx2::N,
            Isa::Avx512 => Avx512::N,
        }
    }

    /// The name printed with its timings (and the JSON's `isa`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2 => "AVX2",
            Isa::Avx512 => "AVX-512",
        }
    }
}

/// A vector of [`Lanes::N`] float32 lanes and the operations the loops use on it, with its
/// int32 lanes ([`Lanes::Int`]), its lane masks ([`Lanes::Mask`]) and its float64 accumulator
/// ([`Lanes::Wide`]).
///
/// # Safety
/// Every function needs a CPU with the implementing type's instruction set (see the module
/// comment); the pointer functions also state what they read or write.
pub trait Lanes: Copy {
    /// The float32 lanes of a vector.
    const N: usize;
    /// `N` int32 lanes.
    type Int: Copy;
    /// The lanes a compare selected (AVX2: all ones in those lanes of a float vector; AVX-512F:
    /// one bit per lane).
    type Mask: Copy;
    /// A float64 accumulator of the lanes' sums (fewer lanes than `N`).
    type Wide: Copy;

    /// Every lane `v`.
    unsafe fn splat(v: f32) -> Self;
    /// The `N` floats at `p` (an unaligned load).
    ///
    /// # Safety
    /// The CPU has the instruction set, and `p..p + N` are readable.
    unsafe fn load(p: *const f32) -> Self;
    /// `v` to the `N` floats at `p` (an unaligned store).
    ///
    /// # Safety
    /// The CPU has the instruction set, and `p..p + N` are writable.
    unsafe fn store(p: *mut f32, v: Self);
    /// `a + b`.
    unsafe fn add(a: Self, b: Self) -> Self;
    /// `a - b`.
    unsafe fn sub(a: Self, b: Self) -> Self;
    /// `a * b`.
    unsafe fn mul(a: Self, b: Self) -> Self;
    /// `a / b`.
    unsafe fn div(a: Self, b: Self) -> Self;
    /// The larger of `a` and `b` (`b` where either is NaN).
    unsafe fn max(a: Self, b: Self) -> Self;
    /// `a * b + d`, rounded once.
    unsafe fn fmadd(a: Self, b: Self, d: Self) -> Self;
    /// `d - a * b`, rounded once.
    unsafe fn fnmadd(a: Self, b: Self, d: Self) -> Self;
    /// `a * b - d`, rounded once.
    unsafe fn fmsub(a: Self, b: Self, d: Self) -> Self;
    /// `b` in the lanes of `m`, `a` in the others (`_mm256_blendv_ps(a, b, m)`).
    unsafe fn blend(a: Self, b: Self, m: Self::Mask) -> Self;
    /// `v` in the lanes of `m`, 0 in the others.
    unsafe fn and_mask(m: Self::Mask, v: Self) -> Self;
    /// `v` in the lanes not in `m`, 0 in the others.
    unsafe fn andnot_mask(m: Self::Mask, v: Self) -> Self;
    /// The lanes where `a < b` (ordered: false where either is NaN).
    unsafe fn lt(a: Self, b: Self) -> Self::Mask;
    /// The lanes where `a >= b` (ordered: false where either is NaN).
    unsafe fn ge(a: Self, b: Self) -> Self::Mask;

    /// Every int lane `v`.
    unsafe fn int_splat(v: i32) -> Self::Int;
    /// The lanes' bits as ints.
    unsafe fn to_bits(v: Self) -> Self::Int;
    /// The int lanes' bits as floats.
    unsafe fn from_bits(i: Self::Int) -> Self;
    /// The int lanes converted to floats.
    unsafe fn int_to_float(i: Self::Int) -> Self;
    /// `a + b`, wrapping.
    unsafe fn int_add(a: Self::Int, b: Self::Int) -> Self::Int;
    /// `a - b`, wrapping.
    unsafe fn int_sub(a: Self::Int, b: Self::Int) -> Self::Int;
    /// `a & b`.
    unsafe fn int_and(a: Self::Int, b: Self::Int) -> Self::Int;
    /// `a | b`.
    unsafe fn int_or(a: Self::Int, b: Self::Int) -> Self::Int;
    /// `a >> 1`, shifting in the sign bit.
    unsafe fn int_shift_right_arith_1(a: Self::Int) -> Self::Int;
    /// `a >> 23`, shifting in zeros (a float's exponent field down to the low bits).
    unsafe fn int_shift_right_23(a: Self::Int) -> Self::Int;
    /// `a << 23` (the low bits up to a float's exponent field).
    unsafe fn int_shift_left_23(a: Self::Int) -> Self::Int;

    /// `N` int64 targets as `N` int32 lanes (each truncated: the targets are class ids).
    ///
    /// # Safety
    /// The CPU has the instruction set, and `p..p + N` are readable `i64`s.
    unsafe fn class_ids(p: *const i64) -> Self::Int;
    /// The lanes whose id is `k`.
    unsafe fn is_class(ids: Self::Int, k: usize) -> Self::Mask;
    /// The lanes' sum in float64 (each lane widened, then summed in lane order).
    unsafe fn lane_sum(v: Self) -> f64;

    /// A float64 accumulator of 0.
    unsafe fn wide_zero() -> Self::Wide;
    /// `acc` plus the `N` lanes of `v` in float64 (each widened exactly).
    unsafe fn widen_add(acc: Self::Wide, v: Self) -> Self::Wide;
    /// The float64 accumulator's lanes summed.
    unsafe fn wide_sum(acc: Self::Wide) -> f64;
}

/// 8 float32 lanes of AVX2 (with FMA); masks are float vectors (all ones in the selected lanes).
#[derive(Clone, Copy)]
pub struct Avx2(__m256);

impl Lanes for Avx2 {
    const N: usize = 8;
    type Int = __m256i;
    type Mask = __m256;
    type Wide = __m256d;

    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx2(_mm256_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx2(_mm256_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm256_storeu_ps(p, v.0)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        Avx2(_mm256_add_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        Avx2(_mm256_sub_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        Avx2(_mm256_mul_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn div(a: Self, b: Self) -> Self {
        Avx2(_mm256_div_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn max(a: Self, b: Self) -> Self {
        Avx2(_mm256_max_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, d: Self) -> Self {
        Avx2(_mm256_fmadd_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn fnmadd(a: Self, b: Self, d: Self) -> Self {
        Avx2(_mm256_fnmadd_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn fmsub(a: Self, b: Self, d: Self) -> Self {
        Avx2(_mm256_fmsub_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn blend(a: Self, b: Self, m: __m256) -> Self {
        Avx2(_mm256_blendv_ps(a.0, b.0, m))
    }
    #[inline(always)]
    unsafe fn and_mask(m: __m256, v: Self) -> Self {
        Avx2(_mm256_and_ps(m, v.0))
    }
    #[inline(always)]
    unsafe fn andnot_mask(m: __m256, v: Self) -> Self {
        Avx2(_mm256_andnot_ps(m, v.0))
    }
    #[inline(always)]
    unsafe fn lt(a: Self, b: Self) -> __m256 {
        _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn ge(a: Self, b: Self) -> __m256 {
        _mm256_cmp_ps::<_CMP_GE_OQ>(a.0, b.0)
    }

    #[inline(always)]
    unsafe fn int_splat(v: i32) -> __m256i {
        _mm256_set1_epi32(v)
    }
    #[inline(always)]
    unsafe fn to_bits(v: Self) -> __m256i {
        _mm256_castps_si256(v.0)
    }
    #[inline(always)]
    unsafe fn from_bits(i: __m256i) -> Self {
        Avx2(_mm256_castsi256_ps(i))
    }
    #[inline(always)]
    unsafe fn int_to_float(i: __m256i) -> Self {
        Avx2(_mm256_cvtepi32_ps(i))
    }
    #[inline(always)]
    unsafe fn int_add(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn int_sub(a: __m256i, b: __m256i) -> __m256i {
        _mm256_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn int_and(a: __m256i, b: __m256i) -> __m256i {
        _mm256_and_si256(a, b)
    }
    #[inline(always)]
    unsafe fn int_or(a: __m256i, b: __m256i) -> __m256i {
        _mm256_or_si256(a, b)
    }
    #[inline(always)]
    unsafe fn int_shift_right_arith_1(a: __m256i) -> __m256i {
        _mm256_srai_epi32::<1>(a)
    }
    #[inline(always)]
    unsafe fn int_shift_right_23(a: __m256i) -> __m256i {
        _mm256_srli_epi32::<23>(a)
    }
    #[inline(always)]
    unsafe fn int_shift_left_23(a: __m256i) -> __m256i {
        _mm256_slli_epi32::<23>(a)
    }

    #[inline(always)]
    unsafe fn class_ids(p: *const i64) -> __m256i {
        // The low halves of four int64s each, then the two fours in one vector.
        let perm = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let a = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.cast()), perm);
        let b = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.add(4).cast()), perm);
        _mm256_blend_epi32::<0xF0>(a, b)
    }
    #[inline(always)]
    unsafe fn is_class(ids: __m256i, k: usize) -> __m256 {
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(ids, _mm256_set1_epi32(k as i32)))
    }
    #[inline(always)]
    unsafe fn lane_sum(v: Self) -> f64 {
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), v.0);
        lanes.iter().map(|&v| f64::from(v)).sum()
    }

    #[inline(always)]
    unsafe fn wide_zero() -> __m256d {
        _mm256_setzero_pd()
    }
    #[inline(always)]
    unsafe fn widen_add(acc: __m256d, v: Self) -> __m256d {
        // Four lanes each: the low and the high half.
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v.0));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v.0));
        _mm256_add_pd(acc, _mm256_add_pd(lo, hi))
    }
    #[inline(always)]
    unsafe fn wide_sum(acc: __m256d) -> f64 {
        let mut lanes = [0.0f64; 4];
        _mm256_storeu_pd(lanes.as_mut_ptr(), acc);
        lanes.iter().sum()
    }
}

/// 16 float32 lanes of AVX-512F (with AVX2 and FMA); masks are `__mmask16` bit masks.
#[derive(Clone, Copy)]
pub struct Avx512(__m512);

impl Lanes for Avx512 {
    const N: usize = 16;
    type Int = __m512i;
    type Mask = __mmask16;
    type Wide = __m512d;

    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx512(_mm512_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx512(_mm512_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm512_storeu_ps(p, v.0)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        Avx512(_mm512_add_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        Avx512(_mm512_sub_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        Avx512(_mm512_mul_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn div(a: Self, b: Self) -> Self {
        Avx512(_mm512_div_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn max(a: Self, b: Self) -> Self {
        Avx512(_mm512_max_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, d: Self) -> Self {
        Avx512(_mm512_fmadd_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn fnmadd(a: Self, b: Self, d: Self) -> Self {
        Avx512(_mm512_fnmadd_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn fmsub(a: Self, b: Self, d: Self) -> Self {
        Avx512(_mm512_fmsub_ps(a.0, b.0, d.0))
    }
    #[inline(always)]
    unsafe fn blend(a: Self, b: Self, m: __mmask16) -> Self {
        Avx512(_mm512_mask_blend_ps(m, a.0, b.0))
    }
    #[inline(always)]
    unsafe fn and_mask(m: __mmask16, v: Self) -> Self {
        Avx512(_mm512_maskz_mov_ps(m, v.0))
    }
    #[inline(always)]
    unsafe fn andnot_mask(m: __mmask16, v: Self) -> Self {
        Avx512(_mm512_maskz_mov_ps(!m, v.0))
    }
    #[inline(always)]
    unsafe fn lt(a: Self, b: Self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn ge(a: Self, b: Self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a.0, b.0)
    }

    #[inline(always)]
    unsafe fn int_splat(v: i32) -> __m512i {
        _mm512_set1_epi32(v)
    }
    #[inline(always)]
    unsafe fn to_bits(v: Self) -> __m512i {
        _mm512_castps_si512(v.0)
    }
    #[inline(always)]
    unsafe fn from_bits(i: __m512i) -> Self {
        Avx512(_mm512_castsi512_ps(i))
    }
    #[inline(always)]
    unsafe fn int_to_float(i: __m512i) -> Self {
        Avx512(_mm512_cvtepi32_ps(i))
    }
    #[inline(always)]
    unsafe fn int_add(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn int_sub(a: __m512i, b: __m512i) -> __m512i {
        _mm512_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn int_and(a: __m512i, b: __m512i) -> __m512i {
        _mm512_and_si512(a, b)
    }
    #[inline(always)]
    unsafe fn int_or(a: __m512i, b: __m512i) -> __m512i {
        _mm512_or_si512(a, b)
    }
    #[inline(always)]
    unsafe fn int_shift_right_arith_1(a: __m512i) -> __m512i {
        _mm512_srai_epi32::<1>(a)
    }
    #[inline(always)]
    unsafe fn int_shift_right_23(a: __m512i) -> __m512i {
        _mm512_srli_epi32::<23>(a)
    }
    #[inline(always)]
    unsafe fn int_shift_left_23(a: __m512i) -> __m512i {
        _mm512_slli_epi32::<23>(a)
    }

    #[inline(always)]
    unsafe fn class_ids(p: *const i64) -> __m512i {
        // Eight int64s to eight int32s twice, then the two eights in one vector.
        let lo = _mm512_cvtepi64_epi32(_mm512_loadu_si512(p.cast()));
        let hi = _mm512_cvtepi64_epi32(_mm512_loadu_si512(p.add(8).cast()));
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }
    #[inline(always)]
    unsafe fn is_class(ids: __m512i, k: usize) -> __mmask16 {
        _mm512_cmpeq_epi32_mask(ids, _mm512_set1_epi32(k as i32))
    }
    #[inline(always)]
    unsafe fn lane_sum(v: Self) -> f64 {
        let mut lanes = [0.0f32; 16];
        _mm512_storeu_ps(lanes.as_mut_ptr(), v.0);
        lanes.iter().map(|&v| f64::from(v)).sum()
    }

    #[inline(always)]
    unsafe fn wide_zero() -> __m512d {
        _mm512_setzero_pd()
    }
    #[inline(always)]
    unsafe fn widen_add(acc: __m512d, v: Self) -> __m512d {
        // Eight lanes each: the low and the high half.
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v.0));
        let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
            _mm512_castps_pd(v.0),
        )));
        _mm512_add_pd(acc, _mm512_add_pd(lo, hi))
    }
    #[inline(always)]
    unsafe fn wide_sum(acc: __m512d) -> f64 {
        let mut lanes = [0.0f64; 8];
        _mm512_storeu_pd(lanes.as_mut_ptr(), acc);
        lanes.iter().sum()
    }
}

/// `a * b + d`: one FMA, or a multiply and an add.
///
/// # Safety
/// The CPU has `V`'s instruction set.
#[inline(always)]
pub unsafe fn madd<const FMA: bool, V: Lanes>(a: V, b: V, d: V) -> V {
    if FMA {
        V::fmadd(a, b, d)
    } else {
        V::add(V::mul(a, b), d)
    }
}

/// Cephes `expf` for `x <= 0` (the range of `x - max` and of `-|x|`), 0 below -104.
///
/// # Safety
/// The CPU has `V`'s instruction set. (A lane above 0 gives a wrong value, never undefined
/// behaviour.)
#[inline(always)]
pub unsafe fn exp<const FMA: bool, V: Lanes>(x: V) -> V {
    let xc = V::max(x, V::splat(-104.0));
    let t = madd::<FMA, V>(
        xc,
        V::splat(std::f32::consts::LOG2_E),
        V::splat(12_582_912.0),
    );
    let fx = V::sub(t, V::splat(12_582_912.0));
    let r = madd::<FMA, V>(fx, V::splat(-0.693_359_4), xc);
    let r = madd::<FMA, V>(fx, V::splat(2.121_944_4e-4), r);
    let z = V::mul(r, r);
    let mut p = V::splat(1.987_569_1e-4);
    for k in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5e-1,
    ] {
        p = madd::<FMA, V>(p, r, V::splat(k));
    }
    let p = V::add(madd::<FMA, V>(p, z, r), V::splat(1.0));
    let n = V::int_sub(V::to_bits(t), V::to_bits(V::splat(12_582_912.0)));
    let half = V::int_shift_right_arith_1(n);
    let bias = V::int_splat(127);
    let a = V::int_shift_left_23(V::int_add(half, bias));
    let b = V::int_shift_left_23(V::int_add(V::int_sub(n, half), bias));
    let y = V::mul(V::mul(p, V::from_bits(a)), V::from_bits(b));
    V::blend(y, V::splat(0.0), V::lt(x, V::splat(-104.0)))
}

/// Cephes `logf` for normal positive `x` (a sum of exponentials, or `1 + exp(-|x|)`).
///
/// # Safety
/// The CPU has `V`'s instruction set. (A lane that is not a normal positive float gives a wrong
/// value, never undefined behaviour.)
#[inline(always)]
pub unsafe fn ln<const FMA: bool, V: Lanes>(x: V) -> V {
    let bits = V::to_bits(x);
    let e = V::int_to_float(V::int_and(V::int_shift_right_23(bits), V::int_splat(0xff)));
    let m = V::from_bits(V::int_or(
        V::int_and(bits, V::int_splat(0x007f_ffff)),
        V::int_splat(0x3f00_0000),
    ));
    let low = V::lt(m, V::splat(std::f32::consts::FRAC_1_SQRT_2));
    let e = V::sub(V::sub(e, V::splat(126.0)), V::and_mask(low, V::splat(1.0)));
    let f = V::sub(V::blend(m, V::add(m, m), low), V::splat(1.0));
    let z = V::mul(f, f);
    let mut y = V::splat(7.037_683_6e-2);
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
        y = madd::<FMA, V>(y, f, V::splat(k));
    }
    let y = V::mul(V::mul(y, f), z);
    let y = madd::<FMA, V>(V::splat(-2.121_944_4e-4), e, y);
    let y = madd::<FMA, V>(V::splat(-0.5), z, y);
    madd::<FMA, V>(V::splat(0.693_359_4), e, V::add(f, y))
}
