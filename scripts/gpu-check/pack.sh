#!/usr/bin/env bash
# Builds here, in release, everything the GPU check runs (every test binary but the trybuild UI
# suite, which needs cargo; the loss benchmark; the segmentation demo), and packs it into one
# ignored folder, .gpu-check/: package.tar.xz (stripped binaries, the pure-Python anchors kornia
# and MONAI, a BUILD_INFO line) and BUILD_INFO, checked to stay well under the device machine's
# 64 MiB (which the working tree shares). The test binaries each hold the same fused kernels:
# xz's 64 MiB window finds them again across the files, where gzip's 32 KiB cannot (on
# 2026-12-01 the 135 MiB package took 14 MiB as .tar.xz, 51 MiB as .tar.gz, which no longer
# fitted; about 50 s to compress). No libtorch: the GPU
# machine has torch 2.11.0, the same version, and run.sh points the binaries at it.
#
#   ./scripts/with-libtorch.sh scripts/gpu-check/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.gpu-check
out="$dest/package"
rm -rf "$dest"
mkdir -p "$out/tests" "$out/bench" "$out/examples" "$out/python"

# Every test executable of the workspace, by target name, but the `ui` suite and the macro's unit
# tests, which need the Rust toolchain and touch no tensor (CI runs them).
cargo test --release --workspace --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if m.get("reason") != "compiler-artifact" or not exe or not m["profile"]["test"]:
        continue
    t = m["target"]
    # ui compiles code (it needs cargo); a proc-macro test links the toolchain libstd.
    if t["name"] == "ui" or "bench" in t["kind"] or "proc-macro" in t["kind"]:
        continue
    name = t["name"] if "test" in t["kind"] else t["name"] + "-" + t["kind"][0]
    print(name, exe)
' | while read -r name exe; do
  cp "$exe" "$out/tests/$name"
done
bench="$(cargo bench --bench losses --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "losses":
        print(m["executable"])')"
cp "$bench" "$out/bench/losses"
demo="$(cargo build --release --example segmentation --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "segmentation":
        print(m["executable"])')"
cp "$demo" "$out/examples/segmentation"
strip --strip-unneeded "$out"/tests/* "$out"/bench/* "$out"/examples/*

# The anchors the GPU machine's python3 (3.12, with torch, torchvision and numpy) lacks: kornia
# and MONAI (pure Python, without caches), and kornia's compiled helper kornia-rs as the
# CPython 3.12 build (python-cp312/, used there only; downloaded once per machine).
anchors="$(./scripts/setup-anchors.sh)"
for package in kornia monai; do
  cp -r "$anchors/$package" "$out/python/"
done
find "$out/python" -name __pycache__ -type d -prune -exec rm -rf {} +
wheels="${FOCAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/focal}/gpu-wheels"
if [ -z "$(ls "$wheels"/kornia_rs-0.2.0-cp312-*.whl 2>/dev/null)" ]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_17_x86_64 \
    -d "$wheels" kornia-rs==0.2.0 >&2 || echo "gpu-check: no kornia-rs wheel for Python 3.12: kornia will be skipped there" >&2
fi
for wheel in "$wheels"/kornia_rs-0.2.0-cp312-*.whl; do
  [ -f "$wheel" ] || continue
  mkdir -p "$out/python-cp312"
  python3 -m zipfile -e "$wheel" "$out/python-cp312/"
done

echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes') with $(rustc --version | cut -d' ' -f2), $(ls "$out/tests" | wc -l) test binaries" >"$out/BUILD_INFO"
cp "$out/BUILD_INFO" "$dest/BUILD_INFO"
# python3's tarfile and lzma (preset 9: the 64 MiB window), so no xz program is needed.
python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1], "w:xz", preset=9) as archive:
    archive.add(sys.argv[2], arcname="package")
' "$dest/package.tar.xz" "$out"
rm -rf "$out"
size=$(du -sm "$dest" | cut -f1)
echo "gpu-check: packed $dest ($size MiB): $(cat "$dest/BUILD_INFO")"
if [ "$size" -ge 48 ]; then
  echo "gpu-check: $dest is $size MiB; with the working tree it must stay under 64 MiB" >&2
  exit 1
fi
