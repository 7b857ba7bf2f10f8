//! The trait every loss implements.

use tch::Tensor;

use crate::{LossError, Reduction};

/// A loss module: a configured loss function from `(input, target)` to a tensor.
///
/// Object safe, so `Box<dyn Loss>` holds any loss. Implemented by every `#[loss]` struct.
///
/// ```
/// use focal_runtime::{FocalLoss, Loss, Reduction};
/// let loss: Box<dyn Loss> = Box::new(FocalLoss::default());
/// assert_eq!(loss.name(), "FocalLoss");
/// assert_eq!(loss.reduction(), Reduction::Mean);
/// ```
pub trait Loss {
    /// The loss's name, as used in its error messages (`"FocalLoss"`).
    fn name(&self) -> &'static str;

    /// How the elementwise losses are reduced.
    fn reduction(&self) -> Reduction;

    /// Computes the loss, or says why it cannot.
    fn f_forward(&self, input: &tch::Tensor, target: &tch::Tensor) -> Result<Tensor, LossError>;

    /// Computes the loss.
    ///
    /// # Panics
    /// With the error's message where [`Loss::f_forward`] fails, as tch's non-`f_` functions do;
    /// the panic points at the caller (`#[track_caller]`).
    #[track_caller]
    fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        match self.f_forward(input, target) {
            Ok(loss) => loss,
            Err(err) => panic!("{err}"),
        }
    }
}

impl<L: Loss + ?Sized> Loss for Box<L> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reduction(&self) -> Reduction {
        (**self).reduction()
    }
    fn f_forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor, LossError> {
        (**self).f_forward(input, target)
    }
}

impl<L: Loss + ?Sized> Loss for &L {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reduction(&self) -> Reduction {
        (**self).reduction()
    }
    fn f_forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor, LossError> {
        (**self).f_forward(input, target)
    }
}

/// One tensor argument of a loss, as its `forward` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorArg {
    /// The parameter's name (`"input"`, `"weight"`).
    pub name: &'static str,
    /// Whether it is an `Option<&Tensor>` (may be left out).
    pub optional: bool,
}

/// A loss of any number of tensor arguments, called with a slice: what a loss that does not take
/// exactly `(input, target)` is used through as a trait object. Every `#[loss]` struct implements
/// it (the two-tensor ones implement [`Loss`] as well); [`DynLoss::tensor_args`] says what to pass.
///
/// The slice holds one entry per tensor argument, in the order of the loss's `forward`: `Some` for
/// a tensor, `None` for a left-out optional one. A slice of the wrong length, or `None` for a
/// required tensor, is [`LossError::WrongArguments`].
///
/// ```
/// use focal_macros::loss;
/// use focal_runtime::{DynLoss, LossError};
/// use tch::Tensor;
///
/// /// `max(0, -y (x1 - x2) + margin)`, as `torch.nn.functional.margin_ranking_loss`.
/// #[loss(crate = focal_runtime)]
/// fn margin_ranking(
///     #[tensor(float)] input1: &Tensor,
///     #[tensor(float, same_shape_as = input1)] input2: &Tensor,
///     #[tensor(same_shape_as = input1)] target: &Tensor,
///     #[hyper(default = 0.0)] margin: f64,
/// ) -> Result<Tensor, LossError> {
///     Ok((-target * (input1 - input2) + margin).f_clamp_min(0.0)?)
/// }
///
/// let loss: Box<dyn DynLoss> = Box::new(MarginRanking::new().with_margin(0.5));
/// assert_eq!(loss.tensor_args().iter().map(|a| a.name).collect::<Vec<_>>(), ["input1", "input2", "target"]);
/// let x1 = Tensor::from_slice(&[1.0f64, 2.0]);
/// let x2 = Tensor::from_slice(&[2.0f64, 0.0]);
/// let y = Tensor::from_slice(&[1.0f64, 1.0]);
/// // max(0, 1 + 0.5) and max(0, -2 + 0.5), averaged.
/// let value = loss.forward_tensors(&[Some(&x1), Some(&x2), Some(&y)]);
/// assert_eq!(value.double_value(&[]), 0.75);
/// let err = loss.f_forward_tensors(&[Some(&x1), Some(&x2)]).unwrap_err();
/// assert_eq!(err.to_string(), "MarginRanking: takes 3 tensors (input1, input2, target) but was given 2");
/// assert!(loss.as_loss().is_none());
/// ```
pub trait DynLoss {
    /// The loss's name, as used in its error messages.
    fn name(&self) -> &'static str;

    /// How the elementwise losses are reduced.
    fn reduction(&self) -> Reduction;

    /// The tensor arguments, in the order `forward` takes them.
    fn tensor_args(&self) -> &'static [TensorArg];

    /// Computes the loss from its tensor arguments in order (`None` for a left-out optional one),
    /// or says why it cannot.
    fn f_forward_tensors(&self, tensors: &[Option<&Tensor>]) -> Result<Tensor, LossError>;

    /// Computes the loss from its tensor arguments in order.
    ///
    /// # Panics
    /// With the error's message where [`DynLoss::f_forward_tensors`] fails.
    #[track_caller]
    fn forward_tensors(&self, tensors: &[Option<&Tensor>]) -> Tensor {
        match self.f_forward_tensors(tensors) {
            Ok(loss) => loss,
            Err(err) => panic!("{err}"),
        }
    }

    /// The loss as a two-tensor [`Loss`], where it is one (its tensors are `(input, target)` and
    /// optional ones).
    fn as_loss(&self) -> Option<&dyn Loss>;
}

/// The tensors of `args` from a [`DynLoss`] call, checked against the loss's arguments: one
/// `Option` per argument, `Some` for every required one.
pub fn check_arguments<'a, const N: usize>(
    loss: &'static str,
    args: &'static [TensorArg],
    tensors: &[Option<&'a Tensor>],
) -> Result<[Option<&'a Tensor>; N], LossError> {
    let expected = || {
        let required = args.iter().filter(|a| !a.optional).count();
        let names = args
            .iter()
            .map(|a| {
                if a.optional {
                    format!("{} (optional)", a.name)
                } else {
                    a.name.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let count = if required == args.len() {
            format!("{required}")
        } else {
            format!("{required} to {}", args.len())
        };
        format!(
            "{count} tensor{} ({names})",
            if args.len() == 1 { "" } else { "s" }
        )
    };
    let array: [Option<&'a Tensor>; N] =
        tensors.try_into().map_err(|_| LossError::WrongArguments {
            loss,
            expected: expected(),
            found: format!("{}", tensors.len()),
        })?;
    if let Some(missing) = args
        .iter()
        .zip(&array)
        .find(|(a, t)| !a.optional && t.is_none())
    {
        return Err(LossError::WrongArguments {
            loss,
            expected: expected(),
            found: format!("no {}", missing.0.name),
        });
    }
    Ok(array)
}
