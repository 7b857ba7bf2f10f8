#!/bin/sh
# Checks that the fused kernels run no SIMD intrinsic out of line: builds focal-runtime in release
# and fails if its object code calls a function of `core::arch` (for example `_mm512_set1_ps`).
#
# Such a call appears when a kernel passes a closure to a std helper that is not inlined
# (`std::array::from_fn`, `Iterator::map` under `extend`): the closure is compiled without the
# instruction-set level's target features, so each intrinsic inside it becomes a function call.
# It computes the same numbers, only slower (the Dice gradient pass once made 222 such calls, 6%
# of a `DiceLoss` call), so no test sees it; this check does. Run by `make lint`; needs objdump
# (binutils, which the C++ toolchain that builds libtorch's shims brings). x86-64 only: the
# kernels' intrinsics are x86's.
set -eu

case "$(uname -m)" in
x86_64) ;;
*)
    echo "check-inlined-intrinsics: skipped on $(uname -m) (the kernels' intrinsics are x86-64's)"
    exit 0
    ;;
esac

# The rlib cargo reports for focal-runtime (not a stale one of another hash in target/).
rlib=$(cargo build --release -p focal-runtime --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "focal_runtime":
        print(*[f for f in msg["filenames"] if f.endswith(".rlib")])
')
if [ -z "$rlib" ]; then
    echo "check-inlined-intrinsics: cargo reported no rlib for focal-runtime" >&2
    exit 1
fi

# In an unlinked object a call's target is a relocation naming the callee.
calls=$(objdump -dr "$rlib" | grep -E 'R_X86_64_[A-Z0-9_]+[[:space:]].*core_arch' || true)
if [ -n "$calls" ]; then
    count=$(printf '%s\n' "$calls" | wc -l)
    echo "check-inlined-intrinsics: $count calls into core::arch in $rlib, the first:" >&2
    printf '%s\n' "$calls" | head -5 >&2
    echo "A closure passed to a std helper (from_fn, map) inside a kernel is the usual cause." >&2
    exit 1
fi
echo "check-inlined-intrinsics: no call into core::arch in $(basename "$rlib")"
