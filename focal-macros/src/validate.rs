//! Checks across the parsed pieces: names that would clash, references between parameters.

use std::collections::HashMap;

use syn::ext::IdentExt;

use crate::errors::Errors;
use crate::model::{LossModel, ReductionArg};

/// Names of generated items a hyperparameter cannot take.
const RESERVED: &[&str] = &[
    "reduction",
    "new",
    "forward",
    "f_forward",
    "validate",
    "name",
    "default",
    "clone",
];

/// Records every clash and dangling reference of a parsed loss. Hyperparameters that clash are
/// dropped from the model, so that the stub emitted beside the errors declares no field twice.
pub(crate) fn validate(model: &mut LossModel, errors: &mut Errors) {
    let mut fields: HashMap<String, syn::Ident> = HashMap::new();
    let struct_ident = model.struct_ident.clone();
    model.hypers.retain(|hyper| {
        let field = hyper.field.unraw().to_string();
        if RESERVED.contains(&field.as_str()) {
            errors.at(
                &hyper.param,
                format!(
                    "hyperparameter `{field}` would clash with a generated item of `{struct_ident}` (`{}` are reserved): rename it",
                    RESERVED.join("`, `")
                ),
            );
            return false;
        }
        if let Some(previous) = fields.get(&field) {
            errors.at(
                &hyper.param,
                format!("`{}` and `{previous}` would both become the field `{field}`: rename one of them", hyper.param),
            );
            return false;
        }
        fields.insert(field, hyper.param.clone());
        true
    });
    model.state.retain(|state| {
        let field = state.field.unraw().to_string();
        if RESERVED.contains(&field.as_str()) {
            errors.at(
                &state.param,
                format!("`{field}` would clash with a generated item of `{struct_ident}`: rename it"),
            );
            return false;
        }
        if let Some(previous) = fields.get(&field) {
            errors.at(
                &state.param,
                format!("`{}` and `{previous}` would both become the field `{field}`: rename one of them", state.param),
            );
            return false;
        }
        fields.insert(field, state.param.clone());
        true
    });
    let learnable = model.state.iter().find(|s| s.trainable);
    if let (Some(function), Some(p)) = (&model.fused, learnable) {
        errors.at(
            function,
            format!("a `fused` kernel gives the gradient of the input only, so it cannot be combined with the learnable #[param] `{}`: use `backward`, which returns a gradient for every tensor", p.param),
        );
    }
    validate_tensors(model, errors);
    validate_reductions(model, errors);
    if let (Some(name), Some(state)) = (&model.register, model.state.first()) {
        errors.at(
            name,
            format!("a loss with #[param] or #[buffer] tensors (`{}`) is built from a `VarStore` path, not from configuration, so it cannot be registered: remove `register`", state.param),
        );
    }
}

/// `same_shape_as` / `broadcastable_to` name another tensor argument; `per_sample` is relative to
/// the input, so not on the input.
fn validate_tensors(model: &LossModel, errors: &mut Errors) {
    let names: Vec<String> = model
        .tensors
        .iter()
        .map(|t| format!("`{}`", t.ident))
        .collect();
    for tensor in &model.tensors {
        for (key, other) in [
            ("same_shape_as", &tensor.same_shape_as),
            ("broadcastable_to", &tensor.broadcastable_to),
        ] {
            let Some(other) = other else {
                continue;
            };
            if other == &tensor.ident {
                errors.at(
                    other,
                    format!("`{}` cannot be checked against its own shape", tensor.ident),
                );
            } else if !model.tensors.iter().any(|t| &t.ident == other) {
                errors.at(
                    other,
                    format!(
                        "`{key}` names no tensor argument: expected one of {}",
                        names.join(", ")
                    ),
                );
            }
        }
        if let Some(span) = tensor.per_sample {
            if std::ptr::eq(tensor, &model.tensors[0]) {
                errors.at_span(
                    span,
                    format!("`per_sample` checks a tensor against the input's samples; `{}` is the input", tensor.ident),
                );
            }
        }
    }
}

/// The default reduction is one the loss accepts, and a loss with reductions of its own takes
/// the reduction to apply them.
fn validate_reductions(model: &LossModel, errors: &mut Errors) {
    let extra: Vec<String> = model.extra_reductions.iter().map(|l| l.value()).collect();
    if let ReductionArg::Custom(lit) = &model.default_reduction {
        if !extra.contains(&lit.value()) {
            let valid: Vec<String> = ReductionArg::NAMES
                .iter()
                .map(|n| (*n).to_owned())
                .chain(extra.iter().cloned())
                .map(|n| format!("\"{n}\""))
                .collect();
            let hint = if extra.is_empty() {
                format!("; a reduction of the loss's own is declared with `extra_reductions = [\"{}\"]`", lit.value())
            } else {
                String::new()
            };
            errors.at(
                lit,
                format!(
                    "invalid reduction \"{}\": expected one of {}{hint}",
                    lit.value(),
                    valid.join(", ")
                ),
            );
        }
    }
    if let (Some(first), None) = (model.extra_reductions.first(), &model.reduction_param) {
        errors.at(
            first,
            "a loss with reductions of its own applies them in its body: take the reduction as a parameter, `reduction: Reduction`, and reduce the values there (`reduction.apply(..)` does the standard ones)",
        );
    }
}
