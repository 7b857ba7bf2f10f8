//! The attributes a parameter may carry: `#[hyper(...)]`, `#[tensor(...)]` and doc comments.

use proc_macro2::{Ident, TokenStream};
use syn::{Attribute, Expr, Meta};

use super::entries::{forbid_value, parse_entries, require_value, KeySet};
use crate::errors::Errors;
use crate::model::{Check, DTypeFamily};
use crate::naming;

const HYPER_KEYS: &[&str] = &["default", "check"];
const TENSOR_KEYS: &[&str] = &[
    "float",
    "integer",
    "bool",
    "same_shape_as",
    "broadcastable_to",
    "per_sample",
    "rank",
    "min_rank",
    "max_rank",
];
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
    pub(crate) broadcastable_to: Option<Ident>,
    pub(crate) per_sample: Option<proc_macro2::Span>,
    pub(crate) rank: Option<usize>,
    pub(crate) min_rank: Option<usize>,
    pub(crate) max_rank: Option<usize>,
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
            "check" => out.check = check(value, errors),
            _ => {}
        }
    }
    out
}

fn check(value: &Expr, errors: &mut Errors) -> Option<Check> {
    use quote::ToTokens;
    use syn::spanned::Spanned;
    let mut inner = value;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    match inner {
        Expr::Range(_) => Some(Check::Range {
            value: value.to_token_stream(),
            text: naming::tokens_text(&value.to_token_stream()),
            span: value.span(),
        }),
        Expr::Verbatim(tokens) => exclusive_range(tokens, errors),
        _ => Some(Check::Function(value.clone())),
    }
}

/// `low<..`, `low<..high` or `low<..=high`: a range excluding `low`, as a `(Bound, Bound)` pair.
fn exclusive_range(tokens: &TokenStream, errors: &mut Errors) -> Option<Check> {
    use proc_macro2::TokenTree;
    use syn::spanned::Spanned;
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let split = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '<'))?;
    let text = naming::tokens_text(tokens);
    let fail = |errors: &mut Errors| {
        errors.at(
            tokens,
            format!("invalid range `{text}`: an exclusive lower bound is written `0.0<..`, `0.0<..1.0` or `0.0<..=1.0`"),
        );
        None
    };
    let lower: TokenStream = trees[..split].iter().cloned().collect();
    let upper: TokenStream = trees[split + 1..].iter().cloned().collect();
    let (Ok(lower), Ok(Expr::Range(upper))) =
        (syn::parse2::<Expr>(lower), syn::parse2::<Expr>(upper))
    else {
        return fail(errors);
    };
    if upper.start.is_some() {
        return fail(errors);
    }
    let end = match (&upper.end, upper.limits) {
        (None, _) => quote::quote!(::core::ops::Bound::Unbounded),
        (Some(end), syn::RangeLimits::HalfOpen(_)) => {
            quote::quote!(::core::ops::Bound::Excluded(#end))
        }
        (Some(end), syn::RangeLimits::Closed(_)) => {
            quote::quote!(::core::ops::Bound::Included(#end))
        }
    };
    Some(Check::Range {
        value: quote::quote!((::core::ops::Bound::Excluded(#lower), #end)),
        text,
        span: tokens.span(),
    })
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
        if key == "per_sample" {
            forbid_value(&entry, errors);
            out.per_sample = Some(entry.key.span());
            continue;
        }
        let expected = if key.ends_with("rank") {
            "<number of dimensions>"
        } else {
            "<tensor parameter>"
        };
        let Some(value) = require_value(&entry, errors, expected) else {
            continue;
        };
        match key.as_str() {
            "same_shape_as" => out.same_shape_as = tensor_name(value, errors),
            "broadcastable_to" => out.broadcastable_to = tensor_name(value, errors),
            "rank" => out.rank = dimension_count(value, errors),
            "min_rank" => out.min_rank = dimension_count(value, errors),
            "max_rank" => out.max_rank = dimension_count(value, errors),
            _ => {}
        }
    }
    out
}

fn tensor_name(value: &Expr, errors: &mut Errors) -> Option<Ident> {
    match value {
        Expr::Path(p) if p.path.get_ident().is_some() => p.path.get_ident().cloned(),
        other => {
            errors.at(
                other,
                "expected the name of another tensor parameter, such as `input`",
            );
            None
        }
    }
}

fn dimension_count(value: &Expr, errors: &mut Errors) -> Option<usize> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => match i.base10_parse::<usize>() {
            Ok(n) if n <= 64 => Some(n),
            _ => {
                errors.at(i, "expected a number of dimensions, from 0 to 64");
                None
            }
        },
        other => {
            errors.at(other, "expected a number of dimensions, such as `2`");
            None
        }
    }
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
