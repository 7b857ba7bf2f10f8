//! The macro's own arguments: `#[loss(name = ..., crate = ..., reduction = "...",
//! extra_reductions = [...], backward = ..., fused = ..., register)]`.

use proc_macro2::{Ident, TokenStream};
use syn::{Expr, Lit, Path};

use super::entries::{parse_entries, require_value, KeySet};
use crate::errors::Errors;
use crate::model::ReductionArg;

const KEYS: &[&str] = &[
    "name",
    "crate",
    "reduction",
    "extra_reductions",
    "backward",
    "fused",
    "register",
];

/// The arguments of `#[loss(...)]`, each `None` where not given or invalid.
#[derive(Default)]
pub(crate) struct LossArgs {
    pub(crate) name: Option<Ident>,
    pub(crate) krate: Option<Path>,
    pub(crate) reduction: Option<ReductionArg>,
    pub(crate) backward: Option<Path>,
    pub(crate) fused: Option<Path>,
    /// The reductions named in `extra_reductions`, with their literals' spans.
    pub(crate) extra_reductions: Vec<syn::LitStr>,
    /// `register` (the loss's snake-case name, at the key's span) or `register = "name"`.
    pub(crate) register: Option<Register>,
}

/// `register` alone (the name derived from the struct's) or `register = "name"`.
pub(crate) enum Register {
    Derived(proc_macro2::Span),
    Named(syn::LitStr),
}

pub(super) fn parse_args(tokens: TokenStream, errors: &mut Errors) -> LossArgs {
    let mut args = LossArgs::default();
    let mut keys = KeySet::new("#[loss] argument", KEYS);
    for entry in parse_entries(tokens, errors) {
        let Some(key) = keys.accept(&entry.key, errors) else {
            continue;
        };
        if key == "register" {
            args.register = match &entry.value {
                None => Some(Register::Derived(entry.key.span())),
                Some(value) => register_name(value, errors).map(Register::Named),
            };
            continue;
        }
        let Some(value) = require_value(&entry, errors, "...") else {
            continue;
        };
        match key.as_str() {
            "name" => args.name = struct_name(value, errors),
            "crate" => args.krate = crate_path(value, errors),
            "reduction" => args.reduction = reduction(value, errors),
            "extra_reductions" => args.extra_reductions = extra_reductions(value, errors),
            "backward" => args.backward = function_path(value, "backward", errors),
            "fused" => args.fused = function_path(value, "fused", errors),
            _ => {}
        }
    }
    args
}

fn string_literal(value: &Expr) -> Option<&syn::LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

fn struct_name(value: &Expr, errors: &mut Errors) -> Option<Ident> {
    // `parse2::<Ident>` rejects keywords (`self`, `Self`, `crate`), which a path would let through.
    let parsed = match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p
            .path
            .get_ident()
            .and_then(|i| syn::parse2::<Ident>(quote::quote!(#i)).ok()),
        _ => string_literal(value).and_then(|s| s.parse::<Ident>().ok()),
    };
    if parsed.is_none() {
        let found = match string_literal(value) {
            Some(s) => format!("\"{}\" is not an identifier", s.value()),
            None => format!("`{}` is not an identifier", quote::quote!(#value)),
        };
        errors.at(
            value,
            format!("expected a struct name such as `name = FocalLoss`: {found}"),
        );
    }
    parsed
}

fn crate_path(value: &Expr, errors: &mut Errors) -> Option<Path> {
    let parsed = match value {
        Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        _ => string_literal(value).and_then(|s| s.parse::<Path>().ok()),
    };
    if parsed.is_none() {
        errors.at(value, "expected the path of the focal crate, such as `crate = my_focal` or `crate = \"::my_focal\"`");
    }
    parsed
}

/// A string literal; whether it names a reduction the loss accepts is checked by `validate`,
/// which knows the loss's `extra_reductions`.
fn reduction(value: &Expr, errors: &mut Errors) -> Option<ReductionArg> {
    let parsed = string_literal(value).map(ReductionArg::from_literal);
    if parsed.is_none() {
        let valid = ReductionArg::NAMES.map(|n| format!("\"{n}\"")).join(", ");
        errors.at(
            value,
            format!(
                "invalid reduction `{}`: expected a string, one of {valid} or a name in `extra_reductions`",
                crate::naming::tokens_text(&quote::quote!(#value))
            ),
        );
    }
    parsed
}

/// `["batchmean", ...]`: names other than the standard ones, each a plain word.
fn extra_reductions(value: &Expr, errors: &mut Errors) -> Vec<syn::LitStr> {
    let Expr::Array(array) = value else {
        errors.at(
            value,
            "expected a list of reduction names, such as `extra_reductions = [\"batchmean\"]`",
        );
        return Vec::new();
    };
    let mut names: Vec<syn::LitStr> = Vec::new();
    for element in &array.elems {
        let Some(lit) = string_literal(element) else {
            errors.at(
                element,
                "expected a reduction name in quotes, such as \"batchmean\"",
            );
            continue;
        };
        let name = lit.value();
        if ReductionArg::NAMES.contains(&name.as_str()) {
            errors.at(
                lit,
                format!("\"{name}\" is a standard reduction, which every loss accepts: list only the loss's own"),
            );
        } else if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errors.at(
                lit,
                format!("invalid reduction name \"{name}\": use lowercase letters, digits and `_`, as PyTorch's names (\"batchmean\")"),
            );
        } else if names.iter().any(|n| n.value() == name) {
            errors.at(lit, format!("\"{name}\" is listed twice"));
        } else {
            names.push(lit.clone());
        }
    }
    names
}

/// `register = "name"`: the name a configuration gives as its `type`.
fn register_name(value: &Expr, errors: &mut Errors) -> Option<syn::LitStr> {
    match string_literal(value) {
        Some(lit) if !lit.value().is_empty() => Some(lit.clone()),
        _ => {
            errors.at(
                value,
                "expected the name configurations use for this loss, such as `register = \"my_loss\"`, or `register` alone for the function's name",
            );
            None
        }
    }
}

fn function_path(value: &Expr, key: &str, errors: &mut Errors) -> Option<Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        _ => {
            errors.at(
                value,
                format!("expected the path of a function, such as `{key} = my_{key}`"),
            );
            None
        }
    }
}
