#!/usr/bin/env bash
# Installs the anchor libraries the parity fixtures are generated from (torchvision, kornia,
# MONAI and what they need) once per machine, outside the repository, in a folder keyed by their
# versions, and prints that folder. Idempotent. torch itself is not installed here: it comes from
# the libtorch install (setup-libtorch.sh) on PYTHONPATH, so every anchor is installed with
# --no-deps and its real run-time dependencies are listed explicitly below.
set -euo pipefail
TORCHVISION_VERSION="${TORCHVISION_VERSION:-0.26.0}"
KORNIA_VERSION="${KORNIA_VERSION:-0.9.0}"
MONAI_VERSION="${MONAI_VERSION:-1.6.1}"
# Dependencies: torchvision (numpy, pillow), kornia (kornia-rs, numpy), MONAI (numpy).
DEPS=("numpy==2.3.5" "pillow==12.0.0" "kornia-rs==0.2.0")
CACHE="${FOCAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/focal}"
KEY="tv$TORCHVISION_VERSION-kornia$KORNIA_VERSION-monai$MONAI_VERSION"
DEST="$CACHE/anchors-$KEY"
PYTHON="${PYTHON:-python3}"
if [ ! -f "$DEST/.complete" ]; then
  # Two first installs at once take turns: the second finds the first's install complete.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.anchors-$KEY.lock"
  flock 9
fi
if [ ! -f "$DEST/.complete" ]; then
  tmp="$(mktemp -d "$CACHE/.anchors-$KEY.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "focal: installing the fixture anchors ($KEY) into $DEST, once per machine..." >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-deps \
    --target "$tmp" "torchvision==$TORCHVISION_VERSION" "kornia==$KORNIA_VERSION" \
    "monai==$MONAI_VERSION" "${DEPS[@]}" >&2
  test -d "$tmp/torchvision" && test -d "$tmp/kornia" && test -d "$tmp/monai"
  rm -rf "$DEST"
  mv "$tmp" "$DEST"
  trap - EXIT
  touch "$DEST/.complete"
fi
echo "$DEST"
