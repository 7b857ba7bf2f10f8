//! Every `LossError` kind, triggered through the public API, with its message.

use focal::{Focal, FocalLoss, Loss, LossError, Reduction};
use tch::{Device, Kind, Tensor};

fn float(shape: &[i64]) -> Tensor {
    Tensor::rand(shape, (Kind::Float, Device::Cpu))
}

fn message(result: Result<Tensor, LossError>) -> String {
    result.expect_err("expected an error").to_string()
}

#[test]
fn device_mismatch() {
    // Tensors on two devices need a GPU; without one, a meta tensor plays the second device.
    let logits = float(&[2, 3]);
    let (target, device) = if tch::Cuda::is_available() {
        (Tensor::zeros([2], (Kind::Int64, Device::Cuda(0))), "cuda:0")
    } else {
        return check_device_error_formatting();
    };
    let err = FocalLoss::default()
        .f_forward(&logits, &target)
        .unwrap_err();
    assert!(matches!(err, LossError::DeviceMismatch { .. }));
    assert_eq!(
        err.to_string(),
        format!("FocalLoss: target is on {device} but input is on cpu")
    );
}

fn check_device_error_formatting() {
    let err = LossError::DeviceMismatch {
        loss: "FocalLoss",
        arg: "target",
        found: Device::Cuda(0),
        reference: "input",
        expected: Device::Cpu,
    };
    assert_eq!(
        err.to_string(),
        "FocalLoss: target is on cuda:0 but input is on cpu"
    );
    assert_eq!(err.loss(), "FocalLoss");
}

#[test]
fn shape_mismatch() {
    let msg = message(Focal::default().f_forward(&float(&[2, 3]), &float(&[3, 2]).round()));
    assert_eq!(
        msg,
        "Focal: target has shape [3, 2] but should have the shape of input, [2, 3]"
    );
    let msg = message(FocalLoss::default().f_forward(
        &float(&[2, 4, 5]),
        &Tensor::zeros([2, 6], (Kind::Int64, Device::Cpu)),
    ));
    assert_eq!(msg, "FocalLoss: target has shape [2, 6] but should be (N, *) = [2, 5] or (N, 1, *) = [2, 1, 5] for input of shape [2, 4, 5]");
    let msg = message(FocalLoss::default().f_forward(
        &float(&[4]),
        &Tensor::zeros([4], (Kind::Int64, Device::Cpu)),
    ));
    assert_eq!(
        msg,
        "FocalLoss: input has shape [4] but should be (N, C, *) logits with at least 2 dims"
    );
}

#[test]
fn dtype_mismatch() {
    let msg = message(FocalLoss::default().f_forward(&float(&[2, 3]), &float(&[2])));
    assert_eq!(
        msg,
        "FocalLoss: target should have an integer dtype but has Float"
    );
    let ints = Tensor::zeros([2, 3], (Kind::Int64, Device::Cpu));
    let msg = message(Focal::default().f_forward(&ints, &ints));
    assert_eq!(
        msg,
        "Focal: input should have a floating-point dtype but has Int64"
    );
}

#[test]
fn invalid_hyperparameter() {
    let msg = message(
        Focal::default()
            .with_alpha(1.5)
            .f_forward(&float(&[3]), &float(&[3]).round()),
    );
    assert_eq!(
        msg,
        "Focal: hyperparameter alpha should be in 0.0..=1.0 but is 1.5"
    );
    let msg = message(FocalLoss::default().with_gamma(-1.0).f_forward(
        &float(&[2, 3]),
        &Tensor::zeros([2], (Kind::Int64, Device::Cpu)),
    ));
    assert_eq!(
        msg,
        "FocalLoss: hyperparameter gamma should be in 0.0.. but is -1.0"
    );
    assert!(matches!(
        FocalLoss::default().with_alpha(f64::NAN).validate(),
        Err(LossError::InvalidHyperparameter { .. })
    ));
}

#[test]
fn target_out_of_range() {
    let target = Tensor::from_slice(&[0i64, 3, 7, -1]);
    let msg = message(FocalLoss::default().f_forward(&float(&[4, 3]), &target));
    assert_eq!(
        msg,
        "FocalLoss: target should hold class indices in [0, 3) but holds 3 (and 2 more)"
    );
    let msg =
        message(Focal::default().f_forward(&float(&[3]), &Tensor::from_slice(&[0.0f32, 1.0, 2.0])));
    assert_eq!(msg, "Focal: target should hold only 0 and 1 but holds 2");
}

#[test]
fn wrapped_tch_error() {
    // A libtorch failure inside a body becomes LossError::Tch, tagged with the loss's name.
    #[focal::loss]
    fn needs_matching_dims(input: &Tensor, target: &Tensor) -> Result<Tensor, LossError> {
        Ok(input.f_matmul(target)?)
    }
    let err = NeedsMatchingDims::new()
        .f_forward(&float(&[2, 3]), &float(&[2, 3]))
        .unwrap_err();
    assert!(matches!(
        err,
        LossError::Tch {
            loss: "NeedsMatchingDims",
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.starts_with("NeedsMatchingDims: libtorch error: "),
        "{msg}"
    );
    assert!(msg.contains("cannot be multiplied"), "{msg}");
}

#[test]
#[should_panic(expected = "FocalLoss: target should have an integer dtype but has Float")]
fn forward_panics_with_the_message() {
    let _ = FocalLoss::default().forward(&float(&[2, 3]), &float(&[2]));
}

#[test]
fn reduction_parses_prints_and_converts() {
    for r in Reduction::ALL {
        assert_eq!(r.to_string().parse::<Reduction>().unwrap(), r);
        assert_eq!(Reduction::try_from(tch::Reduction::from(r)).unwrap(), r);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, format!("\"{r}\""));
        assert_eq!(serde_json::from_str::<Reduction>(&json).unwrap(), r);
    }
    let err = "avg".parse::<Reduction>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown reduction `avg`: expected one of \"none\", \"mean\", \"sum\""
    );
    assert!(Reduction::try_from(tch::Reduction::Other(7)).is_err());
    let boxed: Box<dyn Loss> = Box::new(Focal::default().with_reduction(Reduction::Sum));
    assert_eq!(boxed.reduction(), Reduction::Sum);
}
