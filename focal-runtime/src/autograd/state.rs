//! Loss-owned tensors (learnable parameters and buffers), registered on a `VarStore`.

use tch::nn::{self, Init};
use tch::Tensor;

use crate::LossError;

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
/// use focal_runtime::__private::state_tensor;
/// use focal_runtime::StateInit;
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
