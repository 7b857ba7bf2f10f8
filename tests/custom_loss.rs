//! A loss declared here with `#[loss]` (not a built-in) works end to end: defaults, builders,
//! serde, `Box<dyn Loss>`, checks, reductions, weighted means and gradients, on the test device
//! (`FOCAL_TEST_DEVICE`).

mod common;

use focal::{loss, Loss, LossError, LossOutput, Reduction};
use tch::{Kind, Tensor};

/// Smooth L1 loss.
#[loss]
pub fn smooth_l1(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// Where the quadratic part turns linear.
    #[hyper(default = 1.0, check = 0.0..)]
    beta: f64,
) -> Result<Tensor, LossError> {
    let diff = (input - target).f_abs()?;
    let quadratic = diff.square() * (0.5 / beta);
    let linear = &diff - 0.5 * beta;
    Ok(quadratic.where_self(&diff.lt(beta), &linear))
}

/// Squared error with per-class weights and an ignored class: `Mean` divides by the weights' sum.
#[loss(name = WeightedSquares, reduction = "sum")]
fn weighted_squares(
    #[tensor(float)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    /// One weight per class.
    #[hyper(default = vec![1.0, 1.0])]
    weights: Vec<f64>,
    /// A class whose elements count for nothing.
    #[hyper(default = Some(-1))]
    ignore: Option<i64>,
    scale: f64,
) -> LossOutput {
    let w = Tensor::from_slice(&weights)
        .to_device(input.device())
        .to_kind(input.kind());
    let keep = match ignore {
        Some(i) => target.ne(i),
        None => target.ones_like().to_kind(Kind::Bool),
    };
    let safe_target = target.where_scalarother(&keep, 0);
    let per_element_weight = w
        .index_select(0, &safe_target.flatten(0, -1))
        .view_as(input)
        * keep.to_kind(input.kind());
    let loss = input.square() * (1.0 + scale) * &per_element_weight;
    LossOutput::weighted(loss, per_element_weight)
}

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Double, common::test_device()))
}

/// `values` on the test device.
fn on_device<T: tch::kind::Element>(values: &[T]) -> Tensor {
    Tensor::from_slice(values).to_device(common::test_device())
}

#[test]
fn defaults_builders_and_names() {
    let l = SmoothL1::default();
    assert_eq!(l.beta, 1.0);
    assert_eq!(l.reduction, Reduction::Mean);
    assert_eq!(l, SmoothL1::new());
    let l = l.with_beta(0.5).with_reduction(Reduction::Sum);
    assert_eq!((l.beta, l.reduction), (0.5, Reduction::Sum));
    assert_eq!(SmoothL1::NAME, "SmoothL1");
    let w = WeightedSquares::default();
    assert_eq!(
        (w.weights.clone(), w.ignore, w.scale, w.reduction),
        (vec![1.0, 1.0], Some(-1), 0.0, Reduction::Sum)
    );
    assert_eq!(
        format!("{:?}", SmoothL1::new()),
        "SmoothL1 { beta: 1.0, reduction: Mean }"
    );
}

#[test]
fn values_match_the_closed_form() {
    let x = on_device(&[0.0f64, 2.0, -0.3]);
    let y = on_device(&[0.25f64, 0.0, 0.0]);
    let l = SmoothL1::new().with_beta(0.5);
    let none = l.clone().with_reduction(Reduction::None).forward(&x, &y);
    let expected = [0.5 * 0.0625 / 0.5, 2.0 - 0.25, 0.5 * 0.09 / 0.5];
    for (i, e) in expected.iter().enumerate() {
        assert!((none.double_value(&[i as i64]) - e).abs() < 1e-12);
    }
    let mean = l.forward(&x, &y).double_value(&[]);
    assert!((mean - expected.iter().sum::<f64>() / 3.0).abs() < 1e-12);
}

#[test]
fn weighted_mean_divides_by_the_weights() {
    let x = on_device(&[1.0f64, 2.0, 3.0, 4.0]);
    let t = on_device(&[0i64, 1, -1, 1]);
    let l = WeightedSquares::new()
        .with_weights(vec![2.0, 0.5])
        .with_reduction(Reduction::Mean);
    // (2*1 + 0.5*4 + 0 + 0.5*16) / (2 + 0.5 + 0 + 0.5)
    let expected = (2.0 + 2.0 + 8.0) / 3.0;
    assert!((l.forward(&x, &t).double_value(&[]) - expected).abs() < 1e-12);
    let sum = l
        .clone()
        .with_reduction(Reduction::Sum)
        .forward(&x, &t)
        .double_value(&[]);
    assert!((sum - 12.0).abs() < 1e-12);
}

#[test]
fn serde_round_trip_and_missing_fields_default() {
    let l = SmoothL1::new()
        .with_beta(0.25)
        .with_reduction(Reduction::None);
    let json = serde_json::to_string(&l).unwrap();
    assert_eq!(json, r#"{"beta":0.25,"reduction":"none"}"#);
    assert_eq!(serde_json::from_str::<SmoothL1>(&json).unwrap(), l);
    assert_eq!(
        serde_json::from_str::<SmoothL1>("{}").unwrap(),
        SmoothL1::default()
    );
    let err = serde_json::from_str::<SmoothL1>(r#"{"betta": 1.0}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `betta`") && err.contains("`beta`"),
        "{err}"
    );
}

#[test]
fn boxed_losses_and_gradients() {
    let losses: Vec<Box<dyn Loss>> = vec![
        Box::new(SmoothL1::new()),
        Box::new(SmoothL1::new().with_beta(0.1)),
    ];
    let x = randn(&[3, 4]).set_requires_grad(true);
    let y = randn(&[3, 4]);
    let zero = Tensor::zeros([], (Kind::Double, common::test_device()));
    let total = losses
        .iter()
        .map(|l| l.forward(&x, &y))
        .fold(zero, |a, b| a + b);
    total.backward();
    assert!(x.grad().abs().sum(Kind::Double).double_value(&[]) > 0.0);
    assert_eq!(losses[0].name(), "SmoothL1");
    for l in &losses {
        let report =
            focal::gradcheck(l.as_ref(), &(randn(&[3, 4]) * 2.0), &y, Default::default()).unwrap();
        assert!(report.passed(1e-6), "{report:?}");
    }
}

#[test]
fn the_function_stays_callable() {
    let x = on_device(&[3.0f64]);
    let y = on_device(&[0.0f64]);
    let direct = smooth_l1(&x, &y, 1.0).unwrap();
    assert!((direct.double_value(&[0]) - 2.5).abs() < 1e-12);
}
