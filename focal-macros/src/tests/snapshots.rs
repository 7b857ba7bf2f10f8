//! Snapshots of the expansion, pretty-printed. Update with `UPDATE_EXPECT=1 cargo test -p focal-macros`.

use expect_test::expect_file;
use quote::quote;

use super::expand_pretty;

#[test]
fn no_hyperparameters() {
    let out = expand_pretty(
        quote!(),
        quote! {
            /// Squared error.
            pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
                (input - target).square()
            }
        },
    );
    expect_file!["snapshots/no_hyperparameters.rs"].assert_eq(&out);
}

/// The exact declaration of the `Focal` built-in in `focal-runtime/src/losses/focal.rs`.
#[test]
fn focal_builtin() {
    let out = expand_pretty(
        quote!(crate = crate),
        quote! {
            /// Binary focal loss on probabilities.
            pub fn focal(
                #[tensor(float)] input: &Tensor,
                #[tensor(float, integer, bool, same_shape_as = input)] target: &Tensor,
                /// The focusing exponent: larger values down-weight well-classified elements more.
                #[hyper(default = 2.0, check = 0.0..)]
                gamma: f64,
                /// The weight of positives; negatives get `1 - alpha`.
                #[hyper(default = 0.25, check = 0.0..=1.0)]
                alpha: f64,
            ) -> Result<Tensor, LossError> {
                checks::binary_values(Focal::NAME, "target", target)?;
                let positive = target.f_eq(1)?;
                Ok(binary_focal_terms(input, &positive, gamma, alpha)?)
            }
        },
    );
    expect_file!["snapshots/focal_builtin.rs"].assert_eq(&out);
}

#[test]
fn fallible_body() {
    let out = expand_pretty(
        quote!(name = SafeLog, reduction = "sum"),
        quote! {
            pub(crate) fn safe_log(
                #[tensor(float)] input: &Tensor,
                #[tensor(float, same_shape_as = input)] target: &Tensor,
                #[hyper(default = 1e-6, check = positive)] eps: f64,
            ) -> Result<Tensor, LossError> {
                let log = input.f_clamp_min(eps)?.f_log()?;
                Ok(log.f_mul(target)?.f_neg()?)
            }
        },
    );
    expect_file!["snapshots/fallible_body.rs"].assert_eq(&out);
}

#[test]
fn per_element_weights() {
    let out = expand_pretty(
        quote!(),
        quote! {
            /// Squared error that ignores one target value.
            pub fn masked_mse(
                #[tensor(float)] input: &Tensor,
                #[tensor(float, same_shape_as = input)] target: &Tensor,
                /// The target value to ignore.
                #[hyper(default = -1.0)] ignore: f64,
                /// Extra weight per class.
                class_weights: Option<Vec<f64>>,
            ) -> LossOutput {
                let _ = class_weights;
                let keep = target.ne(ignore).to_kind(input.kind());
                LossOutput::weighted((input - target).square() * &keep, keep)
            }
        },
    );
    expect_file!["snapshots/per_element_weights.rs"].assert_eq(&out);
}

/// An invalid loss expands to its errors, the function and a stub of the struct.
#[test]
fn stub_on_error() {
    let out = expand_pretty(
        quote!(reduction = "avg"),
        quote! {
            pub fn scaled(input: &Tensor, target: &Tensor, #[hyper(defualt = 2.0)] gamma: f64) -> Tensor {
                (input - target).square() * gamma
            }
        },
    );
    expect_file!["snapshots/stub_on_error.rs"].assert_eq(&out);
}

/// A loss with a learnable parameter, a buffer, and one with a hand-written backward.
#[test]
fn parameters_buffers_and_backward() {
    let stateful = expand_pretty(
        quote!(),
        quote! {
            pub fn uncertainty(
                input: &Tensor,
                target: &Tensor,
                #[param(shape = [2], init = 0.0)] log_vars: &Tensor,
                #[buffer(init = vec![1.0, 2.0])] task_weights: &Tensor,
            ) -> Tensor {
                (input - target).square() * (-log_vars).exp() * task_weights + log_vars
            }
        },
    );
    expect_file!["snapshots/parameters_and_buffers.rs"].assert_eq(&stateful);
    let backward = expand_pretty(
        quote!(backward = squared_error_grad),
        quote! {
            pub fn squared_error(input: &Tensor, target: &Tensor, #[hyper(default = 1.0)] scale: f64) -> Tensor {
                (input - target).square() * scale
            }
        },
    );
    expect_file!["snapshots/hand_written_backward.rs"].assert_eq(&backward);
}

/// Three call-time tensors, one of them checked per sample, and an exclusive lower bound.
#[test]
fn three_tensors() {
    let out = expand_pretty(
        quote!(),
        quote! {
            /// `1 - cos(x1, x2)` for similar pairs, `max(0, cos - margin)` for the others.
            pub fn cosine_embedding(
                #[tensor(float, rank = 2)] input1: &Tensor,
                #[tensor(float, same_shape_as = input1)] input2: &Tensor,
                #[tensor(per_sample)] target: &Tensor,
                #[hyper(default = 0.5, check = 0.0<..=1.0)] margin: f64,
            ) -> Result<Tensor, LossError> {
                let cos = input1.f_cosine_similarity(input2, 1, 1e-8)?;
                Ok(cos.f_rsub_scalar(1.0)?.f_where_self(&target.f_eq(1)?, &(cos - margin).f_relu()?)?)
            }
        },
    );
    expect_file!["snapshots/three_tensors.rs"].assert_eq(&out);
}

/// An optional per-call weight, with a hand-written backward that receives it as an `Option`.
#[test]
fn optional_tensor() {
    let out = expand_pretty(
        quote!(backward = weighted_mse_grad),
        quote! {
            pub fn weighted_mse(
                #[tensor(float)] input: &Tensor,
                #[tensor(float, same_shape_as = input)] target: &Tensor,
                #[tensor(float, broadcastable_to = input)] weight: Option<&Tensor>,
            ) -> Tensor {
                let squared = (input - target).square();
                match weight {
                    Some(w) => squared * w,
                    None => squared,
                }
            }
        },
    );
    expect_file!["snapshots/optional_tensor.rs"].assert_eq(&out);
}

/// A reduction of the loss's own: the body takes the reduction and applies it.
#[test]
fn custom_reduction() {
    let out = expand_pretty(
        quote!(extra_reductions = ["batchmean"], register),
        quote! {
            pub fn kl_div(
                #[tensor(float)] input: &Tensor,
                #[tensor(float, same_shape_as = input)] target: &Tensor,
                reduction: Reduction,
            ) -> Result<Tensor, LossError> {
                let pointwise = target.f_xlogy(target)?.f_sub(&target.f_mul(input)?)?;
                match reduction {
                    Reduction::Custom("batchmean") => Ok(pointwise.f_sum(None)?.f_div_scalar(input.size()[0])?),
                    standard => standard.apply(Self::NAME, &pointwise),
                }
            }
        },
    );
    expect_file!["snapshots/custom_reduction.rs"].assert_eq(&out);
}

/// A fused kernel on a loss with an optional tensor: the kernel is bound to a function pointer of
/// the signature it must have (the loss struct, the tensors, whether the input needs a gradient).
#[test]
fn fused_kernel() {
    let out = expand_pretty(
        quote!(fused = squared_kernel),
        quote! {
            /// Weighted squared error.
            pub fn weighted_squared(
                input: &Tensor,
                target: &Tensor,
                weight: Option<&Tensor>,
                #[hyper(default = 1.0)] scale: f64,
            ) -> Tensor {
                let squared = (input - target).square() * scale;
                match weight {
                    Some(w) => squared * w,
                    None => squared,
                }
            }
        },
    );
    expect_file!["snapshots/fused_kernel.rs"].assert_eq(&out);
}
