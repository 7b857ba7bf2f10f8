//! The composed path of every built-in loss (what CUDA and half-precision inputs take) is
//! differentiable twice: the gradient autograd gives with `create_graph`, itself differentiated
//! (a Hessian-vector product), matches central finite differences of the gradient, in float64
//! (`gradcheck_function` on `x -> d loss / d x`, weighed by a random cotangent). The composed
//! forms that keep the first derivative accurate at saturated logits (the softmax from the top
//! logit, with the top class's `x - x_top` detached where it is identically 0; the Dice loss in
//! the form whose gradient does not cancel, chosen per `(n, c)`) must keep the second one right
//! too. The fused kernels' nodes refuse a double backward (`tests/loss_nodes.rs`).
//!
//! Also here: the sigmoid focal term's gradient with respect to a soft target that requires
//! grad, at hard values 0 and 1 among others, against torchvision's formula differentiated by
//! autograd (accurate at these moderate logits): it was NaN there (`log 0` in a log-sum-exp),
//! and so was the second derivative in the logits.

mod common;

use focal::fused;
use focal::{
    gradcheck_function, Activation, DiceFocalLoss, DiceLoss, Focal, FocalLoss, GradcheckOptions,
    Loss, LossError, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

use common::manual_seed_logits;

/// `x -> d loss(x, target) / d x`, with the graph kept for a second derivative.
fn gradient_of<'a>(
    loss: &'a dyn Loss,
    target: &Tensor,
) -> impl Fn(&[Tensor]) -> Result<Vec<Tensor>, LossError> + 'a {
    let target = target.shallow_clone();
    move |inputs: &[Tensor]| {
        tch::with_grad(|| {
            // gradcheck's leaf (its gradient is the Hessian-vector product), or a fresh one
            // for the finite differences and the cotangent.
            let x = if inputs[0].requires_grad() {
                inputs[0].shallow_clone()
            } else {
                inputs[0].detach().set_requires_grad(true)
            };
            let value = loss.f_forward(&x, &target)?;
            let value = if value.dim() == 0 {
                value
            } else {
                value.f_sum(Kind::Double)?
            };
            Ok(Tensor::f_run_backward(&[&value], &[&x], true, true)?)
        })
    }
}

/// Checks the second derivative of `loss`'s composed path at `x`.
fn check(label: &str, loss: &dyn Loss, x: &Tensor, target: &Tensor) {
    let reports = fused::composed_only(|| {
        gradcheck_function(
            "double backward",
            gradient_of(loss, target),
            &[x],
            GradcheckOptions {
                eps: 1e-5,
                ..GradcheckOptions::default()
            },
        )
    })
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    let report = reports[0].as_ref().expect("a float input");
    assert!(report.passed(1e-6), "{label}: {report:?}");
}

fn classes(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let dims: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    Tensor::randint(shape[1], dims.as_slice(), (Kind::Int64, Device::Cpu))
}

fn soft(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::rand(shape, (Kind::Double, Device::Cpu))
}

const SHAPE: [i64; 4] = [2, 3, 4, 5];

#[test]
fn the_focal_losses_have_second_derivatives() {
    let x = manual_seed_logits(&SHAPE, 1, 2.0, Kind::Double);
    let t = classes(&SHAPE, 2);
    let binary = soft(&SHAPE, 3).gt(0.5).to_kind(Kind::Double);
    for reduction in [Reduction::Mean, Reduction::None] {
        check(
            &format!("FocalLoss {reduction:?}"),
            &FocalLoss::new().with_reduction(reduction),
            &x,
            &t,
        );
        for (gamma, smoothing) in [(2.0, 0.0), (1.5, 0.1)] {
            check(
                &format!("SoftmaxFocalLoss gamma {gamma} smoothing {smoothing} {reduction:?}"),
                &SoftmaxFocalLoss::new()
                    .with_gamma(gamma)
                    .with_alpha(Some(vec![0.2, 0.5, 0.3]))
                    .with_label_smoothing(smoothing)
                    .with_reduction(reduction),
                &x,
                &t,
            );
        }
        check(
            &format!("SigmoidFocalLoss {reduction:?}"),
            &SigmoidFocalLoss::new()
                .with_alpha(Some(0.25))
                .with_reduction(reduction),
            &x,
            &soft(&SHAPE, 4),
        );
        let probabilities = x.sigmoid() * 0.9 + 0.05;
        check(
            &format!("Focal {reduction:?}"),
            &Focal::new().with_reduction(reduction),
            &probabilities,
            &binary,
        );
    }
}

#[test]
fn the_dice_losses_have_second_derivatives() {
    let x = manual_seed_logits(&SHAPE, 5, 2.0, Kind::Double);
    let ids = classes(&SHAPE, 6);
    let dense = soft(&SHAPE, 7);
    for activation in [Activation::Softmax, Activation::Sigmoid] {
        for squared in [false, true] {
            for background in [true, false] {
                for reduction in [Reduction::Mean, Reduction::None] {
                    let label = format!(
                        "{activation:?} squared {squared} background {background} {reduction:?}"
                    );
                    let dice = DiceLoss::new()
                        .with_activation(activation)
                        .with_squared_pred(squared)
                        .with_include_background(background)
                        .with_reduction(reduction);
                    check(&format!("DiceLoss {label} ids"), &dice, &x, &ids);
                    check(&format!("DiceLoss {label} soft"), &dice, &x, &dense);
                    let dice_focal = DiceFocalLoss::new()
                        .with_activation(activation)
                        .with_squared_pred(squared)
                        .with_include_background(background)
                        .with_alpha(Some(0.3))
                        .with_reduction(reduction);
                    check(&format!("DiceFocalLoss {label} ids"), &dice_focal, &x, &ids);
                }
            }
        }
    }
}

/// Near-perfect predictions, where the composed Dice takes its `(den - num) / den` form and the
/// softmax its top-class `1 - p`: the second derivative is still autograd's of that form.
#[test]
fn the_dice_losses_have_second_derivatives_near_perfect_predictions() {
    let ids = classes(&SHAPE, 8);
    // The target class 6 above the others at every position.
    let x = manual_seed_logits(&SHAPE, 9, 0.5, Kind::Double)
        + ids.one_hot(3).movedim([-1], [1]).to_kind(Kind::Double) * 6.0;
    for squared in [false, true] {
        check(
            &format!("DiceLoss softmax squared {squared}"),
            &DiceLoss::new().with_squared_pred(squared),
            &x,
            &ids,
        );
    }
}

/// torchvision's `sigmoid_focal_loss` (gamma 2, `alpha`), summed: `alpha_t (1 - p_t)^2 ce`.
fn torchvision_sigmoid_focal(x: &Tensor, t: &Tensor, alpha: f64) -> Tensor {
    let p = x.sigmoid();
    let ce = x.binary_cross_entropy_with_logits::<Tensor>(t, None, None, tch::Reduction::None);
    let p_t: Tensor = &p * t + (1.0 - &p) * (1.0 - t);
    let alpha_t: Tensor = t * alpha + (1.0 - t) * (1.0 - alpha);
    let modulator = p_t.g_mul_scalar(-1.0).g_add_scalar(1.0).square();
    (alpha_t * ce * modulator).sum(Kind::Double)
}

#[test]
fn hard_targets_get_the_target_gradient_pytorch_gives() {
    let x = Tensor::from_slice(&[2.0f64, -1.0, 0.5, 6.0, -4.0, 0.0]);
    let t = Tensor::from_slice(&[1.0f64, 0.0, 0.3, 0.0, 1.0, 1.0]);
    let grads = |f: &dyn Fn(&Tensor, &Tensor) -> Tensor| {
        let (x, t) = (
            x.detach().set_requires_grad(true),
            t.detach().set_requires_grad(true),
        );
        let value = f(&x, &t);
        let g = Tensor::run_backward(&[&value], &[&x, &t], true, true);
        let second = Tensor::run_backward(&[&g[0].sum(Kind::Double)], &[&x], false, false);
        [
            g[0].shallow_clone(),
            g[1].shallow_clone(),
            second[0].shallow_clone(),
        ]
    };
    let reference = grads(&|x, t| torchvision_sigmoid_focal(x, t, 0.25));
    let ours = fused::composed_only(|| {
        grads(&|x, t| {
            SigmoidFocalLoss::new()
                .with_reduction(Reduction::Sum)
                .forward(x, t)
        })
    });
    for (name, (a, b)) in ["d/dx", "d/dt", "d2/dx2"]
        .iter()
        .zip(ours.iter().zip(&reference))
    {
        let err = (a - b).abs().max().double_value(&[]);
        assert!(err < 1e-12, "{name}: {a:?} vs {b:?}");
    }
}
