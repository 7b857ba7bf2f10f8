#!/usr/bin/env bash
# Installs libtorch (from the PyPI package torch==$TORCH_VERSION) once per machine, outside the
# repository, in a folder keyed by the torch version, and prints that folder. Idempotent: a
# completed install is reused by every clone and by CI. Two first installs at once (two clones,
# CI beside a session) take turns on a lock: the second finds the first's install complete.
set -euo pipefail
TORCH_VERSION="${TORCH_VERSION:-2.11.0}"
CACHE="${FOCAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/focal}"
DEST="$CACHE/torch-$TORCH_VERSION"
PYTHON="${PYTHON:-python3}"
if [ ! -f "$DEST/.complete" ]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.torch-$TORCH_VERSION.lock"
  flock 9
fi
if [ ! -f "$DEST/.complete" ]; then
  tmp="$(mktemp -d "$CACHE/.torch-$TORCH_VERSION.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "focal: installing torch==$TORCH_VERSION (libtorch) into $DEST, once per machine..." >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --target "$tmp" "torch==$TORCH_VERSION" >&2
  test -f "$tmp/torch/lib/libtorch_cpu.so"
  rm -rf "$DEST"
  mv "$tmp" "$DEST"
  trap - EXIT
  touch "$DEST/.complete"
fi
echo "$DEST"
