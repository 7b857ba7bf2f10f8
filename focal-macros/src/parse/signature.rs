//! Reading the function's signature: qualifiers, parameters and return type.

use proc_macro2::Ident;
use quote::ToTokens;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use super::args::LossArgs;
use super::param_attrs::{read_param_attrs, ParamAttrs};
use crate::errors::Errors;
use crate::model::{Extra, Hyper, LossModel, ReductionArg, StateTensor, TensorInput};
use crate::naming;

const RETURN_HELP: &str =
    "a loss function returns `Tensor`, `LossOutput`, `Result<Tensor, LossError>` or `Result<LossOutput, LossError>`";

/// Reads the function into a model; parts that could not be read are left out (and reported).
pub(super) fn read_function(
    mut function: ItemFn,
    args: LossArgs,
    errors: &mut Errors,
) -> LossModel {
    check_qualifiers(&function, errors);
    check_return_type(&function.sig, errors);

    // A `const fn` body cannot run tensor operations: emitting it `const` after the error above
    // would only add errors about its body.
    function.sig.constness = None;

    let generic_names: Vec<String> = function
        .sig
        .generics
        .params
        .iter()
        .map(|p| match p {
            syn::GenericParam::Type(t) => t.ident.to_string(),
            syn::GenericParam::Lifetime(l) => l.lifetime.to_string(),
            syn::GenericParam::Const(c) => c.ident.to_string(),
        })
        .collect();
    let mut tensors = Vec::new();
    let mut hypers = Vec::new();
    let mut state = Vec::new();
    let mut extras = Vec::new();
    let mut has_receiver = false;
    let mut position = 0;
    for arg in function.sig.inputs.iter_mut() {
        match arg {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                errors.at(
                    &*receiver,
                    "a loss function takes no `self`: #[loss] applies to free functions; move the function out of the impl block",
                );
            }
            FnArg::Typed(pat_type) => {
                position += 1;
                let position = position - 1;
                let attrs = read_param_attrs(std::mem::take(&mut pat_type.attrs), errors);
                pat_type.attrs = attrs.others.clone();
                let Some(ident) = param_ident(&pat_type.pat, errors) else {
                    continue;
                };
                if position < 2 {
                    tensors.extend(tensor_input(ident, &pat_type.ty, attrs, position, errors));
                } else if mentions_any(&pat_type.ty, &generic_names) {
                    // Already reported at the generics; the stub cannot name the type.
                    continue;
                } else if attrs.state.is_some() {
                    if let Some(s) = state_tensor(ident, &pat_type.ty, attrs, errors) {
                        extras.push(Extra::State(s.field.clone()));
                        state.push(s);
                    }
                } else if let Some(h) = hyper(ident, &pat_type.ty, attrs, errors) {
                    extras.push(Extra::Hyper(h.field.clone()));
                    hypers.push(h);
                }
            }
        }
    }
    if position < 2 && !has_receiver {
        errors.at_span(
            function.sig.paren_token.span.join(),
            format!(
                "a loss function takes two tensors first, `(input: &Tensor, target: &Tensor, ...)`; `{}` has {} parameter{}",
                function.sig.ident,
                position,
                if position == 1 { "" } else { "s" }
            ),
        );
    }

    let struct_ident = match args.name {
        Some(name) => name,
        None => derived_struct_name(&function.sig.ident, errors),
    };
    let docs = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    LossModel {
        vis: function.vis.clone(),
        fn_ident: function.sig.ident.clone(),
        struct_ident,
        krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::focal)),
        default_reduction: args.reduction.unwrap_or(ReductionArg::Mean),
        docs,
        tensors,
        hypers,
        state,
        extras,
        backward: args.backward,
        fused: args.fused,
        has_receiver,
        function,
    }
}

/// The struct's name from the function's (`smooth_l1` -> `SmoothL1`), or an error where that is
/// no identifier (`fn __`, `fn _1`, `fn self_`).
fn derived_struct_name(fn_ident: &Ident, errors: &mut Errors) -> Ident {
    let camel = naming::upper_camel(fn_ident);
    match syn::parse_str::<Ident>(&camel) {
        Ok(mut ident) => {
            ident.set_span(fn_ident.span());
            ident
        }
        Err(_) => {
            errors.at(
                fn_ident,
                if camel.is_empty() {
                    format!("cannot name the loss's struct after `{fn_ident}`: name it with `#[loss(name = MyLoss)]`")
                } else {
                    format!(
                        "cannot name the loss's struct after `{fn_ident}` (`{camel}` is not an identifier): name it with `#[loss(name = MyLoss)]`"
                    )
                },
            );
            Ident::new("__FocalUnnamedLoss", fn_ident.span())
        }
    }
}

/// Whether `ty` names one of `names` (generic parameters of the function), at any depth.
fn mentions_any(ty: &Type, names: &[String]) -> bool {
    fn walk(tokens: proc_macro2::TokenStream, names: &[String], lifetime: &mut bool) -> bool {
        for tree in tokens {
            match tree {
                proc_macro2::TokenTree::Group(g) => {
                    if walk(g.stream(), names, lifetime) {
                        return true;
                    }
                }
                proc_macro2::TokenTree::Punct(p) => *lifetime = p.as_char() == '\'',
                proc_macro2::TokenTree::Ident(i) => {
                    let name = if std::mem::take(lifetime) {
                        format!("'{i}")
                    } else {
                        i.to_string()
                    };
                    if names.contains(&name) {
                        return true;
                    }
                }
                proc_macro2::TokenTree::Literal(_) => *lifetime = false,
            }
        }
        false
    }
    !names.is_empty() && walk(ty.to_token_stream(), names, &mut false)
}

fn check_qualifiers(function: &ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    if let Some(t) = &sig.constness {
        errors.at(
            t,
            "a loss function cannot be `const`: it runs tensor operations",
        );
    }
    if let Some(t) = &sig.asyncness {
        errors.at(
            t,
            "a loss function cannot be `async`: tensor operations are synchronous",
        );
    }
    if let Some(t) = &sig.unsafety {
        errors.at(
            t,
            "a loss function cannot be `unsafe`: the generated `forward` is safe to call",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi, "a loss function cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        errors.at(
            &sig.generics,
            "a loss function cannot be generic: the struct's fields need concrete types",
        );
    }
    if let Some(w) = &sig.generics.where_clause {
        errors.at(w, "a loss function cannot have a `where` clause");
    }
    if let Some(v) = &sig.variadic {
        errors.at(v, "a loss function cannot be variadic");
    }
}

fn check_return_type(sig: &syn::Signature, errors: &mut Errors) {
    match &sig.output {
        ReturnType::Default => errors.at_span(
            sig.paren_token.span.join(),
            format!("missing return type: {RETURN_HELP}"),
        ),
        ReturnType::Type(_, ty) => {
            if !is_loss_return(ty) {
                errors.at(
                    ty,
                    format!(
                        "unsupported return type `{}`: {RETURN_HELP}",
                        naming::type_text(ty)
                    ),
                );
            }
        }
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Paren(p) => last_segment(&p.elem),
        Type::Group(g) => last_segment(&g.elem),
        _ => None,
    }
}

fn is_elementwise(ty: &Type) -> bool {
    last_segment(ty)
        .is_some_and(|s| (s.ident == "Tensor" || s.ident == "LossOutput") && s.arguments.is_none())
}

fn is_loss_return(ty: &Type) -> bool {
    if is_elementwise(ty) {
        return true;
    }
    let Some(segment) = last_segment(ty) else {
        return false;
    };
    if segment.ident != "Result" {
        return false;
    }
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return false;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    let ok = types.next().is_some_and(is_elementwise);
    let err_ok = match types.next() {
        Some(e) => last_segment(e).is_some_and(|s| s.ident == "LossError"),
        None => true,
    };
    ok && err_ok && types.next().is_none()
}

/// `&Tensor` (any path ending in `Tensor`).
fn is_tensor_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_none() && is_tensor(&r.elem))
}

fn is_tensor(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Tensor")
}

fn mentions_tensor(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_tensor(&r.elem),
        other => is_tensor(other),
    }
}

fn param_ident(pat: &Pat, errors: &mut Errors) -> Option<Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
        other => {
            errors.at(
                other,
                "expected a plain parameter name: each parameter of a loss becomes an argument or a field, so patterns cannot be used",
            );
            None
        }
    }
}

fn tensor_input(
    ident: Ident,
    ty: &Type,
    attrs: ParamAttrs,
    position: usize,
    errors: &mut Errors,
) -> Option<TensorInput> {
    let role = if position == 0 { "input" } else { "target" };
    if let Some((path, _)) = &attrs.hyper {
        errors.at(
            path,
            format!("#[hyper] applies to hyperparameters, not to the tensor {role} `{ident}`; use #[tensor(...)] for its checks"),
        );
    }
    if let Some((path, _)) = &attrs.state {
        errors.at(
            path,
            format!("#[param] and #[buffer] apply to loss-owned tensors after the input and target, not to the {role} `{ident}`"),
        );
    }
    if !is_tensor_ref(ty) {
        let message = match ty {
            Type::Reference(r) if r.mutability.is_some() && is_tensor(&r.elem) => {
                format!("the {role} must be taken as `&Tensor`, not `&mut Tensor`: a loss does not modify its arguments")
            }
            t if is_tensor(t) => format!("the {role} must be taken by reference, `&Tensor`, not by value"),
            _ => format!(
                "expected the {role} tensor here: a loss function takes `(input: &Tensor, target: &Tensor, hyperparameters...)`, found `{}`",
                naming::type_text(ty)
            ),
        };
        errors.at(ty, message);
        return None;
    }
    let tensor = attrs.tensor.map(|(_, t)| t).unwrap_or_default();
    Some(TensorInput {
        ident,
        dtypes: tensor.dtypes,
        same_shape_as: tensor.same_shape_as,
    })
}

fn hyper(param: Ident, ty: &Type, attrs: ParamAttrs, errors: &mut Errors) -> Option<Hyper> {
    if let Some((path, _)) = &attrs.tensor {
        errors.at(path, format!("#[tensor] applies to the input and target tensors, not to the hyperparameter `{param}`"));
    }
    if mentions_tensor(ty) {
        errors.at(
            ty,
            format!("`{param}`: a loss takes two tensor arguments, input and target; make a tensor the loss owns `#[param(shape = [..], init = ..)]` (learnable) or `#[buffer(..)]`, or pass plain data such as `Vec<f64>`"),
        );
        return None;
    }
    if let Err(message) = owned_type(ty) {
        errors.at(ty, format!("hyperparameter `{param}` {message}"));
        return None;
    }
    let Some(field) = naming::field_name(&param) else {
        errors.at(
            &param,
            "a hyperparameter needs a name: `_` cannot become a field",
        );
        return None;
    };
    let hyper_attr = attrs.hyper.map(|(_, h)| h).unwrap_or_default();
    Some(Hyper {
        param,
        field,
        ty: ty.clone(),
        docs: attrs.docs,
        default: hyper_attr.default,
        check: hyper_attr.check,
    })
}

/// Hyperparameters are stored in the struct, so their types must be owned and nameable.
fn owned_type(ty: &Type) -> Result<(), &'static str> {
    match ty {
        Type::Reference(_) => {
            Err("is stored in the struct, so it must be an owned type (`Vec<f64>`, not `&[f64]`)")
        }
        Type::ImplTrait(_) => {
            Err("is stored in the struct, so its type must be named, not `impl Trait`")
        }
        Type::Infer(_) => Err("needs a type"),
        Type::Never(_) => Err("cannot have the type `!`"),
        Type::BareFn(_)
        | Type::TraitObject(_)
        | Type::Ptr(_)
        | Type::Macro(_)
        | Type::Verbatim(_) => {
            Err("must be plain data (numbers, bools, `Option`s, `Vec`s, or your own serde types)")
        }
        _ => Ok(()),
    }
}

fn state_tensor(
    param: Ident,
    ty: &Type,
    attrs: ParamAttrs,
    errors: &mut Errors,
) -> Option<StateTensor> {
    let (path, attr) = attrs.state?;
    let kind = if attr.trainable {
        "#[param]"
    } else {
        "#[buffer]"
    };
    if let Some((hyper_path, _)) = &attrs.hyper {
        errors.at(
            hyper_path,
            format!("`{param}` is a {kind} tensor, not a hyperparameter: remove #[hyper]"),
        );
    }
    if let Some((tensor_path, _)) = &attrs.tensor {
        errors.at(
            tensor_path,
            format!(
                "#[tensor] applies to the input and target, not to the {kind} tensor `{param}`"
            ),
        );
    }
    if !is_tensor_ref(ty) {
        errors.at(
            ty,
            format!(
                "a {kind} tensor is taken as `&Tensor`, found `{}`",
                naming::type_text(ty)
            ),
        );
        return None;
    }
    let Some(field) = naming::field_name(&param) else {
        errors.at(
            &path,
            "a loss-owned tensor needs a name: `_` cannot become a field",
        );
        return None;
    };
    Some(StateTensor {
        param,
        field,
        trainable: attr.trainable,
        shape: attr.shape,
        init: attr.init,
        docs: attrs.docs,
    })
}
