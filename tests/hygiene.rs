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
