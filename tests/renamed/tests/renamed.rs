//! The loss declared under a renamed dependency works like any other, on the test device
//! (`FOCAL_TEST_DEVICE`).

// focal's shared test device (`FOCAL_TEST_DEVICE`), from its `tests/common` (that file alone:
// the other helpers name the `focal` crate, renamed here).
#[path = "../../common/device.rs"]
mod common;

use common::test_device;
use focal_renamed_test::Absolute;
use my_focal::{Loss, Reduction};
use tch::Tensor;

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
