# One entry point. `make demo` and `make test` do all the set-up on a fresh machine
# (Rust and Python present): they install libtorch once per machine, then build and run.
RUN := ./scripts/with-libtorch.sh

.PHONY: demo quickstart learnable-weights custom-function test lint fixtures doc bench

# The 3D segmentation training run (examples/segmentation); pass flags with ARGS="--steps 50".
demo:
	$(RUN) cargo run --release --example segmentation -- $(ARGS)

quickstart:
	$(RUN) cargo run --release --example quickstart

# Multi-task uncertainty weighting: a loss with learnable parameters (docs/autograd.md).
learnable-weights:
	$(RUN) cargo run --release --example learnable_weights

# A custom autograd function from Rust (focal::autograd): a clamp whose gradient passes through.
custom-function:
	$(RUN) cargo run --release --example custom_function

test:
	$(RUN) cargo test --workspace --all-targets
	$(RUN) cargo test --workspace --doc

# Formatting, clippy, the docs without warnings, and no SIMD intrinsic or FMA run as a call in
# the release build of the kernels (scripts/check-inlined-intrinsics.sh).
lint:
	cargo fmt --all -- --check
	$(RUN) cargo clippy --workspace --all-targets -- -D warnings
	$(RUN) env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
	$(RUN) scripts/check-inlined-intrinsics.sh

fixtures:
	$(RUN) sh -c 'PYTHONPATH="$$LIBTORCH/.." python3 scripts/make_fixtures.py'

doc:
	$(RUN) cargo doc --workspace --no-deps

.PHONY: anchors-fixtures
anchors-fixtures:
	$(RUN) sh -c 'PYTHONPATH="$$(./scripts/setup-anchors.sh):$$LIBTORCH/.." python3 scripts/make_fixtures.py'

# The loss benchmark: our losses (fused and composed), the arithmetic floors (benches/compute_floor's
# loops) and the PyTorch anchors on the same shapes, in one table (out/bench.md, out/bench.json):
# the Rust side runs the Python side as its --peer, a round of each side's cases in turn, so that
# a slow spell of the machine falls on both alike. ARGS="--reps 5 --shapes seg128" narrows it.
# Both sides run with glibc keeping freed memory (BENCH_MALLOC): with glibc's defaults every
# full-size tensor lands on fresh pages, whose faults then dominate and vary with what ran before.
# BENCH_MALLOC= (empty) measures with the defaults.
BENCH_MALLOC ?= MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
bench:
	mkdir -p out
	$(RUN) sh -c 'PYTHONPATH="$$(./scripts/setup-anchors.sh):$$LIBTORCH/.." env $(BENCH_MALLOC) cargo bench --bench losses -- --json out/bench-focal.json --peer "python3 scripts/bench/anchors.py --serve --json out/bench-anchors.json $(ARGS)" $(ARGS)'
	python3 scripts/bench/report.py out/bench-focal.json out/bench-anchors.json --json out/bench.json --markdown out/bench.md

# The GPU check, prepared here: builds (release) and packs every test binary, the bench and the
# demo into .gpu-check/ (scripts/gpu-check/pack.sh), then runs the package with the script the
# GPU machine runs (scripts/gpu-check/run.sh) on FOCAL_TEST_DEVICE (cpu here by default: the
# rehearsal), writing out/gpu-check/gpu-report.md. On the GPU machine:
#   FOCAL_TEST_DEVICE=cuda:0 REPORT=$OUT/gpu-report.md scripts/gpu-check/run.sh
.PHONY: gpu-check gpu-pack
gpu-pack:
	$(RUN) scripts/gpu-check/pack.sh

gpu-check: gpu-pack
	mkdir -p out/gpu-check
	$(RUN) env FOCAL_TEST_DEVICE=$${FOCAL_TEST_DEVICE:-cpu} REPORT=out/gpu-check/gpu-report.md \
	  FOCAL_ANCHORS_DIR="$$(./scripts/setup-anchors.sh)" \
	  GPU_CHECK_BENCH_ARGS="$${GPU_CHECK_BENCH_ARGS:---reps 3 --shapes seg64,det}" \
	  GPU_CHECK_DEMO_ARGS="$${GPU_CHECK_DEMO_ARGS:---steps 5 --size 16 --batch 1}" \
	  scripts/gpu-check/run.sh .gpu-check
