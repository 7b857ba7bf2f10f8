//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use tch::Tensor;

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

/// The device the tests compute on: `FOCAL_TEST_DEVICE` (`cpu`, the default, `cuda` or
/// `cuda:N`).
pub fn test_device() -> tch::Device {
    match std::env::var("FOCAL_TEST_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") => tch::Device::Cpu,
        Ok("cuda") => tch::Device::Cuda(0),
        Ok(other) => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => tch::Device::Cuda(n),
            _ => panic!("FOCAL_TEST_DEVICE={other}: expected cpu, cuda or cuda:N"),
        },
    }
}
