#!/usr/bin/env bash
# Runs the packed GPU check (made by `make gpu-check` into .gpu-check/, see pack.sh) with one
# command, on a machine that has torch 2.11.0 for python3 but no Rust: every test binary on
# FOCAL_TEST_DEVICE (cuda:0 by default), the loss benchmark and its PyTorch anchors on that
# device, and the segmentation demo for a few steps. Writes one report (REPORT, default
# gpu-report.md in the current folder) and exits non-zero if a test failed.
#
#   scripts/gpu-check/run.sh [PACKAGE_DIR]       # PACKAGE_DIR defaults to .gpu-check
#
# Run from the repository root (the committed fixtures and scripts are read from there).
set -uo pipefail
pkg="${1:-.gpu-check}"
# The package as pack.sh writes it (.tar.xz), or an older one (.tar.gz): unpacked by python3's
# tarfile, which reads both without an xz program on the machine.
for archive in "$pkg/package.tar.xz" "$pkg/package.tar.gz"; do
  if [ -f "$archive" ]; then
    unpacked="$(mktemp -d)"
    python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1]) as archive:
    # The files as packed (executables stay executable); `filter` where this Python has it.
    archive.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
' "$archive" "$unpacked" || { echo "gpu-check: cannot unpack $archive" >&2; exit 1; }
    pkg="$unpacked/package"
    break
  fi
done
device="${FOCAL_TEST_DEVICE:-cuda:0}"
report="${REPORT:-gpu-report.md}"
logs="${LOGS:-$(dirname "$report")/gpu-logs}"
bench_args="${GPU_CHECK_BENCH_ARGS:---reps 9 --shapes seg64,seg128,det}"
demo_args="${GPU_CHECK_DEMO_ARGS:---steps 20 --size 32 --batch 2}"
mkdir -p "$logs"
rm -f "$report.failures"  # a previous run's, not this one's
export FOCAL_TEST_DEVICE="$device"
export FOCAL_FIXTURES_DIR="$PWD/tests/fixtures" FOCAL_REPO_DIR="$PWD"
export RUST_BACKTRACE=1

# libtorch: the one of this machine's python3 (torch 2.11.0), or the one the package was built
# against when run where it was built.
torch_dir="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)"
if [ -z "$torch_dir" ] && [ -d .libtorch/torch ]; then torch_dir="$(cd .libtorch/torch && pwd)"; fi
export LD_LIBRARY_PATH="$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
torch_version="$(PYTHONPATH="$(dirname "$torch_dir")" python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')"
pyver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"

{
  echo "# focal GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- device: $device${gpu:+ ($gpu)}"
  echo "- torch: $torch_version ($torch_dir)"
  echo "- package: $(cat "$pkg/BUILD_INFO" 2>/dev/null || echo '?')"
  echo
  echo "## Tests"
  echo
  echo "| binary | result | passed | failed | seconds |"
  echo "|---|---|---:|---:|---:|"
} >"$report"

failed_binaries=0
for bin in "$pkg"/tests/*; do
  name="$(basename "$bin")"
  start=$(date +%s.%N)
  timeout 300 "$bin" --test-threads 4 >"$logs/$name.log" 2>&1
  rc=$?
  secs=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  passed=$(grep -o '[0-9]* passed' "$logs/$name.log" | awk '{s+=$1} END {print s+0}')
  failed=$(grep -o '[0-9]* failed' "$logs/$name.log" | awk '{s+=$1} END {print s+0}')
  result=ok
  if [ "$rc" -ne 0 ]; then result="FAILED (exit $rc)"; failed_binaries=$((failed_binaries + 1)); fi
  echo "| $name | $result | $passed | $failed | $secs |" >>"$report"
  if [ "$rc" -ne 0 ]; then
    { echo; echo "<details><summary>$name output (tail)</summary>"; echo; echo '```';
      grep -E "FAILED|panicked|assert|left|right|Error|error" "$logs/$name.log" | head -40;
      echo '```'; echo "</details>"; echo; } >>"$report.failures"
  fi
done
[ -f "$report.failures" ] && cat "$report.failures" >>"$report" && rm -f "$report.failures"

{
  echo
  echo "## Benchmark ($device)"
  echo
} >>"$report"
# shellcheck disable=SC2086
if timeout 300 "$pkg/bench/losses" --bench --device "$device" $bench_args --json "$logs/bench-focal.json" \
      >"$logs/bench-focal.log" 2>&1 \
   && PYTHONPATH="$pkg/python:$pkg/python-cp$pyver:${FOCAL_ANCHORS_DIR:+$FOCAL_ANCHORS_DIR:}$(dirname "$torch_dir")${PYTHONPATH:+:$PYTHONPATH}" timeout 300 \
      python3 scripts/bench/anchors.py --device "$device" $bench_args --json "$logs/bench-anchors.json" \
      >"$logs/bench-anchors.log" 2>&1 \
   && python3 scripts/bench/report.py "$logs/bench-focal.json" "$logs/bench-anchors.json" \
      --json "$logs/bench.json" --markdown "$logs/bench.md" >/dev/null 2>&1; then
  cat "$logs/bench.md" >>"$report"
else
  { echo "The benchmark failed:"; echo '```'; tail -20 "$logs"/bench-*.log; echo '```'; } >>"$report"
fi

{
  echo
  echo "## Demo ($device, $demo_args)"
  echo
} >>"$report"
# shellcheck disable=SC2086
if timeout 300 "$pkg/examples/segmentation" --device "$device" --quiet --out "$logs/segmentation" $demo_args \
     >"$logs/demo.log" 2>&1; then
  echo '```' >>"$report"; tail -15 "$logs/demo.log" >>"$report"; echo '```' >>"$report"
else
  { echo "The demo failed:"; echo '```'; tail -20 "$logs/demo.log"; echo '```'; } >>"$report"
  failed_binaries=$((failed_binaries + 1))
fi

echo >>"$report"
echo "Test binaries failed: $failed_binaries" >>"$report"
cat "$report"
[ "$failed_binaries" -eq 0 ]
