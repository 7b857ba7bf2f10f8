//! "Did you mean" hints for misspelt keys.

/// The candidate closest to `found` if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(found: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(found, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The message for an unknown key: what was found, the hint, and every valid key.
pub(crate) fn unknown_key(what: &str, found: &str, candidates: &[&str]) -> String {
    let valid = candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match closest(found, candidates) {
        Some(hint) => format!("unknown {what} `{found}`: did you mean `{hint}`? (valid: {valid})"),
        None => format!("unknown {what} `{found}` (valid: {valid})"),
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            prev = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_transpositions_and_typos() {
        assert_eq!(
            super::closest("defualt", &["default", "check"]),
            Some("default")
        );
        assert_eq!(super::closest("chek", &["default", "check"]), Some("check"));
        assert_eq!(super::closest("zzzzzz", &["default", "check"]), None);
    }
}
