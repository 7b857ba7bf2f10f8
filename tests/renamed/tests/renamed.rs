//! The loss declared under a renamed dependency works like any other, on the test device
//! (`FOCAL_TEST_DEVICE`).

use focal_renamed_test::Absolute;
use my_focal::{Loss, Reduction};
use tch::Tensor;

/// The device the tests compute on: a copy of `test_device()` in focal's `tests/common` (this
/// crate cannot reach it): `FOCAL_TEST_DEVICE` = `cpu` (the default), `cuda` or `cuda:N`.
fn test_device() -> tch::Device {
    match std::env::var("FOCAL_TEST_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") => tch::Device::Cpu,
        Ok("cuda") => tch::Device::Cuda(0),
        Ok(other) => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => tch::Device::Cuda(n),
            _ => panic!("FOCAL_TEST_DEVICE={other}: expected cpu, cuda or cuda:N"),
        },
    }
}

#[test]
fn loss_under_renamed_dependency_runs() {
    let loss = Absolute::new();
    assert_eq!(loss.reduction, Reduction::Sum);
    let x = Tensor::from_slice(&[1.0f64, -2.0]).to_device(test_device());
    let y = Tensor::from_slice(&[0.5f64, 0.0]).to_device(test_device());
    assert_eq!(loss.forward(&x, &y).double_value(&[]), 2.5);
    assert_eq!(loss.with_scale(2.0).forward(&x, &y).double_value(&[]), 5.0);
    let err = Absolute::new()
        .with_scale(-1.0)
        .f_forward(&x, &y)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Absolute: hyperparameter scale"),
        "{err}"
    );
    assert_eq!(Loss::name(&Absolute::new()), "Absolute");
}
