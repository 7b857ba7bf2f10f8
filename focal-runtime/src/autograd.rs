//! How a loss hands autograd a gradient it computed itself, and how loss-owned tensors
//! (learnable parameters and buffers) are registered on a `VarStore`.
//!
//! tch cannot define a custom autograd function, so [`attach_gradient`] builds a graph whose
//! value is exactly the given value and whose gradient with respect to the input is exactly the
//! given gradient: `value.detach() + (d − d.detach())` with `d = x · g`: the difference is
//! exactly zero (a finite number minus itself), so the value is unchanged, while autograd sees
//! `d/dx (x · g) = g` (times any upstream gradient). The cost is one dot product forward and one
//! scaled copy of `g` backward.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::LossError;

/// Whether autograd needs `input`'s gradient: it requires grad and grad mode is on (not inside
/// `tch::no_grad`).
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// let x = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
/// assert!(focal_runtime::needs_grad(&x));
/// assert!(!tch::no_grad(|| focal_runtime::needs_grad(&x)));
/// assert!(!focal_runtime::needs_grad(&x.detach()));
/// ```
pub fn needs_grad(input: &Tensor) -> bool {
    input.requires_grad() && grad_mode_enabled()
}

fn grad_mode_enabled() -> bool {
    // tch exposes no getter for grad mode: an op on a tiny leaf that requires grad tells it.
    Tensor::f_zeros([], (Kind::Float, tch::Device::Cpu))
        .and_then(|t| t.set_requires_grad(true).f_mul_scalar(1.0))
        .map(|t| t.requires_grad())
        .unwrap_or(true)
}

/// A tensor equal to `value` whose gradient with respect to `input` is `grad` (same shape as
/// `input`): registers a hand-written backward with autograd.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
/// // Pretend a kernel computed sum(x^2) and its gradient 2x without autograd.
/// let value = tch::no_grad(|| x.square().sum(Kind::Double));
/// let grad = tch::no_grad(|| &x * 2.0);
/// let loss = focal_runtime::attach_gradient(&value, &x, &grad).unwrap();
/// assert_eq!(loss.double_value(&[]), 5.0);
/// (loss * 3.0).backward();
/// assert_eq!(Vec::<f64>::try_from(x.grad()).unwrap(), [6.0, 12.0]);
/// ```
pub fn attach_gradient(value: &Tensor, input: &Tensor, grad: &Tensor) -> Result<Tensor, LossError> {
    attach_scaled_gradient(value, input, grad, 1.0)
}

/// [`attach_gradient`] with the gradient `grad * scale`, where the scale is applied to the scalar
/// in the backward pass (one multiplication) instead of to every element of `grad`.
///
/// ```
/// use tch::{Kind, Tensor};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
/// let value = Tensor::from(2.5f64);
/// let loss = focal_runtime::attach_scaled_gradient(&value, &x, &(x.detach() * 2.0), 0.25).unwrap();
/// loss.backward();
/// assert_eq!(loss.double_value(&[]), 2.5);
/// assert_eq!(Vec::<f64>::try_from(x.grad()).unwrap(), [0.5, 1.0]);
/// ```
pub fn attach_scaled_gradient(
    value: &Tensor,
    input: &Tensor,
    grad: &Tensor,
    scale: f64,
) -> Result<Tensor, LossError> {
    if grad.size() != input.size() {
        return Err(LossError::ShapeMismatch {
            loss: "",
            arg: "gradient",
            expected: format!("should have the input's shape, {:?}", input.size()),
            found: grad.size(),
        });
    }
    let g = grad.f_detach()?.f_to_kind(input.kind())?.f_reshape([-1])?;
    let live = input.f_reshape([-1])?.f_dot(&g)?;
    // The same number minus itself: exactly zero, but only `live` carries the graph.
    let mut zero = live.f_sub(&live.f_detach()?)?;
    if scale != 1.0 {
        zero = zero.f_mul_scalar(scale)?;
    }
    let zero = zero.f_to_kind(value.kind())?;
    Ok(value.f_detach()?.f_add(&zero)?)
}

/// What a fused forward+backward kernel returns: the reduced loss and, when asked for, its
/// gradient with respect to the input.
///
/// ```
/// use focal_runtime::Fused;
/// use tch::Tensor;
/// let fused = Fused::new(Tensor::from(1.5f64), Some(Tensor::from_slice(&[2.0f64, 4.0])))
///     .with_grad_scale(0.5);
/// assert_eq!(fused.grad_scale, 0.5);
/// ```
#[derive(Debug)]
pub struct Fused {
    /// The loss, reduced as asked.
    pub value: Tensor,
    /// `d value / d input` divided by `grad_scale`, present when the kernel was asked for it.
    pub grad: Option<Tensor>,
    /// The factor `grad` still needs (1 unless the kernel wrote the gradient before it knew its
    /// normaliser, as a weighted mean's): applied to the scalar in the backward pass, not to
    /// every element.
    pub grad_scale: f64,
}

impl Fused {
    /// A reduced value and its gradient (`None` where none was asked for).
    pub fn new(value: Tensor, grad: Option<Tensor>) -> Self {
        Fused {
            value,
            grad,
            grad_scale: 1.0,
        }
    }

    /// The same, with `grad` to be multiplied by `scale`.
    #[must_use]
    pub fn with_grad_scale(mut self, scale: f64) -> Self {
        self.grad_scale = scale;
        self
    }
}

/// How a loss-owned tensor starts: a constant, a `tch::nn::Init`, explicit values, or a tensor.
#[derive(Debug)]
pub enum StateInit {
    /// Every element this value.
    Const(f64),
    /// One of tch's initialisers.
    Init(Init),
    /// These values (shape `[len]` unless a shape is given).
    Values(Vec<f64>),
    /// A copy of this tensor (moved to the `VarStore`'s device).
    Tensor(Tensor),
}

impl From<f64> for StateInit {
    fn from(v: f64) -> Self {
        StateInit::Const(v)
    }
}
impl From<Init> for StateInit {
    fn from(i: Init) -> Self {
        StateInit::Init(i)
    }
}
impl From<Vec<f64>> for StateInit {
    fn from(v: Vec<f64>) -> Self {
        StateInit::Values(v)
    }
}
impl<const N: usize> From<[f64; N]> for StateInit {
    fn from(v: [f64; N]) -> Self {
        StateInit::Values(v.to_vec())
    }
}
impl From<Tensor> for StateInit {
    fn from(t: Tensor) -> Self {
        StateInit::Tensor(t)
    }
}

/// Registers a loss-owned tensor named `name` under `path`: a learnable parameter (`trainable`,
/// found by `VarStore::trainable_variables` and stepped by optimizers) or a buffer (saved and
/// moved with the `VarStore`, never trained). Used by `#[param]` and `#[buffer]`.
///
/// ```
/// use tch::nn::VarStore;
/// use tch::Device;
/// use focal_runtime::{state_tensor, StateInit};
/// let vs = VarStore::new(Device::Cpu);
/// let w = state_tensor(&vs.root(), "w", false, None, StateInit::Values(vec![1.0, 2.0])).unwrap();
/// assert_eq!(w.size(), [2]);
/// assert!(vs.trainable_variables().is_empty());
/// assert!(vs.variables().contains_key("w"));
/// ```
pub fn state_tensor(
    path: &nn::Path,
    name: &str,
    trainable: bool,
    shape: Option<Vec<i64>>,
    init: StateInit,
) -> Result<Tensor, LossError> {
    let (device, kind) = (path.device(), path.kind());
    let shape_or_scalar = shape.clone().unwrap_or_default();
    let tensor = match init {
        StateInit::Const(c) => Tensor::f_full(shape_or_scalar.as_slice(), c, (kind, device))?,
        StateInit::Init(i) => nn::f_init(i, &shape_or_scalar, device, kind)?,
        StateInit::Values(values) => {
            let t = Tensor::f_from_slice(&values)?
                .f_to_kind(kind)?
                .f_to_device(device)?;
            match shape {
                Some(s) => t.f_reshape(s.as_slice())?,
                None => t,
            }
        }
        StateInit::Tensor(t) => {
            let t = t
                .f_detach()?
                .f_to_kind(kind)?
                .f_to_device(device)?
                .f_contiguous()?;
            let t = t.f_detach_copy()?;
            match shape {
                Some(s) => t.f_reshape(s.as_slice())?,
                None => t,
            }
        }
    };
    Ok(path.add(name, tensor, trainable))
}
