//! Every `LossError` kind, triggered through the public API, with its message, on the test device
//! (`FOCAL_TEST_DEVICE`); device mismatches between the CPU and `cuda:0` where a GPU exists.

mod common;

use focal::{Focal, FocalLoss, Loss, LossConfig, LossError, Reduction};
use tch::{Device, Kind, Tensor};

fn float(shape: &[i64]) -> Tensor {
    Tensor::rand(shape, (Kind::Float, common::test_device()))
}

fn int64_zeros(shape: &[i64]) -> Tensor {
    Tensor::zeros(shape, (Kind::Int64, common::test_device()))
}

fn message(result: Result<Tensor, LossError>) -> String {
    result.expect_err("expected an error").to_string()
}

/// A valid (input, target) pair on the CPU for each built-in loss, by its `LossConfig` name.
fn valid_cpu_pair(name: &str) -> (Tensor, Tensor) {
    let opts = |kind| (kind, Device::Cpu);
    let logits = Tensor::randn([2, 3, 4], opts(Kind::Float));
    let classes = Tensor::zeros([2, 4], opts(Kind::Int64));
    match name {
        "focal" => (
            Tensor::rand([2, 3], opts(Kind::Float)),
            Tensor::zeros([2, 3], opts(Kind::Float)),
        ),
        "sigmoid_focal" => (logits, Tensor::zeros([2, 3, 4], opts(Kind::Float))),
        "focal_loss" | "softmax_focal" | "dice" | "dice_focal" => (logits, classes),
        other => panic!("no test tensors for the built-in loss `{other}`"),
    }
}

/// Every built-in loss, with the input on `cuda:0` and the target on the CPU, and the other way
/// round: the typed error with both devices named. Needs a GPU (skipped without one).
#[test]
fn device_mismatch() {
    if !tch::Cuda::is_available() {
        eprintln!("device_mismatch: no CUDA device, skipped (see device_mismatch_message_format)");
        return;
    }
    let cuda = Device::Cuda(0);
    for name in LossConfig::NAMES {
        let config: LossConfig = serde_json::from_str(&format!(r#"{{"type": "{name}"}}"#)).unwrap();
        let loss = config.build().unwrap();
        let (input, target) = valid_cpu_pair(name);
        // Both on one device: no error (the pair is valid).
        let _ = loss
            .f_forward(&input.to_device(cuda), &target.to_device(cuda))
            .unwrap_or_else(|e| panic!("{name} on cuda:0: {e}"));
        let cases = [
            (
                input.to_device(cuda),
                target.shallow_clone(),
                "cpu",
                "cuda:0",
            ),
            (
                input.shallow_clone(),
                target.to_device(cuda),
                "cuda:0",
                "cpu",
            ),
        ];
        for (input, target, target_on, input_on) in cases {
            let err = loss.f_forward(&input, &target).unwrap_err();
            assert!(
                matches!(err, LossError::DeviceMismatch { .. }),
                "{name}: {err:?}"
            );
            assert_eq!(err.loss(), loss.name());
            assert_eq!(
                err.to_string(),
                format!(
                    "{}: target is on {target_on} but input is on {input_on}",
                    loss.name()
                )
            );
        }
    }
}

/// The message of a device mismatch, from a hand-built error: runs without a GPU too.
#[test]
fn device_mismatch_message_format() {
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
    let msg = message(FocalLoss::default().f_forward(&float(&[2, 4, 5]), &int64_zeros(&[2, 6])));
    assert_eq!(msg, "FocalLoss: target has shape [2, 6] but should be (N, *) = [2, 5] or (N, 1, *) = [2, 1, 5] for input of shape [2, 4, 5]");
    let msg = message(FocalLoss::default().f_forward(&float(&[4]), &int64_zeros(&[4])));
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
    let ints = int64_zeros(&[2, 3]);
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
    let msg = message(
        FocalLoss::default()
            .with_gamma(-1.0)
            .f_forward(&float(&[2, 3]), &int64_zeros(&[2])),
    );
    assert_eq!(
        msg,
        "FocalLoss: hyperparameter gamma should be in 0.0.. but is -1.0"
    );
    assert!(matches!(
        FocalLoss::default().with_alpha(f64::NAN).validate(),
        Err(LossError::InvalidHyperparameter { .. })
    ));
    // A long value is cut short: a million-entry alpha list does not make a 5 MB message.
    let mut alpha = vec![0.5; 1_000_000];
    alpha[999_999] = -1.0;
    let msg = focal::SoftmaxFocalLoss::new()
        .with_alpha(Some(alpha))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "SoftmaxFocalLoss: hyperparameter alpha should be in 0.0.. but is Some([0.5, 0.5,"
        ),
        "{msg}"
    );
    assert!(
        msg.len() < 200 && msg.ends_with("more characters)"),
        "{msg}"
    );
}

#[test]
fn target_out_of_range() {
    let target = Tensor::from_slice(&[0i64, 3, 7, -1]).to_device(common::test_device());
    let msg = message(FocalLoss::default().f_forward(&float(&[4, 3]), &target));
    assert_eq!(
        msg,
        "FocalLoss: target should hold class indices in [0, 3) but holds 3 (and 2 more)"
    );
    let msg = message(Focal::default().f_forward(
        &float(&[3]),
        &Tensor::from_slice(&[0.0f32, 1.0, 2.0]).to_device(common::test_device()),
    ));
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
        assert_eq!(
            Reduction::try_from(tch::Reduction::try_from(r).unwrap()).unwrap(),
            r
        );
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

/// Tensors no loss computes with are typed errors up front, for every built-in loss, never a
/// panic inside tch: undefined (`Tensor::new()`, a missing `.grad()`), sparse, MKL-DNN and
/// quantized inputs and targets.
#[test]
fn unusable_tensors_are_typed_errors_for_every_loss() {
    for name in LossConfig::NAMES {
        let config: LossConfig = serde_json::from_str(&format!(r#"{{"type": "{name}"}}"#)).unwrap();
        let loss = config.build().unwrap();
        let (input, target) = valid_cpu_pair(name);
        let mkldnn = input.to_mkldnn();
        let quantized = input.quantize_per_tensor(0.1, 0, Kind::QInt8);
        let cases: [(&str, Tensor, Tensor, &str); 6] = [
            (
                "input",
                Tensor::new(),
                target.shallow_clone(),
                "an undefined tensor (Tensor::new(), or the .grad() of a tensor that has none)",
            ),
            (
                "target",
                input.shallow_clone(),
                input.grad(),
                "an undefined tensor (Tensor::new(), or the .grad() of a tensor that has none)",
            ),
            (
                "target",
                input.shallow_clone(),
                target.to_sparse_sparse_dim(1),
                "a sparse tensor (call .to_dense() first)",
            ),
            (
                "input",
                input.to_sparse_sparse_dim(1),
                target.shallow_clone(),
                "a sparse tensor (call .to_dense() first)",
            ),
            (
                "input",
                mkldnn,
                target.shallow_clone(),
                "an MKL-DNN tensor (call .to_dense() first)",
            ),
            (
                "input",
                quantized,
                target.shallow_clone(),
                "a quantized tensor (call .dequantize() first)",
            ),
        ];
        for (arg, input, target, found) in cases {
            let err = loss.f_forward(&input, &target).unwrap_err();
            assert!(
                matches!(err, LossError::UnsupportedTensor { .. }),
                "{name} {arg}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "{}: {arg} should be a defined, dense tensor on the CPU or a GPU but is {found}",
                    loss.name()
                )
            );
        }
    }
}

/// libtorch's message is one line: the C++ frames stay in `source()`.
#[test]
fn libtorch_errors_show_their_first_line_only() {
    let err = focal::LossError::from(
        Tensor::from_slice(&[1.0f32, 2.0])
            .f_reshape([3])
            .unwrap_err(),
    )
    .in_loss("MyLoss");
    let text = err.to_string();
    assert!(text.starts_with("MyLoss: libtorch error: "), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains("frame #"), "{text}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.len() >= text.len() - "MyLoss: libtorch error: ".len());
}

/// Infinite and NaN hyperparameters are refused (a range such as `0.0..` means the finite numbers
/// from 0): `gamma = inf` would otherwise validate and give NaN losses.
#[test]
fn non_finite_hyperparameters_are_refused() {
    let (x, t) = (float(&[2, 3]), int64_zeros(&[2]));
    let err = FocalLoss::default()
        .with_gamma(f64::INFINITY)
        .f_forward(&x, &t)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "FocalLoss: hyperparameter gamma should be finite and in 0.0.. but is inf"
    );
    let err = FocalLoss::default()
        .with_alpha(f64::NAN)
        .f_forward(&x, &t)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "FocalLoss: hyperparameter alpha should be finite and in 0.0..=1.0 but is NaN"
    );
    let err = focal::SoftmaxFocalLoss::default()
        .with_alpha(Some(vec![0.5, f64::INFINITY, 1.0]))
        .f_forward(&x, &t)
        .unwrap_err();
    assert!(
        matches!(err, LossError::InvalidHyperparameter { name: "alpha", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("should be finite and in 0.0.."),
        "{err}"
    );
}

/// Class indices are compared in i64 whatever the target's integer type, on both paths: a `u8`
/// target of 156 is not taken for the default ignore_index -100 (which wraps to 156 in `u8`),
/// an `i32` target is not ignored by an ignore_index of 2^32, and without an ignore_index
/// `i64::MIN` is an out-of-range class, not a sentinel.
#[test]
fn narrow_integer_targets_are_compared_in_i64() {
    let x = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));
    let loss = focal::SoftmaxFocalLoss::default();
    for composed in [false, true] {
        let run = |l: &focal::SoftmaxFocalLoss, t: &Tensor| {
            if composed {
                focal::fused::composed_only(|| l.f_forward(&x, t))
            } else {
                l.f_forward(&x, t)
            }
        };
        let u8_target = Tensor::from_slice(&[0u8, 156]);
        let err = run(&loss, &u8_target).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SoftmaxFocalLoss: target should hold class indices in [0, 3) or the ignore_index -100 but holds 156",
            "composed={composed}"
        );
        let i32_target = Tensor::from_slice(&[0i32, 2]);
        let wide_ignore = loss.clone().with_ignore_index(Some(1 << 32));
        let with_ignore = run(&wide_ignore, &i32_target).unwrap().double_value(&[]);
        let plain = run(&loss, &i32_target.to_kind(Kind::Int64))
            .unwrap()
            .double_value(&[]);
        assert!(
            (with_ignore - plain).abs() < 1e-6,
            "composed={composed}: class 0 was ignored"
        );
        let no_ignore = loss.clone().with_ignore_index(None);
        let err = run(&no_ignore, &Tensor::from_slice(&[0i64, i64::MIN])).unwrap_err();
        assert!(
            matches!(err, LossError::TargetOutOfRange { .. }),
            "composed={composed}: {err}"
        );
        // FocalLoss (the seed's) and DiceLoss read narrow targets the same way.
        let err = FocalLoss::default()
            .f_forward(&x, &Tensor::from_slice(&[0u8, 200]))
            .unwrap_err();
        assert!(err.to_string().ends_with("but holds 200"), "{err}");
    }
}
