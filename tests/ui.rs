//! The misuse catalogue of `#[loss]`: each `tests/ui/*.rs` must fail to compile with exactly the
//! errors in its `.stderr`. Regenerate with `TRYBUILD=overwrite`, then review every message.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
