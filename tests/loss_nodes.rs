//! The autograd nodes of the built-in losses: a fused kernel's gradient buffer becomes `x.grad`
//! without a copy, `-inf` logits on masked classes give finite values and gradients on every
//! path, every differentiable argument gets its gradient, and the usual autograd life cycle
//! (no node without grad, retain_graph, reuse, accumulation) holds for losses too.

mod common;

use focal::{
    fused, gradcheck_function, Activation, DiceFocalLoss, DiceLoss, Focal, FocalLoss,
    GradcheckOptions, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

fn fused_losses() -> Vec<Box<dyn Loss>> {
    vec![
        Box::new(FocalLoss::default()),
        Box::new(SoftmaxFocalLoss::default()),
        Box::new(SoftmaxFocalLoss::default().with_reduction(Reduction::Sum)),
    ]
}

fn class_batch(kind: Kind) -> (Tensor, Tensor) {
    tch::manual_seed(3);
    let device = common::test_device();
    (
        Tensor::randn([2, 4, 5, 6], (kind, device)),
        Tensor::randint(4, [2, 5, 6], (Kind::Int64, device)),
    )
}

#[test]
fn the_kernels_gradient_buffer_becomes_x_grad_without_a_copy() {
    if common::test_device() != Device::Cpu {
        return; // the fused kernels are CPU kernels
    }
    for kind in [Kind::Float, Kind::Double] {
        let (logits, target) = class_batch(kind);
        let sig_target = Tensor::rand([2, 4, 5, 6], (kind, Device::Cpu));
        let mut cases: Vec<(Box<dyn Loss>, Tensor)> = fused_losses()
            .into_iter()
            .map(|l| (l, target.shallow_clone()))
            .collect();
        cases.push((Box::new(SigmoidFocalLoss::new()), sig_target));
        for (loss, target) in cases {
            for upstream in [1.0, 2.5] {
                let x = logits.detach().set_requires_grad(true);
                let value = loss.forward(&x, &target);
                let buffer = focal::__private::last_kernel_gradient();
                (value * upstream).backward();
                assert_eq!(
                    x.grad().data_ptr() as usize,
                    buffer,
                    "{}: x.grad is not the kernel's buffer (upstream {upstream})",
                    loss.name()
                );
                // The same gradient as autograd through the composed path.
                let y = logits.detach().set_requires_grad(true);
                (fused::composed_only(|| loss.forward(&y, &target)) * upstream).backward();
                let tol = if kind == Kind::Double { 1e-10 } else { 1e-5 };
                let err = max_abs(&(x.grad() - y.grad())) / max_abs(&y.grad());
                assert!(err <= tol, "{}: {err:e}", loss.name());
            }
        }
    }
}

#[test]
fn loss_nodes_follow_autograds_life_cycle() {
    let (logits, target) = class_batch(Kind::Double);
    for loss in fused_losses() {
        let reference = {
            let x = logits.detach().set_requires_grad(true);
            fused::composed_only(|| loss.forward(&x, &target)).backward();
            x.grad()
        };
        // No node without grad: under no_grad, and for an input that does not require grad.
        let x = logits.detach().set_requires_grad(true);
        assert!(!tch::no_grad(|| loss.forward(&x, &target)).requires_grad());
        assert!(!loss.forward(&logits, &target).requires_grad());
        // retain_graph: two backward passes give the same gradient, then a third is an error.
        let value = loss.forward(&x, &target);
        let first = Tensor::run_backward(&[&value], &[&x], true, false).remove(0);
        let second = Tensor::run_backward(&[&value], &[&x], true, false).remove(0);
        assert!(max_abs(&(&first - &reference)) < 1e-12, "{}", loss.name());
        assert!(max_abs(&(&second - &reference)) < 1e-12, "{}", loss.name());
        value.backward();
        let err = value.f_backward().unwrap_err().to_string();
        assert!(err.contains("retain_graph"), "{}: {err}", loss.name());
        // Gradients accumulate over graphs, and a loss used twice in one graph counts twice.
        loss.forward(&x, &target).backward();
        assert!(max_abs(&(x.grad() - &reference * 2.0)) < 1e-12);
        let y = logits.detach().set_requires_grad(true);
        (loss.forward(&y, &target) + loss.forward(&y, &target) * 3.0).backward();
        assert!(max_abs(&(y.grad() - &reference * 4.0)) < 1e-12);
        // Double backward through the kernel's node is refused with a clear message when
        // attempted. (On a GPU the loss takes its composed path, which autograd differentiates
        // twice.)
        if logits.device() != Device::Cpu {
            continue;
        }
        let z = logits.detach().set_requires_grad(true);
        let g = Tensor::run_backward(&[&loss.forward(&z, &target)], &[&z], true, true).remove(0);
        let err = g.sum(Kind::Double).f_backward().unwrap_err().to_string();
        assert!(err.contains("has no double backward"), "{err}");
    }
}

/// Logits with the last class masked by `-inf`, and targets that never name it.
fn masked(kind: Kind) -> (Tensor, Tensor) {
    let device = common::test_device();
    let x = Tensor::from_slice(&[1.0f64, 0.5, f64::NEG_INFINITY, 0.2, 2.0, f64::NEG_INFINITY])
        .reshape([2, 3])
        .to_kind(kind)
        .to_device(device);
    (x, Tensor::from_slice(&[0i64, 1]).to_device(device))
}

#[test]
fn masked_classes_give_finite_values_and_zero_gradients_on_every_path() {
    for kind in [Kind::Float, Kind::Double] {
        let (x, t) = masked(kind);
        let one_hot = t.one_hot(3).to_kind(kind);
        let probabilities = x.softmax(1, kind);
        let cases: Vec<(Box<dyn Loss>, Tensor, Tensor)> = vec![
            (
                Box::new(Focal::default()),
                probabilities.shallow_clone(),
                one_hot.shallow_clone(),
            ),
            (
                Box::new(FocalLoss::default()),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(SoftmaxFocalLoss::default()),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(SoftmaxFocalLoss::default().with_alpha(Some(vec![0.2, 0.3, 0.5]))),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(DiceLoss::default()),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(DiceFocalLoss::default()),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(DiceFocalLoss::default().with_activation(Activation::Sigmoid)),
                x.shallow_clone(),
                t.shallow_clone(),
            ),
            (
                Box::new(SigmoidFocalLoss::new()),
                x.shallow_clone(),
                one_hot.shallow_clone(),
            ),
            (
                Box::new(SigmoidFocalLoss::new().with_alpha(None).with_gamma(0.5)),
                x.shallow_clone(),
                one_hot.shallow_clone(),
            ),
        ];
        for (loss, input, target) in cases {
            let plain = loss.forward(&input, &target).double_value(&[]);
            assert!(plain.is_finite(), "{}: {plain}", loss.name());
            for composed in [false, true] {
                let run = || {
                    let leaf = input.detach().set_requires_grad(true);
                    let value = loss.forward(&leaf, &target);
                    value.backward();
                    (value.double_value(&[]), leaf.grad())
                };
                let (value, grad) = if composed {
                    fused::composed_only(run)
                } else {
                    run()
                };
                let name = format!("{} {kind:?} composed={composed}", loss.name());
                let tol = if kind == Kind::Double { 1e-12 } else { 1e-6 };
                assert!(
                    (value - plain).abs() <= tol * plain.abs().max(1.0),
                    "{name}: {value} with grad, {plain} without"
                );
                assert!(
                    grad.isfinite().all().int64_value(&[]) == 1,
                    "{name}: {grad}"
                );
                if input.kind() == kind && loss.name() != "Focal" {
                    let masked_grad = max_abs(&grad.select(1, 2));
                    assert_eq!(masked_grad, 0.0, "{name}: gradient on a masked class");
                }
            }
        }
    }
}

#[test]
fn a_soft_target_gets_its_gradient_on_every_path() {
    tch::manual_seed(5);
    let device = common::test_device();
    let x = Tensor::randn([3, 4], (Kind::Double, device));
    let t = Tensor::rand([3, 4], (Kind::Double, device)) * 0.8 + 0.1;
    let loss = SigmoidFocalLoss::new();
    let mut grads = Vec::new();
    for composed in [false, true] {
        let (xl, tl) = (
            x.detach().set_requires_grad(true),
            t.detach().set_requires_grad(true),
        );
        let run = || loss.forward(&xl, &tl).backward();
        if composed {
            fused::composed_only(run)
        } else {
            run()
        }
        assert!(
            tl.grad().defined(),
            "composed={composed}: no target gradient"
        );
        grads.push((xl.grad(), tl.grad()));
    }
    assert!(max_abs(&(&grads[0].0 - &grads[1].0)) < 1e-12);
    assert!(max_abs(&(&grads[0].1 - &grads[1].1)) < 1e-12);
    // And it is the right one.
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let l = loss.clone().with_reduction(reduction);
        let reports = gradcheck_function(
            "SigmoidFocalLoss",
            |a: &[Tensor]| Ok(vec![l.f_forward(&a[0], &a[1])?]),
            &[&x, &t],
            GradcheckOptions::default(),
        )
        .unwrap();
        for r in reports {
            let r = r.unwrap();
            assert!(r.passed(1e-6), "{reduction}: {r:?}");
        }
    }
}

/// A NaN logit gives a NaN loss on every path, fused and composed, with and without grad (the
/// seed's clamp of `p_t` must not turn it into a finite number), as PyTorch does; so does a
/// `+inf` logit in a softmax (inf - inf).
#[test]
fn nan_logits_give_nan_on_every_path() {
    let device = common::test_device();
    for kind in [Kind::Float, Kind::Double] {
        for bad in [f64::NAN, f64::INFINITY] {
            let x = Tensor::from_slice(&[1.0f64, bad, 0.5, 0.2, 2.0, -1.0])
                .reshape([2, 3])
                .to_kind(kind)
                .to_device(device);
            let t = Tensor::from_slice(&[0i64, 1]).to_device(device);
            let dense = t.one_hot(3).to_kind(kind);
            let mut cases: Vec<(Box<dyn Loss>, Tensor)> = vec![
                (Box::new(FocalLoss::default()), t.shallow_clone()),
                (Box::new(SoftmaxFocalLoss::default()), t.shallow_clone()),
            ];
            if bad.is_nan() {
                cases.push((Box::new(SigmoidFocalLoss::new()), dense.shallow_clone()));
            }
            for (loss, target) in cases {
                for composed in [false, true] {
                    for grad in [false, true] {
                        let input = x.detach().set_requires_grad(grad);
                        let run = || loss.forward(&input, &target).double_value(&[]);
                        let value = if composed {
                            fused::composed_only(run)
                        } else {
                            run()
                        };
                        assert!(
                            value.is_nan(),
                            "{} {kind:?} logit {bad} composed={composed} grad={grad}: {value}",
                            loss.name()
                        );
                    }
                }
            }
        }
    }
}
