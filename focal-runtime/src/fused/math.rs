//! The number type the fused kernels compute in: `f32` and `f64`, each with branch-free polynomial
//! `exp` and `ln` (the one-lane [`super::simd::exp_lanes`] and [`super::simd::ln_lanes`]: float32
//! Cephes', float64 Taylor/`atanh` series), the same operations as their SIMD lanes.

use std::ops::{Add, Div, Mul, Neg, Sub};

use tch::Kind;

use super::simd::{Level, Scalar, Vector};

/// A float the kernels compute in.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    /// The tensor dtype of this type.
    const KIND: Kind;
    /// Whether the kernels instantiate their constant-class-count paths for this type (float32;
    /// float64, rarer in training, keeps the general path: each instantiation costs compile time).
    const FIXED_CLASSES: bool;
    const ZERO: Self;
    const ONE: Self;
    const MAX: Self;
    const INFINITY: Self;
    fn of(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    /// `e^x` for `x <= 0` (see [`Vector::exp_nonpositive`]).
    fn exp_nonpositive(self) -> Self;
    fn ln(self) -> Self;
    /// `ln x` for a positive, normal, finite `x` (see [`Vector::ln_normal`]).
    fn ln_normal(self) -> Self;
    /// `self * a + b` with one rounding (an FMA instruction where the kernel is built for one).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// This type's lanes at SIMD level `L`.
    type V<L: Level>: Vector<Self, L>;
}

/// `ln(1 + u)` from `w = 1 + u` (rounded) and `inv = 1 / w` (the sigmoid kernel's, lane by lane): `ln w` corrected for the rounding of
/// `w` (exact also where `w` rounds to 1), without a division of its own.
#[cfg(test)]
pub(crate) fn ln_1p_from<R: Real>(u: R, w: R, inv: R) -> R {
    w.ln() - ((w - R::ONE) - u) * inv
}

/// `if c { a } else { b }`, written so that it compiles to a blend.
#[inline(always)]
pub(crate) fn select<R: Copy>(c: bool, a: R, b: R) -> R {
    if c {
        a
    } else {
        b
    }
}

/// The larger of two numbers (the second where either is NaN).
#[inline(always)]
pub(crate) fn max<R: Real>(a: R, b: R) -> R {
    select(a > b, a, b)
}

/// The smaller of two numbers (the second where either is NaN).
#[inline(always)]
pub(crate) fn min<R: Real>(a: R, b: R) -> R {
    select(a < b, a, b)
}

impl Real for f64 {
    type V<L: Level> = L::F64;
    const KIND: Kind = Kind::Double;
    const FIXED_CLASSES: bool = false;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = Self::MAX;
    const INFINITY: Self = Self::INFINITY;
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    /// [`super::simd::exp_lanes`] on one lane (every level's float64 `exp`, bit for bit).
    #[inline(always)]
    fn exp(self) -> Self {
        super::simd::exp_lanes::<f64, Scalar, f64>(self)
    }
    #[inline(always)]
    fn exp_nonpositive(self) -> Self {
        super::simd::exp_nonpositive_lanes::<f64, Scalar, f64>(self)
    }
    #[inline(always)]
    fn ln_normal(self) -> Self {
        super::simd::ln_normal_lanes::<f64, Scalar, f64>(self)
    }
    /// [`super::simd::ln_lanes`] on one lane.
    #[inline(always)]
    fn ln(self) -> Self {
        super::simd::ln_lanes::<f64, Scalar, f64>(self)
    }
}

impl Real for f32 {
    type V<L: Level> = L::F32;
    const KIND: Kind = Kind::Float;
    const FIXED_CLASSES: bool = true;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = Self::MAX;
    const INFINITY: Self = Self::INFINITY;
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn exp_nonpositive(self) -> Self {
        super::simd::exp_nonpositive_lanes::<f32, Scalar, f32>(self)
    }
    #[inline(always)]
    fn ln_normal(self) -> Self {
        super::simd::ln_normal_lanes::<f32, Scalar, f32>(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        ln_f32(self)
    }
}

/// `e^x` for `f32` (Cephes `expf`, within 2 ulp; subnormal results, below -87.3, rounded once):
/// 0 below -104, infinity above 88.7, NaN for NaN. [`super::simd::exp_lanes`] on one lane (every
/// level's float32 `exp`, bit for bit).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    super::simd::exp_lanes::<f32, Scalar, f32>(x)
}

/// `ln x` for `f32` (Cephes `logf`, within 2 ulp): -inf at 0, NaN below 0 and for NaN, subnormals
/// handled. [`super::simd::ln_lanes`] on one lane.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    super::simd::ln_lanes::<f32, Scalar, f32>(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let exact = (x as f64).exp() as f32;
            assert!(
                ulps(exp_f32(x), exact) <= 2,
                "exp({x}) = {} vs {exact}",
                exp_f32(x)
            );
            x += 0.0137;
        }
        // Subnormal results, within 1 ulp of the subnormal spacing.
        let mut x = -87.3f32;
        while x > -104.0 {
            let exact = (x as f64).exp() as f32;
            assert!(
                ulps(exp_f32(x), exact) <= 1,
                "exp({x}) = {:e} vs {exact:e}",
                exp_f32(x)
            );
            x -= 0.0137;
        }
        assert_eq!(exp_f32(-104.5), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(1000.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn ln_is_within_two_ulp_of_the_exact_value() {
        for x in [
            1e-44f32, 1e-40, 1e-38, 1e-20, 1e-3, 0.5, 0.7, 0.99999, 1.0, 1.5, 2.0, 1e10, 3e38,
        ] {
            let exact = (x as f64).ln() as f32;
            assert!(
                ulps(ln_f32(x), exact) <= 2,
                "ln({x}) = {} vs {exact}",
                ln_f32(x)
            );
        }
        let mut x = 1e-6f32;
        while x < 1e6 {
            let exact = (x as f64).ln() as f32;
            assert!(
                ulps(ln_f32(x), exact) <= 2,
                "ln({x}) = {} vs {exact}",
                ln_f32(x)
            );
            x *= 1.0371;
        }
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(f32::NAN).is_nan());
    }

    #[test]
    fn ln_1p_is_accurate_for_tiny_arguments() {
        for u in [1e-30f32, 1e-10, 1e-7, 3e-7, 1e-3, 0.1, 0.5, 0.999, 1.0] {
            let exact = (u as f64).ln_1p() as f32;
            let w = 1.0 + u;
            let ours = ln_1p_from(u, w, 1.0 / w);
            assert!(ulps(ours, exact) <= 3, "ln_1p({u}) = {ours} vs {exact}");
        }
    }
}
