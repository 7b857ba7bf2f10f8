//! Golden parity with the seed note's PyTorch reference code (fixtures made by
//! `scripts/fixtures/seed.py`): loss and input gradient, at most 1e-10 relative error in float64
//! and 1e-5 in float32. The fixtures were made on the CPU; the losses run on the test device
//! (`FOCAL_TEST_DEVICE`) and their results are compared on the CPU.

mod common;

use std::collections::BTreeSet;

use focal::{Focal, FocalLoss, Loss, Reduction};
use tch::{Device, Kind, Tensor};

fn tolerance(kind: Kind) -> f64 {
    match kind {
        Kind::Double => 1e-10,
        // The seed's float32 gradient loses digits to `1 - p` near the p_t clamp (against its
        // own float64 truth on the same inputs: 2.1e-6 on unit-scale logits, 2.0e-4 at twice
        // that scale), so matching the fixtures (made on the CPU) to 1e-5 takes the CPU's
        // bit-identical softmax. CUDA's softmax rounds differently, and the two float32 results
        // are two roundings of that ill-conditioned formula: up to 6.6e-5 apart on an H200.
        _ if common::test_device().is_cuda() => 4e-4,
        _ => 1e-5,
    }
}

fn cases(prefix: &str) -> Vec<String> {
    let all = common::fixtures("seed.safetensors");
    let names: BTreeSet<String> = all
        .keys()
        .filter(|k| k.starts_with(prefix))
        .map(|k| k.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    names.into_iter().collect()
}

fn check(case: &str, loss: &dyn Loss, target_transform: impl Fn(&Tensor) -> Tensor) {
    let device = common::test_device();
    let f = common::fixtures("seed.safetensors");
    let get = |k: &str| f[&format!("{case}/{k}")].shallow_clone();
    let input = get("input").to_device(device).set_requires_grad(true);
    let target = target_transform(&get("target").to_device(device));
    let value = loss.forward(&input, &target);
    assert_eq!(value.kind(), input.kind(), "{case}: dtype");
    assert_eq!(value.device(), device, "{case}: device");
    value.backward();
    let tol = tolerance(input.kind());
    let loss_err = common::rel_error(&value.to_device(Device::Cpu), &get("loss"));
    let grad_err = common::rel_error(&input.grad().to_device(Device::Cpu), &get("grad"));
    assert!(
        loss_err <= tol,
        "{case}: loss relative error {loss_err:e} > {tol:e}"
    );
    assert!(
        grad_err <= tol,
        "{case}: gradient relative error {grad_err:e} > {tol:e}"
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

#[test]
fn focal_loss_matches_the_seed_with_n1_targets() {
    let cases = cases("multi/");
    assert_eq!(cases.len(), 32);
    for case in cases {
        let loss = FocalLoss::new()
            .with_gamma(hyper(&case, "gamma"))
            .with_alpha(hyper(&case, "alpha"))
            .with_reduction(reduction(&case));
        check(&case, &loss, |t| t.shallow_clone());
    }
}

#[test]
fn focal_loss_matches_the_seed_with_squeezed_targets() {
    for case in cases("multi/") {
        let loss = FocalLoss::new()
            .with_gamma(hyper(&case, "gamma"))
            .with_alpha(hyper(&case, "alpha"))
            .with_reduction(reduction(&case));
        check(&case, &loss, |t| t.squeeze_dim(1));
    }
}

#[test]
fn focal_matches_the_seed() {
    let cases = cases("binary/");
    assert_eq!(cases.len(), 12);
    for case in cases {
        let loss = Focal::new()
            .with_gamma(hyper(&case, "gamma"))
            .with_alpha(hyper(&case, "alpha"))
            .with_reduction(reduction(&case));
        check(&case, &loss, |t| t.shallow_clone());
    }
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
