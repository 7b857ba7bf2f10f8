//! Names derived from the user's identifiers.

use proc_macro2::Ident;
use syn::ext::IdentExt;

/// `smooth_l1` -> `SmoothL1`, `focal` -> `Focal`.
pub(crate) fn upper_camel(ident: &Ident) -> String {
    let name = ident.unraw().to_string();
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The field a hyperparameter becomes: its name without leading underscores (`_gamma` -> `gamma`).
pub(crate) fn field_name(ident: &Ident) -> Option<Ident> {
    let raw = ident.to_string();
    let (prefix, name) = match raw.strip_prefix("r#") {
        Some(rest) => ("r#", rest),
        None => ("", raw.as_str()),
    };
    let trimmed = name.trim_start_matches('_');
    if trimmed.is_empty() {
        return None;
    }
    syn::parse_str::<Ident>(&format!("{prefix}{trimmed}"))
        .ok()
        .or_else(|| syn::parse_str::<Ident>(&format!("r#{trimmed}")).ok())
        .map(|mut i| {
            i.set_span(ident.span());
            i
        })
}

/// A type as users write it (`Result<Tensor, String>`), not as `to_string` spaces it.
pub(crate) fn type_text(ty: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" ::", "::")
        .replace(":: ", "::")
}

/// The builder of a field: `with_gamma`.
pub(crate) fn builder_name(field: &Ident) -> Ident {
    Ident::new(&format!("with_{}", field.unraw()), field.span())
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    #[test]
    fn camel_cases_snake_names() {
        assert_eq!(
            upper_camel(&Ident::new("smooth_l1", Span::call_site())),
            "SmoothL1"
        );
        assert_eq!(
            upper_camel(&Ident::new("focal_loss", Span::call_site())),
            "FocalLoss"
        );
        assert_eq!(
            upper_camel(&Ident::new_raw("loop", Span::call_site())),
            "Loop"
        );
    }

    #[test]
    fn fields_drop_leading_underscores() {
        let f = field_name(&Ident::new("_gamma", Span::call_site())).unwrap();
        assert_eq!(f.to_string(), "gamma");
        assert!(field_name(&Ident::new("_", Span::call_site())).is_none());
        assert_eq!(
            builder_name(&Ident::new_raw("type", Span::call_site())).to_string(),
            "with_type"
        );
    }
}
