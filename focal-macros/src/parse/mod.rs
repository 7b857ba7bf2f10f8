//! Reading the attribute and the function into a [`LossModel`], recording every mistake.

mod args;
mod entries;
mod param_attrs;
mod signature;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::errors::Errors;
use crate::model::LossModel;

/// The parse result: a model (maybe partial), or tokens that are no function at all.
pub(crate) enum Parsed {
    Function(Box<LossModel>),
    NotAFunction(TokenStream),
}

/// Parses `#[loss(attr)] item`.
pub(crate) fn parse(attr: TokenStream, item: TokenStream, errors: &mut Errors) -> Parsed {
    let args = args::parse_args(attr, errors);
    let item_parsed = syn::parse2::<syn::Item>(item.clone());
    // `fn f(...);` (a trait method without a body) parses as a verbatim item: a method all the same.
    let item_parsed = match item_parsed {
        Ok(syn::Item::Verbatim(_)) => {
            Err(syn::Error::new(proc_macro2::Span::call_site(), "verbatim"))
        }
        other => other,
    };
    match item_parsed {
        Ok(syn::Item::Fn(function)) => {
            Parsed::Function(Box::new(signature::read_function(function, args, errors)))
        }
        Ok(other) => {
            let (what, span) = describe_item(&other);
            errors.at(
                span,
                format!("#[loss] applies to a free function `fn name(input: &Tensor, target: &Tensor, ...)`, not to {what}"),
            );
            Parsed::NotAFunction(item)
        }
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map(|t| t.span())
                .unwrap_or_else(proc_macro2::Span::call_site);
            match syn::parse2::<syn::TraitItemFn>(item) {
                Ok(mut method) => {
                    errors.at_span(
                        span,
                        "#[loss] applies to a free function, not to a trait method: declare the loss as a free function and call it from the trait",
                    );
                    // Keep the method (so the trait stays whole), without our parameter attributes.
                    for arg in method.sig.inputs.iter_mut() {
                        if let syn::FnArg::Typed(pat_type) = arg {
                            pat_type.attrs.retain(|a| {
                                !a.path().is_ident("hyper") && !a.path().is_ident("tensor")
                            });
                        }
                    }
                    Parsed::NotAFunction(method.to_token_stream())
                }
                Err(_) => {
                    // No item at all (a closure, a statement): only the error, as the tokens would
                    // produce errors of their own in whatever position the attribute was.
                    errors.at_span(
                        span,
                        "#[loss] applies to a free function `fn name(input: &Tensor, target: &Tensor, ...) -> Tensor`",
                    );
                    Parsed::NotAFunction(TokenStream::new())
                }
            }
        }
    }
}

fn describe_item(item: &syn::Item) -> (&'static str, TokenStream) {
    use syn::Item::*;
    match item {
        Struct(s) => ("a struct", s.struct_token.to_token_stream()),
        Enum(e) => ("an enum", e.enum_token.to_token_stream()),
        Impl(i) => (
            "an impl block: put it on a free function",
            i.impl_token.to_token_stream(),
        ),
        Trait(t) => ("a trait", t.trait_token.to_token_stream()),
        Mod(m) => ("a module", m.mod_token.to_token_stream()),
        Const(c) => ("a const item", c.const_token.to_token_stream()),
        Static(s) => ("a static item", s.static_token.to_token_stream()),
        Type(t) => ("a type alias", t.type_token.to_token_stream()),
        Union(u) => ("a union", u.union_token.to_token_stream()),
        Use(u) => ("a use declaration", u.use_token.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    }
}
