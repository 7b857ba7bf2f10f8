//! Custom autograd functions (`focal::autograd`): real libtorch nodes with a Rust forward and
//! backward, checked against finite differences and closed forms, and their life cycle (no node
//! without grad, retain_graph, reuse, accumulation, double backward, freeing, errors, panics,
//! threads).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::float64::floats;
use focal::autograd::{
    apply, is_grad_enabled, BackwardContext, ForwardContext, Function, FunctionError,
};
use focal::{gradcheck_function, GradcheckOptions, LossError};
use tch::{Kind, Tensor};

/// A tensor on the test device (`FOCAL_TEST_DEVICE`): on a GPU, backward runs on autograd's
/// device thread.
fn cpu(values: &[f64]) -> Tensor {
    Tensor::from_slice(values).to_device(common::test_device())
}

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Double, common::test_device()))
}

fn leaf(values: &[f64]) -> Tensor {
    cpu(values).set_requires_grad(true)
}

/// Three inputs, two outputs: `(a * b + c, sin(a) * c)`, with a hand-written backward that uses
/// saved tensors and skips gradients nobody asked for.
struct ThreeInTwoOut {
    skipped: Arc<AtomicUsize>,
}

impl Function for ThreeInTwoOut {
    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        let (a, b, c) = (&inputs[0], &inputs[1], &inputs[2]);
        ctx.save_for_backward(&[a, b, c]);
        Ok(vec![(a * b + c), a.f_sin()? * c])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grads: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        let saved = ctx.saved_tensors();
        let (a, b, c) = (&saved[0], &saved[1], &saved[2]);
        let (g0, g1) = (&grads[0], &grads[1]);
        let mut out = vec![
            Some(g0 * b + g1 * a.cos() * c),
            Some(g0 * a),
            Some(g0 + g1 * a.sin()),
        ];
        for (i, g) in out.iter_mut().enumerate() {
            if !ctx.needs_input_grad(i) {
                self.skipped.fetch_add(1, Ordering::SeqCst);
                *g = None;
            }
        }
        Ok(out)
    }
}

fn three(skipped: &Arc<AtomicUsize>) -> ThreeInTwoOut {
    ThreeInTwoOut {
        skipped: skipped.clone(),
    }
}

#[test]
fn three_inputs_two_outputs_pass_gradcheck() {
    let skipped = Arc::new(AtomicUsize::new(0));
    let (a, b, c) = (randn(&[3, 4]), randn(&[3, 4]), randn(&[3, 4]));
    let reports = gradcheck_function(
        "ThreeInTwoOut",
        |x: &[Tensor]| {
            apply(three(&skipped), &[&x[0], &x[1], &x[2]])
                .map_err(|e| LossError::from(e).in_loss("ThreeInTwoOut"))
        },
        &[&a, &b, &c],
        GradcheckOptions::default(),
    )
    .unwrap();
    assert_eq!(reports.len(), 3);
    for r in &reports {
        let r = r.as_ref().unwrap();
        assert_eq!(r.checked, 12);
        assert!(r.passed(1e-8), "{r:?}");
    }
}

#[test]
fn only_the_gradients_asked_for_are_computed() {
    let skipped = Arc::new(AtomicUsize::new(0));
    let (a, b, c) = (leaf(&[1.0]), leaf(&[2.0]), leaf(&[3.0]));
    let out = apply(three(&skipped), &[&a, &b, &c]).unwrap();
    let total = &out[0] + &out[1];
    let grads = Tensor::run_backward(&[&total], &[&b], false, false);
    assert_eq!(floats(&grads[0]), [1.0]);
    assert_eq!(
        skipped.load(Ordering::SeqCst),
        2,
        "a and c were not asked for"
    );
    // An input that does not require grad is not asked for either.
    let skipped = Arc::new(AtomicUsize::new(0));
    let a = leaf(&[0.5]);
    let out = apply(three(&skipped), &[&a, &cpu(&[2.0]), &cpu(&[3.0])]).unwrap();
    out[0].backward();
    assert_eq!(floats(&a.grad()), [2.0]);
    assert_eq!(skipped.load(Ordering::SeqCst), 2);
}

/// Counts its own drops: the node's state is freed with the graph.
struct DropCounted {
    drops: Arc<AtomicUsize>,
}

impl Drop for DropCounted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Function for DropCounted {
    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        let out = inputs[0].f_square()?;
        ctx.save_for_backward(&[&inputs[0], &out]);
        Ok(vec![out])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grads: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        let x = &ctx.saved_tensors()[0];
        Ok(vec![Some(&grads[0] * x * 2.0)])
    }
}

fn counted(drops: &Arc<AtomicUsize>) -> DropCounted {
    DropCounted {
        drops: drops.clone(),
    }
}

#[test]
fn no_node_without_grad_and_the_function_is_dropped_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = cpu(&[1.0, 2.0]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    assert!(!y.requires_grad());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let x = leaf(&[1.0, 2.0]);
    let y = tch::no_grad(|| apply(counted(&drops), &[&x]).unwrap().remove(0));
    assert!(!y.requires_grad());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(floats(&y), [1.0, 4.0]);
}

#[test]
fn the_context_and_saved_tensors_are_freed_with_the_graph() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = leaf(&[1.0, 2.0]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    assert!(y.requires_grad());
    let z = y.sum(Kind::Double);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "alive while the graph is");
    drop(y);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "z's graph still holds the node"
    );
    z.backward();
    assert_eq!(floats(&x.grad()), [2.0, 4.0]);
    drop(z);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "freed with the graph");
    // Saving an output does not keep the graph alive (no reference cycle).
    let x = leaf(&[3.0]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    drop(y);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn retain_graph_runs_backward_twice_and_gradients_accumulate() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = leaf(&[1.0, -3.0]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    let z = y.sum(Kind::Double);
    let first = Tensor::run_backward(&[&z], &[&x], true, false).remove(0);
    let second = Tensor::run_backward(&[&z], &[&x], true, false).remove(0);
    assert_eq!(floats(&first), [2.0, -6.0]);
    assert_eq!(floats(&second), [2.0, -6.0]);
    z.backward();
    assert_eq!(floats(&x.grad()), [2.0, -6.0]);
    // Without retain_graph, another pass is libtorch's own error, not a crash.
    let err = z.f_backward().unwrap_err().to_string();
    assert!(err.contains("second time"), "{err}");
    // A second graph accumulates into the same .grad.
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    y.sum(Kind::Double).backward();
    assert_eq!(floats(&x.grad()), [4.0, -12.0]);
}

#[test]
fn a_function_used_twice_in_one_graph() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = leaf(&[2.0]);
    let y1 = apply(counted(&drops), &[&x]).unwrap().remove(0);
    let y2 = apply(counted(&drops), &[&y1]).unwrap().remove(0);
    // y2 = x^4: dy2/dx = 4 x^3 = 32; plus y1 once more: 4.
    (&y2 + &y1).sum(Kind::Double).backward();
    assert_eq!(floats(&x.grad()), [36.0]);
}

#[test]
fn double_backward_is_a_clear_error_when_attempted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = leaf(&[1.5]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    // create_graph works as long as nobody differentiates the gradient...
    let g = Tensor::run_backward(&[&y.sum(Kind::Double)], &[&x], true, true).remove(0);
    assert_eq!(floats(&g), [3.0]);
    // ...and differentiating it again says why it cannot.
    let err = g.sum(Kind::Double).f_backward().unwrap_err().to_string();
    assert!(err.contains("DropCounted has no double backward"), "{err}");
}

/// A differentiable backward: the gradient itself is built from tch operations.
struct Cube;

impl Function for Cube {
    const DIFFERENTIABLE_BACKWARD: bool = true;

    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        ctx.save_for_backward(&[&inputs[0]]);
        Ok(vec![inputs[0].f_pow_tensor_scalar(3)?])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grads: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        let x = &ctx.saved_tensors()[0];
        Ok(vec![Some(&grads[0] * x.square() * 3.0)])
    }
}

#[test]
fn a_differentiable_backward_supports_double_backward() {
    let x = leaf(&[2.0]);
    let y = apply(Cube, &[&x]).unwrap().remove(0);
    let g = Tensor::run_backward(&[&y], &[&x], true, true).remove(0);
    assert_eq!(floats(&g), [12.0]);
    let h = Tensor::run_backward(&[&g], &[&x], false, false).remove(0);
    assert_eq!(floats(&h), [12.0], "d2/dx2 x^3 = 6x");
}

enum Failure {
    Error,
    Panic,
    WrongCount,
}

struct Failing(Failure);

impl Function for Failing {
    fn forward(
        &mut self,
        _: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        Ok(vec![inputs[0].f_mul_scalar(2.0)?])
    }

    fn backward(
        &mut self,
        _: &mut BackwardContext<'_>,
        grads: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        match self.0 {
            Failure::Error => Err("the gradient is not defined here".into()),
            Failure::Panic => panic!("a bug in the backward"),
            Failure::WrongCount => Ok(vec![Some(grads[0].shallow_clone()), None]),
        }
    }
}

#[test]
fn errors_and_panics_in_backward_come_back_from_f_backward() {
    for (failure, expected) in [
        (
            Failure::Error,
            "Failing backward: the gradient is not defined here",
        ),
        (
            Failure::Panic,
            "Failing backward: panicked: a bug in the backward",
        ),
        (
            Failure::WrongCount,
            "Failing backward: backward returned 2 gradients for 1 inputs",
        ),
    ] {
        let x = leaf(&[1.0]);
        let y = apply(Failing(failure), &[&x]).unwrap().remove(0);
        let err = y.sum(Kind::Double).f_backward().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("frame #"), "no C++ frames: {err}");
    }
    // The process survived, and autograd still works.
    let x = leaf(&[1.0]);
    let y = apply(Failing(Failure::Error), &[&x]).unwrap().remove(0);
    drop(y);
    (&x * 3.0).sum(Kind::Double).backward();
    assert_eq!(floats(&x.grad()), [3.0]);
}

struct PanickingForward;

impl Function for PanickingForward {
    fn forward(
        &mut self,
        _: &mut ForwardContext<'_>,
        _: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        panic!("forward exploded")
    }

    fn backward(
        &mut self,
        _: &mut BackwardContext<'_>,
        _: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        Ok(vec![None])
    }
}

#[test]
fn errors_and_panics_in_forward_come_back_from_apply() {
    let err = apply(PanickingForward, &[&leaf(&[1.0])])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("PanickingForward forward: panicked: forward exploded"),
        "{err}"
    );
    let err = apply(Failing(Failure::Error), &[&Tensor::new()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("input 0 is an undefined tensor"), "{err}");
}

/// Returns its input and its argmax; the argmax is not differentiable.
struct WithIndex;

impl Function for WithIndex {
    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        let index = inputs[0].f_argmax(0, false)?;
        let value = inputs[0].f_mul_scalar(1.0)?;
        ctx.mark_non_differentiable(&index);
        assert!(ctx.needs_input_grad(0));
        Ok(vec![value, index])
    }

    fn backward(
        &mut self,
        _: &mut BackwardContext<'_>,
        grads: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        Ok(vec![Some(grads[0].shallow_clone())])
    }
}

#[test]
fn non_differentiable_outputs_do_not_require_grad() {
    let x = leaf(&[1.0, 5.0, 2.0]);
    let out = apply(WithIndex, &[&x]).unwrap();
    assert!(out[0].requires_grad());
    assert!(!out[1].requires_grad());
    assert_eq!(out[1].int64_value(&[]), 1);
    assert_eq!(out[0].device(), common::test_device());
    out[0].sum(Kind::Double).backward();
    assert_eq!(floats(&x.grad()), [1.0, 1.0, 1.0]);
}

#[test]
fn backward_on_another_thread() {
    let drops = Arc::new(AtomicUsize::new(0));
    let x = leaf(&[1.0, 2.0, 3.0]);
    let y = apply(counted(&drops), &[&x]).unwrap().remove(0);
    let z = y.sum(Kind::Double);
    drop(y);
    let handle = std::thread::spawn(move || {
        z.backward();
        drop(z);
    });
    handle.join().unwrap();
    assert_eq!(floats(&x.grad()), [2.0, 4.0, 6.0]);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn grad_mode_is_read_from_libtorch() {
    assert!(is_grad_enabled());
    tch::no_grad(|| {
        assert!(!is_grad_enabled());
        tch::with_grad(|| assert!(is_grad_enabled()));
    });
    assert!(is_grad_enabled());
}
