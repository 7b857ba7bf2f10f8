//! The set-up scripts survive two first installs at once: `scripts/setup-libtorch.sh` and
//! `scripts/setup-anchors.sh`, started twice together on an empty cache, install once, leave one
//! complete install (not nested, not deleted), and print the same folder to both callers; an
//! exported `LIBTORCH` is used as it is by `with-libtorch.sh`. The real `pip install` is replaced
//! by a stub (`PYTHON`) that takes a second and writes the files the scripts check for.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository: where this test was built, or `FOCAL_REPO_DIR` where the binary runs
/// elsewhere (the GPU check).
fn repo() -> PathBuf {
    std::env::var_os("FOCAL_REPO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A fresh folder under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("focal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for `python3` that answers `-m pip install ... --target DIR ...` by waiting a
/// second, counting the install in `installs`, and creating what the scripts check for.
fn stub_python(dir: &Path) -> PathBuf {
    let path = dir.join("python-stub");
    let script = r#"#!/usr/bin/env bash
set -euo pipefail
target=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--target" ]; then target="$2"; shift; fi
  shift
done
sleep 1
echo x >>"$(dirname "$0")/installs"
mkdir -p "$target/torch/lib" "$target/torchvision" "$target/kornia" "$target/monai"
touch "$target/torch/lib/libtorch_cpu.so"
"#;
    std::fs::write(&path, script).unwrap();
    Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    path
}

fn twice_at_once(script: &str, cache: &Path, python: &Path) -> [Output; 2] {
    let start = || {
        Command::new(repo().join(script))
            .env("FOCAL_CACHE", cache)
            .env("PYTHON", python)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
}

fn check_one_install(script: &str, marker: &str) {
    let dir = scratch(script.rsplit('/').next().unwrap());
    let python = stub_python(&dir);
    let cache = dir.join("cache");
    let outputs = twice_at_once(script, &cache, &python);
    let printed: Vec<String> = outputs
        .iter()
        .map(|o| {
            assert!(
                o.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        })
        .collect();
    assert_eq!(
        printed[0], printed[1],
        "{script}: both callers get one folder"
    );
    let dest = PathBuf::from(&printed[0]);
    assert!(dest.join(".complete").exists(), "{script}: not complete");
    assert!(
        dest.join(marker).exists(),
        "{script}: {marker} missing (nested or deleted install)"
    );
    let installs = std::fs::read_to_string(dir.join("installs")).unwrap();
    assert_eq!(
        installs.lines().count(),
        1,
        "{script}: installed more than once"
    );
    // No temporary folder is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".torch-2") || n.starts_with(".anchors-tv"))
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{script}: left {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_first_libtorch_installs_at_once_install_once() {
    check_one_install("scripts/setup-libtorch.sh", "torch/lib/libtorch_cpu.so");
}

#[test]
fn two_first_anchor_installs_at_once_install_once() {
    check_one_install("scripts/setup-anchors.sh", "kornia");
}

#[test]
fn an_exported_libtorch_is_used_as_it_is() {
    let dir = scratch("exported-libtorch");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let out = Command::new(repo().join("scripts/with-libtorch.sh"))
        .args(["sh", "-c", "echo \"$LIBTORCH\"; echo \"$LD_LIBRARY_PATH\""])
        .env("LIBTORCH", &dir)
        // An unusable install location: the script must not try to install.
        .env("FOCAL_CACHE", "/nonexistent/focal-cache")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(dir.to_str().unwrap()));
    assert!(lines
        .next()
        .unwrap()
        .starts_with(dir.join("lib").to_str().unwrap()));
    let missing = Command::new(repo().join("scripts/with-libtorch.sh"))
        .args(["true"])
        .env("LIBTORCH", dir.join("nowhere"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("has no lib/ folder"));
    let _ = std::fs::remove_dir_all(&dir);
}
