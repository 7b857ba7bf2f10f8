//! What `#[loss]` takes beyond `(input, target)`: any number of call-time tensors, optional ones,
//! shape checks between them, reductions of the loss's own, bodies whose tch panics become errors,
//! `Self::NAME` in bodies, exclusive lower bounds, `DynLoss`, and the registry. Values are checked
//! against closed forms and finite differences, on the test device (`FOCAL_TEST_DEVICE`).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use focal::{
    gradcheck_function, loss, registered_names, AnyLoss, DynLoss, GradcheckOptions, Loss,
    LossError, Reduction,
};
use tch::{Kind, Tensor};

fn on_device(values: &[f64]) -> Tensor {
    Tensor::from_slice(values).to_device(common::test_device())
}

fn value(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// `max(0, -y (x1 - x2) + margin)`, with a hand-written backward for all three tensors.
#[loss(backward = margin_ranking_grad)]
fn margin_ranking(
    #[tensor(float)] input1: &Tensor,
    #[tensor(float, same_shape_as = input1)] input2: &Tensor,
    #[tensor(float, same_shape_as = input1)] target: &Tensor,
    #[hyper(default = 0.0)] margin: f64,
) -> Result<Tensor, LossError> {
    Ok((-target * (input1 - input2) + margin).f_clamp_min(0.0)?)
}

fn margin_ranking_grad(
    upstream: &Tensor,
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    margin: f64,
    reduction: Reduction,
) -> Vec<Option<Tensor>> {
    let active = (-target * (input1 - input2) + margin)
        .gt(0.0)
        .to_kind(input1.kind());
    let upstream = match reduction {
        Reduction::Mean => upstream / input1.numel() as f64,
        _ => upstream.shallow_clone(),
    };
    let g1 = -target * &active * &upstream;
    let gy = -(input1 - input2) * &active * &upstream;
    vec![Some(g1.shallow_clone()), Some(-g1), Some(gy)]
}

/// Squared error with an optional per-element weight, differentiated by plain autograd.
#[loss]
fn weighted_mse(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    #[tensor(float, broadcastable_to = input)] weight: Option<&Tensor>,
) -> Tensor {
    let squared = (input - target).square();
    match weight {
        Some(w) => squared * w,
        None => squared,
    }
}

/// The same with a hand-written backward, which receives the weight as an `Option`.
#[loss(backward = weighted_mse_grad)]
fn weighted_mse_by_hand(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    #[tensor(float, broadcastable_to = input)] weight: Option<&Tensor>,
) -> Tensor {
    weighted_mse(input, target, weight)
}

fn weighted_mse_grad(
    upstream: &Tensor,
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Vec<Option<Tensor>> {
    let upstream = match reduction {
        Reduction::Mean => upstream / input.numel() as f64,
        _ => upstream.shallow_clone(),
    };
    let d = input - target;
    let w = weight.map_or_else(|| d.ones_like(), Tensor::shallow_clone);
    let gx = &d * 2.0 * &w * &upstream;
    let gw = weight.map(|_| d.square() * &upstream);
    vec![Some(gx.shallow_clone()), Some(-gx), gw]
}

/// KL divergence with PyTorch's `batchmean`, a reduction of its own.
#[loss(extra_reductions = ["batchmean"], reduction = "batchmean")]
fn kl_div(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    let pointwise = target.f_xlogy(target)?.f_sub(&target.f_mul(input)?)?;
    match reduction {
        Reduction::Custom("batchmean") => {
            Ok(pointwise.f_sum(None)?.f_div_scalar(input.size()[0])?)
        }
        standard => standard.apply(Self::NAME, &pointwise),
    }
}

/// A body that calls tch's panicking methods, as bodies naturally do.
#[loss]
fn class_weighted(
    #[tensor(float, rank = 2)] input: &Tensor,
    #[tensor(integer, per_sample)] target: &Tensor,
    #[hyper(default = vec![1.0, 1.0, 1.0])] class_weights: Vec<f64>,
) -> Tensor {
    // `view` panics where the weights do not match the classes.
    let w = Tensor::from_slice(&class_weights)
        .to_device(input.device())
        .view([1, input.size()[1]]);
    -(input.log_softmax(1, Kind::Double) * w).gather(1, &target.unsqueeze(1), false)
}

/// A body with a bug of its own: its panic is not an error but a panic.
#[loss]
fn buggy(input: &Tensor, target: &Tensor) -> Tensor {
    let sizes = input.size();
    let _ = sizes[sizes.len() + target.dim()];
    input.shallow_clone()
}

/// Smooth L1, whose `beta` must be positive (0 divides by it): an exclusive lower bound; the body
/// names its loss with `Self::NAME`.
#[loss(register = "arguments_smooth_l1")]
fn smooth_l1(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    #[hyper(default = 1.0, check = 0.0<..)] beta: f64,
) -> Result<Tensor, LossError> {
    if input.numel() == 0 {
        return Err(LossError::ShapeMismatch {
            loss: Self::NAME,
            arg: "input",
            expected: "should hold at least one element".into(),
            found: input.size(),
        });
    }
    let diff = (input - target).f_abs()?;
    let quadratic = diff.square() * (0.5 / beta);
    Ok(quadratic.f_where_self(&diff.lt(beta), &(&diff - 0.5 * beta))?)
}

/// A three-tensor loss reachable from configuration.
#[loss(register)]
fn triplet(
    #[tensor(float, rank = 2)] anchor: &Tensor,
    #[tensor(float, same_shape_as = anchor)] positive: &Tensor,
    #[tensor(float, same_shape_as = anchor)] negative: &Tensor,
    #[hyper(default = 1.0, check = 0.0<..)] margin: f64,
) -> Result<Tensor, LossError> {
    let d = |a: &Tensor, b: &Tensor| (a - b).f_norm_scalaropt_dim(2.0, [1i64].as_slice(), false);
    Ok((d(anchor, positive)? - d(anchor, negative)? + margin).f_clamp_min(0.0)?)
}

#[test]
fn three_tensors_in_declaration_order() {
    let x1 = on_device(&[1.0, 2.0, 0.0]);
    let x2 = on_device(&[2.0, 0.0, 0.0]);
    let y = on_device(&[1.0, 1.0, -1.0]);
    // max(0, 1 + 0.5), max(0, -2 + 0.5), max(0, 0 + 0.5)
    let loss = MarginRanking::new().with_margin(0.5);
    assert_eq!(value(&loss.forward(&x1, &x2, &y)), (1.5 + 0.0 + 0.5) / 3.0);
    let sum = loss.clone().with_reduction(Reduction::Sum);
    assert_eq!(value(&sum.forward(&x1, &x2, &y)), 2.0);
    let none = loss.with_reduction(Reduction::None).forward(&x1, &x2, &y);
    assert_eq!(
        Vec::<f64>::try_from(none.to_device(tch::Device::Cpu)).unwrap(),
        [1.5, 0.0, 0.5]
    );

    let err = MarginRanking::new()
        .f_forward(&x1, &on_device(&[1.0, 2.0]), &y)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MarginRanking: input2 has shape [2] but should have the shape of input1, [3]"
    );
}

#[test]
fn a_backward_function_gets_every_tensor_and_returns_their_gradients() {
    let device = common::test_device();
    for reduction in Reduction::ALL {
        let loss = MarginRanking::new()
            .with_margin(0.3)
            .with_reduction(reduction);
        let x1 = Tensor::randn([6], (Kind::Double, device));
        let x2 = Tensor::randn([6], (Kind::Double, device));
        let y = Tensor::randn([6], (Kind::Double, device));
        let f = |t: &[Tensor]| Ok(vec![loss.f_forward(&t[0], &t[1], &t[2])?]);
        let reports = gradcheck_function(
            "MarginRanking",
            f,
            &[&x1, &x2, &y],
            GradcheckOptions::default(),
        )
        .unwrap();
        for (arg, report) in ["input1", "input2", "target"].iter().zip(&reports) {
            let report = report.as_ref().unwrap();
            assert!(report.passed(1e-6), "{reduction} {arg}: {report:?}");
        }
    }
}

#[test]
fn optional_tensors_may_be_left_out() {
    let x = on_device(&[1.0, 2.0, 3.0]);
    let y = on_device(&[0.0, 0.0, 1.0]);
    let w = on_device(&[1.0, 0.5, 2.0]);
    let loss = WeightedMse::new().with_reduction(Reduction::Sum);
    assert_eq!(value(&loss.forward(&x, &y, None)), 1.0 + 4.0 + 4.0);
    assert_eq!(value(&loss.forward(&x, &y, Some(&w))), 1.0 + 2.0 + 8.0);
    // Through the two-tensor trait the optional weight is left out.
    let boxed: Box<dyn Loss> = Box::new(loss.clone());
    assert_eq!(value(&boxed.forward(&x, &y)), 9.0);

    // An optional tensor is checked where given.
    let err = loss
        .f_forward(&x, &y, Some(&on_device(&[1.0, 2.0])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "WeightedMse: weight has shape [2] but should broadcast to the shape of input, [3]"
    );
    let ints = Tensor::from_slice(&[1i64, 1, 1]).to_device(common::test_device());
    let err = loss.f_forward(&x, &y, Some(&ints)).unwrap_err();
    assert!(
        matches!(err, LossError::DTypeMismatch { arg: "weight", .. }),
        "{err}"
    );
    let err = loss.f_forward(&x, &y, Some(&Tensor::new())).unwrap_err();
    assert!(
        matches!(err, LossError::UnsupportedTensor { arg: "weight", .. }),
        "{err}"
    );
}

#[test]
fn a_backward_function_sees_a_left_out_tensor_as_none() {
    let device = common::test_device();
    for reduction in Reduction::ALL {
        let by_hand = WeightedMseByHand::new().with_reduction(reduction);
        let x = Tensor::randn([2, 3], (Kind::Double, device));
        let y = Tensor::randn([2, 3], (Kind::Double, device));
        let w = Tensor::rand([3], (Kind::Double, device));
        // With the weight: gradients of all three against finite differences.
        let f = |t: &[Tensor]| Ok(vec![by_hand.f_forward(&t[0], &t[1], Some(&t[2]))?]);
        let reports =
            gradcheck_function("WeightedMse", f, &[&x, &y, &w], GradcheckOptions::default())
                .unwrap();
        assert!(
            reports.iter().all(|r| r.as_ref().unwrap().passed(1e-6)),
            "{reports:?}"
        );
        // Without it: the two present tensors.
        let f = |t: &[Tensor]| Ok(vec![by_hand.f_forward(&t[0], &t[1], None)?]);
        let reports =
            gradcheck_function("WeightedMse", f, &[&x, &y], GradcheckOptions::default()).unwrap();
        assert!(
            reports.iter().all(|r| r.as_ref().unwrap().passed(1e-6)),
            "{reports:?}"
        );
    }
}

#[test]
fn dyn_loss_calls_any_arity_with_checked_arguments() {
    let x1 = on_device(&[1.0, 2.0]);
    let x2 = on_device(&[2.0, 0.0]);
    let y = on_device(&[1.0, 1.0]);
    let loss: Box<dyn DynLoss> = Box::new(MarginRanking::new().with_margin(0.5));
    let names: Vec<_> = loss
        .tensor_args()
        .iter()
        .map(|a| (a.name, a.optional))
        .collect();
    assert_eq!(
        names,
        [("input1", false), ("input2", false), ("target", false)]
    );
    assert_eq!(
        value(&loss.forward_tensors(&[Some(&x1), Some(&x2), Some(&y)])),
        0.75
    );
    assert!(loss.as_loss().is_none());
    let err = loss.f_forward_tensors(&[Some(&x1), Some(&x2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MarginRanking: takes 3 tensors (input1, input2, target) but was given 2"
    );
    let err = loss
        .f_forward_tensors(&[Some(&x1), None, Some(&y)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MarginRanking: takes 3 tensors (input1, input2, target) but was given no input2"
    );

    let weighted: Box<dyn DynLoss> = Box::new(WeightedMse::new());
    assert_eq!(
        weighted
            .f_forward_tensors(&[Some(&x1)])
            .unwrap_err()
            .to_string(),
        "WeightedMse: takes 2 to 3 tensors (input, target, weight (optional)) but was given 1"
    );
    let left_out = weighted.forward_tensors(&[Some(&x1), Some(&x2), None]);
    assert_eq!(value(&left_out), (1.0 + 4.0) / 2.0);
    // Its two-tensor view leaves the weight out.
    assert_eq!(value(&weighted.as_loss().unwrap().forward(&x1, &x2)), 2.5);
}

#[test]
fn a_loss_reduces_with_its_own_reductions() {
    let p = on_device(&[0.25, 0.75, 0.5, 0.5]).view([2, 2]);
    let input = p.log();
    let target = on_device(&[0.5, 0.5, 0.9, 0.1]).view([2, 2]);
    let pointwise = &target * (target.log() - &input);
    let sum = value(&pointwise.sum(Kind::Double));
    let loss = KlDiv::new();
    assert_eq!(loss.reduction, Reduction::Custom("batchmean"));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    assert!(close(value(&loss.forward(&input, &target)), sum / 2.0));
    for (reduction, expected) in [(Reduction::Sum, sum), (Reduction::Mean, sum / 4.0)] {
        let got = value(
            &loss
                .clone()
                .with_reduction(reduction)
                .forward(&input, &target),
        );
        assert!(close(got, expected), "{reduction}: {got} vs {expected}");
    }

    // Parsing, serde and errors list what this loss accepts.
    assert_eq!(KlDiv::REDUCTIONS, ["none", "mean", "sum", "batchmean"]);
    assert_eq!(
        KlDiv::parse_reduction("batchmean").unwrap(),
        Reduction::Custom("batchmean")
    );
    assert_eq!(
        KlDiv::parse_reduction("max").unwrap_err().to_string(),
        "unknown reduction `max`: expected one of \"none\", \"mean\", \"sum\", \"batchmean\""
    );
    assert_eq!(
        "batchmean".parse::<Reduction>().unwrap_err().to_string(),
        "unknown reduction `batchmean`: expected one of \"none\", \"mean\", \"sum\""
    );
    let loaded: KlDiv = serde_json::from_str(r#"{"reduction": "sum"}"#).unwrap();
    assert_eq!(loaded.reduction, Reduction::Sum);
    let text = serde_json::to_string(&KlDiv::new()).unwrap();
    assert_eq!(text, r#"{"reduction":"batchmean"}"#);
    assert_eq!(serde_json::from_str::<KlDiv>(&text).unwrap(), KlDiv::new());
    let err = serde_json::from_str::<KlDiv>(r#"{"reduction": "max"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "unknown reduction `max`: expected one of \"none\", \"mean\", \"sum\", \"batchmean\""
        ),
        "{err}"
    );
    // A loss without the name refuses it, at load time and at the call.
    let err = serde_json::from_str::<WeightedMse>(r#"{"reduction": "batchmean"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "unknown reduction `batchmean`: expected one of \"none\", \"mean\", \"sum\""
        ),
        "{err}"
    );
    let err = WeightedMse::new()
        .with_reduction(Reduction::Custom("batchmean"))
        .f_forward(&input, &target, None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "WeightedMse: hyperparameter reduction should be one of \"none\", \"mean\", \"sum\" but is \"batchmean\""
    );
}

#[test]
fn tch_panics_in_a_body_are_errors() {
    let device = common::test_device();
    let input = Tensor::randn([4, 5], (Kind::Double, device));
    let target = Tensor::from_slice(&[0i64, 4, 2, 1]).to_device(device);
    // Three weights for five classes: the body's `view` panics inside tch.
    let loss = ClassWeighted::new();
    let err = loss.f_forward(&input, &target).unwrap_err();
    assert!(
        matches!(
            err,
            LossError::Tch {
                loss: "ClassWeighted",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("ClassWeighted: libtorch error: Internal torch error: shape '[1, 5]' is invalid for input of size 3"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    // `forward` panics with that one line, at the caller.
    let panic = catch_unwind(AssertUnwindSafe(|| loss.forward(&input, &target))).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&text));
    // With five weights it computes.
    let fine = ClassWeighted::new().with_class_weights(vec![1.0; 5]);
    assert!(value(&fine.forward(&input, &target)).is_finite());
    // A panic that is not tch's stays a panic (a bug is not a libtorch error).
    let bug = catch_unwind(AssertUnwindSafe(|| Buggy::new().f_forward(&input, &input)));
    assert!(bug.is_err());
}

#[test]
fn shape_keys_name_what_was_expected() {
    let device = common::test_device();
    let input = Tensor::randn([4, 3], (Kind::Double, device));
    let loss = ClassWeighted::new();
    let err = loss
        .f_forward(&input, &Tensor::zeros([4, 1], (Kind::Int64, device)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ClassWeighted: target has shape [4, 1] but should hold one entry per sample of input, [4]"
    );
    let err = loss
        .f_forward(
            &input.view([12]),
            &Tensor::zeros([12], (Kind::Int64, device)),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ClassWeighted: input has shape [12] but should have 2 dimensions"
    );
}

#[test]
fn exclusive_lower_bounds_and_self_name() {
    let x = on_device(&[0.0, 2.0]);
    let y = on_device(&[0.5, 0.0]);
    let err = SmoothL1::new()
        .with_beta(0.0)
        .f_forward(&x, &y)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SmoothL1: hyperparameter beta should be in 0.0<.. but is 0.0"
    );
    // 0.125 / 1e-3 is past the quadratic part: 0.5 - 0.0005 and 2 - 0.0005.
    let tiny = SmoothL1::new()
        .with_beta(1e-3)
        .with_reduction(Reduction::Sum);
    assert!((value(&tiny.forward(&x, &y)) - 2.499).abs() < 1e-12);
    let empty = Tensor::zeros([0], (Kind::Double, common::test_device()));
    let err = SmoothL1::new().f_forward(&empty, &empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SmoothL1: input has shape [0] but should hold at least one element"
    );
}

#[test]
fn registered_losses_load_by_name_and_validate() {
    let names = registered_names();
    for name in [
        "arguments_smooth_l1",
        "triplet",
        "focal",
        "softmax_focal",
        "dice_focal",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let loss: AnyLoss =
        serde_json::from_str(r#"{"type": "arguments_smooth_l1", "beta": 0.5}"#).unwrap();
    assert_eq!(loss.name(), "SmoothL1");
    let x = on_device(&[0.0, 2.0]);
    let y = on_device(&[0.25, 0.0]);
    // 0.5 * 0.0625 / 0.5 and 2 - 0.25, averaged.
    let got = value(&loss.as_loss().unwrap().forward(&x, &y));
    assert!((got - (0.0625 + 1.75) / 2.0).abs() < 1e-12, "{got}");

    let loss: AnyLoss = toml::from_str("type = \"triplet\"\nmargin = 2.0\n").unwrap();
    let a = on_device(&[0.0, 0.0]).view([1, 2]);
    let p = on_device(&[3.0, 4.0]).view([1, 2]);
    let n = on_device(&[0.0, 1.0]).view([1, 2]);
    // max(0, 5 - 1 + 2)
    assert_eq!(
        value(&loss.forward_tensors(&[Some(&a), Some(&p), Some(&n)])),
        6.0
    );

    let err = serde_json::from_str::<AnyLoss>(r#"{"type": "triplet", "margin": 0.0}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("triplet: Triplet: hyperparameter margin should be in 0.0<.. but is 0.0"),
        "{err}"
    );
    let err = serde_json::from_str::<AnyLoss>(r#"{"type": "triplet", "margin": "2"}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("triplet: margin: invalid type: string \"2\", expected f64"),
        "{err}"
    );
    let err = serde_json::from_str::<AnyLoss>(r#"{"type": "triplett"}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown loss `triplett`: expected one of "),
        "{err}"
    );
    assert!(err.to_string().contains("`triplet`"), "{err}");
    let err = serde_json::from_str::<AnyLoss>(r#"["triplet"]"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("expected a map with a `type` field"),
        "{err}"
    );
}
