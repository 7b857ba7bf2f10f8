//! Fixture files whose tensors are named `case/field`.

use std::collections::BTreeMap;

use tch::Tensor;

/// The tensors of fixture `file` (see [`super::fixtures`]) grouped by case: case -> field ->
/// tensor.
pub fn fixture_cases(file: &str) -> BTreeMap<String, BTreeMap<String, Tensor>> {
    let mut cases: BTreeMap<String, BTreeMap<String, Tensor>> = BTreeMap::new();
    for (key, tensor) in super::fixtures(file) {
        let (case, field) = key.rsplit_once('/').expect("case/field");
        cases
            .entry(case.to_owned())
            .or_default()
            .insert(field.to_owned(), tensor);
    }
    cases
}

/// A case's `config` field: its loss as `LossConfig` JSON, stored as UTF-8 bytes.
pub fn config_json(fields: &BTreeMap<String, Tensor>) -> String {
    let bytes: Vec<u8> = Vec::try_from(&fields["config"]).expect("config bytes");
    String::from_utf8(bytes).expect("utf-8 config")
}
