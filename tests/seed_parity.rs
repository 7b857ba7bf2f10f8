//! Golden parity with the seed note's PyTorch reference code (fixtures made by
//! `scripts/fixtures/seed.py`): loss and input gradient, with the kernels on and on the composed
//! path (what CUDA and half-precision users get). Float64 results are held to the seed's float64
//! results (1e-10 relative error); float32 results to the float64 truth on the same inputs (the
//! seed's function evaluated in float64 on the float32 inputs cast up, stored by the script as
//! `truth_loss` / `truth_grad`): within 1e-5 and no worse than the seed's own float32 result,
//! which reproduces `1 - p`'s cancellation. The fixtures were made on the CPU; the losses run on
//! the test device (`FOCAL_TEST_DEVICE`) and their results are compared on the CPU.

mod common;

use std::collections::BTreeSet;

use focal::{fused, Focal, FocalLoss, Loss, Reduction};
use tch::{Device, Kind, Tensor};

/// Float32 errors this far below the tolerance count as equal to the seed's: two roundings of a
/// well-conditioned result.
const ROUNDING: f64 = 1e-6;

fn cases(prefix: &str) -> Vec<String> {
    let all = common::fixtures("seed.safetensors");
    let names: BTreeSet<String> = all
        .keys()
        .filter(|k| k.starts_with(prefix))
        .map(|k| k.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    names.into_iter().collect()
}

/// The worst errors over the cases checked, for the report `--nocapture` prints.
#[derive(Default)]
struct Worst {
    ours: f64,
    seed: f64,
}

fn check(case: &str, loss: &dyn Loss, target_transform: impl Fn(&Tensor) -> Tensor) -> Worst {
    let device = common::test_device();
    let f = common::fixtures("seed.safetensors");
    let get = |k: &str| f[&format!("{case}/{k}")].shallow_clone();
    let target = target_transform(&get("target").to_device(device));
    let float32 = get("input").kind() == Kind::Float;
    let (want_loss, want_grad) = if float32 {
        (get("truth_loss"), get("truth_grad"))
    } else {
        (get("loss"), get("grad"))
    };
    let tol = if float32 { 1e-5 } else { 1e-10 };
    // The seed's float32 result against the truth: ours may not be worse.
    let seed_err = if float32 {
        common::rel_error(&get("loss"), &want_loss).max(common::rel_error(&get("grad"), &want_grad))
    } else {
        0.0
    };
    let mut worst = Worst {
        ours: 0.0,
        seed: seed_err,
    };
    for path in ["kernels on", "composed"] {
        let run = || {
            let input = get("input")
                .to_device(device)
                .detach()
                .set_requires_grad(true);
            let value = loss.forward(&input, &target);
            value.backward();
            (value, input)
        };
        let (value, input) = if path == "composed" {
            fused::composed_only(run)
        } else {
            run()
        };
        assert_eq!(value.kind(), input.kind(), "{case}: dtype");
        assert_eq!(value.device(), device, "{case}: device");
        let loss_err = common::rel_error(&value.to_device(Device::Cpu), &want_loss);
        let grad_err = common::rel_error(&input.grad().to_device(Device::Cpu), &want_grad);
        for (what, err) in [("loss", loss_err), ("gradient", grad_err)] {
            assert!(
                err <= tol,
                "{case} ({path}): {what} relative error {err:e} > {tol:e}"
            );
            assert!(
                err <= seed_err.max(ROUNDING),
                "{case} ({path}): {what} relative error {err:e}, worse than the seed's float32 \
                 {seed_err:e}"
            );
            worst.ours = worst.ours.max(err);
        }
    }
    worst
}

/// Runs `check` on every case and prints the worst float32 errors (ours and the seed's).
fn check_all(cases: Vec<String>, make: impl Fn(&str) -> Box<dyn Loss>, squeeze: bool) {
    let mut worst = Worst::default();
    for case in &cases {
        let loss = make(case);
        let w = check(case, loss.as_ref(), |t| {
            if squeeze {
                t.squeeze_dim(1)
            } else {
                t.shallow_clone()
            }
        });
        if case.contains("/f32/") {
            worst.ours = worst.ours.max(w.ours);
            worst.seed = worst.seed.max(w.seed);
        }
    }
    println!(
        "float32 against the float64 truth, worst relative error: ours {:e}, the seed's {:e}",
        worst.ours, worst.seed
    );
}

fn hyper(case: &str, name: &str) -> f64 {
    common::fixtures("seed.safetensors")[&format!("{case}/{name}")].double_value(&[])
}

fn reduction(case: &str) -> Reduction {
    if case.contains("/mean/") {
        Reduction::Mean
    } else {
        Reduction::Sum
    }
}

fn focal_loss(case: &str) -> Box<dyn Loss> {
    Box::new(
        FocalLoss::new()
            .with_gamma(hyper(case, "gamma"))
            .with_alpha(hyper(case, "alpha"))
            .with_reduction(reduction(case)),
    )
}

#[test]
fn focal_loss_matches_the_seed_with_n1_targets() {
    let cases = cases("multi/");
    assert_eq!(cases.len(), 32);
    check_all(cases, focal_loss, false);
}

#[test]
fn focal_loss_matches_the_seed_with_squeezed_targets() {
    check_all(cases("multi/"), focal_loss, true);
}

#[test]
fn focal_matches_the_seed() {
    let cases = cases("binary/");
    assert_eq!(cases.len(), 12);
    check_all(
        cases,
        |case| {
            Box::new(
                Focal::new()
                    .with_gamma(hyper(case, "gamma"))
                    .with_alpha(hyper(case, "alpha"))
                    .with_reduction(reduction(case)),
            )
        },
        false,
    );
}

#[test]
fn unreduced_losses_sum_to_the_seed_sum() {
    let device = common::test_device();
    for case in cases("multi/f64/sum/") {
        let f = common::fixtures("seed.safetensors");
        let input = f[&format!("{case}/input")].to_device(device);
        let target = f[&format!("{case}/target")].to_device(device);
        let per_element = FocalLoss::new()
            .with_gamma(hyper(&case, "gamma"))
            .with_alpha(hyper(&case, "alpha"))
            .with_reduction(Reduction::None)
            .forward(&input, &target);
        let mut expected_shape = input.size();
        expected_shape.remove(1);
        assert_eq!(per_element.size(), expected_shape, "{case}");
        let sum = per_element.sum(Kind::Double).to_device(Device::Cpu);
        let err = common::rel_error(&sum, &f[&format!("{case}/loss")]);
        assert!(err < 1e-12, "{case}: {err:e}");
    }
}

#[test]
fn gradients_pass_gradcheck() {
    let device = common::test_device();
    let x = Tensor::randn([2, 3, 3, 2], (Kind::Double, device));
    let t = Tensor::randint(3, [2, 1, 3, 2], (Kind::Int64, device));
    for reduction in Reduction::ALL {
        let report = focal::gradcheck(
            &FocalLoss::new().with_reduction(reduction),
            &x,
            &t,
            Default::default(),
        )
        .unwrap();
        assert!(report.passed(1e-6), "FocalLoss {reduction}: {report:?}");
    }
    let p = Tensor::rand([4, 5], (Kind::Double, device)) * 0.9 + 0.05;
    let y = Tensor::rand([4, 5], (Kind::Double, device))
        .gt(0.5)
        .to_kind(Kind::Double);
    for reduction in Reduction::ALL {
        let report = focal::gradcheck(
            &Focal::new().with_reduction(reduction),
            &p,
            &y,
            Default::default(),
        )
        .unwrap();
        assert!(report.passed(1e-6), "Focal {reduction}: {report:?}");
    }
}

#[test]
fn a_wrong_gradient_fails_gradcheck() {
    // A loss whose autograd gradient is deliberately wrong: detach() hides half of it.
    #[focal::loss]
    fn half_detached(input: &Tensor, target: &Tensor) -> Tensor {
        (input * input.detach() - target).abs()
    }
    let device = common::test_device();
    let x = Tensor::randn([6], (Kind::Double, device)) + 3.0;
    let t = Tensor::zeros([6], (Kind::Double, device));
    let report = focal::gradcheck(&HalfDetached::new(), &x, &t, Default::default()).unwrap();
    assert!(!report.passed(1e-3), "{report:?}");
}
