//! Properties of the focal-family losses: cross-entropy equivalence, half precision, saturated
//! logits, errors, gradients, and construction from configuration, on the test device
//! (`FOCAL_TEST_DEVICE`).

mod common;

use focal::{
    gradcheck, Activation, DiceFocalLoss, DiceLoss, GradcheckOptions, Loss, LossConfig, LossError,
    Reduction, SigmoidFocalLoss, SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

const GAMMAS: [f64; 5] = [0.0, 0.5, 1.0, 2.0, 5.0];

fn opts(kind: Kind) -> (Kind, Device) {
    (kind, common::test_device())
}

/// Logits `(2, 3, 4, 5)`, class indices `(2, 4, 5)` with some -100, and a float one-hot target.
fn batch(kind: Kind, scale: f64) -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(3);
    let logits = (Tensor::randn([2, 3, 4, 5], opts(Kind::Double)) * scale).to_kind(kind);
    let target = Tensor::randint(3, [2, 4, 5], opts(Kind::Int64));
    let onehot = target.one_hot(3).permute([0, 3, 1, 2]).to_kind(kind);
    (logits, target, onehot)
}

/// Every new loss, with what it takes: (loss, target kind: 0 indices, 1 one-hot float).
fn losses(gamma: f64, reduction: Reduction) -> Vec<(Box<dyn Loss>, u8)> {
    vec![
        (
            Box::new(
                SigmoidFocalLoss::new()
                    .with_gamma(gamma)
                    .with_reduction(reduction),
            ),
            1,
        ),
        (
            Box::new(
                SoftmaxFocalLoss::new()
                    .with_gamma(gamma)
                    .with_alpha(Some(vec![0.2, 0.5, 0.3]))
                    .with_label_smoothing(0.1)
                    .with_reduction(reduction),
            ),
            0,
        ),
        (Box::new(DiceLoss::new().with_reduction(reduction)), 0),
        (
            Box::new(
                DiceLoss::new()
                    .with_activation(Activation::Sigmoid)
                    .with_squared_pred(true)
                    .with_reduction(reduction),
            ),
            1,
        ),
        (
            Box::new(
                DiceFocalLoss::new()
                    .with_gamma(gamma)
                    .with_alpha(Some(0.25))
                    .with_reduction(reduction),
            ),
            0,
        ),
        (
            Box::new(
                DiceFocalLoss::new()
                    .with_activation(Activation::Sigmoid)
                    .with_gamma(gamma)
                    .with_include_background(false)
                    .with_reduction(reduction),
            ),
            1,
        ),
    ]
}

fn all_finite(t: &Tensor) -> bool {
    t.isfinite().all().int64_value(&[]) == 1
}

#[test]
fn softmax_focal_with_gamma_0_is_cross_entropy() {
    tch::manual_seed(11);
    let logits = Tensor::randn([4, 5, 3, 3], opts(Kind::Double)) * 3.0;
    let target = Tensor::randint(5, [4, 3, 3], opts(Kind::Int64));
    let ignored = Tensor::rand([4, 3, 3], opts(Kind::Double)).lt(0.2);
    let target = target.masked_fill(&ignored, -100);
    let alpha = vec![0.1, 0.3, 0.2, 0.25, 0.15];
    let weight = Tensor::from_slice(&alpha).to_device(common::test_device());
    for smoothing in [0.0, 0.1, 0.3] {
        for with_alpha in [false, true] {
            for reduction in Reduction::ALL {
                let ours = SoftmaxFocalLoss::new()
                    .with_gamma(0.0)
                    .with_alpha(with_alpha.then(|| alpha.clone()))
                    .with_label_smoothing(smoothing)
                    .with_reduction(reduction)
                    .forward(&logits, &target);
                let w = with_alpha.then_some(&weight);
                let ce = logits.cross_entropy_loss(
                    &target,
                    w,
                    reduction.try_into().unwrap(),
                    -100,
                    smoothing,
                );
                let err = (&ours - &ce).abs().max().double_value(&[]);
                let scale = ce.abs().max().double_value(&[]);
                assert!(
                    err <= 1e-14 * scale,
                    "smoothing {smoothing} alpha {with_alpha} {reduction}: {err}"
                );
            }
        }
    }
}

#[test]
fn half_and_bfloat16_compute_in_float32_and_return_their_dtype() {
    for kind in [Kind::Half, Kind::BFloat16] {
        for (loss, target_kind) in losses(2.0, Reduction::Mean) {
            let (x32, idx, onehot32) = batch(Kind::Float, 3.0);
            let x = x32.to_kind(kind).set_requires_grad(true);
            let target = if target_kind == 0 {
                idx.shallow_clone()
            } else {
                onehot32.to_kind(kind)
            };
            let out = loss.forward(&x, &target);
            assert_eq!(out.kind(), kind, "{}", loss.name());
            out.backward();
            assert_eq!(x.grad().kind(), kind);
            assert!(
                all_finite(&out) && all_finite(&x.grad()),
                "{} {kind:?}",
                loss.name()
            );
            // Against float32 on the same (rounded) values: only the final rounding differs.
            let target32 = if target_kind == 0 { idx } else { onehot32 };
            let reference = loss
                .forward(&x.detach().to_kind(Kind::Float), &target32)
                .double_value(&[]);
            let got = out.double_value(&[]);
            let tolerance = if kind == Kind::Half { 1e-3 } else { 1e-2 };
            assert!(
                (got - reference).abs() <= tolerance * reference.abs(),
                "{} {kind:?}: {got} vs {reference}",
                loss.name()
            );
        }
    }
}

#[test]
fn half_precision_reductions_over_many_elements_do_not_overflow() {
    // 2 x 3 x 200 x 200: sums of weights past half's 65504 must not reach the result; the
    // reduction runs in float32 and only the result is rounded to the input's dtype.
    tch::manual_seed(5);
    let x32 = Tensor::randn([2, 3, 200, 200], opts(Kind::Float));
    let idx = Tensor::randint(3, [2, 200, 200], opts(Kind::Int64));
    let onehot = idx.one_hot(3).permute([0, 3, 1, 2]).to_kind(Kind::Float);
    for reduction in [Reduction::Mean, Reduction::Sum] {
        for (loss, target_kind) in losses(2.0, reduction) {
            let target32 = if target_kind == 0 {
                idx.shallow_clone()
            } else {
                onehot.shallow_clone()
            };
            let target16 = if target_kind == 0 {
                idx.shallow_clone()
            } else {
                onehot.to_kind(Kind::Half)
            };
            let x16 = x32.to_kind(Kind::Half);
            let got = loss.forward(&x16, &target16).double_value(&[]);
            let reference = loss
                .forward(&x16.to_kind(Kind::Float), &target32)
                .double_value(&[]);
            if reference.abs() < 60_000.0 {
                assert!(
                    (got - reference).abs() <= 1e-3 * reference.abs(),
                    "{} {reduction}: {got} vs {reference}",
                    loss.name()
                );
            }
        }
    }
}

#[test]
fn saturated_logits_give_finite_losses_and_gradients() {
    for kind in [Kind::Float, Kind::Double, Kind::Half] {
        for gamma in GAMMAS {
            for reduction in Reduction::ALL {
                for (loss, target_kind) in losses(gamma, reduction) {
                    let (signs, idx, onehot) = batch(Kind::Double, 1.0);
                    // ±50 everywhere: right and wrong confident predictions, and ties.
                    let x = (signs.sign() * 50.0).to_kind(kind).set_requires_grad(true);
                    let target = if target_kind == 0 {
                        idx
                    } else {
                        onehot.to_kind(kind)
                    };
                    let out = loss.forward(&x, &target);
                    (&out * 1.0).sum(Kind::Double).backward();
                    assert!(
                        all_finite(&out),
                        "{} gamma {gamma} {reduction} {kind:?}: loss",
                        loss.name()
                    );
                    assert!(
                        all_finite(&x.grad()),
                        "{} gamma {gamma} {reduction} {kind:?}: grad",
                        loss.name()
                    );
                }
            }
        }
    }
}

#[test]
fn focal_gradients_are_finite_where_probabilities_round_to_one() {
    // Logit gaps of 100 make p = 1 exactly in float32; gamma < 1 is where pow would blow up.
    let device = common::test_device();
    for gamma in GAMMAS {
        let x = Tensor::from_slice(&[50.0f32, -50.0, 0.0, 100.0, -100.0, 0.0])
            .view([2, 3])
            .to_device(device)
            .set_requires_grad(true);
        let t = Tensor::from_slice(&[0i64, 0]).to_device(device);
        let loss = SoftmaxFocalLoss::new().with_gamma(gamma).forward(&x, &t);
        loss.backward();
        assert!(all_finite(&loss) && all_finite(&x.grad()), "gamma {gamma}");
        let x = Tensor::from_slice(&[60.0f32, -60.0, 60.0, -60.0])
            .to_device(device)
            .set_requires_grad(true);
        let t = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).to_device(device);
        let loss = SigmoidFocalLoss::new().with_gamma(gamma).forward(&x, &t);
        loss.backward();
        assert!(all_finite(&loss) && all_finite(&x.grad()), "gamma {gamma}");
    }
}

#[test]
fn gradcheck_every_loss() {
    for reduction in Reduction::ALL {
        for gamma in [0.5, 2.0] {
            for (loss, target_kind) in losses(gamma, reduction) {
                let (x, idx, onehot) = batch(Kind::Double, 2.0);
                let target = if target_kind == 0 { idx } else { onehot };
                let report = gradcheck(&*loss, &x, &target, GradcheckOptions::default()).unwrap();
                assert!(
                    report.passed(1e-6),
                    "{} gamma {gamma} {reduction}: {report:?}",
                    loss.name()
                );
            }
        }
    }
    // Soft labels and ignored elements too.
    let (x, idx, _) = batch(Kind::Double, 2.0);
    let soft = Tensor::rand(x.size(), opts(Kind::Double));
    let report = gradcheck(
        &SigmoidFocalLoss::new().with_gamma(0.5),
        &x,
        &soft,
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed(1e-6), "{report:?}");
    let report = gradcheck(
        &DiceFocalLoss::new(),
        &x,
        &soft.softmax(1, Kind::Double),
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed(1e-6), "{report:?}");
    let ignored = idx.masked_fill(&Tensor::rand(idx.size(), opts(Kind::Double)).lt(0.3), -100);
    let report = gradcheck(
        &SoftmaxFocalLoss::new(),
        &x,
        &ignored,
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed(1e-6), "{report:?}");
}

#[test]
fn errors_name_the_loss_the_argument_and_the_problem() {
    let (x, idx, onehot) = batch(Kind::Float, 1.0);

    let err = SoftmaxFocalLoss::new()
        .with_alpha(Some(vec![0.5, 0.5]))
        .f_forward(&x, &idx)
        .unwrap_err();
    assert!(
        matches!(err, LossError::InvalidHyperparameter { name: "alpha", .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "SoftmaxFocalLoss: hyperparameter alpha should be one weight per class of input, 3 values but is 2 values [0.5, 0.5]"
    );

    let err = SoftmaxFocalLoss::new()
        .with_alpha(Some(vec![0.5, -1.0, 0.5]))
        .f_forward(&x, &idx)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SoftmaxFocalLoss: hyperparameter alpha should be in 0.0.. but is Some([0.5, -1.0, 0.5])"
    );

    let bad = idx.copy();
    let _ = bad.get(0).get(0).get(0).fill_(3);
    let err = SoftmaxFocalLoss::new().f_forward(&x, &bad).unwrap_err();
    assert!(matches!(err, LossError::TargetOutOfRange { .. }));
    assert_eq!(
        err.to_string(),
        "SoftmaxFocalLoss: target should hold class indices in [0, 3) or the ignore_index -100 but holds 3"
    );
    let err = DiceLoss::new().f_forward(&x, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "DiceLoss: target should hold class indices in [0, 3) but holds 3"
    );

    let soft = onehot.shallow_clone() * 1.5;
    let err = SigmoidFocalLoss::new().f_forward(&x, &soft).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SigmoidFocalLoss: target should hold values in [0, 1] but holds 1.5 (and 39 more)"
    );
    let err = DiceFocalLoss::new().f_forward(&x, &soft).unwrap_err();
    assert!(matches!(
        err,
        LossError::TargetOutOfRange {
            loss: "DiceFocalLoss",
            ..
        }
    ));

    let err = SigmoidFocalLoss::new()
        .with_gamma(-1.0)
        .f_forward(&x, &onehot)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SigmoidFocalLoss: hyperparameter gamma should be in 0.0.. but is -1.0"
    );
    let err = SigmoidFocalLoss::new()
        .with_alpha(Some(1.5))
        .f_forward(&x, &onehot)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SigmoidFocalLoss: hyperparameter alpha should be in 0.0..=1.0 but is Some(1.5)"
    );

    let one_channel = x.narrow(1, 0, 1);
    let err = DiceLoss::new()
        .f_forward(&one_channel, &onehot.narrow(1, 0, 1))
        .unwrap_err();
    assert!(matches!(err, LossError::ShapeMismatch { arg: "input", .. }));
    assert!(
        err.to_string()
            .contains("at least 2 channels for the softmax activation"),
        "{err}"
    );
    let err = SoftmaxFocalLoss::new()
        .f_forward(&one_channel, &idx)
        .unwrap_err();
    assert!(matches!(err, LossError::ShapeMismatch { .. }), "{err}");

    let err = DiceLoss::new()
        .f_forward(&x, &onehot.narrow(2, 0, 2))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("DiceLoss: target has shape [2, 3, 2, 5] but a floating-point target"),
        "{err}"
    );
    let err = SoftmaxFocalLoss::new().f_forward(&x, &onehot).unwrap_err();
    assert!(matches!(
        err,
        LossError::DTypeMismatch { arg: "target", .. }
    ));
}

#[test]
fn dice_reductions_are_per_sample_and_class() {
    let (x, idx, onehot) = batch(Kind::Double, 2.0);
    let none = DiceLoss::new()
        .with_reduction(Reduction::None)
        .forward(&x, &idx);
    assert_eq!(none.size(), [2, 3]);
    let mean = DiceLoss::new().forward(&x, &idx).double_value(&[]);
    assert!((none.mean(Kind::Double).double_value(&[]) - mean).abs() < 1e-15);
    // Class indices, (N, 1, *) indices and the one-hot target agree.
    let from_onehot = DiceLoss::new().forward(&x, &onehot).double_value(&[]);
    let from_channel = DiceLoss::new()
        .forward(&x, &idx.unsqueeze(1))
        .double_value(&[]);
    assert!((mean - from_onehot).abs() < 1e-15 && (mean - from_channel).abs() < 1e-15);
    let no_bg = DiceLoss::new()
        .with_include_background(false)
        .with_reduction(Reduction::None)
        .forward(&x, &idx);
    assert_eq!(no_bg.size(), [2, 2]);
    let df = DiceFocalLoss::new()
        .with_reduction(Reduction::None)
        .forward(&x, &idx);
    assert_eq!(df.size(), [2, 3]);
    // lambda_focal = 0 is the Dice loss.
    let dice_only = DiceFocalLoss::new()
        .with_lambda_focal(0.0)
        .forward(&x, &idx)
        .double_value(&[]);
    assert!((dice_only - mean).abs() < 1e-15);
}

#[test]
fn loss_config_from_json_and_toml() {
    let json = r#"{"type": "softmax_focal", "gamma": 2.0, "alpha": [0.25, 0.75]}"#;
    let config: LossConfig = serde_json::from_str(json).unwrap();
    assert_eq!(
        config,
        LossConfig::SoftmaxFocal(SoftmaxFocalLoss::new().with_alpha(Some(vec![0.25, 0.75])))
    );
    let loss = config.build().unwrap();
    let device = common::test_device();
    let x = Tensor::from_slice(&[1.0f64, -1.0, 0.0, 2.0])
        .view([2, 2])
        .to_device(device);
    let t = Tensor::from_slice(&[0i64, 1]).to_device(device);
    let expected = SoftmaxFocalLoss::new()
        .with_alpha(Some(vec![0.25, 0.75]))
        .forward(&x, &t);
    assert_eq!(
        loss.forward(&x, &t).double_value(&[]),
        expected.double_value(&[])
    );

    let toml_text = r#"
        type = "dice_focal"
        activation = "sigmoid"
        include_background = false
        gamma = 1.5
        alpha = 0.25
        lambda_dice = 0.5
        reduction = "sum"
    "#;
    let config: LossConfig = toml::from_str(toml_text).unwrap();
    let expected = DiceFocalLoss::new()
        .with_activation(Activation::Sigmoid)
        .with_include_background(false)
        .with_gamma(1.5)
        .with_alpha(Some(0.25))
        .with_lambda_dice(0.5)
        .with_reduction(Reduction::Sum);
    assert_eq!(config, LossConfig::DiceFocal(expected));
    assert_eq!(config.build().unwrap().name(), "DiceFocalLoss");

    for name in LossConfig::NAMES {
        let config: LossConfig = serde_json::from_str(&format!(r#"{{"type": "{name}"}}"#)).unwrap();
        let built = config.build().unwrap();
        let back: LossConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config, "{}", built.name());
    }

    let err = serde_json::from_str::<LossConfig>(r#"{"type": "softmax_focall"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "unknown loss `softmax_focall`: expected one of `focal`, `focal_loss`, `sigmoid_focal`, `softmax_focal`, `dice`, `dice_focal`"
        ),
        "{err}"
    );
    let err = toml::from_str::<LossConfig>("type = \"dice\"\nsmooth = 1.0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `smooth`, expected one of `activation`, `include_background`"),
        "{err}"
    );
    // A value out of its range fails at load time, naming the loss and the field.
    let err =
        serde_json::from_str::<LossConfig>(r#"{"type": "dice", "smooth_nr": -1.0}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dice: DiceLoss: hyperparameter smooth_nr should be in 0.0.. but is -1.0"
    );
    // Built in code, the same value fails at `build`.
    let config = LossConfig::Dice(DiceLoss::new().with_smooth_nr(-1.0));
    let err = config.build().err().unwrap();
    assert_eq!(
        err.to_string(),
        "DiceLoss: hyperparameter smooth_nr should be in 0.0.. but is -1.0"
    );
}
