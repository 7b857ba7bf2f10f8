//! The macro's own arguments: `#[loss(name = ..., crate = ..., reduction = "...", backward = ..., fused = ...)]`.

use proc_macro2::{Ident, TokenStream};
use syn::{Expr, Lit, Path};

use super::entries::{parse_entries, require_value, KeySet};
use crate::errors::Errors;
use crate::model::ReductionArg;

const KEYS: &[&str] = &["name", "crate", "reduction", "backward", "fused"];

/// The arguments of `#[loss(...)]`, each `None` where not given or invalid.
#[derive(Default)]
pub(crate) struct LossArgs {
    pub(crate) name: Option<Ident>,
    pub(crate) krate: Option<Path>,
    pub(crate) reduction: Option<ReductionArg>,
    pub(crate) backward: Option<Path>,
    pub(crate) fused: Option<Path>,
}

pub(super) fn parse_args(tokens: TokenStream, errors: &mut Errors) -> LossArgs {
    let mut args = LossArgs::default();
    let mut keys = KeySet::new("#[loss] argument", KEYS);
    for entry in parse_entries(tokens, errors) {
        let Some(key) = keys.accept(&entry.key, errors) else {
            continue;
        };
        let Some(value) = require_value(&entry, errors, "...") else {
            continue;
        };
        match key.as_str() {
            "name" => args.name = struct_name(value, errors),
            "crate" => args.krate = crate_path(value, errors),
            "reduction" => args.reduction = reduction(value, errors),
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

fn reduction(value: &Expr, errors: &mut Errors) -> Option<ReductionArg> {
    let found = string_literal(value).map(|s| s.value());
    let parsed = found.as_deref().and_then(ReductionArg::from_name);
    if parsed.is_none() {
        let valid = ReductionArg::NAMES.map(|n| format!("\"{n}\"")).join(", ");
        let shown = match &found {
            Some(s) => format!("\"{s}\""),
            None => quote::quote!(#value).to_string(),
        };
        errors.at(
            value,
            format!("invalid reduction {shown}: expected one of {valid}"),
        );
    }
    parsed
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
