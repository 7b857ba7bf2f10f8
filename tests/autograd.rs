//! Autograd registration: learnable loss parameters and buffers on a `VarStore`, and a
//! hand-written backward (`#[loss(backward = ...)]`) checked against finite differences and
//! against autograd of the composed body.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use focal::{gradcheck, loss, LossError, Reduction};
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

/// Homoscedastic uncertainty weighting (Kendall et al. 2018) for one task:
/// `0.5 exp(-s) (x - y)^2 + 0.5 s`, with the log-variance `s` learned.
#[loss]
fn uncertainty(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// The log-variance.
    #[param(shape = [1], init = 0.0)]
    log_var: &Tensor,
) -> Tensor {
    (input - target).square() * (-log_var).exp() * 0.5 + log_var * 0.5
}

/// Squared error weighted by fixed per-column weights held in a buffer.
#[loss]
fn weighted_squares(
    #[tensor(float)] input: &Tensor,
    #[tensor(float)] target: &Tensor,
    #[buffer(init = vec![1.0, 2.0, 3.0])] column_weights: &Tensor,
) -> Tensor {
    (input - target).square() * column_weights
}

fn double_store() -> VarStore {
    let mut vs = VarStore::new(common::test_device());
    vs.set_kind(Kind::Double);
    vs
}

#[test]
fn one_optimizer_step_moves_the_parameter_by_the_closed_form_amount() {
    let vs = double_store();
    let loss = Uncertainty::new(&(vs.root() / "loss"));
    let mut sgd = nn::Sgd::default().build(&vs, 0.1).unwrap();
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5, 3.0]).to_device(common::test_device());
    let y = Tensor::from_slice(&[0.0f64, 0.0, 0.0, 1.0]).to_device(common::test_device());
    // At s = 0: d/ds mean(0.5 e^-s d^2 + 0.5 s) = 0.5 - 0.5 mean(d^2).
    let mean_sq = (1.0 + 4.0 + 0.25 + 4.0) / 4.0;
    let expected = -0.1 * (0.5 - 0.5 * mean_sq);
    sgd.backward_step(&loss.forward(&x, &y));
    let s = loss.log_var.double_value(&[0]);
    assert!((s - expected).abs() < 1e-12, "{s} vs {expected}");
}

#[test]
fn parameters_are_listed_saved_and_loaded() {
    let vs = double_store();
    let loss = Uncertainty::new(&(vs.root() / "loss"));
    assert_eq!(vs.trainable_variables().len(), 1);
    assert!(vs.variables().contains_key("loss.log_var"));
    let _ = tch::no_grad(|| loss.log_var.shallow_clone().fill_(0.75));
    let path =
        std::env::temp_dir().join(format!("focal-autograd-{}.safetensors", std::process::id()));
    vs.save(&path).unwrap();
    let _ = tch::no_grad(|| loss.log_var.shallow_clone().fill_(-3.0));
    let mut vs = vs;
    vs.load(&path).unwrap();
    assert_eq!(loss.log_var.double_value(&[0]), 0.75);
    let _ = std::fs::remove_file(path);
    let report = gradcheck(
        &loss,
        &Tensor::randn([5], (Kind::Double, common::test_device())),
        &Tensor::zeros([5], (Kind::Double, common::test_device())),
        Default::default(),
    )
    .unwrap();
    assert!(report.passed(1e-6), "{report:?}");
}

#[test]
fn buffers_are_not_trained_but_saved_and_moved() {
    let mut vs = VarStore::new(Device::Cpu);
    let loss = WeightedSquares::new(&(vs.root() / "loss"));
    assert!(vs.trainable_variables().is_empty());
    assert!(!loss.column_weights.requires_grad());
    assert_eq!(
        Vec::<f64>::try_from(&loss.column_weights).unwrap(),
        [1.0, 2.0, 3.0]
    );
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let y = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
    let value = loss.with_reduction(Reduction::Sum).forward(&x, &y);
    assert_eq!(value.double_value(&[]), 12.0);
    // Saved and restored with the store.
    let path =
        std::env::temp_dir().join(format!("focal-buffer-{}.safetensors", std::process::id()));
    vs.save(&path).unwrap();
    let mut other = VarStore::new(Device::Cpu);
    let restored = WeightedSquares::new(&(other.root() / "loss"));
    let _ = tch::no_grad(|| restored.column_weights.shallow_clone().fill_(0.0));
    other.load(&path).unwrap();
    assert_eq!(
        Vec::<f64>::try_from(&restored.column_weights).unwrap(),
        [1.0, 2.0, 3.0]
    );
    let _ = std::fs::remove_file(path);
    // Moved with the store: its device (and kind) follow set_device / set_kind.
    let target = if tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    vs.set_device(target);
    assert_eq!(vs.variables()["loss.column_weights"].device(), target);
    vs.set_kind(Kind::Double);
    assert_eq!(vs.variables()["loss.column_weights"].kind(), Kind::Double);
}

#[test]
fn loss_owned_tensors_on_another_device_are_a_clear_error() {
    // The check covers loss-owned tensors: here the buffer is on the CPU like the input, and the
    // message format names it when a GPU makes the devices differ.
    let vs = VarStore::new(Device::Cpu);
    let loss = WeightedSquares::new(&vs.root());
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
    assert!(loss.f_forward(&x, &x).is_ok());
    if tch::Cuda::is_available() {
        let xc = x.to_device(Device::Cuda(0));
        let msg = loss.f_forward(&xc, &xc).unwrap_err().to_string();
        assert_eq!(
            msg,
            "WeightedSquares: column_weights is on cpu but input is on cuda:0"
        );
    }
}

/// The gradient of the squared error, by hand: the upstream gradient times the local one.
fn squared_error_grad(
    upstream: &Tensor,
    input: &Tensor,
    target: &Tensor,
    scale: f64,
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    let g = (input - target) * (2.0 * scale);
    Ok(match reduction {
        Reduction::Mean => g * upstream / input.numel() as f64,
        _ => g * upstream,
    })
}

/// Counts the calls of `counted_grad`, used by one test only (tests run in parallel).
static BACKWARD_CALLS: AtomicUsize = AtomicUsize::new(0);

fn counted_grad(
    upstream: &Tensor,
    input: &Tensor,
    target: &Tensor,
    scale: f64,
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    BACKWARD_CALLS.fetch_add(1, Ordering::SeqCst);
    squared_error_grad(upstream, input, target, scale, reduction)
}

#[loss(backward = counted_grad)]
fn squared_error_counted(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0)] scale: f64,
) -> Tensor {
    (input - target).square() * scale
}

/// A deliberately wrong hand-written gradient (forgets the mean's 1/n).
fn wrong_grad(
    upstream: &Tensor,
    input: &Tensor,
    target: &Tensor,
    scale: f64,
    _reduction: Reduction,
) -> Tensor {
    (input - target) * (2.0 * scale) * upstream
}

#[loss(backward = squared_error_grad)]
fn squared_error(input: &Tensor, target: &Tensor, #[hyper(default = 1.0)] scale: f64) -> Tensor {
    (input - target).square() * scale
}

#[loss]
fn squared_error_composed(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0)] scale: f64,
) -> Tensor {
    (input - target).square() * scale
}

#[loss(backward = wrong_grad)]
fn squared_error_wrong(
    input: &Tensor,
    target: &Tensor,
    #[hyper(default = 1.0)] scale: f64,
) -> Tensor {
    (input - target).square() * scale
}

fn data() -> (Tensor, Tensor) {
    tch::manual_seed(7);
    let device = common::test_device();
    (
        Tensor::randn([4, 5], (Kind::Double, device)),
        Tensor::randn([4, 5], (Kind::Double, device)),
    )
}

#[test]
fn hand_written_backward_matches_finite_differences_and_autograd() {
    let (x, y) = data();
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let fast = SquaredError::new()
            .with_scale(1.5)
            .with_reduction(reduction);
        let report = gradcheck(&fast, &x, &y, Default::default()).unwrap();
        assert!(report.passed(1e-7), "{reduction}: {report:?}");

        let composed = SquaredErrorComposed::new()
            .with_scale(1.5)
            .with_reduction(reduction);
        let (a, b) = (
            x.detach().set_requires_grad(true),
            x.detach().set_requires_grad(true),
        );
        let (va, vb) = (fast.forward(&a, &y), composed.forward(&b, &y));
        assert_eq!(
            va.double_value(&[]),
            vb.double_value(&[]),
            "the forward value is unchanged"
        );
        va.backward();
        vb.backward();
        let err = (a.grad() - b.grad()).abs().max().double_value(&[]);
        assert!(
            err <= 1e-10 * b.grad().abs().max().double_value(&[]),
            "{reduction}: {err:e}"
        );
    }
}

#[test]
fn upstream_gradients_are_respected() {
    let (x, y) = data();
    let a = x.detach().set_requires_grad(true);
    let loss = SquaredError::new().forward(&a, &y);
    let other = a.sum(Kind::Double);
    (loss * 2.0 + other).backward();
    let expected = (&x - &y) * (4.0 / 20.0) + 1.0;
    assert!((a.grad() - expected).abs().max().double_value(&[]) < 1e-12);
}

#[test]
fn the_hand_written_backward_runs_in_the_backward_pass_only() {
    let (x, y) = data();
    let loss = SquaredErrorCounted::new();
    let before = BACKWARD_CALLS.load(Ordering::SeqCst);
    let _ = loss.forward(&x, &y);
    let leaf = x.detach().set_requires_grad(true);
    let _ = tch::no_grad(|| loss.forward(&leaf, &y));
    let value = loss.forward(&leaf, &y);
    assert_eq!(
        BACKWARD_CALLS.load(Ordering::SeqCst),
        before,
        "backward ran before the backward pass"
    );
    value.backward();
    assert_eq!(BACKWARD_CALLS.load(Ordering::SeqCst), before + 1);
    // Reduction::None: the upstream gradient has the loss's shape.
    let leaf = x.detach().set_requires_grad(true);
    let unreduced = loss
        .clone()
        .with_reduction(Reduction::None)
        .forward(&leaf, &y);
    let weights = Tensor::rand([4, 5], (Kind::Double, common::test_device()));
    (unreduced * &weights).sum(Kind::Double).backward();
    assert_eq!(BACKWARD_CALLS.load(Ordering::SeqCst), before + 2);
    let expected = (&x - &y) * 2.0 * &weights;
    assert!((leaf.grad() - expected).abs().max().double_value(&[]) < 1e-12);
}

#[test]
fn a_wrong_hand_written_backward_fails_gradcheck() {
    let (x, y) = data();
    let report = gradcheck(&SquaredErrorWrong::new(), &x, &y, Default::default()).unwrap();
    assert!(!report.passed(1e-3), "{report:?}");
    assert!(report.max_rel_error > 0.5, "{report:?}");
}

#[test]
fn the_optimizer_steps_loss_and_model_parameters_together() {
    let vs = double_store();
    let root = vs.root();
    let layer = nn::linear(&root / "net", 3, 1, Default::default());
    let loss = Uncertainty::new(&(&root / "loss"));
    let names: Vec<String> = {
        let mut n: Vec<String> = vs.variables().into_keys().collect();
        n.sort();
        n
    };
    assert_eq!(names, ["loss.log_var", "net.bias", "net.weight"]);
    let mut adam = nn::Adam::default().build(&vs, 0.01).unwrap();
    let before = (
        loss.log_var.double_value(&[0]),
        layer.ws.double_value(&[0, 0]),
    );
    let x = Tensor::randn([8, 3], (Kind::Double, common::test_device()));
    let y = Tensor::randn([8, 1], (Kind::Double, common::test_device()));
    adam.backward_step(&loss.forward(&nn::Module::forward(&layer, &x), &y));
    assert_ne!(loss.log_var.double_value(&[0]), before.0);
    assert_ne!(layer.ws.double_value(&[0, 0]), before.1);
}

/// The gradients of the uncertainty-weighted squared error, by hand, for all three tensors:
/// `l = 0.5 exp(-s) (x - y)^2 + 0.5 s`.
fn uncertainty_grad(
    upstream: &Tensor,
    input: &Tensor,
    target: &Tensor,
    log_var: &Tensor,
    reduction: Reduction,
) -> Vec<Option<Tensor>> {
    let upstream = match reduction {
        Reduction::Mean => upstream / input.numel() as f64,
        _ => upstream.shallow_clone(),
    };
    let d = input - target;
    let w = (-log_var).exp();
    let gx = &d * &w * &upstream;
    let gs = ((d.square() * &w * -0.5 + 0.5) * &upstream).sum_to_size(log_var.size());
    vec![Some(gx.shallow_clone()), Some(-gx), Some(gs)]
}

#[loss(backward = uncertainty_grad)]
fn uncertainty_manual(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    #[param(shape = [1], init = 0.0)] log_var: &Tensor,
) -> Tensor {
    (input - target).square() * (-log_var).exp() * 0.5 + log_var * 0.5
}

#[test]
fn a_hand_written_backward_with_a_param_passes_gradcheck_for_every_tensor() {
    let (x, y) = data();
    let s = Tensor::from_slice(&[0.3f64]).to_device(common::test_device());
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let reports = focal::gradcheck_function(
            "UncertaintyManual",
            |a: &[Tensor]| {
                let loss = UncertaintyManual {
                    log_var: a[2].shallow_clone(),
                    reduction,
                };
                Ok(vec![loss.f_forward(&a[0], &a[1])?])
            },
            &[&x, &y, &s],
            Default::default(),
        )
        .unwrap();
        for (i, r) in reports.into_iter().enumerate() {
            let r = r.unwrap();
            assert!(r.passed(1e-7), "{reduction}, tensor {i}: {r:?}");
        }
    }
    // On a VarStore, the optimizer steps the parameter from the hand-written gradient.
    let vs = double_store();
    let loss = UncertaintyManual::new(&(vs.root() / "loss"));
    let reference = Uncertainty::new(&(vs.root() / "reference"));
    let mut sgd = nn::Sgd::default().build(&vs, 0.1).unwrap();
    sgd.backward_step(&(loss.forward(&x, &y) + reference.forward(&x, &y)));
    assert!((loss.log_var.double_value(&[0]) - reference.log_var.double_value(&[0])).abs() < 1e-12);
    assert_ne!(loss.log_var.double_value(&[0]), 0.0);
}
