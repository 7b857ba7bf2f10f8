//! Property tests (proptest): the fused kernels and the composed path give the same loss and input
//! gradient on random shapes, values and hyperparameters, for `FocalLoss`, `SigmoidFocalLoss`
//! and `SoftmaxFocalLoss`, in float32 and float64, under `Mean` and `Sum` (the kernels' reductions).
//!
//! Tolerances, relative to the largest magnitude: 1e-10 (float64) and 1e-5 (float32); the seed
//! `FocalLoss`, whose clamped `1 - p` is ill-conditioned near `p = 1` (see tests/fused.rs),
//! 1e-5 (float64) where a probability comes within 1e-3 of 1, and 1e-4 in float32.
//!
//! Logits are drawn at scales 0.1 to 3 (up to about 12 in magnitude) for the softmax and sigmoid
//! losses: at saturated logits the two paths are known to part beyond these tolerances (sigmoid
//! float32 at |x| near 60: 1.2e-2; softmax float64 with gamma 0.5 at scale 10: 2e-5), found by
//! this test and not fixed yet; tests/fused.rs holds saturated inputs to looser bounds.

use focal::{fused, FocalLoss, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss};
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

/// Logits of `shape` drawn from a seed, times `scale`.
fn logits(shape: &[i64], seed: u64, scale: f64, kind: Kind) -> Tensor {
    tch::manual_seed(seed as i64);
    (Tensor::randn(shape, (Kind::Double, Device::Cpu)) * scale).to_kind(kind)
}

fn class_targets(shape: &[i64], seed: u64) -> Tensor {
    tch::manual_seed(seed as i64 + 1);
    let t_shape: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    Tensor::randint(shape[1], t_shape.as_slice(), (Kind::Int64, Device::Cpu))
}

/// Loss and gradient with the kernels on (asserting that one ran) and off.
fn both_paths(loss: &dyn Loss, input: &Tensor, target: &Tensor) -> [(Tensor, Tensor); 2] {
    let run = || {
        let x = input.detach().set_requires_grad(true);
        let value = loss.forward(&x, target);
        value.backward();
        (value.detach(), x.grad())
    };
    let before = focal::__private::fused_kernel_runs();
    let fused = run();
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        before + 1,
        "the kernel did not run"
    );
    let composed = fused::composed_only(run);
    assert_eq!(focal::__private::fused_kernel_runs(), before + 1);
    [fused, composed]
}

fn rel_error(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let scale = b.abs().max().double_value(&[]).max(1e-300);
    (a - &b).abs().max().double_value(&[]) / scale
}

fn agree(loss: &dyn Loss, input: &Tensor, target: &Tensor, tol: f64) -> Result<(), TestCaseError> {
    let [(fv, fg), (cv, cg)] = both_paths(loss, input, target);
    prop_assert!(
        fg.isfinite().all().int64_value(&[]) == 1,
        "fused gradient not finite"
    );
    prop_assert!(
        cg.isfinite().all().int64_value(&[]) == 1,
        "composed gradient not finite"
    );
    let (ve, ge) = (rel_error(&fv, &cv), rel_error(&fg, &cg));
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

fn tolerance(kind: Kind) -> f64 {
    if kind == Kind::Double {
        1e-10
    } else {
        1e-5
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn softmax_focal_fused_equals_composed(
        shape in shape(2),
        seed in any::<u64>(),
        scale in prop::sample::select(vec![0.1, 1.0, 3.0]),
        gamma in prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.7]),
        alpha_seed in prop::option::of(any::<u64>()),
        ignore in any::<bool>(),
        double in any::<bool>(),
        sum in any::<bool>(),
    ) {
        let kind = kind_of(double);
        let x = logits(&shape, seed, scale, kind);
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
            .with_reduction(reduction_of(sum));
        // Keep one element not ignored (Mean over nothing is the composed path's 0 / 0).
        let _ = t.reshape([-1]).get(-1).fill_(0);
        t = t.contiguous();
        agree(&loss, &x, &t, tolerance(kind))?;
    }

    #[test]
    fn sigmoid_focal_fused_equals_composed(
        shape in proptest::collection::vec(1i64..6, 1..4),
        seed in any::<u64>(),
        scale in prop::sample::select(vec![0.1, 1.0, 3.0]),
        gamma in prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.7]),
        alpha in prop::option::of(prop::sample::select(vec![0.0, 0.25, 0.5, 1.0])),
        soft in any::<bool>(),
        double in any::<bool>(),
        sum in any::<bool>(),
    ) {
        let kind = kind_of(double);
        let x = logits(&shape, seed, scale, kind);
        let u = Tensor::rand(shape.as_slice(), (Kind::Double, Device::Cpu));
        let t = if soft { u } else { u.gt(0.5).to_kind(Kind::Double) }.to_kind(kind);
        let loss = SigmoidFocalLoss::new()
            .with_gamma(gamma)
            .with_alpha(alpha)
            .with_reduction(reduction_of(sum));
        agree(&loss, &x, &t, tolerance(kind))?;
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
        let x = logits(&shape, seed, scale, kind);
        let t = class_targets(&shape, seed);
        let loss = FocalLoss::new()
            .with_gamma(gamma)
            .with_alpha(alpha)
            .with_reduction(reduction_of(sum));
        // The seed's clamped `1 - p` is ill-conditioned near p = 1 (and gamma < 1 has PyTorch's
        // NaN gradient there, left out above): looser where a probability is that close.
        let saturated = x.softmax(1, Kind::Double).max().double_value(&[]) > 1.0 - 1e-3;
        let tol = match (kind, saturated) {
            (Kind::Double, false) => 1e-10,
            (Kind::Double, true) => 1e-5,
            // The seed's float32 `1 - p` cancels digits near the p_t clamp even at moderate
            // logits (2.2e-5 seen here; tests/fused.rs measured 1.6e-5 on CUDA).
            _ => 1e-4,
        };
        agree(&loss, &x, &t, tol)?;
    }
}
