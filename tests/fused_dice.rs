//! The fused `DiceLoss` and `DiceFocalLoss` kernels against the composed path: in float64 the
//! kernel's loss and input gradient equal the composed path's to 1e-12; in float32 they are within
//! 1e-5 (relative to the largest magnitude) of the float64 truth (the composed path in float64
//! on the same numbers). Over both activations, class and dense targets (one-hot, soft, integer
//! masks; `(N, *)` and `(N, 1, *)` class indices of three integer types), with and without the
//! background, squared predictions, the smooths, gamma, alpha and the lambdas, `Mean` and `Sum`,
//! upstream gradients other than 1 (`Reduction::None`: `tests/fused_none.rs`), shapes with and without spatial dims, `N = 1`, `C = 1` with
//! the sigmoid, spatial sizes that are not multiples of the block or the lane width, on one and two
//! threads, at every SIMD level this CPU has. Inputs the kernel does not cover take the
//! composed path (which reports what is invalid, with the same error as without the kernels).
//!
//! The thread count is process-wide: the tests here take a lock so that they do not change it
//! under each other.

mod common;

use std::sync::Mutex;

use common::SplitMix;
use focal::fused::{self, SimdLevel};
use focal::{Activation, DiceFocalLoss, DiceLoss, Loss, Reduction};
use tch::{Device, Kind, Tensor};

static THREADS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The kinds of target a case uses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TargetKind {
    /// Class indices `(N, *)`, int64.
    Classes,
    /// Class indices `(N, 1, *)`, int32.
    ClassesWithChannel,
    /// Class indices `(N, *)`, uint8.
    ClassesU8,
    /// One-hot floats of the input's shape.
    OneHot,
    /// Soft labels in `[0, 1]` of the input's shape.
    Soft,
    /// An int64 0/1 mask of the input's shape.
    Mask,
}

const TARGETS: [TargetKind; 6] = [
    TargetKind::Classes,
    TargetKind::ClassesWithChannel,
    TargetKind::ClassesU8,
    TargetKind::OneHot,
    TargetKind::Soft,
    TargetKind::Mask,
];

/// A float64 input (logits) of `shape` and a target of `kind`, from `seed`.
fn inputs(shape: &[i64], kind: TargetKind, scale: f64, seed: u64) -> (Tensor, Tensor) {
    let x = common::seeded_randn(shape, seed) * scale;
    let c = shape[1];
    let positions: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    let classes = common::seeded_randint(c, &positions, seed + 1);
    let one_hot = || {
        let dims = shape.len() as i64;
        let mut order = vec![0i64, dims - 1];
        order.extend(1..dims - 1);
        classes
            .one_hot(c)
            .permute(order.as_slice())
            .contiguous()
            .to_kind(Kind::Double)
    };
    let target = match kind {
        TargetKind::Classes => classes,
        TargetKind::ClassesWithChannel => classes.unsqueeze(1).to_kind(Kind::Int),
        TargetKind::ClassesU8 => classes.to_kind(Kind::Uint8),
        TargetKind::OneHot => one_hot(),
        TargetKind::Soft => {
            // Mostly soft, some exact 0s and 1s.
            let u = common::seeded_rand(shape, seed + 2);
            let hard = common::seeded_rand(shape, seed + 3).lt(0.3);
            u.where_self(&hard.logical_not(), &u.gt(0.5).to_kind(Kind::Double))
        }
        TargetKind::Mask => common::seeded_rand(shape, seed + 2)
            .lt(0.4)
            .to_kind(Kind::Int64),
    };
    (x, target)
}

/// A random loss: Dice or Dice-Focal with random settings (activation `activation`).
fn random_loss(
    rng: &mut SplitMix,
    focal: bool,
    activation: Activation,
    include_background: bool,
    reduction: Reduction,
) -> (String, Box<dyn Loss>) {
    let squared = rng.uniform() < 0.4;
    let smooths = [(1e-5, 1e-5), (0.5, 2.0), (0.0, 1e-3), (1.0, 1.0)];
    let (nr, dr) = smooths[(rng.next_u64() % 4) as usize];
    if !focal {
        let loss = DiceLoss::new()
            .with_activation(activation)
            .with_include_background(include_background)
            .with_squared_pred(squared)
            .with_smooth_nr(nr)
            .with_smooth_dr(dr)
            .with_reduction(reduction);
        return (format!("{loss:?}"), Box::new(loss));
    }
    let gammas = [0.0, 0.5, 1.0, 2.0, 2.5];
    let gamma = gammas[(rng.next_u64() % 5) as usize];
    let alpha = [None, Some(0.25), Some(0.8)][(rng.next_u64() % 3) as usize];
    let lambdas = [(1.0, 1.0), (0.3, 2.0), (0.0, 1.0), (1.0, 0.0)];
    let (ld, lf) = lambdas[(rng.next_u64() % 4) as usize];
    let loss = DiceFocalLoss::new()
        .with_activation(activation)
        .with_include_background(include_background)
        .with_squared_pred(squared)
        .with_smooth_nr(nr)
        .with_smooth_dr(dr)
        .with_gamma(gamma)
        .with_alpha(alpha)
        .with_lambda_dice(ld)
        .with_lambda_focal(lf)
        .with_reduction(reduction);
    (format!("{loss:?}"), Box::new(loss))
}

/// `target` for an input of `kind`: floats converted, integers as they are.
fn target_for(target: &Tensor, kind: Kind) -> Tensor {
    if target.is_floating_point() {
        target.to_kind(kind)
    } else {
        target.shallow_clone()
    }
}

/// Loss and gradient of `upstream * loss(x, target)` for `x` the input in `kind`; whether a
/// kernel ran.
fn run(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    kind: Kind,
    upstream: f64,
) -> (Tensor, Tensor, bool) {
    let before = focal::__private::fused_kernel_runs();
    let x = input.to_kind(kind).detach().set_requires_grad(true);
    let value = loss.forward(&x, &target_for(target, kind));
    (&value * upstream).backward();
    let ran = focal::__private::fused_kernel_runs() > before;
    (value.detach(), x.grad(), ran)
}

/// `max |a - b| / max |b|` (the absolute error where `b` is 0).
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    if b.numel() == 0 {
        return 0.0;
    }
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let scale = b.abs().max().double_value(&[]);
    let err = (&a - &b).abs().max().double_value(&[]);
    if scale == 0.0 {
        err
    } else {
        err / scale
    }
}

/// The kernel's loss and gradient against the composed float64 truth: float64 to 1e-12,
/// float32 to 1e-5.
fn check(name: &str, loss: &dyn Loss, input: &Tensor, target: &Tensor, upstream: f64) {
    let (tv, tg, composed_ran) =
        fused::composed_only(|| run(loss, input, target, Kind::Double, upstream));
    assert!(!composed_ran, "{name}: a kernel ran with the kernels off");
    assert!(
        tv.isfinite().all().int64_value(&[]) == 1,
        "{name}: the truth is not finite"
    );
    for (kind, tol) in [(Kind::Double, 1e-12), (Kind::Float, 1e-5)] {
        let (v, g, ran) = run(loss, input, target, kind, upstream);
        assert!(ran, "{name} {kind:?}: the kernel did not run");
        assert_eq!(v.kind(), kind, "{name}: the loss's dtype");
        let (ev, eg) = (rel(&v, &tv), rel(&g, &tg));
        assert!(
            ev <= tol,
            "{name} {kind:?}: loss {} vs {} ({ev:e})",
            v.double_value(&[]),
            tv.double_value(&[])
        );
        assert!(eg <= tol, "{name} {kind:?}: gradient off by {eg:e}");
    }
}

/// Shapes: 3-D and 2-D spatial dims not multiples of 64 or 8, one sample, 1-D spatial dims over
/// one block, no spatial dims, one position; every class count the float32 softmax passes are
/// compiled for as constants (2 to 8) in a whole block of 64 positions and a shorter last one,
/// and 9 (the general path).
const SHAPES: [&[i64]; 12] = [
    &[2, 4, 9, 7, 5],
    &[1, 3, 67],
    &[3, 2, 13, 11],
    &[4, 5],
    &[2, 3, 1],
    &[1, 4, 16, 8, 9],
    &[2, 2, 130],
    &[1, 5, 70],
    &[1, 6, 66],
    &[2, 7, 70],
    &[1, 8, 9, 9],
    &[2, 9, 40],
];

#[test]
fn the_kernels_match_the_composed_path() {
    let _guard = lock();
    let mut rng = SplitMix::new(14);
    let mut seed = 100;
    for focal in [false, true] {
        for activation in [Activation::Softmax, Activation::Sigmoid] {
            for include_background in [true, false] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    for target_kind in TARGETS {
                        for shape in SHAPES {
                            seed += 1;
                            let (name, loss) = random_loss(
                                &mut rng,
                                focal,
                                activation,
                                include_background,
                                reduction,
                            );
                            let upstream = [1.0, 3.0, -0.5][(seed % 3) as usize];
                            let scale = [1.0, 3.0][(seed % 2) as usize];
                            let (x, t) = inputs(shape, target_kind, scale, seed);
                            let name =
                                format!("{name} {target_kind:?} {shape:?} x{upstream} seed {seed}");
                            check(&name, loss.as_ref(), &x, &t, upstream);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_demo_losses_match_on_one_and_two_threads() {
    let _guard = lock();
    let before = tch::get_num_threads();
    // Large enough for two parts (over 2^15 elements per thread), with a short last block.
    let shape = [2i64, 4, 20, 21, 19];
    let cases: Vec<(&str, Box<dyn Loss>)> = vec![
        ("DiceLoss", Box::new(DiceLoss::default())),
        ("DiceFocalLoss", Box::new(DiceFocalLoss::default())),
        (
            "DiceFocalLoss sigmoid, no background",
            Box::new(
                DiceFocalLoss::default()
                    .with_activation(Activation::Sigmoid)
                    .with_include_background(false)
                    .with_alpha(Some(0.25))
                    .with_gamma(1.5),
            ),
        ),
        (
            "DiceLoss squared, Sum",
            Box::new(
                DiceLoss::default()
                    .with_squared_pred(true)
                    .with_reduction(Reduction::Sum),
            ),
        ),
    ];
    for threads in [1, 2] {
        tch::set_num_threads(threads);
        for (name, loss) in &cases {
            for target_kind in [TargetKind::Classes, TargetKind::Soft] {
                let (x, t) = inputs(&shape, target_kind, 2.0, 7);
                let name = format!("{name} {target_kind:?} on {threads} threads");
                check(&name, loss.as_ref(), &x, &t, 3.0);
            }
        }
    }
    tch::set_num_threads(before);
}

#[test]
fn one_channel_with_the_sigmoid() {
    let _guard = lock();
    let mut rng = SplitMix::new(3);
    for (i, shape) in [&[2i64, 1, 70][..], &[3, 1], &[1, 1, 5, 13]]
        .into_iter()
        .enumerate()
    {
        for target_kind in [TargetKind::Mask, TargetKind::Soft, TargetKind::Classes] {
            for focal in [false, true] {
                let (name, loss) =
                    random_loss(&mut rng, focal, Activation::Sigmoid, true, Reduction::Mean);
                let (x, t) = inputs(shape, target_kind, 2.0, 40 + i as u64);
                check(
                    &format!("{name} {target_kind:?} {shape:?}"),
                    loss.as_ref(),
                    &x,
                    &t,
                    1.0,
                );
            }
        }
    }
}

#[test]
fn saturated_logits_stay_within_tolerance() {
    let _guard = lock();
    // Logits up to some 100: probabilities round to 0 and 1 in float32.
    for (i, loss) in [
        Box::new(DiceFocalLoss::default()) as Box<dyn Loss>,
        Box::new(DiceFocalLoss::default().with_gamma(0.5)),
        Box::new(
            DiceFocalLoss::default()
                .with_gamma(3.0)
                .with_alpha(Some(0.25)),
        ),
        Box::new(DiceFocalLoss::default().with_activation(Activation::Sigmoid)),
        Box::new(DiceLoss::default().with_squared_pred(true)),
    ]
    .into_iter()
    .enumerate()
    {
        for target_kind in [TargetKind::Classes, TargetKind::Soft] {
            let (x, t) = inputs(&[2, 3, 11, 9], target_kind, 25.0, 60 + i as u64);
            check(
                &format!("saturated {} {target_kind:?} ({i})", loss.name()),
                loss.as_ref(),
                &x,
                &t,
                1.0,
            );
        }
    }
}

#[test]
fn every_simd_level_gives_the_composed_result() {
    let _guard = lock();
    let detected = fused::detected_simd_level();
    let mut rng = SplitMix::new(9);
    for level in [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512] {
        if level > detected {
            eprintln!("{level:?}: not on this CPU, not tested");
            continue;
        }
        fused::with_simd_level(level, || {
            for focal in [false, true] {
                for activation in [Activation::Softmax, Activation::Sigmoid] {
                    let (name, loss) =
                        random_loss(&mut rng, focal, activation, false, Reduction::Mean);
                    let (x, t) = inputs(&[2, 3, 10, 13], TargetKind::Classes, 2.0, 77);
                    check(&format!("{name} at {level:?}"), loss.as_ref(), &x, &t, 1.0);
                }
            }
        });
    }
}

#[test]
fn without_a_gradient_the_kernel_gives_the_loss() {
    let _guard = lock();
    let (x, t) = inputs(&[2, 4, 6, 7], TargetKind::Classes, 2.0, 5);
    for loss in [
        Box::new(DiceLoss::default()) as Box<dyn Loss>,
        Box::new(DiceFocalLoss::default()),
    ] {
        let truth = fused::composed_only(|| loss.forward(&x, &t));
        for (kind, tol) in [(Kind::Double, 1e-12), (Kind::Float, 1e-5)] {
            let before = focal::__private::fused_kernel_runs();
            let xk = x.to_kind(kind);
            let plain = loss.forward(&xk, &t);
            let no_grad = tch::no_grad(|| loss.forward(&xk.set_requires_grad(true), &t));
            assert_eq!(focal::__private::fused_kernel_runs(), before + 2);
            assert!(rel(&plain, &truth) <= tol && rel(&no_grad, &truth) <= tol);
            assert!(!no_grad.requires_grad());
        }
    }
}

/// Whether a kernel ran for `loss(input, target)`, and its result against the kernels-off one
/// (the same error, or a loss to 1e-12).
fn falls_back(name: &str, loss: &dyn Loss, input: &Tensor, target: &Tensor) {
    let before = focal::__private::fused_kernel_runs();
    let ours = loss.f_forward(input, target);
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        before,
        "{name}: a kernel ran"
    );
    let composed = fused::composed_only(|| loss.f_forward(input, target));
    match (ours, composed) {
        (Ok(a), Ok(b)) => {
            let same_nan = a.isnan().equal(&b.isnan());
            let finite = a.isfinite();
            assert!(
                same_nan && rel(&a.masked_select(&finite), &b.masked_select(&finite)) <= 1e-12,
                "{name}: {a:?} vs {b:?}"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
        (a, b) => panic!("{name}: {a:?} vs {b:?}"),
    }
}

#[test]
fn inputs_outside_the_kernel_take_the_composed_path() {
    let _guard = lock();
    let (x, t) = inputs(&[2, 3, 5, 4], TargetKind::Classes, 2.0, 11);
    let dice = || -> Vec<Box<dyn Loss>> {
        vec![
            Box::new(DiceLoss::default()),
            Box::new(DiceFocalLoss::default()),
            Box::new(DiceFocalLoss::default().with_activation(Activation::Sigmoid)),
        ]
    };
    for loss in dice() {
        let name = loss.name();
        // Non-finite logits.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let xv = x.copy();
            let _ = xv.get(1).get(2).get(3).get(1).fill_(v);
            falls_back(&format!("{name} logit {v}"), loss.as_ref(), &xv, &t);
        }
        // Class indices out of range.
        for v in [3i64, -1] {
            let tv = t.copy();
            let _ = tv.get(1).get(4).get(2).fill_(v);
            falls_back(&format!("{name} class {v}"), loss.as_ref(), &x, &tv);
        }
        // Dense targets outside [0, 1], NaN, and integer masks with other values.
        let dense = inputs(&[2, 3, 5, 4], TargetKind::OneHot, 2.0, 11).1;
        for v in [1.5, -0.5, f64::NAN] {
            let tv = dense.copy();
            let _ = tv.get(0).get(1).get(3).get(3).fill_(v);
            falls_back(&format!("{name} dense {v}"), loss.as_ref(), &x, &tv);
        }
        let mask = dense.to_kind(Kind::Int64);
        let _ = mask.get(1).get(0).get(0).get(0).fill_(2);
        falls_back(&format!("{name} mask 2"), loss.as_ref(), &x, &mask);
        // Half precision, a non-contiguous input, an empty one.
        falls_back(
            &format!("{name} half"),
            loss.as_ref(),
            &x.to_kind(Kind::Half),
            &t,
        );
        let strided = x.transpose(2, 3).contiguous().transpose(2, 3);
        falls_back(&format!("{name} strided"), loss.as_ref(), &strided, &t);
        falls_back(
            &format!("{name} empty"),
            loss.as_ref(),
            &x.narrow(0, 0, 0),
            &t.narrow(0, 0, 0),
        );
        // A float target of another shape.
        falls_back(
            &format!("{name} float classes"),
            loss.as_ref(),
            &x,
            &t.to_kind(Kind::Double),
        );
    }
    // The softmax with one channel; no background with one channel.
    let (x1, t1) = inputs(&[2, 1, 6], TargetKind::Mask, 1.0, 12);
    falls_back("softmax C = 1", &DiceLoss::default(), &x1, &t1);
    falls_back(
        "no background C = 1",
        &DiceLoss::default()
            .with_activation(Activation::Sigmoid)
            .with_include_background(false),
        &x1,
        &t1,
    );
    // A zero denominator: no smooth, probabilities and targets 0 (a -inf-free underflow).
    let xz = Tensor::from_slice(&[0.0f64, 0.0, -200.0, -200.0]).view([1, 2, 2]);
    let tz = Tensor::from_slice(&[0i64, 0]).view([1, 2]);
    falls_back(
        "zero denominator",
        &DiceLoss::default().with_smooth_dr(0.0).with_smooth_nr(0.0),
        &xz.to_kind(Kind::Float),
        &tz,
    );
    let _ = Device::Cpu;
}
