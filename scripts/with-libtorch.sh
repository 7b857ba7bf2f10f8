#!/usr/bin/env bash
# Runs a command with libtorch installed and found: installs it once per machine (see
# setup-libtorch.sh), points tch's build at it (LIBTORCH), links it as ./.libtorch for plain
# `cargo` use (see .cargo/config.toml), and puts its libraries on LD_LIBRARY_PATH for doctests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$("$root/scripts/setup-libtorch.sh")"
ln -sfn "$dest" "$root/.libtorch"
export LIBTORCH="$dest/torch"
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
