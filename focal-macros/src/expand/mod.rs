//! Writing the code: the user's function, the struct, its constructor and builders, the checked
//! `f_forward` / `forward`, and `impl Loss`. Every path is absolute (`::core`, the runtime's path).

mod forward;
mod struct_def;

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::LossModel;

/// The full expansion of a valid loss.
pub(crate) fn expand(model: &LossModel) -> TokenStream {
    let function = &model.function;
    let struct_def = struct_def::struct_def(model, false);
    let forward = forward::forward_impls(model, false);
    quote! {
        #function
        #struct_def
        #forward
    }
}

/// What is emitted beside the errors of an invalid loss: the function and a stub of the struct
/// with the same public surface, so that code using it reports no second error.
pub(crate) fn expand_stub(model: &LossModel) -> TokenStream {
    let function = &model.function;
    if model.has_receiver {
        // A method: it sits in an impl or trait block, where no struct can be declared.
        return quote! { #function };
    }
    let struct_def = struct_def::struct_def(model, true);
    let forward = forward::forward_impls(model, true);
    quote! {
        #function
        #struct_def
        #forward
    }
}

/// `::core::panic!` standing for a body in a stub; never runs, as the crate does not compile.
fn stub_body() -> TokenStream {
    quote! { ::core::panic!("#[loss] could not expand this loss; see the compile errors") }
}
