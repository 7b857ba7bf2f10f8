#!/bin/sh
# Checks that the fused kernels run no SIMD intrinsic out of line: builds focal-runtime in release
# and fails if its object code calls a function of `core::arch` (for example `_mm512_set1_ps`),
# or if a kernel compiled with FMA calls `fma`/`fmaf` for a `mul_add`.
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
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
objdump -dr "$rlib" >"$listing"
calls=$(grep -E 'R_X86_64_[A-Z0-9_]+[[:space:]].*core_arch' "$listing" || true)
if [ -n "$calls" ]; then
    count=$(printf '%s\n' "$calls" | wc -l)
    echo "check-inlined-intrinsics: $count calls into core::arch in $rlib, the first:" >&2
    printf '%s\n' "$calls" | head -5 >&2
    echo "A closure passed to a std helper (from_fn, map) inside a kernel is the usual cause." >&2
    exit 1
fi
# The same for `mul_add` in the functions compiled with FMA (`dispatch`'s `avx512`, `avx2` and
# `scalar_fma`): there it is one instruction, never a call to `fma`/`fmaf` (which the plain
# one-lane path, for CPUs without FMA, does make).
fma_calls=$(awk '
    /^[0-9a-f]+ <.*>:$/ { in_fma = ($2 ~ /dispatch(6avx512|4avx2|10scalar_fma)17h/) }
    in_fma && /R_X86_64_/ && $NF ~ /^fmaf?(-0x4)?$/ { print }
' "$listing")
if [ -n "$fma_calls" ]; then
    count=$(printf '%s\n' "$fma_calls" | wc -l)
    echo "check-inlined-intrinsics: $count calls to fma/fmaf in the FMA-compiled kernels of $rlib" >&2
    exit 1
fi
scalar=$(grep -cE '^[0-9a-f]+ <.*dispatch10scalar_fma17h' "$listing" || true)
vector=$(grep -cE '^[0-9a-f]+ <.*dispatch(6avx512|4avx2)17h' "$listing" || true)
if [ "$scalar" -eq 0 ] || [ "$vector" -eq 0 ]; then
    echo "check-inlined-intrinsics: no dispatch functions found in $rlib (renamed?)" >&2
    exit 1
fi
echo "check-inlined-intrinsics: no call into core::arch in $(basename "$rlib"), none to fma/fmaf in its $vector vector and $scalar one-lane FMA kernels"
