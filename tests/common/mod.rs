//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cases;
pub mod device;
pub mod dtype;
pub mod float64;
pub mod paths;
pub mod worst;

use std::collections::BTreeMap;
use std::path::Path;

use tch::Tensor;

// Not every test binary computes on the test device.
#[allow(unused_imports)]
pub use device::test_device;

/// Reads a committed fixture file into a map name -> tensor, from `tests/fixtures` of this
/// checkout, or of `FOCAL_FIXTURES_DIR` where the test binary runs elsewhere (the GPU check).
pub fn fixtures(file: &str) -> BTreeMap<String, Tensor> {
    let dir = std::env::var_os("FOCAL_FIXTURES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let path = dir.join(file);
    Tensor::read_safetensors(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// `max |a - b| / max |b|` (or the absolute error where `b` is all zero).
pub fn rel_error(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    let a = a.to_kind(tch::Kind::Double);
    let b = b.to_kind(tch::Kind::Double);
    let err = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    if scale == 0.0 {
        err
    } else {
        err / scale
    }
}

/// `max |a - b|` over `max |b|`, or over `floor` where that is larger, computed in float64 on the
/// CPU (no shape check: `b` broadcasts against `a`).
pub fn rel_error_above(a: &Tensor, b: &Tensor, floor: f64) -> f64 {
    let a = a.to_device(tch::Device::Cpu).to_kind(tch::Kind::Double);
    let b = b.to_device(tch::Device::Cpu).to_kind(tch::Kind::Double);
    let scale = b.abs().max().double_value(&[]).max(floor);
    (a - &b).abs().max().double_value(&[]) / scale
}

/// SplitMix64: a generator of the test's own, so that inputs do not depend on which other tests
/// draw from libtorch's global generator at the same time (tests run in parallel).
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Standard normal values of `shape` from `seed` (float64 on the CPU), the same in every run.
pub fn seeded_randn(shape: &[i64], seed: u64) -> Tensor {
    let mut rng = SplitMix::new(seed);
    let n: i64 = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    Tensor::from_slice(&values).view(shape)
}

/// Normal logits of `shape` times `scale`, cast to `kind`, from libtorch's global generator seeded
/// with `seed` (the generator is shared with the tests running at the same time: [`seeded_randn`]
/// draws from one of the test's own).
pub fn manual_seed_logits(shape: &[i64], seed: i64, scale: f64, kind: tch::Kind) -> Tensor {
    tch::manual_seed(seed);
    (Tensor::randn(shape, (tch::Kind::Double, tch::Device::Cpu)) * scale).to_kind(kind)
}

/// Integers in `[0, high)` of `shape` from `seed` (int64 on the CPU), the same in every run.
pub fn seeded_randint(high: i64, shape: &[i64], seed: u64) -> Tensor {
    let mut rng = SplitMix::new(seed);
    let n: i64 = shape.iter().product();
    let values: Vec<i64> = (0..n)
        .map(|_| (rng.next_u64() % high.max(1) as u64) as i64)
        .collect();
    Tensor::from_slice(&values).view(shape)
}

/// Uniform values in `(0, 1)` of `shape` from `seed` (float64 on the CPU), the same in every run.
pub fn seeded_rand(shape: &[i64], seed: u64) -> Tensor {
    let mut rng = SplitMix::new(seed);
    let n: i64 = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    Tensor::from_slice(&values).view(shape)
}
