//! Reading the function's signature: qualifiers, parameters and return type.

use proc_macro2::Ident;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use super::args::{LossArgs, Register};
use super::param_attrs::{read_param_attrs, ParamAttrs};
use crate::errors::Errors;
use crate::model::{Arg, Extra, Hyper, LossModel, ReductionArg, StateTensor, TensorInput};
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
    let mut call_args = Vec::new();
    let mut reduction_param: Option<Ident> = None;
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
                let first = position == 1;
                let attrs = read_param_attrs(std::mem::take(&mut pat_type.attrs), errors);
                pat_type.attrs = attrs.others.clone();
                let Some(ident) = param_ident(&pat_type.pat, errors) else {
                    continue;
                };
                let ty = &*pat_type.ty;
                let kind = if attrs.state.is_some() {
                    ParamKind::State
                } else if is_tensor_ref(ty) {
                    ParamKind::Tensor { optional: false }
                } else if is_optional_tensor_ref(ty) {
                    ParamKind::Tensor { optional: true }
                } else if let Some((optional, message)) = mistyped_tensor(&ident, ty) {
                    // Reported, and kept as the tensor it is meant to be, so that the stub takes
                    // it and code calling the loss reports nothing more.
                    errors.at(ty, message);
                    ParamKind::Tensor { optional }
                } else if is_reduction(ty) {
                    ParamKind::Reduction
                } else {
                    ParamKind::Hyper
                };
                if first && !matches!(kind, ParamKind::Tensor { .. }) {
                    errors.at(
                        ty,
                        format!(
                            "a loss function takes its input tensor first, `(input: &Tensor, ...)`, found `{ident}: {}`",
                            naming::type_text(ty)
                        ),
                    );
                    continue;
                }
                if first && matches!(kind, ParamKind::Tensor { optional: true }) {
                    errors.at(
                        ty,
                        format!("the input cannot be optional: a loss function takes its input first, `{ident}: &Tensor`"),
                    );
                }
                match kind {
                    ParamKind::Tensor { optional } => {
                        if let Some(t) = tensor_input(ident, optional, attrs, errors) {
                            call_args.push(Arg::Tensor(tensors.len()));
                            tensors.push(t);
                        }
                    }
                    ParamKind::Reduction => {
                        if let Some(r) = reduction_parameter(ident, attrs, &reduction_param, errors)
                        {
                            call_args.push(Arg::Reduction);
                            reduction_param = Some(r);
                        }
                    }
                    _ if mentions_any(ty, &generic_names) => {
                        // Already reported at the generics; the stub cannot name the type.
                    }
                    ParamKind::State => {
                        if let Some(s) = state_tensor(ident, ty, attrs, errors) {
                            extras.push(Extra::State(s.field.clone()));
                            call_args.push(Arg::Extra(Extra::State(s.field.clone())));
                            state.push(s);
                        }
                    }
                    ParamKind::Hyper => {
                        if let Some(h) = hyper(ident, ty, attrs, errors) {
                            extras.push(Extra::Hyper(h.field.clone()));
                            call_args.push(Arg::Extra(Extra::Hyper(h.field.clone())));
                            hypers.push(h);
                        }
                    }
                }
            }
        }
    }
    if position == 0 && !has_receiver {
        errors.at_span(
            function.sig.paren_token.span.join(),
            format!(
                "a loss function takes its input tensor first, `(input: &Tensor, ...)`; `{}` has no parameters",
                function.sig.ident,
            ),
        );
    }
    // `Self::NAME` in the body: the function is free, so `Self` is the struct named here.
    let struct_ident = match args.name {
        Some(name) => name,
        None => derived_struct_name(&function.sig.ident, errors),
    };
    replace_self_name(&mut function.block, &struct_ident);
    let docs = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    let register = args.register.map(|r| match r {
        Register::Named(lit) => lit,
        Register::Derived(span) => syn::LitStr::new(&function.sig.ident.unraw().to_string(), span),
    });
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
        args: call_args,
        extras,
        reduction_param,
        extra_reductions: args.extra_reductions,
        register,
        backward: args.backward,
        fused: args.fused,
        has_receiver,
        function,
    }
}

/// A tensor taken the wrong way (`Tensor`, `&mut Tensor`, `Option<Tensor>`, `Option<&mut
/// Tensor>`): whether it is meant to be optional, and what to write instead.
fn mistyped_tensor(ident: &Ident, ty: &Type) -> Option<(bool, String)> {
    let (optional, inner) = match option_inner(ty) {
        Some(inner) => (true, inner),
        None => (false, ty),
    };
    let wanted = if optional {
        "Option<&Tensor>"
    } else {
        "&Tensor"
    };
    let found = naming::type_text(ty);
    let message = match inner {
        Type::Reference(r) if r.mutability.is_some() && is_tensor(&r.elem) => format!(
            "take `{ident}` as `{wanted}`, not `{found}`: a loss does not modify its arguments"
        ),
        t if is_tensor(t) => format!(
            "take `{ident}` as `{wanted}`, not `{found}`: a tensor given at each call is borrowed; a tensor the loss owns is declared `#[buffer(shape = [..], init = ..)] {ident}: &Tensor`, or `#[param(..)]` where it is learnable"
        ),
        _ => return None,
    };
    Some((optional, message))
}

/// What a parameter is, from its type and attributes.
enum ParamKind {
    Tensor { optional: bool },
    State,
    Reduction,
    Hyper,
}

/// Rewrites `Self::NAME` in the body (outside nested items, where `Self` is theirs) to the struct's
/// constant: the function is free, so `Self` alone would not compile there.
fn replace_self_name(block: &mut syn::Block, struct_ident: &Ident) {
    use syn::visit_mut::VisitMut;
    struct Rewrite<'a>(&'a Ident);
    impl VisitMut for Rewrite<'_> {
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            let is_self_name = path.leading_colon.is_none()
                && path.segments.len() == 2
                && path.segments[0].ident == "Self"
                && path.segments[0].arguments.is_none()
                && path.segments[1].ident == "NAME";
            if is_self_name {
                let span = path.segments[0].ident.span();
                path.segments[0].ident = Ident::new(&self.0.unraw().to_string(), span);
            } else {
                syn::visit_mut::visit_path_mut(self, path);
            }
        }
    }
    Rewrite(struct_ident).visit_block_mut(block);
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

/// `Option<&Tensor>`.
fn is_optional_tensor_ref(ty: &Type) -> bool {
    option_inner(ty).is_some_and(is_tensor_ref)
}

/// `T` of `Option<T>` (any path ending in `Option`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let segment = last_segment(ty)?;
    if segment.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(t)) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// `Reduction` (any path ending in it), the loss's reduction handed to a body that applies it.
fn is_reduction(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Reduction" && s.arguments.is_none())
}

fn is_tensor(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Tensor")
}

/// Whether the type holds a tensor anywhere (`Tensor`, `&mut Tensor`, `Option<Tensor>`,
/// `Vec<Tensor>`).
fn mentions_tensor(ty: &Type) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(i) => i == "Tensor",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// Whether the type is a function or closure (`fn(..)`, `impl Fn(..)`, `Box<dyn Fn(..)>`).
fn is_callable(ty: &Type) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        let trees: Vec<_> = tokens.into_iter().collect();
        trees.iter().enumerate().any(|(i, tree)| match tree {
            proc_macro2::TokenTree::Ident(id) => {
                id == "Fn"
                    || id == "FnMut"
                    || id == "FnOnce"
                    || (id == "fn"
                        && matches!(trees.get(i + 1), Some(proc_macro2::TokenTree::Group(g))
                            if g.delimiter() == proc_macro2::Delimiter::Parenthesis))
            }
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
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
    optional: bool,
    attrs: ParamAttrs,
    errors: &mut Errors,
) -> Option<TensorInput> {
    if let Some((path, _)) = &attrs.hyper {
        errors.at(
            path,
            format!("#[hyper] applies to hyperparameters, not to the tensor argument `{ident}`; use #[tensor(...)] for its checks"),
        );
    }
    let tensor = attrs.tensor.map(|(_, t)| t).unwrap_or_default();
    if tensor.rank.is_some() && (tensor.min_rank.is_some() || tensor.max_rank.is_some()) {
        errors.at(
            &ident,
            format!("`{ident}`: give either `rank` or `min_rank`/`max_rank`, not both"),
        );
    }
    let rank = match (tensor.rank, tensor.min_rank, tensor.max_rank) {
        (None, None, None) => None,
        (Some(r), _, _) => Some((r, r)),
        (None, min, max) => Some((min.unwrap_or(0), max.unwrap_or(usize::MAX))),
    };
    if let Some((min, max)) = rank {
        if min > max {
            errors.at(
                &ident,
                format!("`{ident}`: `min_rank = {min}` is above `max_rank = {max}`"),
            );
        }
    }
    Some(TensorInput {
        ident,
        optional,
        dtypes: tensor.dtypes,
        same_shape_as: tensor.same_shape_as,
        broadcastable_to: tensor.broadcastable_to,
        per_sample: tensor.per_sample,
        rank,
    })
}

/// `reduction: Reduction`: the body applies the reduction itself.
fn reduction_parameter(
    ident: Ident,
    attrs: ParamAttrs,
    previous: &Option<Ident>,
    errors: &mut Errors,
) -> Option<Ident> {
    let misplaced = [
        attrs.hyper.as_ref().map(|(p, _)| p),
        attrs.tensor.as_ref().map(|(p, _)| p),
    ];
    for path in misplaced.into_iter().flatten() {
        errors.at(
            path,
            format!("`{ident}` is the loss's reduction (the `reduction` field, set with `with_reduction`), which takes no attribute: remove it"),
        );
    }
    if let Some(previous) = previous {
        errors.at(
            &ident,
            format!("`{ident}` and `{previous}` both take the loss's reduction: keep one"),
        );
        return None;
    }
    Some(ident)
}

fn hyper(param: Ident, ty: &Type, attrs: ParamAttrs, errors: &mut Errors) -> Option<Hyper> {
    if let Some((path, _)) = &attrs.tensor {
        errors.at(
            path,
            format!("#[tensor] applies to tensor arguments, not to the hyperparameter `{param}`"),
        );
    }
    if is_callable(ty) {
        errors.at(
            ty,
            format!(
                "`{param}: {}` cannot be a hyperparameter: a function is not configuration data (it cannot be compared, printed or loaded from a file); make it an enum of the choices, such as `enum Distance {{ Pairwise, Cosine }}` deriving `Clone, Debug, PartialEq, Default, Serialize, Deserialize`, and match on it in the body",
                naming::type_text(ty)
            ),
        );
        return None;
    }
    if mentions_tensor(ty) {
        errors.at(
            ty,
            format!(
                "`{param}: {}` cannot be a hyperparameter (hyperparameters are plain data: stored, compared and serialized): take a tensor given at each call as `&Tensor`, or `Option<&Tensor>` where it may be left out; make one the loss owns `#[buffer(shape = [..], init = ..)] {param}: &Tensor`, or `#[param(..)]` where it is learnable",
                naming::type_text(ty)
            ),
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
                "#[tensor] applies to tensor arguments given at each call, not to the {kind} tensor `{param}`"
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
