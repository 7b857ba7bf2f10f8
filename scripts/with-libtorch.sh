#!/usr/bin/env bash
# Runs a command with libtorch installed and found: installs it once per machine (see
# setup-libtorch.sh), points tch's build at it (LIBTORCH), links it as ./.libtorch for plain
# `cargo` use (see .cargo/config.toml), and puts its libraries on LD_LIBRARY_PATH for doctests.
# An exported LIBTORCH (a libtorch folder with lib/ and include/) is used as it is instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${LIBTORCH:-}" ]; then
  if [ ! -d "$LIBTORCH/lib" ]; then
    echo "focal: LIBTORCH=$LIBTORCH has no lib/ folder" >&2
    exit 1
  fi
else
  dest="$("$root/scripts/setup-libtorch.sh")"
  ln -sfn "$dest" "$root/.libtorch"
  export LIBTORCH="$dest/torch"
fi
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
