//! Explicit SIMD for the fused kernels, chosen at run time: AVX-512F (16 float32 lanes),
//! AVX2 + FMA (8 lanes), or one lane (any CPU). A kernel is written once against [`Vector`],
//! generic over the [`Level`], and the driver calls it through a function compiled for that
//! level's instructions ([`dispatch`]).
//!
//! The unsafe contract is in the types: a level's token ([`Avx2`], [`Avx512`]) exists only where
//! the CPU has its features (its only constructor detects them), a vector of a level can only be
//! made from its token, so every intrinsic runs on a CPU that has it.
//!
//! float32 `exp` and `ln` are the Cephes polynomials of [`super::math`], evaluated lane by lane
//! with the same operations in the same order (no contraction into FMA), so every level gives the
//! one-lane result bit for bit. float64 runs one lane at every level (the standard library's
//! `exp`/`ln`; the level's instructions still apply to the code around them).

use std::cell::Cell;
use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use super::math::Real;

/// An instruction-set level: the vector type of each float type.
pub(crate) trait Level: Copy + Send + Sync + 'static {
    /// float32 lanes.
    type F32: Vector<f32, Self>;
    /// float64 lanes.
    type F64: Vector<f64, Self>;
}

/// A mask: one boolean per lane.
pub(crate) trait Mask:
    Copy + BitAnd<Output = Self> + BitOr<Output = Self> + Not<Output = Self>
{
}
impl Mask for bool {}

/// Lanes of `R` at level `L`.
pub(crate) trait Vector<R, L>:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// How many lanes.
    const LANES: usize;
    /// A lane mask.
    type Mask: Mask;
    /// Every lane `v`.
    fn splat(level: L, v: R) -> Self;
    /// `s[i..i + LANES]`, lanes past the end of `s` 0.
    fn load(level: L, s: &[R], i: usize) -> Self;
    /// Into `s[i..i + LANES]`; lanes past the end of `s` are dropped.
    fn store(self, s: &mut [R], i: usize);
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `select(self > o, self, o)` (`o` where either is NaN), as [`super::math::max`].
    fn max(self, o: Self) -> Self;
    /// `select(self < o, self, o)` (`o` where either is NaN), as [`super::math::min`].
    fn min(self, o: Self) -> Self;
    fn lt(self, o: Self) -> Self::Mask;
    fn le(self, o: Self) -> Self::Mask;
    fn gt(self, o: Self) -> Self::Mask;
    fn ge(self, o: Self) -> Self::Mask;
    fn eq(self, o: Self) -> Self::Mask;
    /// `a` where `m`, else `b`.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// `e^x` per lane.
    fn exp(self) -> Self;
    /// `ln x` per lane.
    fn ln(self) -> Self;
    /// Whether `ids[i + lane] == k`, per lane (false past the end of `ids`).
    fn class_is(level: L, ids: &[i32], i: usize, k: i32) -> Self::Mask;
    /// Whether `ids[i + lane] >= 0` (not ignored), per lane (false past the end).
    fn class_valid(level: L, ids: &[i32], i: usize) -> Self::Mask;
    /// The first `n` lanes (all of them from `LANES` on).
    fn first(level: L, n: usize) -> Self::Mask;
}

/// Which level a run uses (the driver's choice; tests force lower ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// One lane, any CPU.
    Scalar,
    /// AVX2 and FMA, 8 float32 lanes.
    Avx2,
    /// AVX-512F (with AVX2 and FMA), 16 float32 lanes.
    Avx512,
}

thread_local! {
    static CAP: Cell<SimdLevel> = const { Cell::new(SimdLevel::Avx512) };
}

/// The best level this CPU has.
pub fn detected() -> SimdLevel {
    if Avx512::new().is_some() {
        SimdLevel::Avx512
    } else if Avx2::new().is_some() {
        SimdLevel::Avx2
    } else {
        SimdLevel::Scalar
    }
}

/// The level kernels called from this thread use: the detected one, capped by [`with_level`].
pub fn current() -> SimdLevel {
    detected().min(CAP.with(Cell::get))
}

/// Runs `f` with the fused kernels called from this thread using at most `level` (to test each
/// level against the one-lane path). The previous cap is restored afterwards, also on panic.
pub fn with_level<T>(level: SimdLevel, f: impl FnOnce() -> T) -> T {
    struct Restore(SimdLevel);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAP.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CAP.with(|c| c.replace(level)));
    f()
}

/// A computation generic over the level, run by [`dispatch`].
pub(crate) trait WithLevel {
    type Output;
    fn run<L: Level>(self, level: L) -> Self::Output;
}

/// Runs `job` at `level` (or the best level below it that the CPU has), compiled for that
/// level's instructions. `job.run` and everything it calls should be `#[inline(always)]`, so
/// that it is compiled inside the level's function.
pub(crate) fn dispatch<J: WithLevel>(level: SimdLevel, job: J) -> J::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<J: WithLevel>(level: Avx512, job: J) -> J::Output {
            job.run(level)
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<J: WithLevel>(level: Avx2, job: J) -> J::Output {
            job.run(level)
        }
        if level >= SimdLevel::Avx512 {
            if let Some(token) = Avx512::new() {
                // SAFETY: the token exists, so the CPU has AVX-512F, AVX2 and FMA.
                return unsafe { avx512(token, job) };
            }
        }
        if level >= SimdLevel::Avx2 {
            if let Some(token) = Avx2::new() {
                // SAFETY: the token exists, so the CPU has AVX2 and FMA.
                return unsafe { avx2(token, job) };
            }
        }
    }
    let _ = level;
    job.run(Scalar)
}

/// One lane: any CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar;

impl Level for Scalar {
    type F32 = f32;
    type F64 = f64;
}

/// One lane of a float: the vector of [`Scalar`], and the float64 vector of every level.
impl<R: Real, L: Level> Vector<R, L> for R {
    const LANES: usize = 1;
    type Mask = bool;
    #[inline(always)]
    fn splat(_: L, v: R) -> Self {
        v
    }
    #[inline(always)]
    fn load(_: L, s: &[R], i: usize) -> Self {
        s.get(i).copied().unwrap_or(R::ZERO)
    }
    #[inline(always)]
    fn store(self, s: &mut [R], i: usize) {
        if let Some(o) = s.get_mut(i) {
            *o = self;
        }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Real::mul_add(self, a, b)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        super::math::max(self, o)
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        super::math::min(self, o)
    }
    #[inline(always)]
    fn lt(self, o: Self) -> bool {
        self < o
    }
    #[inline(always)]
    fn le(self, o: Self) -> bool {
        self <= o
    }
    #[inline(always)]
    fn gt(self, o: Self) -> bool {
        self > o
    }
    #[inline(always)]
    fn ge(self, o: Self) -> bool {
        self >= o
    }
    #[inline(always)]
    fn eq(self, o: Self) -> bool {
        self == o
    }
    #[inline(always)]
    fn select(m: bool, a: Self, b: Self) -> Self {
        super::math::select(m, a, b)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        Real::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        Real::ln(self)
    }
    #[inline(always)]
    fn class_is(_: L, ids: &[i32], i: usize, k: i32) -> bool {
        ids.get(i) == Some(&k)
    }
    #[inline(always)]
    fn class_valid(_: L, ids: &[i32], i: usize) -> bool {
        ids.get(i).is_some_and(|&k| k >= 0)
    }
    #[inline(always)]
    fn first(_: L, n: usize) -> bool {
        n > 0
    }
}

/// The token of AVX2 + FMA: only [`Avx2::new`] makes one, where the CPU has both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token, where the CPU has AVX2 and FMA.
    pub(crate) fn new() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(Avx2(()));
        }
        None
    }
}

/// The token of AVX-512F (with AVX2 and FMA): only [`Avx512::new`] makes one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token, where the CPU has AVX-512F, AVX2 and FMA.
    pub(crate) fn new() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(Avx512(()));
        }
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX2 and AVX-512 vectors. Every `unsafe` block below calls intrinsics of the vector's
    //! level: a value of these types is only made through its level's token (`splat`, `load`,
    //! `class_*` take it) or from another value of the type, so the CPU has the features. Loads
    //! and stores stay inside the slice they are given (partial vectors go through a stack copy
    //! or a masked load/store).

    use std::arch::x86_64::*;
    use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

    use super::{Avx2, Avx512, Level, Mask, Vector};

    /// Cephes `expf`/`logf` constants (as in `math::exp_f32`/`math::ln_f32`).
    mod c {
        pub(super) const EXP_LO: f32 = -104.0;
        pub(super) const EXP_HI: f32 = 88.722_84;
        pub(super) const LOG2E: f32 = std::f32::consts::LOG2_E;
        pub(super) const C1: f32 = 0.693_359_4;
        pub(super) const C2: f32 = -2.121_944_4e-4;
        pub(super) const MAGIC: f32 = 12_582_912.0;
        pub(super) const EXP_P: [f32; 6] = [
            1.987_569_1e-4,
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5e-1,
        ];
        pub(super) const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
        /// `ln` polynomial: `c[0] f - c[1]`, then alternately `+ c[j]` / `- c[j]`.
        pub(super) const LN_P: [f32; 9] = [
            7.037_683_6e-2,
            1.151_461e-1,
            1.167_699_9e-1,
            1.242_014_1e-1,
            1.424_932_3e-1,
            1.666_805_8e-1,
            2.000_071_4e-1,
            2.499_999_4e-1,
            3.333_333e-1,
        ];
    }

    /// What `exp` and `ln` need beyond [`Vector`]'s float operations: a constant, a NaN test and
    /// the two integer bit manipulations, the only parts that differ between the widths.
    trait Bits: Copy {
        type Mask: Mask;
        /// Every lane `v`. Takes a value of the type as the witness that the CPU has its level
        /// (see the module comment), so no constant is made without one.
        fn splat_like(self, v: f32) -> Self;
        /// Whether each lane is NaN.
        fn is_nan(self) -> Self::Mask;
        /// `2^n` as two normal factors (`2^(n/2)` and `2^(n - n/2)`), `n` the integer that adding
        /// [`c::MAGIC`] left in the low mantissa bits of `t`.
        fn pow2_factors(t: Self) -> (Self, Self);
        /// The biased exponent field as a float, and the mantissa with the exponent of `0.5`.
        fn exponent_mantissa(self) -> (Self, Self);
    }

    /// Cephes `expf` on every lane, the operations and their order those of `math::exp_f32`
    /// (so that every width gives the one-lane result bit for bit).
    #[inline(always)]
    fn exp_lanes<L, V: Vector<f32, L> + Bits<Mask = <V as Vector<f32, L>>::Mask>>(x: V) -> V {
        let k = |v: f32| x.splat_like(v);
        let xc = x.max(k(c::EXP_LO)).min(k(c::EXP_HI));
        let t = xc * k(c::LOG2E) + k(c::MAGIC);
        let fx = t - k(c::MAGIC);
        let r = xc - fx * k(c::C1) - fx * k(c::C2);
        let z = r * r;
        let mut p = k(c::EXP_P[0]);
        for coefficient in c::EXP_P[1..].iter() {
            p = p * r + k(*coefficient);
        }
        let p = p * z + r + k(1.0);
        let (a, b) = V::pow2_factors(t);
        let y = p * a * b;
        let y = V::select(x.lt(k(c::EXP_LO)), k(0.0), y);
        let y = V::select(x.gt(k(c::EXP_HI)), k(f32::INFINITY), y);
        V::select(x.is_nan(), x, y)
    }

    /// Cephes `logf` on every lane, the operations and their order those of `math::ln_f32`.
    #[inline(always)]
    fn ln_lanes<L, V: Vector<f32, L> + Bits<Mask = <V as Vector<f32, L>>::Mask>>(x: V) -> V {
        let k = |v: f32| x.splat_like(v);
        let subnormal = x.lt(k(f32::MIN_POSITIVE));
        let xs = V::select(subnormal, x * k(8_388_608.0), x);
        let (exponent, m) = xs.exponent_mantissa();
        let low = m.lt(k(c::SQRT_HALF));
        // Small integers: exact in float32, as the one-lane integer arithmetic.
        let e = exponent
            - k(126.0)
            - V::select(subnormal, k(23.0), k(0.0))
            - V::select(low, k(1.0), k(0.0));
        let f = V::select(low, m + m, m) - k(1.0);
        let z = f * f;
        let mut y = k(c::LN_P[0]);
        for (j, coefficient) in c::LN_P[1..].iter().enumerate() {
            y = if j % 2 == 0 {
                y * f - k(*coefficient)
            } else {
                y * f + k(*coefficient)
            };
        }
        let mut y = y * f * z;
        y = y + k(c::C2) * e;
        y = y + k(-0.5) * z;
        let r = f + y + k(c::C1) * e;
        let r = V::select(x.eq(k(0.0)), k(f32::NEG_INFINITY), r);
        let r = V::select(x.eq(k(f32::INFINITY)), k(f32::INFINITY), r);
        V::select(x.lt(k(0.0)) | x.is_nan(), k(f32::NAN), r)
    }

    impl Bits for F32x8 {
        type Mask = M8;
        #[inline(always)]
        fn splat_like(self, v: f32) -> Self {
            F32x8::c(v)
        }
        #[inline(always)]
        fn is_nan(self) -> M8 {
            self.cmp::<_CMP_UNORD_Q>(self)
        }
        #[inline(always)]
        fn pow2_factors(t: Self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let n = _mm256_sub_epi32(
                    _mm256_castps_si256(t.0),
                    _mm256_set1_epi32(c::MAGIC.to_bits() as i32),
                );
                let half = _mm256_srai_epi32::<1>(n);
                let bias = _mm256_set1_epi32(127);
                let a = _mm256_slli_epi32::<23>(_mm256_add_epi32(half, bias));
                let b = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_sub_epi32(n, half), bias));
                (F32x8(_mm256_castsi256_ps(a)), F32x8(_mm256_castsi256_ps(b)))
            }
        }
        #[inline(always)]
        fn exponent_mantissa(self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let bits = _mm256_castps_si256(self.0);
                let e = _mm256_and_si256(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(0xff));
                let m = _mm256_or_si256(
                    _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x3f00_0000),
                );
                (F32x8(_mm256_cvtepi32_ps(e)), F32x8(_mm256_castsi256_ps(m)))
            }
        }
    }

    impl Bits for F32x16 {
        type Mask = M16;
        #[inline(always)]
        fn splat_like(self, v: f32) -> Self {
            F32x16::c(v)
        }
        #[inline(always)]
        fn is_nan(self) -> M16 {
            self.cmp::<_CMP_UNORD_Q>(self)
        }
        #[inline(always)]
        fn pow2_factors(t: Self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let n = _mm512_sub_epi32(
                    _mm512_castps_si512(t.0),
                    _mm512_set1_epi32(c::MAGIC.to_bits() as i32),
                );
                let half = _mm512_srai_epi32::<1>(n);
                let bias = _mm512_set1_epi32(127);
                let a = _mm512_slli_epi32::<23>(_mm512_add_epi32(half, bias));
                let b = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_sub_epi32(n, half), bias));
                (
                    F32x16(_mm512_castsi512_ps(a)),
                    F32x16(_mm512_castsi512_ps(b)),
                )
            }
        }
        #[inline(always)]
        fn exponent_mantissa(self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let bits = _mm512_castps_si512(self.0);
                let e = _mm512_and_si512(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(0xff));
                let m = _mm512_or_si512(
                    _mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)),
                    _mm512_set1_epi32(0x3f00_0000),
                );
                (
                    F32x16(_mm512_cvtepi32_ps(e)),
                    F32x16(_mm512_castsi512_ps(m)),
                )
            }
        }
    }

    impl Level for Avx2 {
        type F32 = F32x8;
        type F64 = f64;
    }

    impl Level for Avx512 {
        type F32 = F32x16;
        type F64 = f64;
    }

    /// 8 float32 lanes (AVX2).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct F32x8(__m256);

    /// A mask of 8 lanes: all bits set where true.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct M8(__m256);

    impl Mask for M8 {}
    impl BitAnd for M8 {
        type Output = Self;
        #[inline(always)]
        fn bitand(self, o: Self) -> Self {
            // SAFETY: see the module comment.
            M8(unsafe { _mm256_and_ps(self.0, o.0) })
        }
    }
    impl BitOr for M8 {
        type Output = Self;
        #[inline(always)]
        fn bitor(self, o: Self) -> Self {
            // SAFETY: see the module comment.
            M8(unsafe { _mm256_or_ps(self.0, o.0) })
        }
    }
    impl Not for M8 {
        type Output = Self;
        #[inline(always)]
        fn not(self) -> Self {
            // SAFETY: see the module comment.
            M8(unsafe { _mm256_xor_ps(self.0, _mm256_castsi256_ps(_mm256_set1_epi32(-1))) })
        }
    }

    macro_rules! binop {
        ($ty:ident, $trait:ident, $method:ident, $intr:ident) => {
            impl $trait for $ty {
                type Output = Self;
                #[inline(always)]
                fn $method(self, o: Self) -> Self {
                    // SAFETY: see the module comment.
                    $ty(unsafe { $intr(self.0, o.0) })
                }
            }
        };
    }
    binop!(F32x8, Add, add, _mm256_add_ps);
    binop!(F32x8, Sub, sub, _mm256_sub_ps);
    binop!(F32x8, Mul, mul, _mm256_mul_ps);
    binop!(F32x8, Div, div, _mm256_div_ps);
    binop!(F32x16, Add, add, _mm512_add_ps);
    binop!(F32x16, Sub, sub, _mm512_sub_ps);
    binop!(F32x16, Mul, mul, _mm512_mul_ps);
    binop!(F32x16, Div, div, _mm512_div_ps);

    impl Neg for F32x8 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: see the module comment.
            F32x8(unsafe { _mm256_xor_ps(self.0, _mm256_set1_ps(-0.0)) })
        }
    }

    impl F32x8 {
        #[inline(always)]
        fn cmp<const P: i32>(self, o: Self) -> M8 {
            // SAFETY: see the module comment.
            M8(unsafe { _mm256_cmp_ps::<P>(self.0, o.0) })
        }
        #[inline(always)]
        fn c(v: f32) -> Self {
            // SAFETY: only called from methods of a value of this type (see the module comment).
            F32x8(unsafe { _mm256_set1_ps(v) })
        }
    }

    impl Vector<f32, Avx2> for F32x8 {
        const LANES: usize = 8;
        type Mask = M8;
        #[inline(always)]
        fn splat(_: Avx2, v: f32) -> Self {
            Self::c(v)
        }
        #[inline(always)]
        fn load(_: Avx2, s: &[f32], i: usize) -> Self {
            match s.get(i..i + 8) {
                // SAFETY: the 8 elements are in the slice.
                Some(full) => F32x8(unsafe { _mm256_loadu_ps(full.as_ptr()) }),
                None => {
                    let mut buf = [0.0f32; 8];
                    let rest = s.get(i..).unwrap_or(&[]);
                    buf[..rest.len().min(8)].copy_from_slice(&rest[..rest.len().min(8)]);
                    // SAFETY: reads the 8 elements of `buf`.
                    F32x8(unsafe { _mm256_loadu_ps(buf.as_ptr()) })
                }
            }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], i: usize) {
            match s.get_mut(i..i + 8) {
                // SAFETY: the 8 elements are in the slice.
                Some(full) => unsafe { _mm256_storeu_ps(full.as_mut_ptr(), self.0) },
                None => {
                    let mut buf = [0.0f32; 8];
                    // SAFETY: writes the 8 elements of `buf`.
                    unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), self.0) };
                    if let Some(rest) = s.get_mut(i..) {
                        let n = rest.len().min(8);
                        rest[..n].copy_from_slice(&buf[..n]);
                    }
                }
            }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment (FMA is part of the level).
            F32x8(unsafe { _mm256_fmadd_ps(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: see the module comment. `maxps` returns its second operand where either
            // is NaN, as `math::max`.
            F32x8(unsafe { _mm256_max_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: as `max`.
            F32x8(unsafe { _mm256_min_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn lt(self, o: Self) -> M8 {
            self.cmp::<_CMP_LT_OQ>(o)
        }
        #[inline(always)]
        fn le(self, o: Self) -> M8 {
            self.cmp::<_CMP_LE_OQ>(o)
        }
        #[inline(always)]
        fn gt(self, o: Self) -> M8 {
            self.cmp::<_CMP_GT_OQ>(o)
        }
        #[inline(always)]
        fn ge(self, o: Self) -> M8 {
            self.cmp::<_CMP_GE_OQ>(o)
        }
        #[inline(always)]
        fn eq(self, o: Self) -> M8 {
            self.cmp::<_CMP_EQ_OQ>(o)
        }
        #[inline(always)]
        fn select(m: M8, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F32x8(unsafe { _mm256_blendv_ps(b.0, a.0, m.0) })
        }
        #[inline(always)]
        fn exp(self) -> Self {
            exp_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn class_is(_: Avx2, ids: &[i32], i: usize, k: i32) -> M8 {
            let v = load_ids8(ids, i);
            // SAFETY: the token is in hand (AVX2).
            M8(unsafe { _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, _mm256_set1_epi32(k))) })
        }
        #[inline(always)]
        fn class_valid(_: Avx2, ids: &[i32], i: usize) -> M8 {
            let v = load_ids8(ids, i);
            // SAFETY: the token is in hand (AVX2).
            M8(unsafe { _mm256_castsi256_ps(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1))) })
        }
        #[inline(always)]
        fn first(_: Avx2, n: usize) -> M8 {
            let n = n.min(8) as i32;
            // SAFETY: the token is in hand (AVX2).
            M8(unsafe {
                _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                    _mm256_set1_epi32(n),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                ))
            })
        }
    }

    /// `ids[i..i + 8]`, -1 past the end. Only called with an [`Avx2`] token in hand.
    #[inline(always)]
    fn load_ids8(ids: &[i32], i: usize) -> __m256i {
        if let Some(full) = ids.get(i..i + 8) {
            // SAFETY: the 8 elements are in the slice; the callers hold an `Avx2` token.
            return unsafe { _mm256_loadu_si256(full.as_ptr().cast()) };
        }
        let mut buf = [-1i32; 8];
        let rest = ids.get(i..).unwrap_or(&[]);
        let n = rest.len().min(8);
        buf[..n].copy_from_slice(&rest[..n]);
        // SAFETY: reads the 8 elements of `buf`; the callers hold an `Avx2` token.
        unsafe { _mm256_loadu_si256(buf.as_ptr().cast()) }
    }

    /// 16 float32 lanes (AVX-512F).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct F32x16(__m512);

    /// A mask of 16 lanes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct M16(__mmask16);

    impl Mask for M16 {}
    impl BitAnd for M16 {
        type Output = Self;
        #[inline(always)]
        fn bitand(self, o: Self) -> Self {
            M16(self.0 & o.0)
        }
    }
    impl BitOr for M16 {
        type Output = Self;
        #[inline(always)]
        fn bitor(self, o: Self) -> Self {
            M16(self.0 | o.0)
        }
    }
    impl Not for M16 {
        type Output = Self;
        #[inline(always)]
        fn not(self) -> Self {
            M16(!self.0)
        }
    }

    impl Neg for F32x16 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: see the module comment.
            F32x16(unsafe {
                _mm512_castsi512_ps(_mm512_xor_si512(
                    _mm512_castps_si512(self.0),
                    _mm512_set1_epi32(i32::MIN),
                ))
            })
        }
    }

    impl F32x16 {
        #[inline(always)]
        fn cmp<const P: i32>(self, o: Self) -> M16 {
            // SAFETY: see the module comment.
            M16(unsafe { _mm512_cmp_ps_mask::<P>(self.0, o.0) })
        }
        #[inline(always)]
        fn c(v: f32) -> Self {
            // SAFETY: only called from methods of a value of this type (see the module comment).
            F32x16(unsafe { _mm512_set1_ps(v) })
        }
    }

    /// The mask of the first `n` of 16 lanes.
    #[inline(always)]
    fn first(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    impl Vector<f32, Avx512> for F32x16 {
        const LANES: usize = 16;
        type Mask = M16;
        #[inline(always)]
        fn splat(_: Avx512, v: f32) -> Self {
            Self::c(v)
        }
        #[inline(always)]
        fn load(_: Avx512, s: &[f32], i: usize) -> Self {
            let rest = s.get(i..).unwrap_or(&[]);
            // SAFETY: the masked load reads only the lanes inside `rest` (masked-off lanes are
            // not accessed and read as 0).
            F32x16(unsafe { _mm512_maskz_loadu_ps(first(rest.len()), rest.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], i: usize) {
            if let Some(rest) = s.get_mut(i..) {
                // SAFETY: the masked store writes only the lanes inside `rest`.
                unsafe { _mm512_mask_storeu_ps(rest.as_mut_ptr(), first(rest.len()), self.0) }
            }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F32x16(unsafe { _mm512_fmadd_ps(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: see the module comment; NaN handling as `maxps` (the second operand).
            F32x16(unsafe { _mm512_max_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: as `max`.
            F32x16(unsafe { _mm512_min_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn lt(self, o: Self) -> M16 {
            self.cmp::<_CMP_LT_OQ>(o)
        }
        #[inline(always)]
        fn le(self, o: Self) -> M16 {
            self.cmp::<_CMP_LE_OQ>(o)
        }
        #[inline(always)]
        fn gt(self, o: Self) -> M16 {
            self.cmp::<_CMP_GT_OQ>(o)
        }
        #[inline(always)]
        fn ge(self, o: Self) -> M16 {
            self.cmp::<_CMP_GE_OQ>(o)
        }
        #[inline(always)]
        fn eq(self, o: Self) -> M16 {
            self.cmp::<_CMP_EQ_OQ>(o)
        }
        #[inline(always)]
        fn select(m: M16, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F32x16(unsafe { _mm512_mask_blend_ps(m.0, b.0, a.0) })
        }
        #[inline(always)]
        fn exp(self) -> Self {
            exp_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn class_is(_: Avx512, ids: &[i32], i: usize, k: i32) -> M16 {
            let rest = ids.get(i..).unwrap_or(&[]);
            let valid = first(rest.len());
            // SAFETY: the masked load reads only the lanes inside `rest`; the token is in hand.
            M16(unsafe {
                let v = _mm512_maskz_loadu_epi32(valid, rest.as_ptr());
                _mm512_mask_cmpeq_epi32_mask(valid, v, _mm512_set1_epi32(k))
            })
        }
        #[inline(always)]
        fn class_valid(_: Avx512, ids: &[i32], i: usize) -> M16 {
            let rest = ids.get(i..).unwrap_or(&[]);
            let valid = first(rest.len());
            // SAFETY: as `class_is`.
            M16(unsafe {
                let v = _mm512_maskz_loadu_epi32(valid, rest.as_ptr());
                _mm512_mask_cmpgt_epi32_mask(valid, v, _mm512_set1_epi32(-1))
            })
        }
        #[inline(always)]
        fn first(_: Avx512, n: usize) -> M16 {
            M16(first(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::math::{exp_f32, ln_f32};

    /// Inputs covering the polynomials' ranges, the clamps, subnormals and the special values.
    fn samples() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            1e-45,
            1e-40,
            -87.336_55,
            -87.4,
            88.722_84,
            88.8,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            -f32::MAX,
        ];
        let mut x = -100.0f32;
        while x < 100.0 {
            v.push(x);
            x += 0.0173;
        }
        let mut x = 1e-44f32;
        while x < 3e38 {
            v.push(x);
            x *= 1.0731;
        }
        v
    }

    struct Check;
    impl WithLevel for Check {
        type Output = (Vec<f32>, Vec<f32>);
        #[inline(always)]
        fn run<L: Level>(self, level: L) -> Self::Output {
            let xs = samples();
            let (mut e, mut l) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
            let lanes = <L::F32 as Vector<f32, L>>::LANES;
            let mut i = 0;
            while i < xs.len() {
                let v = <L::F32 as Vector<f32, L>>::load(level, &xs, i);
                v.exp().store(&mut e, i);
                v.ln().store(&mut l, i);
                i += lanes;
            }
            (e, l)
        }
    }

    #[test]
    fn every_level_gives_the_one_lane_exp_and_ln_bit_for_bit() {
        let xs = samples();
        for level in [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512] {
            let (e, l) = dispatch(level, Check);
            for (i, &x) in xs.iter().enumerate() {
                let (we, wl) = (exp_f32(x), ln_f32(x));
                assert!(
                    e[i].to_bits() == we.to_bits() || (e[i].is_nan() && we.is_nan()),
                    "{level:?} exp({x}) = {} vs {we}",
                    e[i]
                );
                assert!(
                    l[i].to_bits() == wl.to_bits() || (l[i].is_nan() && wl.is_nan()),
                    "{level:?} ln({x}) = {} vs {wl}",
                    l[i]
                );
            }
        }
    }

    #[test]
    fn this_machine_has_the_levels_the_tests_force() {
        // Informational where the CPU lacks them: the forced levels then fall back.
        eprintln!("detected SIMD level: {:?}", detected());
    }
}
