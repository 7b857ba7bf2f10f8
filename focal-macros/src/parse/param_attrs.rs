//! The attributes a parameter may carry: `#[hyper(...)]`, `#[tensor(...)]` and doc comments.

use proc_macro2::{Ident, TokenStream};
use syn::{Attribute, Expr, Meta};

use super::entries::{forbid_value, parse_entries, require_value, KeySet};
use crate::errors::Errors;
use crate::model::{Check, DTypeFamily};

const HYPER_KEYS: &[&str] = &["default", "check"];
const TENSOR_KEYS: &[&str] = &["float", "integer", "bool", "same_shape_as"];
const STATE_KEYS: &[&str] = &["shape", "init"];

/// A parameter's attributes, sorted by kind. `hyper` and `tensor` hold the attribute's path for
/// errors about where it was put.
#[derive(Default)]
pub(crate) struct ParamAttrs {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) others: Vec<Attribute>,
    pub(crate) hyper: Option<(syn::Path, HyperAttr)>,
    pub(crate) tensor: Option<(syn::Path, TensorAttr)>,
    /// `#[param(...)]` or `#[buffer(...)]`.
    pub(crate) state: Option<(syn::Path, StateAttr)>,
}

/// `#[param(shape = ..., init = ...)]` (learnable) or `#[buffer(...)]` (not trained).
pub(crate) struct StateAttr {
    pub(crate) trainable: bool,
    pub(crate) shape: Option<Expr>,
    pub(crate) init: Option<Expr>,
}

#[derive(Default)]
pub(crate) struct HyperAttr {
    pub(crate) default: Option<Expr>,
    pub(crate) check: Option<Check>,
}

#[derive(Default)]
pub(crate) struct TensorAttr {
    pub(crate) dtypes: Vec<DTypeFamily>,
    pub(crate) same_shape_as: Option<Ident>,
}

/// Sorts and parses a parameter's attributes.
pub(crate) fn read_param_attrs(attrs: Vec<Attribute>, errors: &mut Errors) -> ParamAttrs {
    let mut out = ParamAttrs::default();
    for attr in attrs {
        let path = attr.path().clone();
        if path.is_ident("doc") {
            out.docs.push(attr);
        } else if path.is_ident("hyper") {
            if out.hyper.is_some() {
                errors.at(&attr, "duplicate #[hyper] attribute: merge them into one");
                continue;
            }
            out.hyper = Some((path, parse_hyper(list_tokens(&attr, errors), errors)));
        } else if path.is_ident("tensor") {
            if out.tensor.is_some() {
                errors.at(&attr, "duplicate #[tensor] attribute: merge them into one");
                continue;
            }
            out.tensor = Some((path, parse_tensor(list_tokens(&attr, errors), errors)));
        } else if path.is_ident("param") || path.is_ident("buffer") {
            if out.state.is_some() {
                errors.at(&attr, "a tensor is either #[param] or #[buffer], once");
                continue;
            }
            let trainable = path.is_ident("param");
            out.state = Some((
                path,
                parse_state(list_tokens(&attr, errors), trainable, errors),
            ));
        } else if path.is_ident("cfg") || path.is_ident("cfg_attr") {
            errors.at(
                &attr,
                "a loss parameter cannot be conditional: the struct needs every parameter",
            );
        } else {
            out.others.push(attr);
        }
    }
    out
}

fn list_tokens(attr: &Attribute, errors: &mut Errors) -> TokenStream {
    match &attr.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(nv) => {
            errors.at(
                nv,
                format!(
                    "expected `#[{0}(...)]`, not `#[{0} = ...]`",
                    quote::quote!(#(nv.path))
                ),
            );
            TokenStream::new()
        }
    }
}

fn parse_hyper(tokens: TokenStream, errors: &mut Errors) -> HyperAttr {
    let mut out = HyperAttr::default();
    let mut keys = KeySet::new("#[hyper] key", HYPER_KEYS);
    for entry in parse_entries(tokens, errors) {
        let Some(key) = keys.accept(&entry.key, errors) else {
            continue;
        };
        let expected = if key == "default" {
            "<value>"
        } else {
            "<range or function>"
        };
        let Some(value) = require_value(&entry, errors, expected) else {
            continue;
        };
        match key.as_str() {
            "default" => out.default = Some(value.clone()),
            "check" => out.check = Some(check(value)),
            _ => {}
        }
    }
    out
}

fn check(value: &Expr) -> Check {
    let mut inner = value;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    match inner {
        Expr::Range(_) => Check::Range(value.clone()),
        _ => Check::Function(value.clone()),
    }
}

fn parse_tensor(tokens: TokenStream, errors: &mut Errors) -> TensorAttr {
    let mut out = TensorAttr::default();
    let mut keys = KeySet::new("#[tensor] key", TENSOR_KEYS);
    for entry in parse_entries(tokens, errors) {
        let Some(key) = keys.accept(&entry.key, errors) else {
            continue;
        };
        if let Some(family) = DTypeFamily::from_name(&key) {
            forbid_value(&entry, errors);
            out.dtypes.push(family);
            continue;
        }
        let Some(value) = require_value(&entry, errors, "<tensor parameter>") else {
            continue;
        };
        match value {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                out.same_shape_as = p.path.get_ident().cloned()
            }
            other => errors.at(
                other,
                "expected the name of another tensor parameter, such as `input`",
            ),
        }
    }
    out
}

fn parse_state(tokens: TokenStream, trainable: bool, errors: &mut Errors) -> StateAttr {
    let mut out = StateAttr {
        trainable,
        shape: None,
        init: None,
    };
    let what = if trainable {
        "#[param] key"
    } else {
        "#[buffer] key"
    };
    let mut keys = KeySet::new(what, STATE_KEYS);
    for entry in parse_entries(tokens, errors) {
        let Some(key) = keys.accept(&entry.key, errors) else {
            continue;
        };
        let expected = if key == "shape" {
            "[dims...]"
        } else {
            "<value>"
        };
        let Some(value) = require_value(&entry, errors, expected) else {
            continue;
        };
        match key.as_str() {
            "shape" => out.shape = Some(value.clone()),
            "init" => out.init = Some(value.clone()),
            _ => {}
        }
    }
    out
}
