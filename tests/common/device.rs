//! The device the tests compute on. This file is all that tests/renamed includes of `common`
//! (the rest names the `focal` crate, which that crate renames).

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
