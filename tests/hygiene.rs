//! The generated code uses absolute paths only: it compiles where the user's scope shadows every
//! name it could otherwise pick up by accident.

#![allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]

mod common;

mod user {
    // Every name the expansion must not resolve through the user's scope. `std` and `core` are
    // shadowed too, so the real crates are reached with `::std` / `::core`.
    pub struct Tensor;
    pub struct Result;
    pub struct Option;
    pub struct Default;
    pub struct Box;
    pub struct LossError;
    pub struct Reduction;
    pub struct Loss;
    pub struct Debug;
    pub struct Clone;
    pub struct PartialEq;
    pub struct Serialize;
    pub struct Deserialize;
    #[allow(non_snake_case)]
    pub fn Ok() {}
    #[allow(non_snake_case)]
    pub fn Err() {}
    #[allow(non_snake_case)]
    pub fn Some() {}
    pub mod std {}
    pub mod core {}
    pub mod serde {}
    pub mod tch {}
    pub mod focal {}

    /// Squared error scaled by `scale`, with a fallible body and an `Option` hyperparameter.
    #[::focal::loss]
    pub fn shadowed_mse(
        #[tensor(float)] input: &::tch::Tensor,
        #[tensor(float, same_shape_as = input)] target: &::tch::Tensor,
        #[hyper(default = 2.0, check = 0.0..)] scale: f64,
        #[hyper(default = ::core::option::Option::Some(1.0))] cap: ::core::option::Option<f64>,
        weights: ::std::vec::Vec<f64>,
    ) -> ::core::result::Result<::tch::Tensor, ::focal::LossError> {
        let _ = &weights;
        let squared = (input - target).f_square()?;
        let capped = match cap {
            ::core::option::Option::Some(c) => squared.f_clamp_max(c)?,
            ::core::option::Option::None => squared,
        };
        ::core::result::Result::Ok(capped * scale)
    }

    // The shadowing names are still what the user's code sees.
    pub fn uses_shadowed() -> (Tensor, Result, Option, Default, Box) {
        Ok();
        Err();
        Some();
        (Tensor, Result, Option, Default, Box)
    }
}

#[test]
fn expands_in_a_scope_that_shadows_everything() {
    use focal::{Loss, Reduction};
    use tch::Tensor;

    let _ = user::uses_shadowed();
    let loss = user::ShadowedMse::new().with_reduction(Reduction::Sum);
    assert_eq!(loss.scale, 2.0);
    assert_eq!(loss.cap, Some(1.0));
    let device = common::test_device();
    let x = Tensor::from_slice(&[0.0f64, 3.0]).to_device(device);
    let y = Tensor::from_slice(&[0.5f64, 0.0]).to_device(device);
    // 2 * (0.25 + min(9, 1))
    assert_eq!(loss.forward(&x, &y).double_value(&[]), 2.5);
    assert_eq!(Loss::name(&loss), "ShadowedMse");
    let err = loss.clone().with_scale(-1.0).f_forward(&x, &y).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ShadowedMse: hyperparameter scale"),
        "{err}"
    );
    let json = serde_json::to_string(&loss).unwrap();
    let back: user::ShadowedMse = serde_json::from_str(&json).unwrap();
    assert_eq!(back, loss);
}

/// Parameters named as the expansion's own locals would be: the generated code's locals are out
/// of their reach (mixed-site spans, `__focal_` names), with a hand-written backward and a fused
/// kernel, which see them too.
mod locals {
    use focal::{loss, Fused, LossError, Reduction};
    use tch::Tensor;

    /// `loss * (value - grad)^2 * path + reduction_`, plus the optional tensors where given.
    #[loss(backward = named_like_locals_grad)]
    pub fn named_like_locals(
        value: &Tensor,
        grad: &Tensor,
        output: Option<&Tensor>,
        #[hyper(default = 1.0)] path: f64,
        #[hyper(default = 1.0)] loss: f64,
        input2: Option<&Tensor>,
        #[hyper(default = 0.0)] reduction_: f64,
    ) -> Tensor {
        let mut out = (value - grad).square() * path * loss + reduction_;
        if let Some(o) = output {
            out += o;
        }
        if let Some(i) = input2 {
            out *= i;
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    pub fn named_like_locals_grad(
        upstream: &Tensor,
        value: &Tensor,
        grad: &Tensor,
        output: Option<&Tensor>,
        input2: Option<&Tensor>,
        path: f64,
        loss: f64,
        _reduction_: f64,
        reduction: Reduction,
    ) -> Vec<Option<Tensor>> {
        assert!(
            output.is_none() && input2.is_none(),
            "the test leaves them out"
        );
        let upstream = match reduction {
            Reduction::Mean => upstream / value.numel() as f64,
            _ => upstream.shallow_clone(),
        };
        let g = (value - grad) * (2.0 * path * loss) * upstream;
        vec![Some(g.shallow_clone()), Some(-g), None, None]
    }

    /// The same squared error, computed by a kernel of its own.
    #[loss(fused = named_kernel)]
    pub fn fused_named_like_locals(
        value: &Tensor,
        grad: &Tensor,
        #[hyper(default = 1.0)] output: f64,
    ) -> Tensor {
        (value - grad).square() * output
    }

    pub fn named_kernel(
        loss: &FusedNamedLikeLocals,
        value: &Tensor,
        grad: &Tensor,
        needs_grad: bool,
    ) -> Result<Option<Fused>, LossError> {
        if loss.reduction != Reduction::Sum {
            return Ok(None);
        }
        let output = loss.output;
        let diff = value.f_sub(grad)?;
        let loss = diff.f_square()?.f_sum(None)?.f_mul_scalar(output)?;
        let gradient = needs_grad
            .then(|| diff.f_mul_scalar(2.0 * output))
            .transpose()?;
        Ok(Some(Fused::new(loss, gradient)))
    }
}

#[test]
fn parameters_may_take_the_names_of_generated_locals() {
    use focal::{Loss, Reduction};
    use tch::Tensor;

    let device = common::test_device();
    let x = Tensor::from_slice(&[1.0f64, 3.0])
        .to_device(device)
        .set_requires_grad(true);
    let y = Tensor::from_slice(&[0.0f64, 1.0]).to_device(device);
    let loss = locals::NamedLikeLocals::new()
        .with_path(2.0)
        .with_loss(0.5)
        .with_reduction_(0.25)
        .with_reduction(Reduction::Sum);
    // (1 + 4) * 2 * 0.5 + 2 * 0.25
    let value = loss.forward(&x, &y, None, None);
    assert_eq!(value.double_value(&[]), 5.5);
    value.backward();
    assert_eq!(
        Vec::<f64>::try_from(x.grad().to_device(tch::Device::Cpu)).unwrap(),
        [2.0, 4.0]
    );
    let with = loss.forward(&x, &y, Some(&y), Some(&x.detach()));
    // ((1 + 0.25 + 0) * 1 + (4 + 0.25 + 1) * 3) without grad through the node's backward
    assert_eq!(tch::no_grad(|| with.double_value(&[])), 1.25 + 15.75);

    let fused = locals::FusedNamedLikeLocals::new()
        .with_output(3.0)
        .with_reduction(Reduction::Sum);
    let x = x.detach().set_requires_grad(true);
    let value = fused.forward(&x, &y);
    assert_eq!(value.double_value(&[]), 15.0);
    value.backward();
    assert_eq!(
        Vec::<f64>::try_from(x.grad().to_device(tch::Device::Cpu)).unwrap(),
        [6.0, 12.0]
    );
    assert_eq!(Loss::name(&fused), "FusedNamedLikeLocals");
}
