//! What the parser read: the loss as data, before validation and expansion.

use proc_macro2::{Ident, Span};
use syn::{Attribute, Expr, ItemFn, Path, Type, Visibility};

/// A `#[loss]` function, read.
pub(crate) struct LossModel {
    /// The user's function with our attributes stripped; emitted unchanged otherwise.
    pub(crate) function: ItemFn,
    /// The function's visibility, given to the struct and its methods.
    pub(crate) vis: Visibility,
    /// The function's name, called by `f_forward`.
    pub(crate) fn_ident: Ident,
    /// The struct's name (`SmoothL1`).
    pub(crate) struct_ident: Ident,
    /// The path to the runtime (`::focal`, or `crate = ...`).
    pub(crate) krate: Path,
    /// The struct's default reduction.
    pub(crate) default_reduction: ReductionArg,
    /// The function's doc attributes, carried to the struct.
    pub(crate) docs: Vec<Attribute>,
    /// The tensor inputs, in order (input, target).
    pub(crate) tensors: Vec<TensorInput>,
    /// The hyperparameters, in order.
    pub(crate) hypers: Vec<Hyper>,
    /// Loss-owned tensors (`#[param]`, `#[buffer]`), in order.
    pub(crate) state: Vec<StateTensor>,
    /// The parameters after input and target, in the function's order (how to call it).
    pub(crate) extras: Vec<Extra>,
    /// `#[loss(backward = f)]`: the gradient of the reduced loss with respect to the input.
    pub(crate) backward: Option<Path>,
    /// `#[loss(fused = f)]`: a kernel computing the reduced loss and its gradient in one pass.
    pub(crate) fused: Option<Path>,
    /// Whether the function takes `self` (an error): it is a method, so no struct is emitted.
    pub(crate) has_receiver: bool,
}

/// The three reductions, as the macro argument names them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReductionArg {
    None,
    Mean,
    Sum,
}

impl ReductionArg {
    pub(crate) const NAMES: [&'static str; 3] = ["none", "mean", "sum"];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(ReductionArg::None),
            "mean" => Some(ReductionArg::Mean),
            "sum" => Some(ReductionArg::Sum),
            _ => None,
        }
    }

    pub(crate) fn variant(self) -> Ident {
        let name = match self {
            ReductionArg::None => "None",
            ReductionArg::Mean => "Mean",
            ReductionArg::Sum => "Sum",
        };
        Ident::new(name, Span::call_site())
    }
}

/// A `&Tensor` parameter (input or target) and its declarative checks.
pub(crate) struct TensorInput {
    pub(crate) ident: Ident,
    /// Allowed dtype families; empty = any.
    pub(crate) dtypes: Vec<DTypeFamily>,
    /// Another tensor input whose shape this one must have.
    pub(crate) same_shape_as: Option<Ident>,
}

/// A dtype family of `#[tensor(...)]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DTypeFamily {
    Float,
    Integer,
    Bool,
}

impl DTypeFamily {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "float" => Some(DTypeFamily::Float),
            "integer" => Some(DTypeFamily::Integer),
            "bool" => Some(DTypeFamily::Bool),
            _ => None,
        }
    }

    pub(crate) fn constant(self) -> Ident {
        let name = match self {
            DTypeFamily::Float => "FLOAT",
            DTypeFamily::Integer => "INTEGER",
            DTypeFamily::Bool => "BOOL",
        };
        Ident::new(name, Span::call_site())
    }
}

/// A hyperparameter: a plain-data parameter that becomes a public field.
pub(crate) struct Hyper {
    /// The parameter as written (`_gamma`).
    pub(crate) param: Ident,
    /// The field (`gamma`).
    pub(crate) field: Ident,
    pub(crate) ty: Type,
    pub(crate) docs: Vec<Attribute>,
    pub(crate) default: Option<Expr>,
    pub(crate) check: Option<Check>,
}

/// A validation rule of `#[hyper(check = ...)]`.
pub(crate) enum Check {
    /// `check = 0.0..=1.0`: every number of the value lies in the range.
    Range(Expr),
    /// `check = path_or_closure`: `Fn(&T) -> Result<(), String>`, the string saying what was expected.
    Function(Expr),
}

/// A loss-owned tensor: a learnable parameter or a buffer, registered on a `VarStore` path.
pub(crate) struct StateTensor {
    pub(crate) param: Ident,
    pub(crate) field: Ident,
    pub(crate) trainable: bool,
    pub(crate) shape: Option<Expr>,
    pub(crate) init: Option<Expr>,
    pub(crate) docs: Vec<Attribute>,
}

/// A parameter after input and target: a hyperparameter or a loss-owned tensor (by field).
pub(crate) enum Extra {
    Hyper(Ident),
    State(Ident),
}
