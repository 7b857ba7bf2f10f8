//! Per-dtype numbers the tests share. Anything not float64 counts as float32 here.

use tch::Kind;

/// The tests' relative tolerance for a result in `kind`: 1e-10 (float64), 1e-5 (float32).
pub fn tolerance(kind: Kind) -> f64 {
    if kind == Kind::Double {
        1e-10
    } else {
        1e-5
    }
}

/// The dtype's smallest normal number: the floor of a relative error (a subnormal result has no
/// relative precision to hold).
pub fn smallest_normal(kind: Kind) -> f64 {
    if kind == Kind::Double {
        f64::MIN_POSITIVE
    } else {
        f32::MIN_POSITIVE as f64
    }
}

/// The dtype's largest finite value.
pub fn max_of(kind: Kind) -> f64 {
    if kind == Kind::Double {
        f64::MAX
    } else {
        f32::MAX as f64
    }
}
