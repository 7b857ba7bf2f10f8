#!/usr/bin/env bash
# Builds here, in release, everything the GPU check runs (every test binary but the trybuild UI
# suite, which needs cargo; the loss benchmark; the segmentation demo), and packs it into one
# ignored folder, .gpu-check/: package.tar.gz (stripped binaries, the pure-Python anchors kornia
# and MONAI, a BUILD_INFO line; about 20 MiB) and BUILD_INFO, checked to stay well under the
# device machine's 64 MiB (which the working tree shares). No libtorch: the GPU
# machine has torch 2.11.0, the same version, and run.sh points the binaries at it.
#
#   ./scripts/with-libtorch.sh scripts/gpu-check/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.gpu-check
out="$dest/package"
rm -rf "$dest"
mkdir -p "$out/tests" "$out/bench" "$out/examples" "$out/python"

# Every test executable of the workspace, by target name (the `ui` suite compiles code: it needs
# cargo and stays here).
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
    if t["name"] == "ui" or "bench" in t["kind"]:
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

# The anchors the GPU machine's python3 lacks (torchvision is there): pure Python, without caches.
anchors="$(./scripts/setup-anchors.sh)"
for package in kornia monai; do
  cp -r "$anchors/$package" "$out/python/"
done
find "$out/python" -name __pycache__ -type d -prune -exec rm -rf {} +

echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes') with $(rustc --version | cut -d' ' -f2), $(ls "$out/tests" | wc -l) test binaries" >"$out/BUILD_INFO"
cp "$out/BUILD_INFO" "$dest/BUILD_INFO"
tar czf "$dest/package.tar.gz" -C "$dest" package
rm -rf "$out"
size=$(du -sm "$dest" | cut -f1)
echo "gpu-check: packed $dest ($size MiB): $(cat "$dest/BUILD_INFO")"
if [ "$size" -ge 48 ]; then
  echo "gpu-check: $dest is $size MiB; with the working tree it must stay under 64 MiB" >&2
  exit 1
fi
