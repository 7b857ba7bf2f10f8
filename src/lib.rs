//! # focal
//!
//! Loss functions as first-class modules on top of [tch](https://docs.rs/tch). Write a plain
//! forward function; [`macro@loss`] turns it into a module with hyperparameter fields, a
//! constructor and `with_*` builders, device/shape/dtype checks with clear errors, reduction
//! handling and serde support. The focal-loss family ships built with the same macro.
//!
//! ```
//! use focal::{FocalLoss, Loss, Reduction};
//! use tch::{Device, Kind, Tensor};
//!
//! let logits = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
//! let target = Tensor::randint(3, [2, 8, 8], (Kind::Int64, Device::Cpu));
//! let loss = FocalLoss::default().with_gamma(1.5).forward(&logits, &target);
//! loss.backward();
//!
//! // Mistakes are typed errors that name the loss, the argument and what was wrong.
//! let bad = Tensor::randint(3, [2, 7, 8], (Kind::Int64, Device::Cpu));
//! let err = FocalLoss::default().f_forward(&logits, &bad).unwrap_err();
//! assert!(err.to_string().starts_with("FocalLoss: target has shape [2, 7, 8]"));
//! ```

pub use focal_runtime::*;

/// Turns a loss function into a loss module.
///
/// Applied to `fn name(input: &Tensor, <more tensors>, hyperparameters...) -> R`, where `R` is
/// `Tensor`, [`LossOutput`], or a `Result<_, LossError>` of either, and the body computes
/// *elementwise* (or per-sample) losses, it keeps the function and generates `pub struct Name`
/// (the function's name in UpperCamelCase) with:
///
/// - a public field per hyperparameter and `reduction: Reduction` (default `Mean`), carrying the
///   doc comments of the function and of each parameter;
/// - `Default`, `new()`, `with_<field>(value)` builders, `Debug`, `Clone`, `PartialEq`, and serde
///   `Serialize`/`Deserialize` (missing fields take their defaults, unknown fields are errors,
///   and the loaded values are validated: a bad one fails at load time);
/// - `validate()`, `f_forward(<tensors>) -> Result<Tensor, LossError>`, `forward` (panics with
///   the error's message), `name()`, the constants `NAME` and `REDUCTIONS`, `parse_reduction`,
///   [`DynLoss`], and [`Loss`] where the tensors are `(input, target)` plus optional ones.
///   `f_forward` checks that every tensor is usable and on one device, runs the declared
///   dtype/shape/hyperparameter checks, calls the function, and applies the reduction (`Mean`
///   divides by the weights' sum where the body returns [`LossOutput::weighted`]). A failing tch
///   call in the body, panicking method or not, is [`LossError::Tch`] with libtorch's first line.
///
/// **Tensors.** Every `&Tensor` parameter is a tensor given at each call, in declaration order
/// (the first is the input); `Option<&Tensor>` is one that may be left out (`None`). The
/// generated `forward` takes them in that order. Gradients flow to every differentiable one:
/// through plain autograd, or through the `backward` function's node. Through a trait object, a
/// loss of `(input, target)` (optional tensors after them allowed, left out) is a [`Loss`]; any
/// loss is a [`DynLoss`], called with a slice of `Option<&Tensor>`.
///
/// **Reductions.** The three standard ones always; `extra_reductions = ["batchmean"]` declares
/// names of the loss's own ([`Reduction::Custom`]). A body that takes a parameter of type
/// [`Reduction`] applies the reduction itself, and its result is returned as it is
/// ([`Reduction::apply`] does the standard ones); a loss with names of its own must.
///
/// Macro arguments: `name = StructName`, `reduction = "..."` (the default reduction, a standard
/// one or one of `extra_reductions`), `extra_reductions = [...]`, `crate = path` (where `focal`
/// is, when renamed in `Cargo.toml`), `register` / `register = "name"` (the loss can be read
/// from configuration as `{"type": "name", ...}` through [`AnyLoss`]), and `backward = f` and
/// `fused = k`, both recorded as real autograd nodes ([`autograd`]):
///
/// - `backward = f`: a hand-written backward, run in the backward pass (never eagerly):
///   `f(upstream, <tensors in order>, <the other parameters in order>, reduction)`, where
///   `upstream` is the gradient of the loss's output (a scalar for `Mean`/`Sum`, elementwise for
///   `None`) and the tensors are the ones the loss was called with (an optional one as
///   `Option<&Tensor>`; `#[param]`s and `#[buffer]`s included). It returns `Tensor` (the input's
///   gradient) or `Vec<Option<Tensor>>` (one entry per tensor: the call-time tensors, then the
///   loss's own), or a `Result` of either ([`IntoGradients`]). It runs without autograd
///   recording; differentiating its result again (`create_graph`) is a clear error.
/// - `fused = k`: `k(&loss, <tensors in order>, needs_grad) -> Result<Option<Fused>, LossError>`,
///   a kernel that reads the hyperparameters, `#[buffer]`s and reduction from the loss struct
///   (`&Self`) and computes the reduced loss and, where `needs_grad`, the input's gradient in one
///   pass; `Ok(None)` takes the composed path, as does a call where another tensor needs a
///   gradient. Its gradient buffer is handed to autograd:
///   after a plain `loss.backward()` it *is* `input.grad()`.
///
/// See `docs/autograd.md` in the repository for how these connect with autograd and optimizers.
///
/// Loss-owned tensors: `#[param(shape = [..], init = ..)] name: &Tensor` (learnable) and
/// `#[buffer(init = ..)] name: &Tensor` (saved and moved, never trained). A loss with any is
/// constructed from a `tch::nn::Path` (`new(path)` / `f_new(path)`), which registers them on
/// that `VarStore`, so `trainable_variables()`, the optimizer, `save`/`load` and `set_device`
/// all see them.
///
/// Parameter attributes:
/// - `#[tensor(...)]` on call-time tensors: dtype classes `float`, `integer`, `bool`;
///   `same_shape_as = other`, `broadcastable_to = other`, `per_sample` (shape `[N]`, one entry
///   per sample of the input), `rank = k` or `min_rank = k` / `max_rank = k`;
/// - `#[hyper(default = expr, check = ...)]` on hyperparameters, where a check is a range
///   (`0.0..=1.0`, or `0.0<..` / `0.0<..=1.0` to exclude the lower bound; applied to every number
///   of the value, floats also finite unless the range names the infinity) or a function
///   `Fn(&T) -> Result<(), String>` whose error says what was expected. A hyperparameter without
///   a default takes its type's `Default`. Hyperparameters are plain data: a choice between
///   functions is an enum.
///
/// `Self::NAME` in the body is the struct's name.
///
/// ```
/// use focal::{loss, Loss, LossError, Reduction};
/// use tch::Tensor;
///
/// /// Smooth L1 loss.
/// #[loss]
/// pub fn smooth_l1(
///     #[tensor(float)] input: &Tensor,
///     #[tensor(float, same_shape_as = input)] target: &Tensor,
///     /// Where the quadratic part turns linear.
///     #[hyper(default = 1.0, check = 0.0<..)]
///     beta: f64,
/// ) -> Result<Tensor, LossError> {
///     let diff = (input - target).abs();
///     let quadratic = diff.square() * (0.5 / beta);
///     let linear = &diff - 0.5 * beta;
///     Ok(quadratic.where_self(&diff.lt(beta), &linear))
/// }
///
/// let loss = SmoothL1::new().with_beta(0.5).with_reduction(Reduction::Sum);
/// let x = Tensor::from_slice(&[0.0f64, 2.0]);
/// let y = Tensor::from_slice(&[0.25f64, 0.0]);
/// // 0.5 * 0.25^2 / 0.5 + (2 - 0.25)
/// assert!((loss.forward(&x, &y).double_value(&[]) - 1.8125).abs() < 1e-12);
///
/// let err = SmoothL1::new().with_beta(0.0).f_forward(&x, &y).unwrap_err();
/// assert_eq!(err.to_string(), "SmoothL1: hyperparameter beta should be in 0.0<.. but is 0.0");
/// ```
///
/// Three tensors and an optional one:
///
/// ```
/// use focal::{loss, LossError, Reduction};
/// use tch::Tensor;
///
/// /// `max(0, -y (x1 - x2) + margin)`, weighted per pair where a weight is given.
/// #[loss]
/// pub fn margin_ranking(
///     #[tensor(float)] input1: &Tensor,
///     #[tensor(float, same_shape_as = input1)] input2: &Tensor,
///     #[tensor(same_shape_as = input1)] target: &Tensor,
///     #[tensor(float, same_shape_as = input1)] weight: Option<&Tensor>,
///     #[hyper(default = 0.0)] margin: f64,
/// ) -> Result<Tensor, LossError> {
///     let hinge = (-target * (input1 - input2) + margin).f_clamp_min(0.0)?;
///     Ok(match weight {
///         Some(w) => hinge * w,
///         None => hinge,
///     })
/// }
///
/// let loss = MarginRanking::new().with_margin(0.5).with_reduction(Reduction::Sum);
/// let x1 = Tensor::from_slice(&[1.0f64, 2.0]);
/// let x2 = Tensor::from_slice(&[2.0f64, 0.0]);
/// let y = Tensor::from_slice(&[1.0f64, 1.0]);
/// assert_eq!(loss.forward(&x1, &x2, &y, None).double_value(&[]), 1.5);
/// let w = Tensor::from_slice(&[2.0f64, 1.0]);
/// assert_eq!(loss.forward(&x1, &x2, &y, Some(&w)).double_value(&[]), 3.0);
/// ```
pub use focal_macros::loss;
