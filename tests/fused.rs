//! The fused CPU kernels against the composed path (the same loss from tch operations, with
//! autograd's gradient): loss and input gradient agree within 1e-10 in float64 and 1e-5 in
//! float32 (relative to the largest magnitude), on random shapes and values, odd sizes that do not
//! divide the thread count, one class, one element, ignored elements and saturated logits; inputs
//! the kernels do not cover take the composed path.
//!
//! The kernels are CPU-only: on a CUDA test device (`FOCAL_TEST_DEVICE`) the inputs take the
//! composed path on their own (no kernel runs), and its result, brought back to the CPU, is held
//! to the same tolerances against the CPU kernel's (3e-4 for saturated float32 logits).

mod common;

use focal::{fused, FocalLoss, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss};
use tch::{Device, Kind, Tensor};

/// Loss and gradient (on the CPU) with the kernels on (asserting that one ran) and with them off.
/// On a CUDA test device the second is the CUDA inputs' result (asserting that no kernel ran:
/// they take the composed path with the kernels on).
fn both_paths(loss: &dyn Loss, input: &Tensor, target: &Tensor) -> [(Tensor, Tensor); 2] {
    let device = common::test_device();
    let run_on = |device: Device| {
        let x = input.to_device(device).detach().set_requires_grad(true);
        let value = loss.forward(&x, &target.to_device(device));
        value.backward();
        (
            value.detach().to_device(Device::Cpu),
            x.grad().to_device(Device::Cpu),
        )
    };
    let before = focal::__private::fused_kernel_runs();
    let fused_result = run_on(Device::Cpu);
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        before + 1,
        "{}: the kernel did not run",
        loss.name()
    );
    let composed = if device.is_cuda() {
        run_on(device)
    } else {
        fused::composed_only(|| run_on(Device::Cpu))
    };
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        before + 1,
        "{}: a kernel ran on {device:?} or with the kernels off",
        loss.name()
    );
    [fused_result, composed]
}

fn assert_agree(loss: &dyn Loss, input: &Tensor, target: &Tensor, case: &str) {
    // On a GPU the loss takes its composed path: CUDA's float32 softmax and reductions round
    // differently from the CPU kernel (and not the same way twice), within the same 1e-5.
    let tol = common::dtype::tolerance(input.kind());
    assert_agree_within(loss, input, target, case, tol);
}

/// Saturated logits (probabilities within rounding of 1) make `1 - p` ill-conditioned, and the
/// seed's clamp of `p_t` at 1e-4 makes its softmax backward cancel about four digits there. Where
/// such elements dominate, the two paths (which round `1 - p`, `exp` and `pow` in different places)
/// agree to 1e-5 in float64 and 1e-4 in float32; unsaturated inputs are held to 1e-10 and 1e-5.
fn assert_agree_saturated(loss: &dyn Loss, input: &Tensor, target: &Tensor, case: &str) {
    let tol = if input.kind() == Kind::Double {
        1e-5
    } else if common::test_device().is_cuda() {
        // CUDA's composed softmax rounds p near 1 on its own, and the seed's float32 gradient
        // loses four digits to `1 - p` there: measured 5.6e-4 on an H200 (the CPU paths differ
        // by up to 8e-5). Both are float32 roundings of an ill-conditioned formula.
        1e-3
    } else {
        1e-4
    };
    assert_agree_within(loss, input, target, case, tol);
}

fn assert_agree_within(loss: &dyn Loss, input: &Tensor, target: &Tensor, case: &str, tol: f64) {
    let [(fv, fg), (cv, cg)] = both_paths(loss, input, target);
    assert_eq!(fv.kind(), input.kind(), "{case}: dtype");
    assert!(
        cg.isfinite().all().int64_value(&[]) == 1,
        "{case}: composed gradient not finite"
    );
    let ve = common::rel_error(&fv, &cv);
    let ge = if cg.numel() == 0 {
        0.0
    } else {
        common::rel_error(&fg, &cg)
    };
    if std::env::var_os("FOCAL_PRINT_ERRORS").is_some() {
        // For measuring the tolerances on a new device: every case's errors.
        eprintln!("errors {case}: loss {ve:e} gradient {ge:e} (tolerance {tol:e})");
    }
    assert!(
        ve <= tol,
        "{case}: loss differs by {ve:e} (fused {fv:?}, composed {cv:?})"
    );
    assert!(ge <= tol, "{case}: gradient differs by {ge:e}");
    assert!(
        fg.isfinite().all().int64_value(&[]) == 1,
        "{case}: gradient not finite"
    );
}

/// Normal logits times `scale`, the same in every run (a generator of the test's own: libtorch's
/// global one is shared with the tests running at the same time).
fn logits(shape: &[i64], kind: Kind, scale: f64, seed: i64) -> Tensor {
    (common::seeded_randn(shape, seed as u64) * scale).to_kind(kind)
}

fn classes_target(shape: &[i64], seed: i64) -> Tensor {
    let mut t_shape = vec![shape[0]];
    t_shape.extend_from_slice(&shape[2..]);
    common::seeded_randint(shape[1], t_shape.as_slice(), seed as u64 + 1000)
}

/// (N, C, *) shapes: odd sizes, more elements than one thread takes, one class, one element,
/// every class count the kernels are compiled for as a constant (2 to 8) in a whole block of 64
/// positions and a shorter last one, and counts beyond it (9, 10: the kernels' general path).
const SHAPES: &[&[i64]] = &[
    &[2, 4, 5, 7, 3],
    &[3, 5, 37, 41, 7],
    &[1, 3],
    &[7, 10],
    &[1, 1, 4, 4],
    &[2, 2, 33],
    &[2, 2, 97],
    &[1, 3, 9, 15],
    &[1, 6, 65537],
    &[2, 7, 70],
    &[2, 8, 9, 13],
    &[2, 9, 5, 31],
];

#[test]
fn focal_loss_fused_matches_composed() {
    for kind in [Kind::Double, Kind::Float] {
        for (i, shape) in SHAPES.iter().enumerate() {
            for (gamma, alpha) in [(2.0, 0.25), (0.0, 0.5), (0.5, 0.9), (1.0, 0.25), (3.5, 0.1)] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    for scale in [1.0, 12.0] {
                        let x = logits(shape, kind, scale, i as i64);
                        let t = classes_target(shape, i as i64);
                        let loss = FocalLoss::new()
                            .with_gamma(gamma)
                            .with_alpha(alpha)
                            .with_reduction(reduction);
                        let case = format!(
                            "{kind:?} {shape:?} gamma {gamma} alpha {alpha} {reduction} x{scale}"
                        );
                        // Both paths are in log space: saturated logits are held to the
                        // same tolerance.
                        assert_agree(&loss, &x, &t, &case);
                    }
                }
            }
        }
    }
}

#[test]
fn focal_loss_fused_reads_every_target_layout() {
    let shape = [2, 3, 9, 11];
    let x = logits(&shape, Kind::Float, 2.0, 7);
    let t = classes_target(&shape, 7);
    for target in [
        t.shallow_clone(),
        t.unsqueeze(1),
        t.to_kind(Kind::Int),
        t.to_kind(Kind::Uint8),
    ] {
        let case = format!("target {:?} {:?}", target.kind(), target.size());
        assert_agree(&FocalLoss::default(), &x, &target, &case);
    }
}

#[test]
fn softmax_focal_fused_matches_composed() {
    for kind in [Kind::Double, Kind::Float] {
        for (i, shape) in SHAPES.iter().enumerate().filter(|(_, s)| s[1] >= 2) {
            let classes = shape[1] as usize;
            let weights: Vec<f64> = (0..classes).map(|c| 0.2 + 0.3 * c as f64).collect();
            for gamma in [2.0, 0.0, 0.5, 1.0, 4.5] {
                for alpha in [None, Some(weights.clone())] {
                    for reduction in [Reduction::Mean, Reduction::Sum] {
                        // None ignored (the driver's guess of the weight `Mean` divides by is
                        // right), about a fifth (the node corrects the guess; with alpha the
                        // weight is summed before the pass).
                        for (scale, drop) in [(1.0, 0.0), (1.0, 0.2), (40.0, 0.2)] {
                            let x = logits(shape, kind, scale, i as i64);
                            let t = classes_target(shape, i as i64);
                            let ignored =
                                common::seeded_rand(t.size().as_slice(), i as u64 + 500).lt(drop);
                            let t = t.masked_fill(&ignored, -100);
                            if t.ne(-100).sum(Kind::Int64).int64_value(&[]) == 0 {
                                continue;
                            }
                            let loss = SoftmaxFocalLoss::new()
                                .with_gamma(gamma)
                                .with_alpha(alpha.clone())
                                .with_reduction(reduction);
                            let case = format!(
                                "{kind:?} {shape:?} gamma {gamma} alpha {alpha:?} {reduction} x{scale} drop {drop}"
                            );
                            if scale > 10.0 {
                                assert_agree_saturated(&loss, &x, &t, &case);
                            } else {
                                assert_agree(&loss, &x, &t, &case);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn sigmoid_focal_fused_matches_composed() {
    let shapes: &[&[i64]] = &[&[1], &[3, 7, 11], &[2, 5, 33, 37], &[100_003]];
    for kind in [Kind::Double, Kind::Float] {
        for (i, shape) in shapes.iter().enumerate() {
            for gamma in [2.0, 0.0, 0.5, 1.0, 3.0] {
                for alpha in [Some(0.25), None] {
                    for reduction in [Reduction::Mean, Reduction::Sum] {
                        for (soft, scale) in [(false, 1.0), (false, 25.0), (true, 3.0)] {
                            let x = logits(shape, kind, scale, i as i64);
                            let u = common::seeded_rand(shape, i as u64 + 77).to_kind(kind);
                            let t = if soft { u } else { u.lt(0.3).to_kind(kind) };
                            let loss = SigmoidFocalLoss::new()
                                .with_gamma(gamma)
                                .with_alpha(alpha)
                                .with_reduction(reduction);
                            let case = format!(
                                "{kind:?} {shape:?} gamma {gamma} alpha {alpha:?} {reduction} soft {soft} x{scale}"
                            );
                            if scale > 10.0 {
                                assert_agree_saturated(&loss, &x, &t, &case);
                            } else {
                                assert_agree(&loss, &x, &t, &case);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn forward_without_grad_matches_composed() {
    let device = common::test_device();
    let x = logits(&[2, 4, 17, 19], Kind::Float, 3.0, 3);
    let t = classes_target(&[2, 4, 17, 19], 3);
    let losses: [&dyn Loss; 2] = [&FocalLoss::default(), &SoftmaxFocalLoss::default()];
    for loss in losses {
        let before = focal::__private::fused_kernel_runs();
        let fused_value = tch::no_grad(|| loss.forward(&x, &t));
        assert_eq!(focal::__private::fused_kernel_runs(), before + 1);
        let composed = if device.is_cuda() {
            // CUDA inputs take the composed path with the kernels on.
            let (xd, td) = (x.to_device(device), t.to_device(device));
            let value = tch::no_grad(|| loss.forward(&xd, &td));
            assert_eq!(
                focal::__private::fused_kernel_runs(),
                before + 1,
                "{}: a kernel ran on {device:?}",
                loss.name()
            );
            value.to_device(Device::Cpu)
        } else {
            fused::composed_only(|| loss.forward(&x, &t))
        };
        assert!(
            common::rel_error(&fused_value, &composed) <= 1e-5,
            "{}",
            loss.name()
        );
    }
}

/// Inputs the kernels do not cover take the composed path (no kernel run) and still work.
#[test]
fn uncovered_inputs_take_the_composed_path() {
    let device = common::test_device();
    let x = logits(&[2, 3, 8, 6], Kind::Float, 1.0, 5).to_device(device);
    let t = classes_target(&[2, 3, 8, 6], 5).to_device(device);
    let before = focal::__private::fused_kernel_runs();
    // A non-contiguous input, half precision, label smoothing on a non-contiguous input.
    let transposed = x.transpose(2, 3);
    let t_transposed = t.transpose(1, 2);
    let _ = FocalLoss::default().forward(&transposed, &t_transposed);
    let _ = FocalLoss::default().forward(&x.to_kind(Kind::Half), &t);
    let _ = SoftmaxFocalLoss::new()
        .with_label_smoothing(0.1)
        .forward(&transposed, &t_transposed);
    assert_eq!(focal::__private::fused_kernel_runs(), before);
}

/// Invalid targets reach the composed path's checks: the same typed error as without kernels.
#[test]
fn invalid_targets_get_the_same_errors() {
    let device = common::test_device();
    let x = logits(&[2, 3, 4], Kind::Float, 1.0, 9).to_device(device);
    let bad = Tensor::from_slice(&[0i64, 1, 2, 3, 0, 1, 2, 1])
        .view([2, 4])
        .to_device(device);
    let losses: [&dyn Loss; 2] = [&FocalLoss::default(), &SoftmaxFocalLoss::default()];
    for loss in losses {
        let fused_error = loss.f_forward(&x, &bad).unwrap_err().to_string();
        let composed = fused::composed_only(|| loss.f_forward(&x, &bad))
            .unwrap_err()
            .to_string();
        assert_eq!(fused_error, composed);
        assert!(fused_error.contains("target"), "{fused_error}");
    }
    let soft = Tensor::from_slice(&[0.5f32, 1.5]).to_device(device);
    let xs = Tensor::from_slice(&[0.5f32, 1.5]).to_device(device);
    let error = SigmoidFocalLoss::new().f_forward(&xs, &soft).unwrap_err();
    assert!(
        error.to_string().starts_with("SigmoidFocalLoss: target"),
        "{error}"
    );
}

/// The kernel's gradient is scaled by the upstream gradient, as autograd's would be.
#[test]
fn upstream_gradients_scale_the_kernel_gradient() {
    let device = common::test_device();
    let x = logits(&[2, 3, 9, 5], Kind::Double, 2.0, 11).to_device(device);
    let t = classes_target(&[2, 3, 9, 5], 11).to_device(device);
    let losses: [&dyn Loss; 2] = [&FocalLoss::default(), &SoftmaxFocalLoss::default()];
    // On CUDA no kernel runs: autograd's composed backward rounds the scaled chain differently
    // (1.3e-14 on the CPU's composed path).
    let tol = if device.is_cuda() { 1e-12 } else { 1e-15 };
    for loss in losses {
        let grad = |upstream: f64| {
            let leaf = x.detach().set_requires_grad(true);
            (loss.forward(&leaf, &t) * upstream).backward();
            leaf.grad()
        };
        let (one, three) = (grad(1.0), grad(-3.0));
        assert!(
            common::rel_error(&three, &(one * -3.0)) < tol,
            "{}",
            loss.name()
        );
    }
}
