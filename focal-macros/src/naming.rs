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
    tokens_text(&quote::ToTokens::to_token_stream(ty))
}

/// Tokens as users write them, the one printer for docs and errors: a space between two words
/// and after a comma, around `->` and `=>`, none elsewhere (`0.0..=1.0`, `-1.0`, `Vec<f64>`,
/// `Result<Tensor, String>`, `x as f64`).
pub(crate) fn tokens_text(tokens: &proc_macro2::TokenStream) -> String {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let mut out = String::new();
    let mut previous_word = false;
    let mut trees = tokens.clone().into_iter().peekable();
    while let Some(tree) = trees.next() {
        let word = matches!(tree, TokenTree::Ident(_) | TokenTree::Literal(_));
        if word && previous_word {
            out.push(' ');
        }
        previous_word = word;
        match &tree {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                out.push_str(&tokens_text(&g.stream()));
                out.push_str(close);
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let next = match trees.peek() {
                    Some(TokenTree::Punct(n)) if p.spacing() == Spacing::Joint => Some(n.as_char()),
                    _ => None,
                };
                if (c == '-' || c == '=') && next == Some('>') {
                    trees.next();
                    out.push_str(&format!(" {c}> "));
                } else if c == ',' {
                    out.push_str(", ");
                } else if c == '\'' {
                    // A lifetime: `'a` reads as one word with the identifier that follows.
                    out.push(c);
                    previous_word = false;
                    if let Some(TokenTree::Ident(i)) = trees.peek() {
                        out.push_str(&i.to_string());
                        trees.next();
                        previous_word = true;
                    }
                } else {
                    out.push(c);
                }
            }
            other => out.push_str(&other.to_string()),
        }
    }
    out.trim_end().to_owned()
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
    fn tokens_print_as_written() {
        let text = |t: proc_macro2::TokenStream| tokens_text(&t);
        assert_eq!(text(quote::quote!(0.0..=1.0)), "0.0..=1.0");
        assert_eq!(text(quote::quote!(0.0..)), "0.0..");
        assert_eq!(text(quote::quote!(-1.0)), "-1.0");
        assert_eq!(text(quote::quote!(-1.0..(x as f64))), "-1.0..(x as f64)");
        assert_eq!(
            text(quote::quote!(Result<Tensor, String>)),
            "Result<Tensor, String>"
        );
        assert_eq!(text(quote::quote!(&'a mut Vec<f64>)), "&'a mut Vec<f64>");
        assert_eq!(text(quote::quote!(fn(f64) -> f64)), "fn(f64) -> f64");
        assert_eq!(text(quote::quote!(vec![1.0, 2.0])), "vec![1.0, 2.0]");
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
