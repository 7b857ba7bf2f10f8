//! The struct, `Default`, `new` and the `with_*` builders.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::stub_body;
use crate::model::{Hyper, LossModel, StateTensor};
use crate::naming;

pub(super) fn struct_def(model: &LossModel, stub: bool) -> TokenStream {
    let LossModel {
        vis,
        struct_ident,
        krate,
        docs,
        hypers,
        ..
    } = model;
    let struct_docs = if docs.is_empty() {
        let text = format!(
            " The `{}` loss as a module: see [`{}`].",
            model.fn_ident, model.fn_ident
        );
        quote!(#[doc = #text])
    } else {
        quote!(#(#docs)*)
    };
    let reduction_default = model.default_reduction.value(krate);
    let reduction_names: Vec<String> = ["none", "mean", "sum"]
        .iter()
        .map(|n| (*n).to_owned())
        .chain(model.extra_reductions.iter().map(|l| l.value()))
        .collect();
    let reduction_doc = format!(
        " How the elementwise losses are reduced (default: `{}`): one of {}.",
        model.default_reduction.name(),
        reduction_names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let fields = hypers.iter().map(|h| {
        let Hyper {
            field, ty, docs, ..
        } = h;
        let default_doc = match &h.default {
            Some(expr) => format!(
                " Default: `{}`.",
                naming::tokens_text(&expr.to_token_stream())
            ),
            None => " Default: the type's `Default`.".to_owned(),
        };
        let blank = if docs.is_empty() {
            quote!()
        } else {
            quote!(#[doc = ""])
        };
        quote! {
            #(#docs)*
            #blank
            #[doc = #default_doc]
            pub #field: #ty,
        }
    });
    let state_fields = model.state.iter().map(|st| {
        let StateTensor {
            field,
            docs,
            trainable,
            ..
        } = st;
        let kind_doc = if *trainable {
            " A learnable parameter, registered on the `VarStore` path given to `new`."
        } else {
            " A buffer (saved and moved with the `VarStore`, never trained)."
        };
        let blank = if docs.is_empty() {
            quote!()
        } else {
            quote!(#[doc = ""])
        };
        quote! {
            #(#docs)*
            #blank
            #[doc = #kind_doc]
            pub #field: #krate::__private::tch::Tensor,
        }
    });
    let stateful = !model.state.is_empty();
    let serde_path = format!("{}::__private::serde", krate.to_token_stream()).replace(' ', "");
    let unchecked = quote::format_ident!("__FocalUnchecked{}", struct_ident);
    let unchecked_name = unchecked.to_string();
    let derives = if stub {
        quote!()
    } else if stateful {
        quote!(#[derive(::core::fmt::Debug)])
    } else {
        // Deserialized through an unchecked twin, then validated: a bad value fails at load time.
        quote! {
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq,
                     #krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
            #[serde(crate = #serde_path, try_from = #unchecked_name)]
        }
    };
    let checked_deserialize = (!stub && !stateful).then(|| {
        let twin_fields = hypers.iter().map(|h| {
            let Hyper { field, ty, .. } = h;
            quote!(#field: #ty,)
        });
        let moved: Vec<&syn::Ident> = hypers.iter().map(|h| &h.field).collect();
        let path = format!("{struct_ident}::__focal_deserialize_reduction");
        quote! {
            /// The fields of a loss as read from configuration, before validation.
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[derive(#krate::__private::serde::Deserialize)]
            #[serde(crate = #serde_path, default, deny_unknown_fields, rename = #unchecked_name)]
            #vis struct #unchecked {
                #(#twin_fields)*
                #[serde(deserialize_with = #path)]
                reduction: #krate::Reduction,
            }

            impl ::core::default::Default for #unchecked {
                fn default() -> Self {
                    let defaults = <#struct_ident as ::core::default::Default>::default();
                    Self { #(#moved: defaults.#moved,)* reduction: defaults.reduction }
                }
            }

            impl ::core::convert::TryFrom<#unchecked> for #struct_ident {
                type Error = #krate::LossError;

                fn try_from(unchecked: #unchecked) -> ::core::result::Result<Self, Self::Error> {
                    let loss = Self { #(#moved: unchecked.#moved,)* reduction: unchecked.reduction };
                    loss.validate()?;
                    ::core::result::Result::Ok(loss)
                }
            }
        }
    });
    let register = match (&model.register, stub || stateful) {
        (Some(name), false) => Some(quote! {
            #krate::__private::inventory::submit! {
                #krate::__private::Registration::new::<#struct_ident>(#name)
            }
        }),
        _ => None,
    };
    let default_body = if stub {
        stub_body()
    } else {
        let inits = hypers.iter().map(|h| default_init(krate, h));
        quote! { Self { #(#inits,)* reduction: #reduction_default } }
    };
    let f_new_body = if stub {
        stub_body()
    } else {
        let inits = hypers.iter().map(|h| default_init(krate, h));
        let states = model.state.iter().map(|st| state_init(krate, st));
        quote! {
            ::core::result::Result::Ok(Self {
                #(#inits,)*
                #(#states,)*
                reduction: #reduction_default,
            })
        }
    };
    let constructors = if stateful {
        quote! {
            impl #struct_ident {
                /// The loss with its default hyperparameters, its parameters and buffers
                /// registered under `path` (on that `VarStore`'s device).
                #vis fn f_new(path: &#krate::__private::tch::nn::Path) -> ::core::result::Result<Self, #krate::LossError> {
                    #f_new_body
                }

                /// The loss with its default hyperparameters, its parameters and buffers
                /// registered under `path`.
                ///
                /// # Panics
                /// Where [`f_new`](Self::f_new) fails (an initial value of the wrong shape, say).
                #[track_caller]
                #vis fn new(path: &#krate::__private::tch::nn::Path) -> Self {
                    match Self::f_new(path) {
                        ::core::result::Result::Ok(loss) => loss,
                        ::core::result::Result::Err(err) => ::core::panic!("{}", err),
                    }
                }
            }
        }
    } else {
        quote! {
            impl ::core::default::Default for #struct_ident {
                fn default() -> Self {
                    #default_body
                }
            }

            impl #struct_ident {
                /// The loss with its default hyperparameters.
                #vis fn new() -> Self {
                    <Self as ::core::default::Default>::default()
                }
            }
        }
    };
    let builders = hypers.iter().map(|h| {
        let Hyper { field, ty, .. } = h;
        let name = naming::builder_name(field);
        let doc = format!(
            " Sets [`{0}`](Self::{0}).",
            syn::ext::IdentExt::unraw(field)
        );
        quote! {
            #[doc = #doc]
            #[must_use]
            #vis fn #name(mut self, #field: #ty) -> Self {
                self.#field = #field;
                self
            }
        }
    });
    quote! {
        #struct_docs
        #derives
        #vis struct #struct_ident {
            #(#fields)*
            #(#state_fields)*
            #[doc = #reduction_doc]
            pub reduction: #krate::Reduction,
        }

        #checked_deserialize
        #register

        #constructors

        impl #struct_ident {
            /// The loss's name, as its error messages give it.
            pub const NAME: &'static str = ::core::stringify!(#struct_ident);

            /// The names of the reductions this loss accepts.
            pub const REDUCTIONS: &'static [&'static str] = &[#(#reduction_names),*];

            /// The reduction named `name`, if this loss accepts it; the error lists the names it does.
            #vis fn parse_reduction(name: &str) -> ::core::result::Result<#krate::Reduction, #krate::ParseReductionError> {
                #krate::Reduction::parse_among(name, Self::REDUCTIONS)
            }

            #[doc(hidden)]
            #vis fn __focal_deserialize_reduction<'de, D: #krate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<#krate::Reduction, D::Error> {
                #krate::deserialize_among(deserializer, Self::REDUCTIONS)
            }

            #(#builders)*

            /// Sets [`reduction`](Self::reduction).
            #[must_use]
            #vis fn with_reduction(mut self, reduction: #krate::Reduction) -> Self {
                self.reduction = reduction;
                self
            }
        }
    }
}

/// `field: <default>`, spanned at the user's default (or type) so a type error points there.
fn default_init(krate: &syn::Path, hyper: &Hyper) -> TokenStream {
    let Hyper { field, ty, .. } = hyper;
    match &hyper.default {
        Some(expr) => {
            let value = quote_spanned! { expr.span()=> { let __focal_default: #ty = #expr; __focal_default } };
            quote! { #field: #value }
        }
        None => {
            // `HyperDefault` is `Default` with an error that suggests `#[hyper(default = ...)]`.
            let value = quote_spanned! { ty.span()=> <#ty as #krate::__private::HyperDefault>::hyper_default() };
            quote! { #field: #value }
        }
    }
}

/// `field: state_tensor(path, "name", trainable, shape, init)?`, spanned at the user's values.
fn state_init(krate: &syn::Path, state: &StateTensor) -> TokenStream {
    let StateTensor {
        field, trainable, ..
    } = state;
    let name = syn::ext::IdentExt::unraw(field).to_string();
    let shape = match &state.shape {
        Some(shape) => quote_spanned! { shape.span()=>
            ::core::option::Option::Some(::core::convert::Into::<::std::vec::Vec<i64>>::into(#shape))
        },
        None => quote!(::core::option::Option::None),
    };
    let init = match &state.init {
        Some(init) => quote_spanned! { init.span()=>
            ::core::convert::Into::<#krate::StateInit>::into(#init)
        },
        None => quote!(#krate::StateInit::Const(0.0)),
    };
    quote! {
        #field: #krate::__private::state_tensor(path, #name, #trainable, #shape, #init)
            .map_err(|err| err.in_loss(Self::NAME))?
    }
}
