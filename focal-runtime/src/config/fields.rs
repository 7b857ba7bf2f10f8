//! Reading a loss's fields from a configuration map, with errors that name the field and keep
//! long values short.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A `{"type": name, fields...}` map, split: the name and the other fields.
pub(crate) fn split_type(
    mut map: Map<String, Value>,
) -> Result<(String, Map<String, Value>), String> {
    match map.remove("type") {
        Some(Value::String(name)) => Ok((name, map)),
        Some(other) => Err(format!(
            "type: expected the loss's name as a string, found {}",
            shorten(&other.to_string())
        )),
        None => Err("missing field `type` (the loss's name, such as \"focal\")".to_owned()),
    }
}

/// The loss `T` from its fields; an error names the field (`gamma: invalid type: ...`).
pub(crate) fn from_fields<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|err| {
        let path = err.path().to_string();
        let inner = shorten(&err.into_inner().to_string());
        // An unknown field's message names it already.
        if path == "." || path.is_empty() || inner.starts_with("unknown field") {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

pub(crate) use crate::error::shorten;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut() {
        let long = "7".repeat(1000);
        let short = shorten(&long);
        assert!(short.ends_with("... (920 more characters)"), "{short}");
        assert_eq!(shorten("[1.0, 2.0]"), "[1.0, 2.0]");
    }
}
