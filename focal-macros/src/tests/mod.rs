//! In-process tests of the expansion: snapshots of what the macro writes, and a test that no input
//! makes it panic.

mod no_panic;
mod snapshots;

use proc_macro2::TokenStream;

/// The expansion of `#[loss(attr)] item`, pretty-printed (or the raw tokens if it is no file).
pub(crate) fn expand_pretty(attr: TokenStream, item: TokenStream) -> String {
    let tokens = crate::expand_loss(attr, item);
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}
