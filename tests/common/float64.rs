//! Float64 helpers for the closed-form truths the tests hold the paths against.

use tch::{Device, Kind, Tensor};

/// `log sigmoid(z)`, stable for every `z` (`-inf` at `-inf`).
pub fn log_sigmoid(z: f64) -> f64 {
    z.min(0.0) - (-z.abs()).exp().ln_1p()
}

/// `log(e^a + e^b)`.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// The values of `t`, flattened, as float64 (brought to the CPU).
pub fn floats(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1])).unwrap()
}

/// `max |a - b|` over `max |b|`, or over `floor` where that is larger; `a` and `b` of the same
/// length. With `nan_is_error` a NaN in `a` makes the error infinite; without it, NaNs drop out
/// of the maximum (`f64::max` skips them).
pub fn rel_error(a: &[f64], b: &[f64], floor: f64, nan_is_error: bool) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    if nan_is_error && a.iter().any(|v| v.is_nan()) {
        return f64::INFINITY;
    }
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (u, v)| m.max((u - v).abs()));
    err / scale.max(floor)
}
