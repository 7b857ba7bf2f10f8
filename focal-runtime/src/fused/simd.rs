//! Explicit SIMD for the fused kernels, chosen at run time: AVX-512F (16 float32 lanes),
//! AVX2 + FMA (8 lanes), or one lane (any CPU). A kernel is written once against [`Vector`],
//! generic over the [`Level`], and the driver calls it through a function compiled for that
//! level's instructions ([`dispatch`]).
//!
//! The unsafe contract is in the types: a level's token ([`Avx2`], [`Avx512`]) exists only where
//! the CPU has its features (its only constructor detects them), a vector of a level can only be
//! made from its token, so every intrinsic runs on a CPU that has it.
//!
//! `exp` and `ln` are one algorithm per float type ([`exp_lanes`], [`ln_lanes`], the polynomials
//! in [`LaneFloat`]): float32 Cephes' polynomials, float64 Taylor/`atanh` series within 1 ulp.
//! Every width evaluates it lane by lane with the same operations in the same order, the
//! polynomials' steps as fused multiply-adds (one rounding each: the FMA instruction at the x86
//! levels, `mul_add` on one lane), so every level gives the one-lane result bit for bit, in both
//! float types: float64 has 4 lanes with AVX2 and 8 with AVX-512F. (FMA takes a fifth off the
//! arithmetic's time: `cargo bench --bench compute_floor`.)

use std::cell::Cell;
use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use super::math::Real;

/// An instruction-set level: the vector type of each float type.
pub(crate) trait Level: Copy + Send + Sync + 'static {
    /// float32 lanes.
    type F32: Vector<f32, Self>;
    /// float64 lanes.
    type F64: Vector<f64, Self>;
    /// Whether the level has vectors of several lanes (not [`Scalar`]): the kernels instantiate
    /// their constant-class-count paths only for these.
    const VECTOR: bool = true;
}

/// A mask: one boolean per lane.
pub(crate) trait Mask:
    Copy + BitAnd<Output = Self> + BitOr<Output = Self> + Not<Output = Self>
{
    /// Whether every lane is set (a branch around work that only some lanes need).
    fn all(self) -> bool;
}
impl Mask for bool {
    #[inline(always)]
    fn all(self) -> bool {
        self
    }
}

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
    /// `e^x` per lane for `x <= 0` (or NaN), as [`Vector::exp`] there, without its overflow
    /// handling: where the caller knows that no lane is above 0 (`x - max`, `-|x|`). A lane
    /// above [`LaneFloat::EXP_HI`] gives an unspecified value (no undefined behaviour).
    fn exp_nonpositive(self) -> Self;
    /// `ln x` per lane.
    fn ln(self) -> Self;
    /// `ln x` per lane for a positive, normal, finite `x` (or NaN), as [`Vector::ln`] there,
    /// without its handling of 0, subnormals, infinity and negative numbers: where the caller
    /// knows the lanes' range (a sum of exponentials in `[1, C]`, `1 + e^-|x|`). Another lane
    /// gives an unspecified value (no undefined behaviour).
    fn ln_normal(self) -> Self;
    /// Whether `ids[i + lane] == k`, per lane (false past the end of `ids`).
    fn class_is(level: L, ids: &[i32], i: usize, k: i32) -> Self::Mask;
    /// Whether `ids[i + lane] >= 0` (not ignored), per lane (false past the end).
    fn class_valid(level: L, ids: &[i32], i: usize) -> Self::Mask;
    /// The first `n` lanes (all of them from `LANES` on).
    fn first(level: L, n: usize) -> Self::Mask;
    /// The sum of the lanes, in float64 (each lane converted exactly, the sums in an order of
    /// the level's own: a vector's halves added lane by lane, down to one).
    fn lane_sum(self) -> f64;
}

/// Which level a run uses (the driver's choice; tests force lower ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// One lane, any CPU.
    Scalar,
    /// AVX2 and FMA, 8 float32 or 4 float64 lanes.
    Avx2,
    /// AVX-512F (with AVX2 and FMA), 16 float32 or 8 float64 lanes.
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
        // One lane with the FMA instruction where the CPU has it (forced down, or without
        // AVX2): `mul_add` is then one instruction. Compiled without it, each is a call to
        // `compiler_builtins`' `fmaf`/`fma` (which picks the instruction or a software
        // fallback per call): the one-lane kernels took 2-3x as long, longer than the composed
        // path. Without FMA they still make those calls (the same values: a fused multiply-add
        // is exactly rounded either way).
        #[target_feature(enable = "fma")]
        fn scalar_fma<J: WithLevel>(job: J) -> J::Output {
            job.run(Scalar)
        }
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA.
            return unsafe { scalar_fma(job) };
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
    const VECTOR: bool = false;
}

/// One lane of a float: the vector of [`Scalar`].
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
    fn exp_nonpositive(self) -> Self {
        Real::exp_nonpositive(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        Real::ln(self)
    }
    #[inline(always)]
    fn ln_normal(self) -> Self {
        Real::ln_normal(self)
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
    #[inline(always)]
    fn lane_sum(self) -> f64 {
        self.to_f64()
    }
}

/// A float type with `exp` and `ln` in lanes: the constants of its polynomials and the one part of
/// `ln` that differs between the types ([`exp_lanes`] and [`ln_lanes`] are otherwise shared).
///
/// float32: Cephes `expf`/`logf` (within 2 ulp). float64: `e^r` by its Taylor polynomial to
/// degree 13 and `ln(1 + f)` by the series of `2 atanh(f / (2 + f))` to degree 21 (both within
/// 1 ulp of the standard library's, see the tests). The one-lane path ([`super::math::Real`]'s
/// `exp`/`ln`, this code on one lane, its fused multiply-adds through `mul_add`) gives every
/// level's result bit for bit on any CPU.
pub(crate) trait LaneFloat: Real {
    /// `exp` is 0 below (`e^EXP_LO` is under half the smallest subnormal).
    const EXP_LO: Self;
    /// `exp` is infinite above.
    const EXP_HI: Self;
    const LOG2E: Self;
    /// `ln 2 = LN2_HI + LN2_LO`, `LN2_HI` with its low mantissa bits zero (so that its products
    /// with the integers `exp` and `ln` meet are exact).
    const LN2_HI: Self;
    const LN2_LO: Self;
    /// `1.5 * 2^p`, `p` the mantissa bits: adding it rounds to an integer and leaves that in the
    /// low mantissa bits.
    const MAGIC: Self;
    /// `(e^r - 1 - r) / r^2` as a polynomial in `r`, highest power first (`|r| <= ln 2 / 2`).
    const EXP_P: &'static [Self];
    /// The smallest normal number.
    const MIN_POSITIVE: Self;
    /// `2^p`: scales a subnormal to a normal number.
    const SUBNORMAL_SCALE: Self;
    /// `p`.
    const SUBNORMAL_BITS: Self;
    /// The exponent bias less 1: a biased exponent less this is the exponent of the mantissa in
    /// `[0.5, 1)`.
    const HALF_BIAS: Self;
    const SQRT_HALF: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    /// `ln(1 + f) + e ln 2` for `f` in `[sqrt(1/2) - 1, sqrt(2) - 1]` and an integer `e`; `k`
    /// makes a constant.
    fn ln_core<L, V: Vector<Self, L>>(f: V, e: V, k: impl Fn(Self) -> V) -> V;
}

impl LaneFloat for f32 {
    const EXP_LO: f32 = -104.0;
    const EXP_HI: f32 = 88.722_84;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Cephes' split (`LN2_LO` negative).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0;
    const EXP_P: &'static [f32] = &[
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5e-1,
    ];
    const MIN_POSITIVE: f32 = f32::MIN_POSITIVE;
    const SUBNORMAL_SCALE: f32 = 8_388_608.0;
    const SUBNORMAL_BITS: f32 = 23.0;
    const HALF_BIAS: f32 = 126.0;
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const NEG_INFINITY: f32 = f32::NEG_INFINITY;
    const NAN: f32 = f32::NAN;

    /// Cephes `logf`: `f - f^2 / 2 + f^3 P(f)`, `P` with alternating signs.
    #[inline(always)]
    fn ln_core<L, V: Vector<f32, L>>(f: V, e: V, k: impl Fn(f32) -> V) -> V {
        /// `P`: `c[0] f - c[1]`, then alternately `+ c[j]` / `- c[j]`.
        const LN_P: [f32; 9] = [
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
        let z = f * f;
        let mut y = k(LN_P[0]);
        for (j, coefficient) in LN_P[1..].iter().enumerate() {
            let c = if j % 2 == 0 {
                -*coefficient
            } else {
                *coefficient
            };
            y = y.mul_add(f, k(c));
        }
        let y = y * f * z;
        let y = k(Self::LN2_LO).mul_add(e, y);
        let y = k(-0.5).mul_add(z, y);
        k(Self::LN2_HI).mul_add(e, f + y)
    }
}

impl LaneFloat for f64 {
    // e^-746 is under 2^-1075, half the smallest subnormal.
    const EXP_LO: f64 = -746.0;
    // The largest x with e^x finite (ln f64::MAX rounded down).
    const EXP_HI: f64 = 709.782_712_893_384;
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 to 32 significant bits (products with exponents up to 2^21 exact), and the rest.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    // 1 / n! for n = 13 down to 2.
    const EXP_P: &'static [f64] = &[
        1.605_904_383_682_161_3e-10,
        2.087_675_698_786_81e-09,
        2.505_210_838_544_172e-08,
        2.755_731_922_398_589e-07,
        2.755_731_922_398_589_3e-06,
        2.480_158_730_158_73e-05,
        0.000_198_412_698_412_698_4,
        0.001_388_888_888_888_889,
        0.008_333_333_333_333_333,
        0.041_666_666_666_666_664,
        0.166_666_666_666_666_66,
        0.5,
    ];
    const MIN_POSITIVE: f64 = f64::MIN_POSITIVE;
    const SUBNORMAL_SCALE: f64 = 4_503_599_627_370_496.0;
    const SUBNORMAL_BITS: f64 = 52.0;
    const HALF_BIAS: f64 = 1022.0;
    const SQRT_HALF: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const NEG_INFINITY: f64 = f64::NEG_INFINITY;
    const NAN: f64 = f64::NAN;

    /// With `s = f / (2 + f)`, `ln(1 + f) = 2 atanh s = 2s + s R(s^2)`, `R(w) = sum 2 w^j /
    /// (2j + 1)` (`s^2 <= 0.0295`: the terms past `j = 10` are under 2^-58 of the sum), summed as
    /// `f - (f^2/2 - s (f^2/2 + R))` (`2s = f - s f`), so that the rounding falls on the small
    /// terms; then `e ln 2` in its two parts.
    #[inline(always)]
    fn ln_core<L, V: Vector<f64, L>>(f: V, e: V, k: impl Fn(f64) -> V) -> V {
        /// `2 / (2j + 1)` for j = 10 down to 1.
        const LN_R: [f64; 10] = [
            0.095_238_095_238_095_23,
            0.105_263_157_894_736_84,
            0.117_647_058_823_529_41,
            0.133_333_333_333_333_33,
            0.153_846_153_846_153_85,
            0.181_818_181_818_181_82,
            0.222_222_222_222_222_2,
            0.285_714_285_714_285_7,
            0.4,
            0.666_666_666_666_666_6,
        ];
        let s = f / (k(2.0) + f);
        let w = s * s;
        let mut r = k(LN_R[0]);
        for coefficient in LN_R[1..].iter() {
            r = r.mul_add(w, k(*coefficient));
        }
        let r = r * w;
        let half_square = k(0.5) * f * f;
        e * k(Self::LN2_HI) - ((half_square - s.mul_add(half_square + r, e * k(Self::LN2_LO))) - f)
    }
}

/// What `exp` and `ln` need beyond [`Vector`]'s float operations: a constant, a NaN test and the
/// two integer bit manipulations, the only parts that differ between the widths.
pub(crate) trait Bits<F, L>: Vector<F, L> {
    /// Every lane `v`. Takes a value of the type as the witness that the CPU has its level (see
    /// the `x86` module's comment), so no constant is made without one.
    fn splat_like(self, v: F) -> Self;
    /// Whether each lane is NaN.
    fn is_nan(self) -> Self::Mask;
    /// `2^n` as two normal factors (`2^(n >> 1)` and `2^(n - (n >> 1))`), `n` the integer that
    /// adding [`LaneFloat::MAGIC`] left in the low mantissa bits of `t`.
    fn pow2_factors(t: Self) -> (Self, Self);
    /// The biased exponent field as a float, and the mantissa with the exponent of `0.5`.
    fn exponent_mantissa(self) -> (Self, Self);
}

/// `e^x` on every lane: 0 below [`LaneFloat::EXP_LO`], infinity above [`LaneFloat::EXP_HI`], NaN
/// for NaN, subnormal results rounded once. For float32 the operations and their order are those
/// of [`super::math::exp_f32`], so every width gives the one-lane result bit for bit.
#[inline(always)]
pub(crate) fn exp_lanes<F: LaneFloat, L, V: Bits<F, L>>(x: V) -> V {
    let k = |v: F| x.splat_like(v);
    // The clamps take `x` as their second operand, which `max`/`min` return where either is NaN:
    // a NaN passes through to a NaN result.
    let xc = k(F::EXP_HI).min(k(F::EXP_LO).max(x));
    let y = exp_clamped(xc, k);
    let y = V::select(x.lt(k(F::EXP_LO)), k(F::ZERO), y);
    V::select(x.gt(k(F::EXP_HI)), k(F::INFINITY), y)
}

/// `e^x` on every lane for `x <= 0` (or NaN): [`exp_lanes`]'s value there, bit for bit, without
/// its overflow handling (a lane above [`LaneFloat::EXP_HI`] gives an unspecified value).
#[inline(always)]
pub(crate) fn exp_nonpositive_lanes<F: LaneFloat, L, V: Bits<F, L>>(x: V) -> V {
    let k = |v: F| x.splat_like(v);
    let y = exp_clamped(k(F::EXP_LO).max(x), k);
    V::select(x.lt(k(F::EXP_LO)), k(F::ZERO), y)
}

/// `e^x` for `x` in `[EXP_LO, EXP_HI]` (or NaN, giving NaN); `k` makes a constant.
#[inline(always)]
fn exp_clamped<F: LaneFloat, L, V: Bits<F, L>>(xc: V, k: impl Fn(F) -> V) -> V {
    // x = n ln 2 + r, |r| <= ln 2 / 2.
    let t = xc.mul_add(k(F::LOG2E), k(F::MAGIC));
    let fx = t - k(F::MAGIC);
    let r = (-fx).mul_add(k(F::LN2_HI), xc);
    let r = (-fx).mul_add(k(F::LN2_LO), r);
    let z = r * r;
    let mut p = k(F::EXP_P[0]);
    for coefficient in F::EXP_P[1..].iter() {
        p = p.mul_add(r, k(*coefficient));
    }
    let p = p.mul_add(z, r) + k(F::ONE);
    // 2^n in two normal factors (n one past the largest exponent near EXP_HI, and below the
    // smallest for a subnormal result, rounded once by the last product).
    let (a, b) = V::pow2_factors(t);
    p * a * b
}

/// `ln x` on every lane: -infinity at 0, NaN below 0 and for NaN, subnormals handled. For float32
/// the operations and their order are those of [`super::math::ln_f32`].
#[inline(always)]
pub(crate) fn ln_lanes<F: LaneFloat, L, V: Bits<F, L>>(x: V) -> V {
    let k = |v: F| x.splat_like(v);
    let subnormal = x.lt(k(F::MIN_POSITIVE));
    let xs = V::select(subnormal, x * k(F::SUBNORMAL_SCALE), x);
    let r = ln_scaled(
        xs,
        V::select(subnormal, k(F::SUBNORMAL_BITS), k(F::ZERO)),
        k,
    );
    let r = V::select(x.eq(k(F::ZERO)), k(F::NEG_INFINITY), r);
    let r = V::select(x.eq(k(F::INFINITY)), k(F::INFINITY), r);
    V::select(x.lt(k(F::ZERO)) | x.is_nan(), k(F::NAN), r)
}

/// `ln x` on every lane for a positive, normal, finite `x` (or NaN, giving NaN): [`ln_lanes`]'s
/// value there, bit for bit (another lane gives an unspecified value).
#[inline(always)]
pub(crate) fn ln_normal_lanes<F: LaneFloat, L, V: Bits<F, L>>(x: V) -> V {
    let k = |v: F| x.splat_like(v);
    let r = ln_scaled(x, k(F::ZERO), k);
    V::select(x.is_nan(), x, r)
}

/// `ln(x 2^-shift)` for a positive normal `x` (`shift` a small integer: the subnormal scaling).
#[inline(always)]
fn ln_scaled<F: LaneFloat, L, V: Bits<F, L>>(x: V, shift: V, k: impl Fn(F) -> V) -> V {
    let (exponent, m) = x.exponent_mantissa();
    // x = m 2^e with m in [sqrt(1/2), sqrt(2)).
    let low = m.lt(k(F::SQRT_HALF));
    // Small integers: exact in the float type, as the one-lane integer arithmetic.
    let e = exponent - k(F::HALF_BIAS) - shift - V::select(low, k(F::ONE), k(F::ZERO));
    let f = V::select(low, m + m, m) - k(F::ONE);
    F::ln_core(f, e, k)
}

/// One float32 lane: the bit manipulations on the integer of the bits (the one-lane `exp`/`ln`,
/// [`super::math::Real`]'s for `f32`).
impl<L: Level> Bits<f32, L> for f32 {
    #[inline(always)]
    fn splat_like(self, v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn pow2_factors(t: Self) -> (Self, Self) {
        // |n| <= 151: no overflow, and the biased exponents below are in 1..=254.
        let n = (t.to_bits() as i32).wrapping_sub(<f32 as LaneFloat>::MAGIC.to_bits() as i32);
        let half = n >> 1;
        let a = f32::from_bits(((half + 127) as u32) << 23);
        let b = f32::from_bits(((n - half + 127) as u32) << 23);
        (a, b)
    }
    #[inline(always)]
    fn exponent_mantissa(self) -> (Self, Self) {
        let bits = self.to_bits();
        let e = ((bits >> 23) & 0xff) as f32;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
        (e, m)
    }
}

/// One float64 lane: the bit manipulations on the integer of the bits (the one-lane `exp`/`ln`,
/// [`super::math::Real`]'s for `f64`).
impl<L: Level> Bits<f64, L> for f64 {
    #[inline(always)]
    fn splat_like(self, v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline(always)]
    fn pow2_factors(t: Self) -> (Self, Self) {
        // |n| <= 1076: no overflow, and the biased exponents below are in 1..=2046.
        let n = (t.to_bits() as i64).wrapping_sub(<f64 as LaneFloat>::MAGIC.to_bits() as i64);
        let half = n >> 1;
        let a = f64::from_bits(((half + 1023) as u64) << 52);
        let b = f64::from_bits(((n - half + 1023) as u64) << 52);
        (a, b)
    }
    #[inline(always)]
    fn exponent_mantissa(self) -> (Self, Self) {
        let bits = self.to_bits();
        let e = ((bits >> 52) & 0x7ff) as f64;
        let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3fe0_0000_0000_0000);
        (e, m)
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

/// The most lanes a vector of any level has (a [`Pair`] of AVX-512F float32 vectors): buffers that
/// receive a vector's lanes are this long.
pub(crate) const MAX_LANES: usize = 32;

/// Two vectors of a level side by side, as one vector of twice the lanes: every operation runs on
/// both halves. The kernels' work per lane is long chains of dependent operations (`exp`, `ln`,
/// a division, the focal power), each step waiting for the last; one vector's chains leave a
/// core's arithmetic units idle part of the time, two independent ones keep them busier
/// (interleaved runs at `2 x 4 x 128^3` on AVX2: `SigmoidFocalLoss` 25-35% faster, `FocalLoss`
/// 5-15%, the others within the machine's noise). The x86 levels use pairs ([`Level::F32`],
/// [`Level::F64`]); lanes are computed as one vector computes them, so a pair gives each lane the
/// one-lane result bit for bit, as a single vector does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair<V>(V, V);

impl<M: Mask> Mask for Pair<M> {
    #[inline(always)]
    fn all(self) -> bool {
        self.0.all() && self.1.all()
    }
}

impl<M: Mask> BitAnd for Pair<M> {
    type Output = Self;
    #[inline(always)]
    fn bitand(self, o: Self) -> Self {
        Pair(self.0 & o.0, self.1 & o.1)
    }
}

impl<M: Mask> BitOr for Pair<M> {
    type Output = Self;
    #[inline(always)]
    fn bitor(self, o: Self) -> Self {
        Pair(self.0 | o.0, self.1 | o.1)
    }
}

impl<M: Mask> Not for Pair<M> {
    type Output = Self;
    #[inline(always)]
    fn not(self) -> Self {
        Pair(!self.0, !self.1)
    }
}

macro_rules! pair_binop {
    ($trait:ident, $method:ident) => {
        impl<V: $trait<Output = V>> $trait for Pair<V> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, o: Self) -> Self {
                Pair(self.0.$method(o.0), self.1.$method(o.1))
            }
        }
    };
}
pair_binop!(Add, add);
pair_binop!(Sub, sub);
pair_binop!(Mul, mul);
pair_binop!(Div, div);

impl<V: Neg<Output = V>> Neg for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Pair(-self.0, -self.1)
    }
}

impl<R, L: Copy, V: Vector<R, L>> Vector<R, L> for Pair<V> {
    const LANES: usize = 2 * V::LANES;
    type Mask = Pair<V::Mask>;
    #[inline(always)]
    fn splat(level: L, v: R) -> Self {
        let half = V::splat(level, v);
        Pair(half, half)
    }
    #[inline(always)]
    fn load(level: L, s: &[R], i: usize) -> Self {
        Pair(V::load(level, s, i), V::load(level, s, i + V::LANES))
    }
    #[inline(always)]
    fn store(self, s: &mut [R], i: usize) {
        self.0.store(s, i);
        self.1.store(s, i + V::LANES);
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Pair(self.0.mul_add(a.0, b.0), self.1.mul_add(a.1, b.1))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Pair(self.0.max(o.0), self.1.max(o.1))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        Pair(self.0.min(o.0), self.1.min(o.1))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self::Mask {
        Pair(self.0.lt(o.0), self.1.lt(o.1))
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self::Mask {
        Pair(self.0.le(o.0), self.1.le(o.1))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self::Mask {
        Pair(self.0.gt(o.0), self.1.gt(o.1))
    }
    #[inline(always)]
    fn ge(self, o: Self) -> Self::Mask {
        Pair(self.0.ge(o.0), self.1.ge(o.1))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        Pair(self.0.eq(o.0), self.1.eq(o.1))
    }
    #[inline(always)]
    fn select(m: Self::Mask, a: Self, b: Self) -> Self {
        Pair(V::select(m.0, a.0, b.0), V::select(m.1, a.1, b.1))
    }
    #[inline(always)]
    fn exp(self) -> Self {
        Pair(self.0.exp(), self.1.exp())
    }
    #[inline(always)]
    fn exp_nonpositive(self) -> Self {
        Pair(self.0.exp_nonpositive(), self.1.exp_nonpositive())
    }
    #[inline(always)]
    fn ln(self) -> Self {
        Pair(self.0.ln(), self.1.ln())
    }
    #[inline(always)]
    fn ln_normal(self) -> Self {
        Pair(self.0.ln_normal(), self.1.ln_normal())
    }
    #[inline(always)]
    fn class_is(level: L, ids: &[i32], i: usize, k: i32) -> Self::Mask {
        Pair(
            V::class_is(level, ids, i, k),
            V::class_is(level, ids, i + V::LANES, k),
        )
    }
    #[inline(always)]
    fn class_valid(level: L, ids: &[i32], i: usize) -> Self::Mask {
        Pair(
            V::class_valid(level, ids, i),
            V::class_valid(level, ids, i + V::LANES),
        )
    }
    #[inline(always)]
    fn first(level: L, n: usize) -> Self::Mask {
        Pair(
            V::first(level, n),
            V::first(level, n.saturating_sub(V::LANES)),
        )
    }
    #[inline(always)]
    fn lane_sum(self) -> f64 {
        self.0.lane_sum() + self.1.lane_sum()
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

    use super::{
        exp_lanes, exp_nonpositive_lanes, ln_lanes, ln_normal_lanes, Avx2, Avx512, Bits, LaneFloat,
        Level, Mask, Pair, Vector,
    };

    /// The sum of 4 float64 lanes: the halves added, then the two lanes left.
    ///
    /// # Safety
    /// The CPU has AVX (any caller holds an AVX2 token).
    #[inline(always)]
    unsafe fn sum_f64x4(v: __m256d) -> f64 {
        let two = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)))
    }

    impl Bits<f32, Avx2> for F32x8 {
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
                    _mm256_set1_epi32(<f32 as LaneFloat>::MAGIC.to_bits() as i32),
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

    impl Bits<f32, Avx512> for F32x16 {
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
                    _mm512_set1_epi32(<f32 as LaneFloat>::MAGIC.to_bits() as i32),
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

    /// The float64 constants of the bit manipulations (as the one-lane `Bits` of `f64`).
    mod b64 {
        /// The bits of [`LaneFloat::MAGIC`](super::super::LaneFloat::MAGIC) for `f64`.
        pub(super) const MAGIC: i64 = 0x4338_0000_0000_0000;
        pub(super) const BIAS: i64 = 1023;
        pub(super) const EXPONENT: i64 = 0x7ff;
        pub(super) const MANTISSA: i64 = 0x000f_ffff_ffff_ffff;
        /// The bits of 0.5.
        pub(super) const HALF: i64 = 0x3fe0_0000_0000_0000;
        /// The bits of 2^52: `OR`ed with an integer below 2^52 they make `2^52 + that integer`.
        pub(super) const TWO52: i64 = 0x4330_0000_0000_0000;
    }

    impl Bits<f64, Avx2> for F64x4 {
        #[inline(always)]
        fn splat_like(self, v: f64) -> Self {
            F64x4::c(v)
        }
        #[inline(always)]
        fn is_nan(self) -> M64x4 {
            self.cmp::<_CMP_UNORD_Q>(self)
        }
        #[inline(always)]
        fn pow2_factors(t: Self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let n = _mm256_sub_epi64(_mm256_castpd_si256(t.0), _mm256_set1_epi64x(b64::MAGIC));
                // n >> 1 (AVX2 has no 64-bit arithmetic shift): |n| <= 1076, so each lane's high
                // 32 bits are its sign and the 32-bit shift of both halves is the 64-bit one.
                let half = _mm256_srai_epi32::<1>(n);
                let bias = _mm256_set1_epi64x(b64::BIAS);
                let a = _mm256_slli_epi64::<52>(_mm256_add_epi64(half, bias));
                let b = _mm256_slli_epi64::<52>(_mm256_add_epi64(_mm256_sub_epi64(n, half), bias));
                (F64x4(_mm256_castsi256_pd(a)), F64x4(_mm256_castsi256_pd(b)))
            }
        }
        #[inline(always)]
        fn exponent_mantissa(self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let bits = _mm256_castpd_si256(self.0);
                let e = _mm256_and_si256(
                    _mm256_srli_epi64::<52>(bits),
                    _mm256_set1_epi64x(b64::EXPONENT),
                );
                // The integer to float64 (no AVX2 instruction): 2^52 + e, less 2^52, exact.
                let e = _mm256_sub_pd(
                    _mm256_castsi256_pd(_mm256_or_si256(e, _mm256_set1_epi64x(b64::TWO52))),
                    _mm256_castsi256_pd(_mm256_set1_epi64x(b64::TWO52)),
                );
                let m = _mm256_or_si256(
                    _mm256_and_si256(bits, _mm256_set1_epi64x(b64::MANTISSA)),
                    _mm256_set1_epi64x(b64::HALF),
                );
                (F64x4(e), F64x4(_mm256_castsi256_pd(m)))
            }
        }
    }

    impl Bits<f64, Avx512> for F64x8 {
        #[inline(always)]
        fn splat_like(self, v: f64) -> Self {
            F64x8::c(v)
        }
        #[inline(always)]
        fn is_nan(self) -> M64x8 {
            self.cmp::<_CMP_UNORD_Q>(self)
        }
        #[inline(always)]
        fn pow2_factors(t: Self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let n = _mm512_sub_epi64(_mm512_castpd_si512(t.0), _mm512_set1_epi64(b64::MAGIC));
                let half = _mm512_srai_epi64::<1>(n);
                let bias = _mm512_set1_epi64(b64::BIAS);
                let a = _mm512_slli_epi64::<52>(_mm512_add_epi64(half, bias));
                let b = _mm512_slli_epi64::<52>(_mm512_add_epi64(_mm512_sub_epi64(n, half), bias));
                (F64x8(_mm512_castsi512_pd(a)), F64x8(_mm512_castsi512_pd(b)))
            }
        }
        #[inline(always)]
        fn exponent_mantissa(self) -> (Self, Self) {
            // SAFETY: see the module comment.
            unsafe {
                let bits = _mm512_castpd_si512(self.0);
                let e = _mm512_and_si512(
                    _mm512_srli_epi64::<52>(bits),
                    _mm512_set1_epi64(b64::EXPONENT),
                );
                // The integer to float64 (`vcvtqq2pd` is AVX-512DQ): 2^52 + e, less 2^52, exact.
                let e = _mm512_sub_pd(
                    _mm512_castsi512_pd(_mm512_or_si512(e, _mm512_set1_epi64(b64::TWO52))),
                    _mm512_castsi512_pd(_mm512_set1_epi64(b64::TWO52)),
                );
                let m = _mm512_or_si512(
                    _mm512_and_si512(bits, _mm512_set1_epi64(b64::MANTISSA)),
                    _mm512_set1_epi64(b64::HALF),
                );
                (F64x8(e), F64x8(_mm512_castsi512_pd(m)))
            }
        }
    }

    impl Level for Avx2 {
        type F32 = Pair<F32x8>;
        type F64 = Pair<F64x4>;
    }

    impl Level for Avx512 {
        type F32 = Pair<F32x16>;
        type F64 = Pair<F64x8>;
    }

    // Every level's vectors fit the lane buffers and divide a block.
    const _: () = {
        const fn fits(lanes: usize) -> bool {
            lanes <= super::MAX_LANES && super::super::BLOCK.is_multiple_of(lanes)
        }
        assert!(fits(<<Avx2 as Level>::F32 as Vector<f32, Avx2>>::LANES));
        assert!(fits(<<Avx2 as Level>::F64 as Vector<f64, Avx2>>::LANES));
        assert!(fits(<<Avx512 as Level>::F32 as Vector<f32, Avx512>>::LANES));
        assert!(fits(<<Avx512 as Level>::F64 as Vector<f64, Avx512>>::LANES));
    };

    /// 8 float32 lanes (AVX2).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct F32x8(__m256);

    /// A mask of 8 lanes: all bits set where true.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct M8(__m256);

    impl Mask for M8 {
        #[inline(always)]
        fn all(self) -> bool {
            // SAFETY: see the module comment.
            unsafe { _mm256_movemask_ps(self.0) == 0xff }
        }
    }
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
        fn exp_nonpositive(self) -> Self {
            exp_nonpositive_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            ln_normal_lanes(self)
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
        #[inline(always)]
        fn lane_sum(self) -> f64 {
            // SAFETY: see the module comment.
            unsafe {
                let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(self.0));
                let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(self.0));
                sum_f64x4(_mm256_add_pd(lo, hi))
            }
        }
    }

    /// The id a lane past the end of the class ids reads: no class (`class_is` with any `k >= -1`
    /// is false there, as on one lane; -1 is an ignored target's id) and not valid.
    const PAST_END: i32 = i32::MIN;

    /// `ids[i..i + 8]`, [`PAST_END`] past the end. Only called with an [`Avx2`] token in hand.
    #[inline(always)]
    fn load_ids8(ids: &[i32], i: usize) -> __m256i {
        if let Some(full) = ids.get(i..i + 8) {
            // SAFETY: the 8 elements are in the slice; the callers hold an `Avx2` token.
            return unsafe { _mm256_loadu_si256(full.as_ptr().cast()) };
        }
        let mut buf = [PAST_END; 8];
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

    impl Mask for M16 {
        #[inline(always)]
        fn all(self) -> bool {
            self.0 == 0xffff
        }
    }
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
            if let Some(full) = s.get(i..i + 16) {
                // SAFETY: the 16 elements are in the slice. (A plain load: a masked one costs
                // more on some cores.)
                return F32x16(unsafe { _mm512_loadu_ps(full.as_ptr()) });
            }
            let rest = s.get(i..).unwrap_or(&[]);
            // SAFETY: the masked load reads only the lanes inside `rest` (masked-off lanes are
            // not accessed and read as 0).
            F32x16(unsafe { _mm512_maskz_loadu_ps(first(rest.len()), rest.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], i: usize) {
            if let Some(full) = s.get_mut(i..i + 16) {
                // SAFETY: the 16 elements are in the slice. (A plain store: a masked one costs
                // more on some cores.)
                unsafe { _mm512_storeu_ps(full.as_mut_ptr(), self.0) };
            } else if let Some(rest) = s.get_mut(i..) {
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
        fn exp_nonpositive(self) -> Self {
            exp_nonpositive_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            ln_normal_lanes(self)
        }
        #[inline(always)]
        fn class_is(_: Avx512, ids: &[i32], i: usize, k: i32) -> M16 {
            M16(ids_cmp::<_MM_CMPINT_EQ, 16>(ids, i, k))
        }
        #[inline(always)]
        fn class_valid(_: Avx512, ids: &[i32], i: usize) -> M16 {
            // id > -1: not less than or equal to -1.
            M16(ids_cmp::<_MM_CMPINT_NLE, 16>(ids, i, -1))
        }
        #[inline(always)]
        fn first(_: Avx512, n: usize) -> M16 {
            M16(first(n))
        }
        #[inline(always)]
        fn lane_sum(self) -> f64 {
            // SAFETY: see the module comment.
            unsafe {
                let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(self.0));
                let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0));
                let hi = _mm512_cvtps_pd(_mm256_castpd_ps(hi));
                _mm512_reduce_add_pd(_mm512_add_pd(lo, hi))
            }
        }
    }

    /// 4 float64 lanes (AVX2).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct F64x4(__m256d);

    /// A mask of 4 float64 lanes: all bits set where true.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct M64x4(__m256d);

    impl Mask for M64x4 {
        #[inline(always)]
        fn all(self) -> bool {
            // SAFETY: see the module comment.
            unsafe { _mm256_movemask_pd(self.0) == 0xf }
        }
    }
    impl BitAnd for M64x4 {
        type Output = Self;
        #[inline(always)]
        fn bitand(self, o: Self) -> Self {
            // SAFETY: see the module comment.
            M64x4(unsafe { _mm256_and_pd(self.0, o.0) })
        }
    }
    impl BitOr for M64x4 {
        type Output = Self;
        #[inline(always)]
        fn bitor(self, o: Self) -> Self {
            // SAFETY: see the module comment.
            M64x4(unsafe { _mm256_or_pd(self.0, o.0) })
        }
    }
    impl Not for M64x4 {
        type Output = Self;
        #[inline(always)]
        fn not(self) -> Self {
            // SAFETY: see the module comment.
            M64x4(unsafe { _mm256_xor_pd(self.0, _mm256_castsi256_pd(_mm256_set1_epi32(-1))) })
        }
    }

    binop!(F64x4, Add, add, _mm256_add_pd);
    binop!(F64x4, Sub, sub, _mm256_sub_pd);
    binop!(F64x4, Mul, mul, _mm256_mul_pd);
    binop!(F64x4, Div, div, _mm256_div_pd);
    binop!(F64x8, Add, add, _mm512_add_pd);
    binop!(F64x8, Sub, sub, _mm512_sub_pd);
    binop!(F64x8, Mul, mul, _mm512_mul_pd);
    binop!(F64x8, Div, div, _mm512_div_pd);

    impl Neg for F64x4 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: see the module comment.
            F64x4(unsafe { _mm256_xor_pd(self.0, _mm256_set1_pd(-0.0)) })
        }
    }

    impl F64x4 {
        #[inline(always)]
        fn cmp<const P: i32>(self, o: Self) -> M64x4 {
            // SAFETY: see the module comment.
            M64x4(unsafe { _mm256_cmp_pd::<P>(self.0, o.0) })
        }
        #[inline(always)]
        fn c(v: f64) -> Self {
            // SAFETY: only called from methods of a value of this type (see the module comment).
            F64x4(unsafe { _mm256_set1_pd(v) })
        }
    }

    impl Vector<f64, Avx2> for F64x4 {
        const LANES: usize = 4;
        type Mask = M64x4;
        #[inline(always)]
        fn splat(_: Avx2, v: f64) -> Self {
            Self::c(v)
        }
        #[inline(always)]
        fn load(_: Avx2, s: &[f64], i: usize) -> Self {
            match s.get(i..i + 4) {
                // SAFETY: the 4 elements are in the slice.
                Some(full) => F64x4(unsafe { _mm256_loadu_pd(full.as_ptr()) }),
                None => {
                    let mut buf = [0.0f64; 4];
                    let rest = s.get(i..).unwrap_or(&[]);
                    let n = rest.len().min(4);
                    buf[..n].copy_from_slice(&rest[..n]);
                    // SAFETY: reads the 4 elements of `buf`.
                    F64x4(unsafe { _mm256_loadu_pd(buf.as_ptr()) })
                }
            }
        }
        #[inline(always)]
        fn store(self, s: &mut [f64], i: usize) {
            match s.get_mut(i..i + 4) {
                // SAFETY: the 4 elements are in the slice.
                Some(full) => unsafe { _mm256_storeu_pd(full.as_mut_ptr(), self.0) },
                None => {
                    let mut buf = [0.0f64; 4];
                    // SAFETY: writes the 4 elements of `buf`.
                    unsafe { _mm256_storeu_pd(buf.as_mut_ptr(), self.0) };
                    if let Some(rest) = s.get_mut(i..) {
                        let n = rest.len().min(4);
                        rest[..n].copy_from_slice(&buf[..n]);
                    }
                }
            }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment (FMA is part of the level).
            F64x4(unsafe { _mm256_fmadd_pd(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: see the module comment. `maxpd` returns its second operand where either
            // is NaN, as `math::max`.
            F64x4(unsafe { _mm256_max_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: as `max`.
            F64x4(unsafe { _mm256_min_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn lt(self, o: Self) -> M64x4 {
            self.cmp::<_CMP_LT_OQ>(o)
        }
        #[inline(always)]
        fn le(self, o: Self) -> M64x4 {
            self.cmp::<_CMP_LE_OQ>(o)
        }
        #[inline(always)]
        fn gt(self, o: Self) -> M64x4 {
            self.cmp::<_CMP_GT_OQ>(o)
        }
        #[inline(always)]
        fn ge(self, o: Self) -> M64x4 {
            self.cmp::<_CMP_GE_OQ>(o)
        }
        #[inline(always)]
        fn eq(self, o: Self) -> M64x4 {
            self.cmp::<_CMP_EQ_OQ>(o)
        }
        #[inline(always)]
        fn select(m: M64x4, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F64x4(unsafe { _mm256_blendv_pd(b.0, a.0, m.0) })
        }
        #[inline(always)]
        fn exp(self) -> Self {
            exp_lanes(self)
        }
        #[inline(always)]
        fn exp_nonpositive(self) -> Self {
            exp_nonpositive_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            ln_normal_lanes(self)
        }
        #[inline(always)]
        fn class_is(_: Avx2, ids: &[i32], i: usize, k: i32) -> M64x4 {
            let v = load_ids4(ids, i);
            // SAFETY: the token is in hand (AVX2). The 4 32-bit results widened (sign-extended)
            // to 64-bit lanes.
            M64x4(unsafe {
                _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(v, _mm_set1_epi32(k))))
            })
        }
        #[inline(always)]
        fn class_valid(_: Avx2, ids: &[i32], i: usize) -> M64x4 {
            let v = load_ids4(ids, i);
            // SAFETY: as `class_is`.
            M64x4(unsafe {
                _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpgt_epi32(
                    v,
                    _mm_set1_epi32(-1),
                )))
            })
        }
        #[inline(always)]
        fn first(_: Avx2, n: usize) -> M64x4 {
            let n = n.min(4) as i64;
            // SAFETY: the token is in hand (AVX2).
            M64x4(unsafe {
                _mm256_castsi256_pd(_mm256_cmpgt_epi64(
                    _mm256_set1_epi64x(n),
                    _mm256_setr_epi64x(0, 1, 2, 3),
                ))
            })
        }
        #[inline(always)]
        fn lane_sum(self) -> f64 {
            // SAFETY: see the module comment.
            unsafe { sum_f64x4(self.0) }
        }
    }

    /// `ids[i..i + 4]`, [`PAST_END`] past the end (SSE2, part of x86_64).
    #[inline(always)]
    fn load_ids4(ids: &[i32], i: usize) -> __m128i {
        if let Some(full) = ids.get(i..i + 4) {
            // SAFETY: the 4 elements are in the slice.
            return unsafe { _mm_loadu_si128(full.as_ptr().cast()) };
        }
        let mut buf = [PAST_END; 4];
        let rest = ids.get(i..).unwrap_or(&[]);
        let n = rest.len().min(4);
        buf[..n].copy_from_slice(&rest[..n]);
        // SAFETY: reads the 4 elements of `buf`.
        unsafe { _mm_loadu_si128(buf.as_ptr().cast()) }
    }

    /// 8 float64 lanes (AVX-512F).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct F64x8(__m512d);

    /// A mask of 8 lanes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct M64x8(__mmask8);

    impl Mask for M64x8 {
        #[inline(always)]
        fn all(self) -> bool {
            self.0 == 0xff
        }
    }
    impl BitAnd for M64x8 {
        type Output = Self;
        #[inline(always)]
        fn bitand(self, o: Self) -> Self {
            M64x8(self.0 & o.0)
        }
    }
    impl BitOr for M64x8 {
        type Output = Self;
        #[inline(always)]
        fn bitor(self, o: Self) -> Self {
            M64x8(self.0 | o.0)
        }
    }
    impl Not for M64x8 {
        type Output = Self;
        #[inline(always)]
        fn not(self) -> Self {
            M64x8(!self.0)
        }
    }

    impl Neg for F64x8 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: see the module comment.
            F64x8(unsafe {
                _mm512_castsi512_pd(_mm512_xor_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(i64::MIN),
                ))
            })
        }
    }

    impl F64x8 {
        #[inline(always)]
        fn cmp<const P: i32>(self, o: Self) -> M64x8 {
            // SAFETY: see the module comment.
            M64x8(unsafe { _mm512_cmp_pd_mask::<P>(self.0, o.0) })
        }
        #[inline(always)]
        fn c(v: f64) -> Self {
            // SAFETY: only called from methods of a value of this type (see the module comment).
            F64x8(unsafe { _mm512_set1_pd(v) })
        }
    }

    /// The mask of the first `n` of 8 lanes.
    #[inline(always)]
    fn first8(n: usize) -> __mmask8 {
        if n >= 8 {
            0xff
        } else {
            ((1u32 << n) - 1) as __mmask8
        }
    }

    /// Compares `ids[i..i + LANES]` (`LANES` 8 or 16) with `k` (`P` one of `_MM_CMPINT_*`),
    /// false past the end of `ids` and from lane `LANES` on: the ids read into 32-bit lanes, one
    /// mask bit each (for 8 float64 lanes, the low 8 bits are the whole mask). A plain load where
    /// all `LANES` ids are in the slice (a masked one costs more on some cores), a masked one
    /// for a tail. Called only with an `Avx512` token in hand.
    #[inline(always)]
    fn ids_cmp<const P: i32, const LANES: usize>(ids: &[i32], i: usize, k: i32) -> __mmask16 {
        const { assert!(LANES == 8 || LANES == 16) };
        let rest = ids.get(i..).unwrap_or(&[]);
        // SAFETY: each load reads only ids inside `rest` (`full` is `LANES` of them; the masked
        // load reads only the lanes of `valid`, all inside `rest`, and the others read as 0);
        // the token is in hand.
        unsafe {
            let key = _mm512_set1_epi32(k);
            match rest.get(..LANES) {
                // All 16 lanes: the compare needs no mask either.
                Some(full) if LANES == 16 => {
                    _mm512_cmp_epi32_mask::<P>(_mm512_loadu_si512(full.as_ptr().cast()), key)
                }
                Some(full) => {
                    let v = _mm512_castsi256_si512(_mm256_loadu_si256(full.as_ptr().cast()));
                    _mm512_mask_cmp_epi32_mask::<P>(0xff, v, key)
                }
                None => {
                    let valid = first(rest.len().min(LANES));
                    let v = _mm512_maskz_loadu_epi32(valid, rest.as_ptr());
                    _mm512_mask_cmp_epi32_mask::<P>(valid, v, key)
                }
            }
        }
    }

    impl Vector<f64, Avx512> for F64x8 {
        const LANES: usize = 8;
        type Mask = M64x8;
        #[inline(always)]
        fn splat(_: Avx512, v: f64) -> Self {
            Self::c(v)
        }
        #[inline(always)]
        fn load(_: Avx512, s: &[f64], i: usize) -> Self {
            if let Some(full) = s.get(i..i + 8) {
                // SAFETY: the 8 elements are in the slice (a plain load, as for float32).
                return F64x8(unsafe { _mm512_loadu_pd(full.as_ptr()) });
            }
            let rest = s.get(i..).unwrap_or(&[]);
            // SAFETY: the masked load reads only the lanes inside `rest` (masked-off lanes are
            // not accessed and read as 0).
            F64x8(unsafe { _mm512_maskz_loadu_pd(first8(rest.len()), rest.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f64], i: usize) {
            if let Some(full) = s.get_mut(i..i + 8) {
                // SAFETY: the 8 elements are in the slice (a plain store, as for float32).
                unsafe { _mm512_storeu_pd(full.as_mut_ptr(), self.0) };
            } else if let Some(rest) = s.get_mut(i..) {
                // SAFETY: the masked store writes only the lanes inside `rest`.
                unsafe { _mm512_mask_storeu_pd(rest.as_mut_ptr(), first8(rest.len()), self.0) }
            }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F64x8(unsafe { _mm512_fmadd_pd(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: see the module comment; NaN handling as `maxpd` (the second operand).
            F64x8(unsafe { _mm512_max_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: as `max`.
            F64x8(unsafe { _mm512_min_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn lt(self, o: Self) -> M64x8 {
            self.cmp::<_CMP_LT_OQ>(o)
        }
        #[inline(always)]
        fn le(self, o: Self) -> M64x8 {
            self.cmp::<_CMP_LE_OQ>(o)
        }
        #[inline(always)]
        fn gt(self, o: Self) -> M64x8 {
            self.cmp::<_CMP_GT_OQ>(o)
        }
        #[inline(always)]
        fn ge(self, o: Self) -> M64x8 {
            self.cmp::<_CMP_GE_OQ>(o)
        }
        #[inline(always)]
        fn eq(self, o: Self) -> M64x8 {
            self.cmp::<_CMP_EQ_OQ>(o)
        }
        #[inline(always)]
        fn select(m: M64x8, a: Self, b: Self) -> Self {
            // SAFETY: see the module comment.
            F64x8(unsafe { _mm512_mask_blend_pd(m.0, b.0, a.0) })
        }
        #[inline(always)]
        fn exp(self) -> Self {
            exp_lanes(self)
        }
        #[inline(always)]
        fn exp_nonpositive(self) -> Self {
            exp_nonpositive_lanes(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            ln_lanes(self)
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            ln_normal_lanes(self)
        }
        #[inline(always)]
        fn class_is(_: Avx512, ids: &[i32], i: usize, k: i32) -> M64x8 {
            M64x8(ids_cmp::<_MM_CMPINT_EQ, 8>(ids, i, k) as __mmask8)
        }
        #[inline(always)]
        fn class_valid(_: Avx512, ids: &[i32], i: usize) -> M64x8 {
            // id > -1: not less than or equal to -1.
            M64x8(ids_cmp::<_MM_CMPINT_NLE, 8>(ids, i, -1) as __mmask8)
        }
        #[inline(always)]
        fn first(_: Avx512, n: usize) -> M64x8 {
            M64x8(first8(n))
        }
        #[inline(always)]
        fn lane_sum(self) -> f64 {
            // SAFETY: see the module comment.
            unsafe { _mm512_reduce_add_pd(self.0) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::math::{exp_f32, ln_f32};

    /// float32 inputs covering the polynomials' ranges, the clamps, subnormals and the special
    /// values.
    fn samples_f32() -> Vec<f32> {
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

    /// The float64 edge values: 0, the infinities, NaN, the subnormal boundaries and `exp`'s
    /// overflow and underflow boundaries (either side of each).
    fn edges_f64() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE * (1.0 - f64::EPSILON),
            5e-324,
            1e-323,
            1e-310,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MAX,
            -f64::MAX,
            f64::EPSILON,
            1e-300,
            -1e-300,
            1e-17,
            -1e-17,
            // ln f64::MAX = 709.782712893384 (rounded); exp overflows just above.
            709.782_712_893_383_9,
            709.782_712_893_384,
            709.782_712_893_384_1,
            709.79,
            710.0,
            // e^x normal down to -708.396; subnormal down to 2^-1075 at -745.133.
            -708.396_418_532_264,
            -708.396_418_532_264_2,
            -708.4,
            -744.44,
            -745.133_219_101_941,
            -745.133_219_101_941_2,
            -745.14,
            -746.0,
            -746.1,
            -1000.0,
            1000.0,
            0.5f64.ln(),
            2f64.ln(),
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::SQRT_2,
            1.0 - f64::EPSILON / 2.0,
            1.0 + f64::EPSILON,
        ];
        // Either side of each multiple of ln 2 / 2 (where the reduction's n steps).
        for j in -2150..=2050 {
            let x = j as f64 * std::f64::consts::LN_2 / 2.0;
            v.extend([x, x.next_up(), x.next_down()]);
        }
        v
    }

    /// float64 inputs: the edges, then sweeps over `exp`'s range and `ln`'s (subnormals to the
    /// largest float).
    fn samples_f64() -> Vec<f64> {
        let mut v = edges_f64();
        let mut x = -750.0f64;
        while x < 712.0 {
            v.push(x);
            x += 0.0173;
        }
        let mut x = 5e-324f64;
        while x < 1.7e308 {
            v.push(x);
            x = x * 1.0731 + 5e-324;
        }
        v
    }

    /// `exp` and `ln` of every sample at the level the job runs at.
    struct Check<F>(Vec<F>);
    impl<F: LaneFloat> WithLevel for Check<F> {
        type Output = (Vec<F>, Vec<F>);
        #[inline(always)]
        fn run<L: Level>(self, level: L) -> Self::Output {
            let (e, l, _, _) = Lean(self.0).run(level);
            (e, l)
        }
    }

    /// `exp`, `ln`, `exp_nonpositive` and `ln_normal` of every sample at the level the job runs
    /// at.
    struct Lean<F>(Vec<F>);
    impl<F: LaneFloat> WithLevel for Lean<F> {
        type Output = (Vec<F>, Vec<F>, Vec<F>, Vec<F>);
        #[inline(always)]
        fn run<L: Level>(self, level: L) -> Self::Output {
            let xs = self.0;
            let mut out = [(); 4].map(|_| vec![F::ZERO; xs.len()]);
            let lanes = <F::V<L> as Vector<F, L>>::LANES;
            let mut i = 0;
            while i < xs.len() {
                let v = <F::V<L> as Vector<F, L>>::load(level, &xs, i);
                let [e, l, en, ln] = &mut out;
                v.exp().store(e, i);
                v.ln().store(l, i);
                v.exp_nonpositive().store(en, i);
                v.ln_normal().store(ln, i);
                i += lanes;
            }
            let [e, l, en, ln] = out;
            (e, l, en, ln)
        }
    }

    /// `exp_nonpositive` and `ln_normal` on their domains (`x <= 0`; positive normal finite
    /// numbers; NaN for both) at every level: the full functions' results bit for bit (NaN for
    /// NaN), so the kernels that take them give the same values.
    fn lean_functions_match_the_full_ones<F: LaneFloat + std::fmt::Debug>(
        xs: Vec<F>,
        bits: impl Fn(F) -> u64,
        is_nan: impl Fn(F) -> bool,
    ) {
        for level in LEVELS {
            let (e, l, en, ln) = dispatch(level, Lean(xs.clone()));
            let same = |a: F, b: F| bits(a) == bits(b) || (is_nan(a) && is_nan(b));
            let (mut exp_n, mut ln_n) = (0, 0);
            for (i, &x) in xs.iter().enumerate() {
                if x <= F::ZERO || is_nan(x) {
                    exp_n += 1;
                    assert!(
                        same(en[i], e[i]),
                        "{level:?} exp_nonpositive({x:?}) = {:?} vs {:?}",
                        en[i],
                        e[i]
                    );
                }
                if (x >= F::MIN_POSITIVE && x < F::INFINITY) || is_nan(x) {
                    ln_n += 1;
                    assert!(
                        same(ln[i], l[i]),
                        "{level:?} ln_normal({x:?}) = {:?} vs {:?}",
                        ln[i],
                        l[i]
                    );
                }
            }
            assert!(
                exp_n > 1000 && ln_n > 1000,
                "{exp_n} / {ln_n} samples in the domains"
            );
        }
    }

    #[test]
    fn lean_exp_and_ln_match_the_full_ones_on_their_domains() {
        lean_functions_match_the_full_ones(samples_f32(), |v| v.to_bits() as u64, f32::is_nan);
        lean_functions_match_the_full_ones(samples_f64(), f64::to_bits, f64::is_nan);
    }

    const LEVELS: [SimdLevel; 3] = [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512];

    #[test]
    fn every_level_gives_the_one_lane_exp_and_ln_bit_for_bit() {
        let xs = samples_f32();
        for level in LEVELS {
            let (e, l) = dispatch(level, Check(xs.clone()));
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
    fn every_level_gives_the_one_lane_float64_exp_and_ln_bit_for_bit() {
        let xs = samples_f64();
        for level in LEVELS {
            let (e, l) = dispatch(level, Check(xs.clone()));
            for (i, &x) in xs.iter().enumerate() {
                let (we, wl) = (Real::exp(x), Real::ln(x));
                assert!(
                    e[i].to_bits() == we.to_bits() || (e[i].is_nan() && we.is_nan()),
                    "{level:?} exp({x:e}) = {:e} vs {we:e}",
                    e[i]
                );
                assert!(
                    l[i].to_bits() == wl.to_bits() || (l[i].is_nan() && wl.is_nan()),
                    "{level:?} ln({x:e}) = {:e} vs {wl:e}",
                    l[i]
                );
            }
        }
    }

    /// The distance in representable values (the sign-magnitude bits made monotonic).
    fn ulps(a: f64, b: f64) -> u64 {
        let key = |x: f64| {
            let bits = x.to_bits() as i64;
            if bits < 0 {
                i64::MIN - bits
            } else {
                bits
            }
        };
        (key(a) as i128 - key(b) as i128).unsigned_abs() as u64
    }

    /// The one-lane float64 `exp` and `ln` (every level's, by the test above) against the
    /// standard library's (glibc's, within 0.52 ulp of the exact values): within 1 ulp over the
    /// whole range, the special values exact. Prints the share of results off by one.
    #[test]
    fn float64_exp_and_ln_are_within_one_ulp_of_the_standard_library() {
        let xs = samples_f64();
        let (mut exp_off, mut ln_off, mut ln_n) = (0usize, 0usize, 0usize);
        for &x in &xs {
            let (ours, std) = (Real::exp(x), x.exp());
            if std.is_nan() {
                assert!(ours.is_nan(), "exp({x:e}) = {ours:e}");
            } else {
                let d = ulps(ours, std);
                assert!(d <= 1, "exp({x:e}) = {ours:e} vs {std:e}: {d} ulp");
                exp_off += d as usize;
            }
            let (ours, std) = (Real::ln(x), x.ln());
            if std.is_nan() {
                assert!(ours.is_nan(), "ln({x:e}) = {ours:e}");
            } else {
                let d = ulps(ours, std);
                assert!(d <= 1, "ln({x:e}) = {ours:e} vs {std:e}: {d} ulp");
                ln_off += d as usize;
                ln_n += 1;
            }
        }
        // Dense around 1, where ln is small and its relative error largest.
        let mut x = 0.5f64;
        while x < 2.0 {
            let (ours, std) = (Real::ln(x), x.ln());
            let d = ulps(ours, std);
            assert!(d <= 1, "ln({x:e}) = {ours:e} vs {std:e}: {d} ulp");
            ln_off += d as usize;
            ln_n += 1;
            x += 1.37e-5;
        }
        eprintln!(
            "float64 vs std: exp off by 1 ulp in {exp_off} of {}, ln in {ln_off} of {ln_n}",
            xs.len()
        );
        for x in edges_f64() {
            let (e, l) = (Real::exp(x), Real::ln(x));
            if x.is_nan() {
                assert!(e.is_nan() && l.is_nan());
            } else if x == f64::INFINITY {
                assert_eq!((e, l), (f64::INFINITY, f64::INFINITY));
            } else if x == f64::NEG_INFINITY {
                assert_eq!(e.to_bits(), 0.0f64.to_bits());
                assert!(l.is_nan());
            } else if x == 0.0 {
                assert_eq!((e, l), (1.0, f64::NEG_INFINITY));
            }
        }
        let exp = <f64 as Real>::exp;
        let ln = <f64 as Real>::ln;
        assert_eq!(exp(709.782_712_893_384), 709.782_712_893_384f64.exp());
        assert!(exp(709.782_712_893_384) < f64::INFINITY);
        assert_eq!(exp(709.782_712_893_384_1), f64::INFINITY);
        assert_eq!(exp(-745.14).to_bits(), 0.0f64.to_bits());
        assert_eq!(exp(-745.13), 5e-324);
        assert_eq!(exp(-708.4), (-708.4f64).exp());
        assert_eq!(ln(1.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(ln(5e-324), 5e-324f64.ln());
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
    }

    /// The lane operations at `level`, for the checks of [`lane_operations_match_one_lane`]:
    /// partial loads and stores, the class-id masks past the end, `first`, `select`, `min`/`max`
    /// (with NaN) and `mul_add`, each as one-lane `f64`s (a mask as 1.0 / 0.0).
    struct Ops<F>(Vec<F>, Vec<i32>);
    impl<F: LaneFloat> WithLevel for Ops<F> {
        type Output = Vec<Vec<F>>;
        #[inline(always)]
        fn run<L: Level>(self, level: L) -> Self::Output {
            type V<F, L> = <F as Real>::V<L>;
            let (xs, ids) = (self.0, self.1);
            let n = xs.len();
            let ys: Vec<F> = xs.iter().rev().copied().collect();
            let lanes = <V<F, L> as Vector<F, L>>::LANES;
            let k = |v: F| <V<F, L> as Vector<F, L>>::splat(level, v);
            let as_float = |m| <V<F, L> as Vector<F, L>>::select(m, k(F::ONE), k(F::ZERO));
            let mut out = vec![vec![F::NAN; n]; 12];
            let mut i = 0;
            while i < n {
                let v = <V<F, L> as Vector<F, L>>::load(level, &xs, i);
                let w = <V<F, L> as Vector<F, L>>::load(level, &ys, i);
                v.store(&mut out[0], i);
                as_float(<V<F, L> as Vector<F, L>>::class_is(level, &ids, i, 2))
                    .store(&mut out[1], i);
                as_float(<V<F, L> as Vector<F, L>>::class_is(level, &ids, i, 0))
                    .store(&mut out[2], i);
                as_float(<V<F, L> as Vector<F, L>>::class_valid(level, &ids, i))
                    .store(&mut out[3], i);
                // -1 (an ignored target's id): true inside `ids` only.
                as_float(<V<F, L> as Vector<F, L>>::class_is(level, &ids, i, -1))
                    .store(&mut out[11], i);
                as_float(<V<F, L> as Vector<F, L>>::first(level, n - i)).store(&mut out[4], i);
                v.max(w).store(&mut out[5], i);
                v.min(w).store(&mut out[6], i);
                as_float(v.lt(w) | (v.eq(w) & !v.ge(k(F::ONE)))).store(&mut out[7], i);
                <V<F, L> as Vector<F, L>>::select(v.le(w), v - w, v * w).store(&mut out[8], i);
                v.mul_add(w, k(F::ONE)).store(&mut out[9], i);
                (-(v / w)).store(&mut out[10], i);
                i += lanes;
            }
            out
        }
    }

    fn lane_operations<F: LaneFloat + std::fmt::Debug>(
        of: impl Fn(f64) -> F,
        to_bits: impl Fn(F) -> u64,
    ) {
        for n in [1usize, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33] {
            let xs: Vec<F> = (0..n)
                .map(|j| match j % 7 {
                    3 => of(f64::NAN),
                    5 => of(-0.0),
                    _ => of((j as f64 - 4.5) * 0.37),
                })
                .collect();
            // Fewer ids than values: the class-id masks past the end of `ids` are false.
            let ids: Vec<i32> = (0..n - n / 3).map(|j| (j as i32 * 5) % 4 - 1).collect();
            let one = dispatch(SimdLevel::Scalar, Ops(xs.clone(), ids.clone()));
            for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
                let got = dispatch(level, Ops(xs.clone(), ids.clone()));
                for (op, (g, o)) in got.iter().zip(&one).enumerate() {
                    let same = g.iter().zip(o).all(|(&a, &b)| to_bits(a) == to_bits(b));
                    assert!(
                        same,
                        "{level:?}, {n} values, operation {op}: {g:?} vs {o:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn lane_operations_match_one_lane() {
        lane_operations(|v| v as f32, |v: f32| v.to_bits() as u64);
        lane_operations(|v| v, f64::to_bits);
    }

    /// Each vector's `lane_sum` over `self.0`, a vector at a time (the last one partial).
    struct LaneSums<F>(Vec<F>);
    impl<F: LaneFloat> WithLevel for LaneSums<F> {
        type Output = Vec<(usize, f64)>;
        #[inline(always)]
        fn run<L: Level>(self, level: L) -> Self::Output {
            let lanes = <F::V<L> as Vector<F, L>>::LANES;
            (0..self.0.len())
                .step_by(lanes)
                .map(|i| (i, <F::V<L>>::load(level, &self.0, i).lane_sum()))
                .collect()
        }
    }

    /// `lane_sum` at every level against the exact sum: values whose float64 sum has no
    /// rounding (quarters up to 2^20, float32's 24 bits each), so any order gives it.
    fn lane_sums<F: LaneFloat>(of: impl Fn(f64) -> F) {
        for n in [1usize, 5, 8, 13, 16, 31, 32, 45, 64] {
            let exact: Vec<f64> = (0..n)
                .map(|j| (j as f64 * 37.25 - 600.5) * if j % 5 == 2 { 1024.0 } else { 1.0 })
                .collect();
            let xs: Vec<F> = exact.iter().map(|&v| of(v)).collect();
            for level in [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512] {
                // (A level this CPU lacks falls back to the detected one in both dispatches.)
                let lanes = dispatch(level, LaneCount::<F>(std::marker::PhantomData));
                for (i, sum) in dispatch(level, LaneSums(xs.clone())) {
                    let want: f64 = exact[i..(i + lanes).min(n)].iter().sum();
                    assert_eq!(sum, want, "{level:?}, {n} values, the vector at {i}");
                }
            }
        }
    }

    /// The lane count of `F`'s vectors at a level.
    struct LaneCount<F>(std::marker::PhantomData<F>);
    impl<F: LaneFloat> WithLevel for LaneCount<F> {
        type Output = usize;
        fn run<L: Level>(self, _: L) -> usize {
            <F::V<L> as Vector<F, L>>::LANES
        }
    }

    #[test]
    fn lane_sums_are_exact_at_every_level() {
        lane_sums(|v| v as f32);
        lane_sums(|v| v);
    }

    #[test]
    fn this_machine_has_the_levels_the_tests_force() {
        // Informational where the CPU lacks them: the forced levels then fall back.
        eprintln!("detected SIMD level: {:?}", detected());
    }
}
