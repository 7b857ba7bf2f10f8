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
    /// The call-time tensors, in order (the input first).
    pub(crate) tensors: Vec<TensorInput>,
    /// The hyperparameters, in order.
    pub(crate) hypers: Vec<Hyper>,
    /// Loss-owned tensors (`#[param]`, `#[buffer]`), in order.
    pub(crate) state: Vec<StateTensor>,
    /// Every parameter, in the function's order (how to call it).
    pub(crate) args: Vec<Arg>,
    /// The parameters that are neither call-time tensors nor the reduction, in order: what the
    /// `backward` function takes after the tensors.
    pub(crate) extras: Vec<Extra>,
    /// The parameter of type `Reduction`, where the body reduces its values itself.
    pub(crate) reduction_param: Option<Ident>,
    /// `#[loss(extra_reductions = [...])]`: the names of the loss's own reductions.
    pub(crate) extra_reductions: Vec<syn::LitStr>,
    /// `#[loss(register)]` / `register = "name"`: the name the loss is built by from configuration.
    pub(crate) register: Option<syn::LitStr>,
    /// `#[loss(backward = f)]`: the gradient of the reduced loss with respect to the input.
    pub(crate) backward: Option<Path>,
    /// `#[loss(fused = f)]`: a kernel computing the reduced loss and its gradient in one pass,
    /// called as `f(&loss, tensors..., needs_grad)`.
    pub(crate) fused: Option<Path>,
    /// Whether the function takes `self` (an error): it is a method, so no struct is emitted.
    pub(crate) has_receiver: bool,
}

/// The default reduction, as the macro argument names it: a standard one, or one of the loss's
/// `extra_reductions` (checked by `validate`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum ReductionArg {
    None,
    Mean,
    Sum,
    Custom(syn::LitStr),
}

impl ReductionArg {
    pub(crate) const NAMES: [&'static str; 3] = ["none", "mean", "sum"];

    pub(crate) fn from_literal(lit: &syn::LitStr) -> Self {
        match lit.value().as_str() {
            "none" => ReductionArg::None,
            "mean" => ReductionArg::Mean,
            "sum" => ReductionArg::Sum,
            _ => ReductionArg::Custom(lit.clone()),
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            ReductionArg::None => "none".to_owned(),
            ReductionArg::Mean => "mean".to_owned(),
            ReductionArg::Sum => "sum".to_owned(),
            ReductionArg::Custom(lit) => lit.value(),
        }
    }

    /// The `Reduction` value, as tokens under the runtime's path.
    pub(crate) fn value(&self, krate: &Path) -> proc_macro2::TokenStream {
        let variant = |name: &str| Ident::new(name, Span::call_site());
        match self {
            ReductionArg::None => {
                let v = variant("None");
                quote::quote!(#krate::Reduction::#v)
            }
            ReductionArg::Mean => {
                let v = variant("Mean");
                quote::quote!(#krate::Reduction::#v)
            }
            ReductionArg::Sum => {
                let v = variant("Sum");
                quote::quote!(#krate::Reduction::#v)
            }
            ReductionArg::Custom(lit) => quote::quote!(#krate::Reduction::Custom(#lit)),
        }
    }
}

/// A call-time tensor parameter (`&Tensor`, or `Option<&Tensor>`) and its declarative checks.
pub(crate) struct TensorInput {
    pub(crate) ident: Ident,
    /// `Option<&Tensor>`: may be left out.
    pub(crate) optional: bool,
    /// Allowed dtype families; empty = any.
    pub(crate) dtypes: Vec<DTypeFamily>,
    /// Another tensor input whose shape this one must have.
    pub(crate) same_shape_as: Option<Ident>,
    /// Another tensor input whose shape this one must broadcast to.
    pub(crate) broadcastable_to: Option<Ident>,
    /// One entry per sample of the input (`[N]`).
    pub(crate) per_sample: Option<Span>,
    /// The number of dimensions allowed, both bounds inclusive.
    pub(crate) rank: Option<(usize, usize)>,
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
    /// `check = 0.0..=1.0` (or `0.0<..`, an exclusive lower bound): every number of the value lies
    /// in the range. `value` is a `RangeBounds` expression, `text` the range as written.
    Range {
        value: proc_macro2::TokenStream,
        text: String,
        span: Span,
    },
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

/// A parameter that is not a call-time tensor: a hyperparameter or a loss-owned tensor (by field).
pub(crate) enum Extra {
    Hyper(Ident),
    State(Ident),
}

/// A parameter of the function, in its order: what the body is called with.
pub(crate) enum Arg {
    /// The call-time tensor at this index of `tensors`.
    Tensor(usize),
    /// A hyperparameter or loss-owned tensor.
    Extra(Extra),
    /// The loss's reduction (`reduction: Reduction`).
    Reduction,
}
