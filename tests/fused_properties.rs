//! Property tests (proptest): the fused kernels and the composed path give the same loss and input
//! gradient on random shapes, values and hyperparameters, for `FocalLoss`, `SigmoidFocalLoss`
//! and `SoftmaxFocalLoss`, in float32 and float64, under `Mean` and `Sum` (the kernels' reductions),
//! and for `SigmoidFocalLoss` and `SoftmaxFocalLoss` (with and without label smoothing) also
//! `None` (differentiated through a random upstream gradient).
//!
//! Tolerances, relative to the largest magnitude (or to the dtype's smallest normal number where
//! every value is smaller: a subnormal result has no relative precision to hold): 1e-10 (float64)
//! and 1e-5 (float32).
//!
//! Logits are drawn at scales 0.1 to 100 (saturated well past where `p` rounds to 1 in either
//! dtype), and one logit of some inputs is set near the dtype's largest value (a quarter of it for
//! the softmax, so that logit gaps stay finite). tests/saturated.rs holds each path against the
//! float64 truth on such inputs.

mod common;

use common::dtype::{max_of, smallest_normal, tolerance};
use common::manual_seed_logits;
use common::paths::{run_path, Upstream};
use focal::{FocalLoss, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss};
use proptest::prelude::*;
use tch::{Device, Kind, Tensor};

/// An `(N, C, *)` shape: 1 to 3 samples, `classes` classes, 0 to 2 spatial dims of 1 to 5.
fn shape(min_classes: i64) -> impl Strategy<Value = Vec<i64>> {
    (
        1i64..4,
        min_classes..6,
        proptest::collection::vec(1i64..6, 0..3),
    )
        .prop_map(|(n, c, spatial)| [n, c].into_iter().chain(spatial).collect())
}

fn class_targets(shape: &[i64], seed: u64) -> Tensor {
    tch::manual_seed(seed as i64 + 1);
    let t_shape: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    Tensor::randint(shape[1], t_shape.as_slice(), (Kind::Int64, Device::Cpu))
}

/// Loss and gradient with the kernels on (asserting that one ran) and off (asserting that none
/// ran); an unreduced loss is differentiated through a varied upstream gradient.
fn both_paths(loss: &dyn Loss, input: &Tensor, target: &Tensor) -> [(Tensor, Tensor); 2] {
    let fused = run_path(loss, input, target, true, Upstream::Varied);
    assert_eq!(fused.kernel_runs, 1, "the kernel did not run");
    let composed = run_path(loss, input, target, false, Upstream::Varied);
    assert_eq!(composed.kernel_runs, 0);
    [(fused.value, fused.grad), (composed.value, composed.grad)]
}

/// `max |a - b|` over `max |b|`, or over `floor` or the smallest normal number of `b`'s dtype
/// where that is larger.
fn rel_error(a: &Tensor, b: &Tensor, floor: f64) -> f64 {
    common::rel_error_above(a, b, floor.max(smallest_normal(b.kind())))
}

/// `x` with its first element set to `sign * value` (where `big` is `Some(sign)`).
fn with_big(x: Tensor, big: Option<bool>, value: f64) -> Tensor {
    if let Some(positive) = big {
        let _ = x
            .reshape([-1])
            .get(0)
            .fill_(if positive { value } else { -value });
    }
    x
}

fn agree(loss: &dyn Loss, input: &Tensor, target: &Tensor, tol: f64) -> Result<(), TestCaseError> {
    agree_above(loss, input, target, tol, 0.0)
}

/// [`agree`], the gradient's error relative to at least `grad_floor`.
fn agree_above(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    tol: f64,
    grad_floor: f64,
) -> Result<(), TestCaseError> {
    let [(fv, fg), (cv, cg)] = both_paths(loss, input, target);
    prop_assert!(
        fg.isfinite().all().int64_value(&[]) == 1,
        "fused gradient not finite"
    );
    prop_assert!(
        cg.isfinite().all().int64_value(&[]) == 1,
        "composed gradient not finite"
    );
    let (ve, ge) = (rel_error(&fv, &cv, 0.0), rel_error(&fg, &cg, grad_floor));
    prop_assert!(
        ve <= tol,
        "loss differs by {ve:e}: fused {fv:?}, composed {cv:?}"
    );
    prop_assert!(ge <= tol, "gradient differs by {ge:e}");
    Ok(())
}

fn kind_of(double: bool) -> Kind {
    if double {
        Kind::Double
    } else {
        Kind::Float
    }
}

fn reduction_of(sum: bool) -> Reduction {
    if sum {
        Reduction::Sum
    } else {
        Reduction::Mean
    }
}

/// `Mean`, `Sum` or `None`.
fn any_reduction() -> impl Strategy<Value = Reduction> {
    prop::sample::select(vec![Reduction::Mean, Reduction::Sum, Reduction::None])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn softmax_focal_fused_equals_composed(
        shape in shape(2),
        seed in any::<u64>(),
        scale in prop::sample::select(vec![0.1, 1.0, 3.0, 10.0, 30.0, 60.0, 100.0]),
        big in prop::option::of(any::<bool>()),
        gamma in prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.7]),
        alpha_seed in prop::option::of(any::<u64>()),
        ignore in any::<bool>(),
        double in any::<bool>(),
        reduction in any_reduction(),
        smoothing in prop::sample::select(vec![0.0, 0.0, 0.1, 1.0]),
    ) {
        let kind = kind_of(double);
        // Label smoothing adds every class's -log p: a smaller largest logit keeps the sum of
        // several such terms finite.
        let big_value = max_of(kind) / if smoothing == 0.0 { 4.0 } else { 64.0 };
        let x = manual_seed_logits(&shape, seed as i64, scale, kind);
        let x = with_big(x, big, big_value);
        let mut t = class_targets(&shape, seed);
        if ignore && t.numel() > 1 {
            let _ = t.get(0).fill_(-100);
        }
        let alpha = alpha_seed.map(|s| {
            (0..shape[1]).map(|k| ((s >> (k * 4)) & 15) as f64 / 10.0 + 0.05).collect::<Vec<f64>>()
        });
        let loss = SoftmaxFocalLoss::new()
            .with_gamma(gamma)
            .with_alpha(alpha)
            .with_label_smoothing(smoothing)
            .with_reduction(reduction);
        // Keep one element not ignored (Mean over nothing is the composed path's 0 / 0).
        let _ = t.reshape([-1]).get(-1).fill_(0);
        t = t.contiguous();
        agree(&loss, &x, &t, tolerance(kind))?;
    }

    #[test]
    fn sigmoid_focal_fused_equals_composed(
        shape in proptest::collection::vec(1i64..6, 1..4),
        seed in any::<u64>(),
        scale in prop::sample::select(vec![0.1, 1.0, 3.0, 10.0, 30.0, 60.0, 100.0]),
        big in prop::option::of(any::<bool>()),
        gamma in prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.7]),
        alpha in prop::option::of(prop::sample::select(vec![0.0, 0.25, 0.5, 1.0])),
        soft in any::<bool>(),
        double in any::<bool>(),
        reduction in any_reduction(),
    ) {
        let kind = kind_of(double);
        let x = manual_seed_logits(&shape, seed as i64, scale, kind);
        let x = with_big(x, big, max_of(kind) * 0.999);
        let u = Tensor::rand(shape.as_slice(), (Kind::Double, Device::Cpu));
        let t = if soft { u } else { u.gt(0.5).to_kind(Kind::Double) }.to_kind(kind);
        let loss = SigmoidFocalLoss::new()
            .with_gamma(gamma)
            .with_alpha(alpha)
            .with_reduction(reduction);
        // Soft float32 targets: the gradient's `p - t` cancels where p is near t (either path's
        // rounding of p, 6e-8 below 1/2, is 1e-5 of p - t only down to |p - t| = 6e-3; 3e-5 seen
        // at p - t = -5e-4, the composed path off the float64 truth by 3.2e-5, the kernel by
        // 4.6e-6): held relative to at least 1% of the gradient's terms (alpha_t, over the
        // elements for Mean), about one float32 rounding of them.
        let grad_floor = if soft && kind == Kind::Float {
            let alpha_max = alpha.map_or(1.0, |a: f64| a.max(1.0 - a));
            let per = if reduction == Reduction::Mean { 1.0 / x.numel() as f64 } else { 1.0 };
            1e-2 * alpha_max * per
        } else {
            0.0
        };
        agree_above(&loss, &x, &t, tolerance(kind), grad_floor)?;
    }

    #[test]
    fn seed_focal_fused_equals_composed(
        shape in shape(1),
        seed in any::<u64>(),
        scale in prop::sample::select(vec![0.1, 1.0, 3.0, 10.0]),
        gamma in prop::sample::select(vec![0.0, 1.0, 2.0, 3.7]),
        alpha in prop::sample::select(vec![0.0, 0.25, 0.5, 1.0]),
        double in any::<bool>(),
        sum in any::<bool>(),
    ) {
        let kind = kind_of(double);
        let x = manual_seed_logits(&shape, seed as i64, scale, kind);
        let t = class_targets(&shape, seed);
        let loss = FocalLoss::new()
            .with_gamma(gamma)
            .with_alpha(alpha)
            .with_reduction(reduction_of(sum));
        agree(&loss, &x, &t, tolerance(kind))?;
    }
}
