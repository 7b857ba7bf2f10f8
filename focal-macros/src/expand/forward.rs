//! `validate`, `f_forward`, `forward`, `impl DynLoss` and (for `(input, target)` losses)
//! `impl Loss`.
//!
//! Every local the expansion introduces is spanned at `Span::mixed_site()`: the user's tokens
//! (parameter names, expressions) cannot see them, whatever they are called.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::Ident;

use super::stub_body;
use crate::model::{Arg, Check, Extra, Hyper, LossModel, TensorInput};

/// A local of the expansion, out of the user's reach.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The call-time tensors as the generated methods take them: `(names, types)`.
fn tensor_params(model: &LossModel, stub: bool) -> (Vec<Ident>, Vec<TokenStream>) {
    let krate = &model.krate;
    model
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // A stub's bodies do not use the tensors: unused names keep it free of warnings.
            let ident = if stub {
                format_ident!("_tensor{}", i)
            } else {
                t.ident.clone()
            };
            let ty = if t.optional {
                quote!(::core::option::Option<&#krate::__private::tch::Tensor>)
            } else {
                quote!(&#krate::__private::tch::Tensor)
            };
            (ident, ty)
        })
        .unzip()
}

/// Whether the loss takes `(input, target, optional...)`: then it is a two-tensor [`Loss`].
fn is_two_tensor(model: &LossModel) -> bool {
    model.tensors.len() >= 2
        && !model.tensors[0].optional
        && !model.tensors[1].optional
        && model.tensors[2..].iter().all(|t| t.optional)
}

pub(super) fn forward_impls(model: &LossModel, stub: bool) -> TokenStream {
    let LossModel {
        vis,
        struct_ident,
        krate,
        ..
    } = model;
    let tensor_ty = quote!(#krate::__private::tch::Tensor);
    let result_ty = quote!(::core::result::Result<#tensor_ty, #krate::LossError>);
    let (names, types) = tensor_params(model, stub);

    let (validate_body, forward_body) = if stub {
        (stub_body(), stub_body())
    } else {
        (validate_body(model), forward_body(model))
    };
    let fn_ident = &model.fn_ident;
    let forward_doc =
        format!(" Computes the loss, or says why it cannot; runs [`{fn_ident}`] after the checks.");
    let loss_impl = is_two_tensor(model).then(|| {
        let (input, target) = (&names[0], &names[1]);
        let left_out = (2..names.len()).map(|_| quote!(::core::option::Option::None));
        quote! {
            impl #krate::Loss for #struct_ident {
                fn name(&self) -> &'static str {
                    Self::NAME
                }

                fn reduction(&self) -> #krate::Reduction {
                    self.reduction
                }

                fn f_forward(&self, #input: &#tensor_ty, #target: &#tensor_ty) -> #result_ty {
                    #struct_ident::f_forward(self, #input, #target #(, #left_out)*)
                }
            }
        }
    });
    let dyn_impl = dyn_loss_impl(model, stub);
    quote! {
        impl #struct_ident {
            /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
            #vis fn validate(&self) -> ::core::result::Result<(), #krate::LossError> {
                #validate_body
            }

            #[doc = #forward_doc]
            #vis fn f_forward(&self, #(#names: #types),*) -> #result_ty {
                #forward_body
            }

            /// Computes the loss.
            ///
            /// # Panics
            /// With the error's message where [`f_forward`](Self::f_forward) fails.
            #[track_caller]
            #vis fn forward(&self, #(#names: #types),*) -> #tensor_ty {
                match self.f_forward(#(#names),*) {
                    ::core::result::Result::Ok(loss) => loss,
                    ::core::result::Result::Err(err) => ::core::panic!("{}", err),
                }
            }

            /// The loss's name, as its error messages give it.
            #vis fn name(&self) -> &'static str {
                Self::NAME
            }
        }

        #dyn_impl
        #loss_impl
    }
}

/// `impl DynLoss`: the loss called with a slice of tensors, checked against its arguments.
fn dyn_loss_impl(model: &LossModel, stub: bool) -> TokenStream {
    let LossModel {
        struct_ident,
        krate,
        ..
    } = model;
    let tensor_ty = quote!(#krate::__private::tch::Tensor);
    let result_ty = quote!(::core::result::Result<#tensor_ty, #krate::LossError>);
    let args = model.tensors.iter().map(|t| {
        let name = t.ident.unraw().to_string();
        let optional = t.optional;
        quote!(#krate::TensorArg { name: #name, optional: #optional })
    });
    let count = model.tensors.len();
    let slots: Vec<Ident> = (0..count)
        .map(|i| format_ident!("__focal_tensor{}", i))
        .collect();
    let slots: Vec<Ident> = slots.iter().map(|s| local(&s.to_string())).collect();
    let tensors = local("__focal_tensors");
    let body = if stub {
        stub_body()
    } else {
        let required = model
            .tensors
            .iter()
            .zip(&slots)
            .filter(|(t, _)| !t.optional)
            .map(|(_, slot)| {
                quote! {
                    let ::core::option::Option::Some(#slot) = #slot else {
                        return ::core::result::Result::Err(#krate::__private::missing_argument(Self::NAME));
                    };
                }
            });
        quote! {
            let [#(#slots),*] = #krate::__private::check_arguments::<#count>(
                Self::NAME,
                #krate::DynLoss::tensor_args(self),
                #tensors,
            )?;
            #(#required)*
            #struct_ident::f_forward(self, #(#slots),*)
        }
    };
    let as_loss = if is_two_tensor(model) {
        quote!(::core::option::Option::Some(self))
    } else {
        quote!(::core::option::Option::None)
    };
    quote! {
        impl #krate::DynLoss for #struct_ident {
            fn name(&self) -> &'static str {
                Self::NAME
            }

            fn reduction(&self) -> #krate::Reduction {
                self.reduction
            }

            fn tensor_args(&self) -> &'static [#krate::TensorArg] {
                &[#(#args),*]
            }

            fn f_forward_tensors(
                &self,
                #tensors: &[::core::option::Option<&#tensor_ty>],
            ) -> #result_ty {
                #body
            }

            fn as_loss(&self) -> ::core::option::Option<&dyn #krate::Loss> {
                #as_loss
            }
        }
    }
}

fn validate_body(model: &LossModel) -> TokenStream {
    let krate = &model.krate;
    let checks = model.hypers.iter().filter_map(|h| hyper_check(krate, h));
    quote! {
        #krate::__private::check_reduction(Self::NAME, self.reduction, Self::REDUCTIONS)?;
        #(#checks)*
        ::core::result::Result::Ok(())
    }
}

fn hyper_check(krate: &syn::Path, hyper: &Hyper) -> Option<TokenStream> {
    let field = &hyper.field;
    let name = field.unraw().to_string();
    Some(match hyper.check.as_ref()? {
        Check::Range { value, text, span } => {
            // Spanned at the user's range, so that a range that does not fit is reported there.
            quote_spanned! { *span=>
                #krate::__private::hyper_in_range(Self::NAME, #name, &self.#field, &(#value), #text)?;
            }
        }
        Check::Function(function) => {
            quote! { #krate::checks::hyper_check(Self::NAME, #name, &self.#field, #function)?; }
        }
    })
}

/// The tensor as an `Option<&Tensor>` expression (a required one wrapped in `Some`).
fn as_option(tensor: &TensorInput) -> TokenStream {
    let ident = &tensor.ident;
    if tensor.optional {
        quote!(#ident)
    } else {
        quote!(::core::option::Option::Some(#ident))
    }
}

fn forward_body(model: &LossModel) -> TokenStream {
    let krate = &model.krate;
    let fn_ident = &model.fn_ident;
    let tensor_ty = quote!(#krate::__private::tch::Tensor);
    let present = local("__focal_present");
    let usable_checks = model.tensors.iter().map(|t| {
        let ident = &t.ident;
        let name = ident.unraw().to_string();
        if t.optional {
            quote! {
                if let ::core::option::Option::Some(#present) = #ident {
                    #krate::checks::usable(Self::NAME, #name, #present)?;
                }
            }
        } else {
            quote! { #krate::checks::usable(Self::NAME, #name, #ident)?; }
        }
    });
    let device_check = device_check(model);
    let tensor_checks: Vec<TokenStream> = model
        .tensors
        .iter()
        .map(|t| tensor_checks(krate, model, t))
        .collect();
    let tensor_args: Vec<&Ident> = model.tensors.iter().map(|t| &t.ident).collect();
    let call_args: Vec<TokenStream> = model
        .args
        .iter()
        .map(|arg| match arg {
            Arg::Tensor(i) => {
                let ident = &model.tensors[*i].ident;
                quote!(#ident)
            }
            Arg::Extra(Extra::Hyper(field)) => quote!(::core::clone::Clone::clone(&self.#field)),
            Arg::Extra(Extra::State(field)) => quote!(&self.#field),
            Arg::Reduction => quote!(self.reduction),
        })
        .collect();
    let input = &model.tensors[0].ident;
    // Every differentiable tensor the loss uses, `None` for a left-out optional one: the
    // call-time tensors (the input first), then its own.
    let differentiable: Vec<TokenStream> = model
        .tensors
        .iter()
        .map(as_option)
        .chain(model.state.iter().map(|s| {
            let field = &s.field;
            quote!(::core::option::Option::Some(&self.#field))
        }))
        .collect();
    // Whether each differentiable tensor requires a gradient, in the order of `differentiable`.
    let requires_grad: Vec<TokenStream> = model
        .tensors
        .iter()
        .map(|t| {
            let ident = &t.ident;
            if t.optional {
                quote!(::core::option::Option::is_some_and(#ident, #krate::__private::tch::Tensor::requires_grad))
            } else {
                quote!(#krate::__private::tch::Tensor::requires_grad(#ident))
            }
        })
        .chain(model.state.iter().map(|s| {
            let field = &s.field;
            quote!(#krate::__private::tch::Tensor::requires_grad(&self.#field))
        }))
        .collect();
    let needs_grad = |checks: &[TokenStream]| {
        if checks.is_empty() {
            quote!(false)
        } else {
            quote!(#(#checks)||*)
        }
    };
    let others_need_grad = needs_grad(requires_grad.get(1..).unwrap_or_default());
    let all_need_grad = needs_grad(&requires_grad);
    let grad_mode = local("__focal_grad_mode");
    let composed = local("__focal_composed");
    let output = local("__focal_output");
    let err = local("__focal_err");
    let grad_mode_let = (model.fused.is_some() || model.backward.is_some()).then(|| {
        quote! { let #grad_mode = #krate::__private::is_grad_enabled(); }
    });
    let fused = model.fused.as_ref().map(|fused| {
        let kernel_needs_grad = local("__focal_needs_grad");
        let kernel_result = local("__focal_fused");
        let loss = local("__focal_loss");
        let kernel = local("__focal_kernel");
        // The kernel as a function pointer of the expected signature: a kernel with another
        // signature fails here, at its path, with the signature it should have.
        let kernel_tensors = model.tensors.iter().map(|t| {
            if t.optional {
                quote!(::core::option::Option<&#tensor_ty>)
            } else {
                quote!(&#tensor_ty)
            }
        });
        let kernel_ty = quote_spanned! {fused.span()=>
            fn(&Self, #(#kernel_tensors,)* bool) -> ::core::result::Result<
                ::core::option::Option<#krate::Fused>,
                #krate::LossError,
            >
        };
        quote! {
            // The kernels compute the input's gradient only: a loss whose other tensors need
            // one takes the composed path.
            if !(#grad_mode && (#others_need_grad)) {
                let #kernel_needs_grad =
                    #grad_mode && #krate::__private::tch::Tensor::requires_grad(#input);
                #[allow(clippy::type_complexity)]
                let #kernel: #kernel_ty = #fused;
                let #kernel_result = #kernel(self, #(#tensor_args,)* #kernel_needs_grad);
                if let ::core::option::Option::Some(#loss) =
                    #krate::__private::fused_result(Self::NAME, #kernel_result, #input, #kernel_needs_grad)?
                {
                    return ::core::result::Result::Ok(#loss);
                }
            }
        }
    });
    let backward = model.backward.as_ref().map(|backward| {
        let tensor_count = model.tensors.len();
        let saved = local("__focal_saved");
        let upstream = local("__focal_upstream");
        let value = local("__focal_value");
        let reduction = local("__focal_reduction");
        let mut state_index = 0usize;
        let mut captures = Vec::new();
        let backward_args: Vec<TokenStream> = model
            .extras
            .iter()
            .enumerate()
            .map(|(i, extra)| match extra {
                Extra::Hyper(field) => {
                    let capture = local(&format!("__focal_hyper_{i}"));
                    captures.push(quote! {
                        let #capture = ::core::clone::Clone::clone(&self.#field);
                    });
                    quote!(::core::clone::Clone::clone(&#capture))
                }
                Extra::State(_) => {
                    let index = proc_macro2::Literal::usize_unsuffixed(tensor_count + state_index);
                    state_index += 1;
                    quote!(&#saved[#index])
                }
            })
            .collect();
        let saved_tensors = model.tensors.iter().enumerate().map(|(i, t)| {
            let i = proc_macro2::Literal::usize_unsuffixed(i);
            if t.optional {
                quote!(#krate::__private::saved_optional(&#saved[#i]))
            } else {
                quote!(&#saved[#i])
            }
        });
        quote! {
            if #grad_mode && (#all_need_grad) {
                let #value = #krate::__private::tch::no_grad(|| #composed())?;
                #(#captures)*
                let #reduction = self.reduction;
                return #krate::__private::with_backward(
                    Self::NAME,
                    #value,
                    &[#(#differentiable),*],
                    move |#upstream: &#tensor_ty, #saved: &[#tensor_ty]| {
                        #backward(#upstream, #(#saved_tensors,)* #(#backward_args,)* #reduction)
                    },
                );
            }
        }
    });
    // A body that takes the reduction has applied it: its result is returned as it is.
    let reduce_with = if model.reduction_param.is_some() {
        quote!(#krate::Reduction::None)
    } else {
        quote!(self.reduction)
    };
    quote! {
        self.validate()?;
        #(#usable_checks)*
        #device_check
        #(#tensor_checks)*
        #grad_mode_let
        let #composed = || -> #krate::__private::CheckedResult {
            let #output = #krate::__private::catch_tch_panics(|| {
                #krate::__private::IntoLossOutput::into_loss_output(#fn_ident(#(#call_args),*))
            })
            .and_then(|#output| #output)
            .map_err(|#err| #err.in_loss(Self::NAME))?;
            #output.reduce(Self::NAME, #reduce_with)
        };
        #fused
        #backward
        #composed()
    }
}

/// Every tensor present (and the loss's own) on one device.
fn device_check(model: &LossModel) -> TokenStream {
    let krate = &model.krate;
    let named = |name: String, tensor: TokenStream| quote!((#name, #tensor));
    let state = model.state.iter().map(|s| {
        let field = &s.field;
        (field.unraw().to_string(), quote!(&self.#field))
    });
    if model.tensors.iter().all(|t| !t.optional) {
        let all = model
            .tensors
            .iter()
            .map(|t| {
                let ident = &t.ident;
                (ident.unraw().to_string(), quote!(#ident))
            })
            .chain(state)
            .map(|(n, t)| named(n, t));
        return quote! { #krate::checks::same_device(Self::NAME, &[#(#all),*])?; };
    }
    let devices = local("__focal_devices");
    let all = model
        .tensors
        .iter()
        .map(|t| (t.ident.unraw().to_string(), as_option(t)))
        .chain(state.map(|(n, t)| (n, quote!(::core::option::Option::Some(#t)))))
        .map(|(n, t)| named(n, t));
    quote! {
        let #devices: ::std::vec::Vec<(&'static str, &#krate::__private::tch::Tensor)> =
            [#(#all),*]
                .into_iter()
                .filter_map(|(name, tensor)| ::core::option::Option::map(tensor, |t| (name, t)))
                .collect();
        #krate::checks::same_device(Self::NAME, &#devices)?;
    }
}

fn tensor_checks(krate: &syn::Path, model: &LossModel, tensor: &TensorInput) -> TokenStream {
    let ident = &tensor.ident;
    let name = ident.unraw().to_string();
    let this = local("__focal_this");
    let other_tensor = local("__focal_other");
    let mut checks = Vec::new();
    if !tensor.dtypes.is_empty() {
        let mut families = tensor.dtypes.iter().map(|d| d.constant());
        let first = families.next();
        let rest = families.map(|f| quote!(.or(#krate::checks::DTypes::#f)));
        checks.push(quote! { #krate::checks::dtype(Self::NAME, #name, #this, #krate::checks::DTypes::#first #(#rest)*)?; });
    }
    let relative = [
        (&tensor.same_shape_as, quote!(same_shape)),
        (&tensor.broadcastable_to, quote!(broadcastable_to)),
    ];
    for (other, check) in relative {
        let Some(other) = other else { continue };
        let Some(reference) = model.tensors.iter().find(|t| &t.ident == other) else {
            continue;
        };
        let other_name = other.unraw().to_string();
        let other_option = as_option(reference);
        checks.push(quote! {
            if let ::core::option::Option::Some(#other_tensor) = #other_option {
                #krate::checks::#check(Self::NAME, #name, #this, #other_name, #other_tensor)?;
            }
        });
    }
    if tensor.per_sample.is_some() {
        let input = &model.tensors[0].ident;
        let input_name = input.unraw().to_string();
        checks.push(
            quote! { #krate::checks::per_sample(Self::NAME, #name, #this, #input_name, #input)?; },
        );
    }
    if let Some((min, max)) = tensor.rank {
        let max = if max == usize::MAX {
            quote!(::core::primitive::usize::MAX)
        } else {
            quote!(#max)
        };
        checks.push(quote! { #krate::checks::rank(Self::NAME, #name, #this, #min, #max)?; });
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    if tensor.optional {
        quote! {
            if let ::core::option::Option::Some(#this) = #ident {
                #(#checks)*
            }
        }
    } else {
        quote! {
            {
                let #this = #ident;
                #(#checks)*
            }
        }
    }
}
