//! The `#[loss]` attribute macro of [focal](https://docs.rs/focal).
//!
//! Use it through the `focal` crate (`focal::loss`), which documents it with examples. The
//! expansion runs in four steps, one module each: `parse` reads the attribute and the function,
//! `model` holds what was read, `validate` checks what the parser cannot see alone, and
//! `expand` writes the code. Errors are collected across all steps and reported together, each
//! at its own token; on error the function (attributes stripped) and a stub of the struct are
//! still emitted, so code using the loss does not fail a second time.

mod errors;
mod expand;
mod model;
mod naming;
mod parse;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns a loss function into a loss module. See `focal::loss` for the full documentation.
#[proc_macro_attribute]
pub fn loss(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_loss(attr.into(), item.into()).into()
}

/// The macro as a function over `proc_macro2` token streams: what the tests drive.
pub(crate) fn expand_loss(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = errors::Errors::default();
    let parsed = parse::parse(attr, item, &mut errors);
    match parsed {
        parse::Parsed::NotAFunction(tokens) => {
            let errs = errors.into_compile_errors();
            quote::quote! { #errs #tokens }
        }
        parse::Parsed::Function(mut model) => {
            validate::validate(&mut model, &mut errors);
            if errors.is_empty() {
                expand::expand(&model)
            } else {
                let stub = expand::expand_stub(&model);
                let errs = errors.into_compile_errors();
                quote::quote! { #errs #stub }
            }
        }
    }
}
