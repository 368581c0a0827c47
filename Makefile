# realnvp-rs: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
export ORT_DYLIB_PATH ?= $(CURDIR)/.ort/libonnxruntime.so
CARGO ?= cargo
DEMO_DIR ?= out/demo
FUZZ_SECONDS ?= 60
PORT ?= 8000

.PHONY: all setup build test lint doc demo bench fuzz clean-demo cuda web web-setup web-serve web-test web-bench

all: build

# System packages (protoc, Fashion-MNIST), the project venv (python onnx checker) and the
# ONNX Runtime library; idempotent.
setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --bins

# Release profile, like `make build`: the second of `make demo` / `make test` reuses the first's build
# (the tests' binaries are the demo's binaries), and the training tests run at full speed.
test: setup
	$(CARGO) test --release --workspace
	$(MAKE) web-test
	$(MAKE) python-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	$(MAKE) python-lint

doc:
	$(CARGO) doc --workspace --no-deps

# The pretrained model's pictures (built and drawn first, with the runtime only), then the whole chain on the
# embedded Fashion-MNIST slice: fit -> export -> sample -> score. scripts/demo.sh builds what each step needs.
demo: setup
	CARGO=$(CARGO) bash scripts/demo.sh $(DEMO_DIR)

bench: setup
	bash scripts/bench.sh

# cargo-fuzz on every loader of outside input, FUZZ_SECONDS (60) per target, from fuzz/seeds; stops at the
# first crash (docs/fuzzing.md). Installs cargo-fuzz when missing; RUSTC_BOOTSTRAP=1 on the stable toolchain.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

# The trainer and runtime with their `cuda` features, in target-cuda/ so that the CPU build in target/ is
# untouched. Needs no GPU: scripts/cuda-setup.sh installs nvcc and the CUDA 13 libraries from PyPI into
# .venv-cuda and prints the environment the build needs (docs/gpu.md).
cuda:
	@cuda_env="$$(bash scripts/cuda-setup.sh)" && eval "$$cuda_env" && \
	  echo "CARGO_TARGET_DIR=target-cuda $(CARGO) build --release --features cuda -p realnvp-trainer-cli -p realnvp-runtime-cli" && \
	  CARGO_TARGET_DIR=target-cuda $(CARGO) build --release --features cuda -p realnvp-trainer-cli -p realnvp-runtime-cli

# The pretrained model in a web page (web/, docs/web.md). No build step: `make web` only installs the page's npm
# packages (onnxruntime-web, pako) from web/package-lock.json; `make web-serve` serves it at http://127.0.0.1:8000/
# (PORT= to change) with the cross-origin isolation headers that WASM threads need.
web web-setup:
	@bash scripts/web-setup.sh serve

web-serve: web
	PORT=$(PORT) node web/serve.mjs

# The page in headless Chromium (Debian's chromium, playwright-core) against the CLI on the same images and latents.
# --workspace: the same features as `cargo test --workspace`, so after it nothing is rebuilt.
web-test: setup
	@bash scripts/web-setup.sh
	$(CARGO) build --release --workspace --bin runtime --example decode_latent
	cd web && node --test --test-reporter=spec test/page.test.mjs

# The page's speed beside the native runtime's (docs/benchmarks.md, "The web page").
web-bench: setup
	@bash scripts/web-setup.sh
	$(CARGO) build --release --workspace --bin runtime --example bench_runtime
	node web/bench.mjs

# The Python package `realnvp` (runtime/python; docs/scale-out.md). `python` builds its abi3 wheel into
# target/wheels/ with maturin from .venv-py-build; `python-test` installs the wheel with onnxruntime, ray[data],
# pyarrow and tritonclient into .venv-py-test and runs runtime/python/tests (the package against the `runtime`
# binary of this tree, the Ray pipeline on 500 images, the Triton configs against Triton's protobuf schema).
.PHONY: python python-test python-lint
python:
	@bash scripts/python.sh build

python-test: setup python
	$(CARGO) build --release --workspace --bin runtime
	@bash scripts/python.sh test

python-lint:
	$(CARGO) fmt --manifest-path runtime/python/Cargo.toml --check
	CARGO_TARGET_DIR=$(CURDIR)/target $(CARGO) clippy --manifest-path runtime/python/Cargo.toml --all-targets -- -D warnings
