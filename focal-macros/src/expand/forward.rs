//! `validate`, `f_forward`, `forward` and `impl Loss`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::stub_body;
use crate::model::{Check, Extra, Hyper, LossModel, TensorInput};

pub(super) fn forward_impls(model: &LossModel, stub: bool) -> TokenStream {
    let LossModel {
        vis,
        struct_ident,
        krate,
        ..
    } = model;
    let tensor_ty = quote!(#krate::__private::tch::Tensor);
    let result_ty = quote!(::core::result::Result<#tensor_ty, #krate::LossError>);
    // A stub's bodies do not use the tensors: fixed, unused names keep it free of warnings.
    let (input, target) = if stub {
        let name = |n: &str| syn::Ident::new(n, proc_macro2::Span::call_site());
        (name("_input"), name("_target"))
    } else {
        tensor_names(model)
    };

    let (validate_body, forward_body) = if stub {
        (stub_body(), stub_body())
    } else {
        (validate_body(model), forward_body(model))
    };
    let fn_ident = &model.fn_ident;
    let forward_doc =
        format!(" Computes the loss, or says why it cannot; runs [`{fn_ident}`] after the checks.");
    quote! {
        impl #struct_ident {
            /// Checks the hyperparameters, as `f_forward` does before each call.
            #vis fn validate(&self) -> ::core::result::Result<(), #krate::LossError> {
                #validate_body
            }

            #[doc = #forward_doc]
            #vis fn f_forward(&self, #input: &#tensor_ty, #target: &#tensor_ty) -> #result_ty {
                #forward_body
            }

            /// Computes the loss.
            ///
            /// # Panics
            /// With the error's message where [`f_forward`](Self::f_forward) fails.
            #[track_caller]
            #vis fn forward(&self, #input: &#tensor_ty, #target: &#tensor_ty) -> #tensor_ty {
                match self.f_forward(#input, #target) {
                    ::core::result::Result::Ok(loss) => loss,
                    ::core::result::Result::Err(err) => ::core::panic!("{}", err),
                }
            }
        }

        impl #krate::Loss for #struct_ident {
            fn name(&self) -> &'static str {
                Self::NAME
            }

            fn reduction(&self) -> #krate::Reduction {
                self.reduction
            }

            fn f_forward(&self, #input: &#tensor_ty, #target: &#tensor_ty) -> #result_ty {
                #struct_ident::f_forward(self, #input, #target)
            }
        }
    }
}

/// The names of the tensor parameters (`input`, `target` if the model could not read them).
fn tensor_names(model: &LossModel) -> (syn::Ident, syn::Ident) {
    let name = |i: usize, fallback: &str| {
        model
            .tensors
            .get(i)
            .map(|t| t.ident.clone())
            .unwrap_or_else(|| syn::Ident::new(fallback, proc_macro2::Span::call_site()))
    };
    (name(0, "input"), name(1, "target"))
}

fn validate_body(model: &LossModel) -> TokenStream {
    let krate = &model.krate;
    let checks = model.hypers.iter().filter_map(|h| hyper_check(krate, h));
    quote! {
        #(#checks)*
        ::core::result::Result::Ok(())
    }
}

fn hyper_check(krate: &syn::Path, hyper: &Hyper) -> Option<TokenStream> {
    let field = &hyper.field;
    let name = field.unraw().to_string();
    Some(match hyper.check.as_ref()? {
        Check::Range(range) => {
            let text = compact(range.to_token_stream());
            // Spanned at the user's range, so that a range that does not fit is reported there.
            quote_spanned! { range.span()=>
                #krate::__private::hyper_in_range(Self::NAME, #name, &self.#field, &(#range), #text)?;
            }
        }
        Check::Function(function) => {
            quote! { #krate::checks::hyper_check(Self::NAME, #name, &self.#field, #function)?; }
        }
    })
}

/// The tokens as the user would write them: a space only between two words (`0.0..=1.0`,
/// `-1.0..x as f64`), whatever spacing `to_string` would give.
fn compact(tokens: TokenStream) -> String {
    use proc_macro2::{Delimiter, TokenTree};
    let mut out = String::new();
    let mut previous_word = false;
    for tree in tokens {
        let word = matches!(tree, TokenTree::Ident(_) | TokenTree::Literal(_));
        if word && previous_word {
            out.push(' ');
        }
        match &tree {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                out.push_str(&compact(g.stream()));
                out.push_str(close);
            }
            other => out.push_str(&other.to_string()),
        }
        previous_word = word;
    }
    out
}

fn forward_body(model: &LossModel) -> TokenStream {
    let krate = &model.krate;
    let fn_ident = &model.fn_ident;
    let device_args = model
        .tensors
        .iter()
        .map(|t| {
            let ident = &t.ident;
            let name = ident.unraw().to_string();
            quote!((#name, #ident))
        })
        .chain(model.state.iter().map(|s| {
            let field = &s.field;
            let name = field.unraw().to_string();
            quote!((#name, &self.#field))
        }));
    let tensor_checks = model.tensors.iter().map(|t| tensor_checks(krate, t));
    let usable_checks = model.tensors.iter().map(|t| {
        let ident = &t.ident;
        let name = ident.unraw().to_string();
        quote! { #krate::checks::usable(Self::NAME, #name, #ident)?; }
    });
    let tensor_args: Vec<&syn::Ident> = model.tensors.iter().map(|t| &t.ident).collect();
    let extra_args: Vec<TokenStream> = model
        .extras
        .iter()
        .map(|extra| match extra {
            Extra::Hyper(field) => quote!(::core::clone::Clone::clone(&self.#field)),
            Extra::State(field) => quote!(&self.#field),
        })
        .collect();
    let (input, _) = tensor_names(model);
    // Every differentiable tensor the loss uses: the call-time tensors (the input first), then
    // its own.
    let differentiable: Vec<TokenStream> = tensor_args
        .iter()
        .map(|t| quote!(#t))
        .chain(model.state.iter().map(|s| {
            let field = &s.field;
            quote!(&self.#field)
        }))
        .collect();
    // `a.requires_grad() || b.requires_grad() ...` over `tensors`, `false` for none.
    let any_requires_grad = |tensors: &[TokenStream]| {
        if tensors.is_empty() {
            return quote!(false);
        }
        let checks = tensors
            .iter()
            .map(|t| quote!(#krate::__private::tch::Tensor::requires_grad(#t)));
        quote!(#(#checks)||*)
    };
    let others_need_grad = any_requires_grad(differentiable.get(1..).unwrap_or_default());
    let all_need_grad = any_requires_grad(&differentiable);
    let grad_mode = (model.fused.is_some() || model.backward.is_some()).then(|| {
        quote! { let __focal_grad_mode = #krate::__private::is_grad_enabled(); }
    });
    let fused = model.fused.as_ref().map(|fused| {
        quote! {
            // The kernels compute the input's gradient only: a loss whose other tensors need
            // one takes the composed path.
            if !(__focal_grad_mode && (#others_need_grad)) {
                let __focal_needs_grad =
                    __focal_grad_mode && #krate::__private::tch::Tensor::requires_grad(#input);
                let __focal_fused = #fused(#(#tensor_args,)* #(#extra_args,)* self.reduction, __focal_needs_grad);
                if let ::core::option::Option::Some(__focal_loss) =
                    #krate::__private::fused_result(Self::NAME, __focal_fused, #input, __focal_needs_grad)?
                {
                    return ::core::result::Result::Ok(__focal_loss);
                }
            }
        }
    });
    let backward = model.backward.as_ref().map(|backward| {
        let tensor_count = model.tensors.len();
        let mut state_index = 0usize;
        let mut captures = Vec::new();
        let backward_args: Vec<TokenStream> = model
            .extras
            .iter()
            .enumerate()
            .map(|(i, extra)| match extra {
                Extra::Hyper(field) => {
                    let capture = quote::format_ident!("__focal_hyper_{}", i);
                    captures.push(quote! {
                        let #capture = ::core::clone::Clone::clone(&self.#field);
                    });
                    quote!(::core::clone::Clone::clone(&#capture))
                }
                Extra::State(_) => {
                    let index = proc_macro2::Literal::usize_unsuffixed(tensor_count + state_index);
                    state_index += 1;
                    quote!(&__focal_saved[#index])
                }
            })
            .collect();
        let saved_tensors = (0..tensor_count).map(|i| {
            let i = proc_macro2::Literal::usize_unsuffixed(i);
            quote!(&__focal_saved[#i])
        });
        quote! {
            if __focal_grad_mode && (#all_need_grad) {
                let __focal_value = #krate::__private::tch::no_grad(|| __focal_composed())?;
                #(#captures)*
                let __focal_reduction = self.reduction;
                return #krate::__private::with_backward(
                    Self::NAME,
                    __focal_value,
                    &[#(#differentiable),*],
                    move |__focal_upstream: &#krate::__private::tch::Tensor,
                          __focal_saved: &[#krate::__private::tch::Tensor]| {
                        #backward(__focal_upstream, #(#saved_tensors,)* #(#backward_args,)* __focal_reduction)
                    },
                );
            }
        }
    });
    quote! {
        self.validate()?;
        #(#usable_checks)*
        #krate::checks::same_device(Self::NAME, &[#(#device_args),*])?;
        #(#tensor_checks)*
        #grad_mode
        let __focal_composed = || {
            let output = #krate::__private::IntoLossOutput::into_loss_output(
                #fn_ident(#(#tensor_args,)* #(#extra_args),*)
            )
            .map_err(|err| err.in_loss(Self::NAME))?;
            output.reduce(Self::NAME, self.reduction)
        };
        #fused
        #backward
        __focal_composed()
    }
}

fn tensor_checks(krate: &syn::Path, tensor: &TensorInput) -> TokenStream {
    let ident = &tensor.ident;
    let name = ident.unraw().to_string();
    let dtype = (!tensor.dtypes.is_empty()).then(|| {
        let mut families = tensor.dtypes.iter().map(|d| d.constant());
        let first = families.next();
        let rest = families.map(|f| quote!(.or(#krate::checks::DTypes::#f)));
        quote! { #krate::checks::dtype(Self::NAME, #name, #ident, #krate::checks::DTypes::#first #(#rest)*)?; }
    });
    let shape = tensor.same_shape_as.as_ref().map(|other| {
        let other_name = other.unraw().to_string();
        quote! { #krate::checks::same_shape(Self::NAME, #name, #ident, #other_name, #other)?; }
    });
    quote! { #dtype #shape }
}

#[cfg(test)]
mod tests {
    #[test]
    fn range_text_is_compact() {
        let text = |t: proc_macro2::TokenStream| super::compact(t);
        assert_eq!(text(quote::quote!(0.0..=1.0)), "0.0..=1.0");
        assert_eq!(text(quote::quote!(0.0..)), "0.0..");
        assert_eq!(text(quote::quote!(-1.0..(x as f64))), "-1.0..(x as f64)");
    }
}
