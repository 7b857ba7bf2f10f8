//! Checks across the parsed pieces: names that would clash, references between parameters.

use std::collections::HashMap;

use syn::ext::IdentExt;

use crate::errors::Errors;
use crate::model::LossModel;

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
    for tensor in &model.tensors {
        let Some(other) = &tensor.same_shape_as else {
            continue;
        };
        if other == &tensor.ident {
            errors.at(
                other,
                format!("`{}` cannot be checked against its own shape", tensor.ident),
            );
        } else if !model.tensors.iter().any(|t| &t.ident == other) {
            let names: Vec<String> = model
                .tensors
                .iter()
                .map(|t| format!("`{}`", t.ident))
                .collect();
            errors.at(
                other,
                format!(
                    "`same_shape_as` names no tensor parameter: expected one of {}",
                    names.join(", ")
                ),
            );
        }
    }
}
