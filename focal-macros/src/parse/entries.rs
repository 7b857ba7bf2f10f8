//! `key = value, flag, ...` lists, as in `#[loss(...)]`, `#[hyper(...)]` and `#[tensor(...)]`.
//!
//! Parsing recovers at each comma, so every bad entry of a list is reported, not just the first.

use proc_macro2::{Ident, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Token};

use crate::errors::Errors;
use crate::suggest;

/// One entry: `key` alone (a flag) or `key = value`.
pub(crate) struct Entry {
    pub(crate) key: Ident,
    pub(crate) value: Option<Expr>,
}

/// Parses a comma-separated list of entries, recording syntax errors and skipping the bad entry.
pub(crate) fn parse_entries(tokens: TokenStream, errors: &mut Errors) -> Vec<Entry> {
    let mut entries = Vec::new();
    let parser = |input: ParseStream| {
        while !input.is_empty() {
            let key = match input.call(Ident::parse_any) {
                Ok(key) => key,
                Err(e) => {
                    errors.push(syn::Error::new(
                        e.span(),
                        "expected `key = value` or a flag",
                    ));
                    skip_past_comma(input);
                    continue;
                }
            };
            let mut value = None;
            if input.peek(Token![=]) {
                let _: Token![=] = input.parse()?;
                if let Some(range) = exclusive_range(input) {
                    entries.push(Entry {
                        key,
                        value: Some(Expr::Verbatim(range)),
                    });
                    if input.is_empty() {
                        break;
                    }
                    if let Err(e) = input.parse::<Token![,]>() {
                        errors.push(syn::Error::new(e.span(), "expected `,` between entries"));
                        skip_past_comma(input);
                    }
                    continue;
                }
                match input.parse::<Expr>() {
                    Ok(v) => value = Some(v),
                    Err(e) => {
                        errors.push(syn::Error::new(
                            e.span(),
                            format!("expected a value after `{key} =`"),
                        ));
                        skip_past_comma(input);
                        entries.push(Entry { key, value: None });
                        continue;
                    }
                }
            }
            entries.push(Entry { key, value });
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                errors.push(syn::Error::new(e.span(), "expected `,` between entries"));
                skip_past_comma(input);
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    entries
}

/// A value written as a range with an exclusive lower bound, `0.0<..` or `0.0<..=1.0`, which is
/// no Rust expression: its tokens up to the next comma, taken from `input`, for the check to read.
fn exclusive_range(input: ParseStream) -> Option<TokenStream> {
    use proc_macro2::TokenTree;
    let is_comma = |tt: &TokenTree| matches!(tt, TokenTree::Punct(p) if p.as_char() == ',');
    let mut tokens = Vec::new();
    let mut cursor = input.cursor();
    while let Some((tt, next)) = cursor.token_tree() {
        if is_comma(&tt) {
            break;
        }
        tokens.push(tt);
        cursor = next;
    }
    let is_dot =
        |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == '.');
    let exclusive = tokens.iter().enumerate().any(|(i, t)| {
        matches!(t, TokenTree::Punct(p) if p.as_char() == '<')
            && is_dot(tokens.get(i + 1))
            && is_dot(tokens.get(i + 2))
    });
    if !exclusive {
        return None;
    }
    let count = tokens.len();
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        for _ in 0..count {
            if let Some((_, next)) = rest.token_tree() {
                rest = next;
            }
        }
        Ok(((), rest))
    });
    Some(tokens.into_iter().collect())
}

fn skip_past_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}

/// Tracks which keys of a list were seen, to report duplicates and unknown keys.
pub(crate) struct KeySet {
    what: &'static str,
    valid: &'static [&'static str],
    seen: Vec<String>,
}

impl KeySet {
    pub(crate) fn new(what: &'static str, valid: &'static [&'static str]) -> Self {
        KeySet {
            what,
            valid,
            seen: Vec::new(),
        }
    }

    /// The key's name if it is valid and new; records an error otherwise.
    pub(crate) fn accept(&mut self, key: &Ident, errors: &mut Errors) -> Option<String> {
        let name = key.unraw().to_string();
        if !self.valid.contains(&name.as_str()) {
            errors.at(key, suggest::unknown_key(self.what, &name, self.valid));
            return None;
        }
        if self.seen.contains(&name) {
            errors.at(key, format!("duplicate key `{name}`: give it once"));
            return None;
        }
        self.seen.push(name.clone());
        Some(name)
    }
}

/// The value of `key = value`, or an error that it is missing.
pub(crate) fn require_value<'a>(
    entry: &'a Entry,
    errors: &mut Errors,
    expected: &str,
) -> Option<&'a Expr> {
    if entry.value.is_none() {
        errors.at(
            &entry.key,
            format!(
                "`{}` needs a value: `{} = {expected}`",
                entry.key, entry.key
            ),
        );
    }
    entry.value.as_ref()
}

/// An error if a flag was given a value.
pub(crate) fn forbid_value(entry: &Entry, errors: &mut Errors) {
    if let Some(value) = &entry.value {
        errors.at(
            value,
            format!("`{}` is a flag and takes no value", entry.key),
        );
    }
}
