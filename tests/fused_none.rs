//! The fused kernels' `Reduction::None` (SoftmaxFocalLoss, SigmoidFocalLoss, FocalLoss, and
//! DiceLoss and DiceFocalLoss, whose `(N, C')` values take their gradient in the backward pass) and the
//! SoftmaxFocalLoss kernel's label smoothing (every reduction), against the composed path (the
//! same loss from tch operations, with autograd's gradient) as the reference: the float64 kernel
//! within 1e-12 of the float64 composed path, the float32 kernel within 1e-5 of the float64
//! composed path on the same (cast-up) inputs, loss and input gradient, relative to the largest
//! magnitude. Unreduced losses are differentiated through a random upstream gradient
//! (`(loss * w).sum()`), so that the node's product with a per-position (softmax) or
//! per-element (sigmoid) upstream tensor is what is checked. Shapes with no, one, two and three
//! spatial dims, none a multiple of the SIMD width or the 64-position block; `(N, 1, *)`
//! targets; ignored positions; per-class alpha; gamma 0, 0.5, 1.5 and 2; one and two threads,
//! every SIMD level of this CPU. Every fused call asserts that a kernel ran.

mod common;

use std::sync::Mutex;

use common::manual_seed_logits;
use common::paths::{run_path, varied_upstream, PathRun, Upstream};
use focal::fused::{self, SimdLevel};
use focal::{
    Activation, DiceFocalLoss, DiceLoss, FocalLoss, Loss, Reduction, SigmoidFocalLoss,
    SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

/// The tests that set the thread count hold this (the count is process-wide).
static THREADS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `max |a - b| / max |b|` (the absolute error where `b` is all zero); both must be finite.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    assert!(
        bool::try_from(a.isfinite().all()).unwrap(),
        "non-finite result"
    );
    let err = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    if scale == 0.0 {
        err
    } else {
        err / scale
    }
}

/// The loss of `input` (as a leaf) and its gradient through `upstream` (the gradient of the
/// loss's value: `(value * upstream).sum()` is differentiated), on the fused path (asserting that
/// a kernel ran) or the composed one (asserting that none ran).
fn run(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    upstream: &Tensor,
    fused: bool,
) -> PathRun {
    let out = run_path(loss, input, target, fused, Upstream::Given(upstream));
    assert_eq!(
        out.kernel_runs,
        u64::from(fused),
        "{} fused {fused}: kernel runs",
        loss.name()
    );
    out
}

/// Checks the fused path against the float64 composed path: float64 inputs within 1e-12,
/// float32 within 1e-5 (the reference computed on the inputs cast up). Same shape and dtype as
/// the composed path's value.
fn check(loss: &dyn Loss, input: &Tensor, target: &Tensor, label: &str) {
    let value_shape = fused::composed_only(|| loss.forward(input, target)).size();
    let upstream = varied_upstream(value_shape.as_slice());
    let fused_run = run(loss, input, target, &upstream, true);
    let composed_same_kind = run(loss, input, target, &upstream, false);
    assert_eq!(
        fused_run.value.size(),
        composed_same_kind.value.size(),
        "{label}: value shape"
    );
    assert_eq!(
        fused_run.value.kind(),
        composed_same_kind.value.kind(),
        "{label}: value dtype"
    );
    assert_eq!(
        fused_run.grad.kind(),
        input.kind(),
        "{label}: gradient dtype"
    );
    let truth = run(
        loss,
        &input.to_kind(Kind::Double),
        &if target.is_floating_point() {
            target.to_kind(Kind::Double)
        } else {
            target.shallow_clone()
        },
        &upstream,
        false,
    );
    let tol = if input.kind() == Kind::Double {
        1e-12
    } else {
        1e-5
    };
    let (ve, ge) = (
        rel(&fused_run.value, &truth.value),
        rel(&fused_run.grad, &truth.grad),
    );
    assert!(
        ve <= tol && ge <= tol,
        "{label}: loss error {ve:.2e}, gradient error {ge:.2e} (tolerance {tol:e})"
    );
}

/// Class indices for `(N, C, *)` logits, `(N, *)` (or `(N, 1, *)`), about a fifth of them
/// `ignore` where given.
fn classes(shape: &[i64], seed: i64, ignore: Option<i64>, with_channel: bool) -> Tensor {
    tch::manual_seed(seed);
    let mut dims: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    let mut y = Tensor::randint(shape[1], dims.as_slice(), (Kind::Int64, Device::Cpu));
    if let Some(i) = ignore {
        let drop = Tensor::rand(dims.as_slice(), (Kind::Double, Device::Cpu)).lt(0.2);
        y = y.masked_fill(&drop, i);
    }
    if with_channel {
        dims.insert(1, 1);
        y = y.view(dims.as_slice());
    }
    y
}

/// No, one, two and three spatial dims; none of the position counts a multiple of 8, 16 or 64.
const SHAPES: [&[i64]; 5] = [
    &[5, 3],
    &[2, 4, 13],
    &[3, 5, 7, 11],
    &[2, 3, 5, 6, 7],
    &[2, 7, 67],
];

fn softmax_losses(classes: i64) -> Vec<(String, SoftmaxFocalLoss)> {
    let alpha: Vec<f64> = (0..classes).map(|k| 0.2 + 0.15 * k as f64).collect();
    let mut all = Vec::new();
    for gamma in [0.0, 0.5, 1.5, 2.0] {
        for weighted in [false, true] {
            for ignore in [Some(-100), None] {
                let loss = SoftmaxFocalLoss::new()
                    .with_gamma(gamma)
                    .with_alpha(weighted.then(|| alpha.clone()))
                    .with_ignore_index(ignore);
                all.push((
                    format!("gamma {gamma} weighted {weighted} ignore {ignore:?}"),
                    loss,
                ));
            }
        }
    }
    all
}

#[test]
fn softmax_focal_none_matches_the_composed_path() {
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in SHAPES.iter().enumerate() {
            let x = manual_seed_logits(shape, si as i64, 3.0, kind);
            for (label, loss) in softmax_losses(shape[1]) {
                for smoothing in [0.0, 0.1] {
                    let loss = loss
                        .clone()
                        .with_label_smoothing(smoothing)
                        .with_reduction(Reduction::None);
                    let with_channel = si % 2 == 1;
                    let t = classes(shape, 100 + si as i64, loss.ignore_index, with_channel);
                    check(
                        &loss,
                        &x,
                        &t,
                        &format!("{kind:?} {shape:?} {label} smoothing {smoothing} (N, 1, *) {with_channel}"),
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_focal_label_smoothing_matches_the_composed_path_at_every_reduction() {
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in SHAPES.iter().enumerate() {
            let x = manual_seed_logits(shape, 10 + si as i64, 3.0, kind);
            for (label, loss) in softmax_losses(shape[1]) {
                for smoothing in [0.05, 0.3, 1.0] {
                    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                        let loss = loss
                            .clone()
                            .with_label_smoothing(smoothing)
                            .with_reduction(reduction);
                        let with_channel = si % 2 == 0;
                        let t = classes(shape, 200 + si as i64, loss.ignore_index, with_channel);
                        check(
                            &loss,
                            &x,
                            &t,
                            &format!(
                                "{kind:?} {shape:?} {label} smoothing {smoothing} {reduction:?}"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Two classes, and logits 30 apart (`p` rounds to 1 in float32): label smoothing keeps the
/// others' terms, so the gradient stays of order `eps / C`.
#[test]
fn softmax_focal_label_smoothing_at_wide_logit_gaps() {
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in [&[4i64, 2, 33][..], &[3, 6, 5, 9]].iter().enumerate() {
            for scale in [10.0, 30.0] {
                let x = manual_seed_logits(shape, 30 + si as i64, scale, kind);
                for (label, loss) in softmax_losses(shape[1]) {
                    for reduction in [Reduction::Mean, Reduction::None] {
                        let loss = loss
                            .clone()
                            .with_label_smoothing(0.1)
                            .with_reduction(reduction);
                        let t = classes(shape, 300 + si as i64, loss.ignore_index, false);
                        check(
                            &loss,
                            &x,
                            &t,
                            &format!("{kind:?} {shape:?} scale {scale} {label} {reduction:?}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn focal_loss_none_matches_the_composed_path() {
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in SHAPES.iter().enumerate() {
            for scale in [1.0, 3.0, 30.0] {
                let x = manual_seed_logits(shape, 40 + si as i64, scale, kind);
                for (gamma, alpha) in [(2.0, 0.25), (0.0, 0.5), (0.5, 0.9), (3.5, 0.1)] {
                    let loss = FocalLoss::new()
                        .with_gamma(gamma)
                        .with_alpha(alpha)
                        .with_reduction(Reduction::None);
                    let with_channel = si % 2 == 0;
                    let t = classes(shape, 140 + si as i64, None, with_channel);
                    check(
                        &loss,
                        &x,
                        &t,
                        &format!("{kind:?} {shape:?} x{scale} gamma {gamma} alpha {alpha} (N, 1, *) {with_channel}"),
                    );
                }
            }
        }
    }
}

#[test]
fn sigmoid_focal_none_matches_the_composed_path() {
    let shapes: [&[i64]; 4] = [&[7], &[3, 5], &[2, 3, 67], &[2, 3, 5, 6, 7]];
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in shapes.iter().enumerate() {
            let x = manual_seed_logits(shape, 40 + si as i64, 3.0, kind);
            tch::manual_seed(400 + si as i64);
            let u = Tensor::rand(*shape, (Kind::Double, Device::Cpu));
            for soft in [false, true] {
                let t = if soft { u.shallow_clone() } else { u.gt(0.5) }.to_kind(kind);
                for gamma in [0.0, 0.5, 1.5, 2.0] {
                    for alpha in [None, Some(0.25)] {
                        let loss = SigmoidFocalLoss::new()
                            .with_gamma(gamma)
                            .with_alpha(alpha)
                            .with_reduction(Reduction::None);
                        check(
                            &loss,
                            &x,
                            &t,
                            &format!(
                                "{kind:?} {shape:?} soft {soft} gamma {gamma} alpha {alpha:?}"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// `loss` on one and two threads (each checked against the composed path) and at every SIMD
/// level of this CPU: the runs agree with the one-thread run to rounding (1e-12 float64, 1e-6
/// float32). The caller holds the thread-count lock.
fn same_on_threads_and_levels(
    name: &str,
    loss: &dyn Loss,
    x: &Tensor,
    target: &Tensor,
    upstream: &Tensor,
) {
    let kind = x.kind();
    let mut results = Vec::new();
    for threads in [1, 2] {
        tch::set_num_threads(threads);
        check(
            loss,
            x,
            target,
            &format!("{name} {kind:?} on {threads} threads"),
        );
        results.push(run(loss, x, target, upstream, true));
    }
    let detected = fused::detected_simd_level();
    for level in [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512] {
        if level <= detected {
            results.push(fused::with_simd_level(level, || {
                run(loss, x, target, upstream, true)
            }));
        }
    }
    let tol = if kind == Kind::Double { 1e-12 } else { 1e-6 };
    for (i, r) in results.iter().enumerate().skip(1) {
        assert!(
            rel(&r.value, &results[0].value) <= tol && rel(&r.grad, &results[0].grad) <= tol,
            "{name} {kind:?}: run {i} differs from the one-thread run"
        );
    }
}

/// Large enough to split over two threads (`2 x 5 x 70 x 97` logits, the last block of each
/// sample short): the one- and two-thread results both match the composed path, and agree with
/// each other to rounding; every SIMD level of this CPU too.
#[test]
fn none_and_smoothing_on_one_and_two_threads_and_every_simd_level() {
    let _guard = lock();
    let before = tch::get_num_threads();
    let shape = [2i64, 5, 70, 97];
    let cases: Vec<(String, Box<dyn Loss>, Tensor)> = {
        let t = classes(&shape, 500, Some(-100), false);
        tch::manual_seed(501);
        let dense = Tensor::rand(shape, (Kind::Double, Device::Cpu));
        let alpha = Some(vec![0.1, 0.2, 0.3, 0.4, 0.5]);
        vec![
            (
                "softmax none".into(),
                Box::new(SoftmaxFocalLoss::new().with_reduction(Reduction::None)),
                t.shallow_clone(),
            ),
            (
                "softmax none smoothing".into(),
                Box::new(
                    SoftmaxFocalLoss::new()
                        .with_gamma(1.5)
                        .with_alpha(alpha.clone())
                        .with_label_smoothing(0.1)
                        .with_reduction(Reduction::None),
                ),
                t.shallow_clone(),
            ),
            (
                "softmax mean smoothing".into(),
                Box::new(
                    SoftmaxFocalLoss::new()
                        .with_alpha(alpha)
                        .with_label_smoothing(0.2),
                ),
                t.shallow_clone(),
            ),
            (
                "sigmoid none".into(),
                Box::new(SigmoidFocalLoss::new().with_reduction(Reduction::None)),
                dense,
            ),
        ]
    };
    for kind in [Kind::Double, Kind::Float] {
        let x = manual_seed_logits(&shape, 502, 3.0, kind);
        for (name, loss, target) in &cases {
            let target = if target.is_floating_point() {
                target.to_kind(kind)
            } else {
                target.shallow_clone()
            };
            let ones = fused::composed_only(|| loss.forward(&x, &target)).ones_like();
            same_on_threads_and_levels(name, loss.as_ref(), &x, &target, &ones);
        }
    }
    tch::set_num_threads(before);
}

/// `loss.sum().backward()` on unreduced losses hands the kernel's buffer over as `x.grad`
/// (autograd's upstream gradient is one value broadcast), and a scaled or per-position upstream
/// gradient multiplies it; `retain_graph` lets the node run twice.
#[test]
fn the_node_multiplies_by_the_upstream_tensor() {
    let shape = [3i64, 4, 5, 6];
    let x = manual_seed_logits(&shape, 60, 2.0, Kind::Double);
    let t = classes(&shape, 600, Some(-100), false);
    let loss = SoftmaxFocalLoss::new()
        .with_label_smoothing(0.1)
        .with_reduction(Reduction::None);
    let leaf = x.detach().set_requires_grad(true);
    let value = loss.forward(&leaf, &t);
    assert_eq!(value.size(), [3, 5, 6]);
    value.sum(Kind::Double).backward();
    assert_eq!(
        leaf.grad().data_ptr() as usize,
        focal::__private::last_kernel_gradient(),
        "the buffer is x.grad without a copy"
    );
    let reference = {
        let leaf = x.detach().set_requires_grad(true);
        fused::composed_only(|| loss.forward(&leaf, &t))
            .sum(Kind::Double)
            .backward();
        leaf.grad()
    };
    assert!(rel(&leaf.grad(), &reference) < 1e-12);
    // Twice through one graph, with a per-position upstream gradient.
    let leaf = x.detach().set_requires_grad(true);
    let value = loss.forward(&leaf, &t);
    tch::manual_seed(61);
    let w = Tensor::randn([3, 5, 6], (Kind::Double, Device::Cpu));
    let total = (&value * &w).sum(Kind::Double);
    let once = Tensor::run_backward(&[&total], &[&leaf], true, false).remove(0);
    let twice = Tensor::run_backward(&[&total], &[&leaf], false, false).remove(0);
    assert!(rel(&twice, &once) == 0.0);
    let composed = {
        let leaf = x.detach().set_requires_grad(true);
        (fused::composed_only(|| loss.forward(&leaf, &t)) * &w)
            .sum(Kind::Double)
            .backward();
        leaf.grad()
    };
    assert!(rel(&once, &composed) < 1e-12);
    // `.mean()` of the unreduced losses: the upstream gradient is a materialised constant.
    let leaf = x.detach().set_requires_grad(true);
    loss.forward(&leaf, &t).mean(Kind::Double).backward();
    let composed = {
        let leaf = x.detach().set_requires_grad(true);
        fused::composed_only(|| loss.forward(&leaf, &t))
            .mean(Kind::Double)
            .backward();
        leaf.grad()
    };
    assert!(rel(&leaf.grad(), &composed) < 1e-12);
}

/// Without a gradient (no_grad, or an input that does not require one) the kernel still runs and
/// gives the composed path's losses; one class still falls back to the composed path's error.
#[test]
fn no_grad_none_and_one_class() {
    let shape = [2i64, 3, 9, 7];
    let x = manual_seed_logits(&shape, 70, 2.0, Kind::Float);
    let t = classes(&shape, 700, Some(-100), true);
    for smoothing in [0.0, 0.2] {
        let loss = SoftmaxFocalLoss::new()
            .with_label_smoothing(smoothing)
            .with_reduction(Reduction::None);
        let before = focal::__private::fused_kernel_runs();
        let value = tch::no_grad(|| loss.forward(&x, &t));
        assert_eq!(focal::__private::fused_kernel_runs(), before + 1);
        let truth = fused::composed_only(|| loss.forward(&x.to_kind(Kind::Double), &t));
        assert!(rel(&value, &truth) < 1e-5);
        assert_eq!(value.kind(), Kind::Float);
    }
    let one = manual_seed_logits(&[2, 1, 5], 71, 1.0, Kind::Float);
    let zeros = Tensor::zeros([2, 5], (Kind::Int64, Device::Cpu));
    let loss = SoftmaxFocalLoss::new()
        .with_label_smoothing(0.1)
        .with_reduction(Reduction::None);
    let before = focal::__private::fused_kernel_runs();
    let error = loss.f_forward(&one, &zeros).unwrap_err().to_string();
    assert_eq!(focal::__private::fused_kernel_runs(), before);
    assert!(error.contains("at least 2 classes"), "{error}");
}

/// The Dice losses' unreduced settings: both activations, with and without the background and
/// `squared_pred`, and Dice-Focal with gamma, alpha and the lambdas.
fn dice_losses() -> Vec<(String, Box<dyn Loss>)> {
    let mut all: Vec<(String, Box<dyn Loss>)> = Vec::new();
    for activation in [Activation::Softmax, Activation::Sigmoid] {
        for background in [true, false] {
            for squared in [false, true] {
                let label = format!("{activation:?} background {background} squared {squared}");
                all.push((
                    format!("DiceLoss {label}"),
                    Box::new(
                        DiceLoss::new()
                            .with_activation(activation)
                            .with_include_background(background)
                            .with_squared_pred(squared)
                            .with_smooth_nr(0.5)
                            .with_smooth_dr(1.0)
                            .with_reduction(Reduction::None),
                    ),
                ));
                for (gamma, alpha) in [(2.0, None), (0.5, Some(0.25))] {
                    all.push((
                        format!("DiceFocalLoss {label} gamma {gamma} alpha {alpha:?}"),
                        Box::new(
                            DiceFocalLoss::new()
                                .with_activation(activation)
                                .with_include_background(background)
                                .with_squared_pred(squared)
                                .with_gamma(gamma)
                                .with_alpha(alpha)
                                .with_lambda_dice(0.7)
                                .with_lambda_focal(1.3)
                                .with_reduction(Reduction::None),
                        ),
                    ));
                }
            }
        }
    }
    all
}

/// `DiceLoss` and `DiceFocalLoss` under `Reduction::None`: the kernel's `(N, C')` values and the
/// gradient its backward pass computes for a varied `(N, C')` upstream gradient match the
/// composed path, for class indices (`(N, *)` and `(N, 1, *)`), one-hot and soft targets.
#[test]
fn dice_none_matches_the_composed_path() {
    let shapes: [&[i64]; 4] = [&[3, 4], &[2, 3, 13], &[2, 4, 7, 11], &[1, 3, 67]];
    for kind in [Kind::Double, Kind::Float] {
        for (si, shape) in shapes.iter().enumerate() {
            let x = manual_seed_logits(shape, 80 + si as i64, 3.0, kind);
            let ids = classes(shape, 800 + si as i64, None, si % 2 == 1);
            let one_hot = classes(shape, 800 + si as i64, None, false)
                .one_hot(shape[1])
                .movedim([-1], [1])
                .to_kind(kind);
            tch::manual_seed(810 + si as i64);
            let soft = Tensor::rand(*shape, (Kind::Double, Device::Cpu)).to_kind(kind);
            for (target_label, t) in [("ids", &ids), ("one-hot", &one_hot), ("soft", &soft)] {
                for (label, loss) in dice_losses() {
                    check(
                        loss.as_ref(),
                        &x,
                        t,
                        &format!("{label} {kind:?} {shape:?} {target_label}"),
                    );
                }
            }
        }
    }
}

/// Dice `None` on one and two threads and every SIMD level: the same values and gradients.
#[test]
fn dice_none_on_one_and_two_threads_and_every_simd_level() {
    let _guard = lock();
    let before = tch::get_num_threads();
    let shape = [2i64, 4, 70, 97];
    let t = classes(&shape, 900, None, false);
    for kind in [Kind::Double, Kind::Float] {
        let x = manual_seed_logits(&shape, 901, 3.0, kind);
        for (name, loss) in dice_losses().into_iter().step_by(3) {
            let value_shape = fused::composed_only(|| loss.forward(&x, &t)).size();
            let numel: i64 = value_shape.iter().product();
            let upstream = (Tensor::arange(numel, (Kind::Double, Device::Cpu)) + 1.0)
                .view(value_shape.as_slice());
            same_on_threads_and_levels(&name, loss.as_ref(), &x, &t, &upstream);
        }
    }
    tch::set_num_threads(before);
}

/// Dice `None` through autograd: `.sum().backward()` (an upstream gradient broadcast from one
/// value), `retain_graph` (the backward pass runs twice, with the same result), a graph that never
/// runs backward, and an in-place change to the input or the target before the backward pass (an
/// error, as for any saved tensor).
#[test]
fn dice_none_through_autograd() {
    let shape = [2i64, 3, 5, 6];
    let x = manual_seed_logits(&shape, 90, 2.0, Kind::Double);
    let t = classes(&shape, 901, None, false);
    let loss = DiceFocalLoss::new().with_reduction(Reduction::None);
    let composed_grad = |f: &dyn Fn(&Tensor) -> Tensor| {
        let leaf = x.detach().set_requires_grad(true);
        f(&fused::composed_only(|| loss.forward(&leaf, &t))).backward();
        leaf.grad()
    };

    let leaf = x.detach().set_requires_grad(true);
    let value = loss.forward(&leaf, &t);
    assert_eq!(value.size(), [2, 3]);
    value.sum(Kind::Double).backward();
    let reference = composed_grad(&|v| v.sum(Kind::Double));
    assert!(rel(&leaf.grad(), &reference) < 1e-12);

    let leaf = x.detach().set_requires_grad(true);
    let value = loss.forward(&leaf, &t);
    let w = Tensor::from_slice(&[0.5f64, -1.0, 2.0, 0.0, 3.0, -0.25]).view([2, 3]);
    let total = (&value * &w).sum(Kind::Double);
    let once = Tensor::run_backward(&[&total], &[&leaf], true, false).remove(0);
    let twice = Tensor::run_backward(&[&total], &[&leaf], false, false).remove(0);
    assert!(rel(&twice, &once) == 0.0);
    let reference = composed_grad(&|v| (v * &w).sum(Kind::Double));
    assert!(rel(&once, &reference) < 1e-12);

    // A forward whose backward never runs.
    let leaf = x.detach().set_requires_grad(true);
    drop(loss.forward(&leaf, &t));

    // The input changed in place after the forward pass.
    let leaf = x.detach().set_requires_grad(true);
    let input = &leaf * 1.0;
    let value = loss.forward(&input, &t);
    tch::no_grad(|| {
        let _ = input.shallow_clone().g_add_scalar_(1.0);
    });
    let error = value
        .sum(Kind::Double)
        .f_backward()
        .expect_err("an in-place change to a saved input");
    assert!(error.to_string().contains("inplace"), "{error}");

    // The target changed in place after the forward pass: the node saved it too.
    let leaf = x.detach().set_requires_grad(true);
    let target = t.copy();
    let value = loss.forward(&leaf, &target);
    let _ = target.shallow_clone().fill_(0);
    let error = value
        .sum(Kind::Double)
        .f_backward()
        .expect_err("an in-place change to a saved target");
    assert!(error.to_string().contains("inplace"), "{error}");
}
