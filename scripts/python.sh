#!/usr/bin/env bash
# The Python package (runtime/python; docs/scale-out.md), idempotently:
#   scripts/python.sh build   maturin (in .venv-py-build) builds the abi3 wheel into target/wheels/
#   scripts/python.sh test    a test venv (.venv-py-test) with that wheel, onnxruntime, numpy, pytest, ray[data],
#                             pyarrow, tritonclient and onnx; runs runtime/python/tests against target/release/runtime
# Installs only what is missing; the wheel is reinstalled when it changed.
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.16.0
ORT_VERSION=1.31.1
ONNX_VERSION=1.23.2
RAY_VERSION=2.60.0
TRITONCLIENT_VERSION=2.73.0
BUILD_VENV=${PY_BUILD_VENV:-.venv-py-build}
TEST_VENV=${PY_TEST_VENV:-.venv-py-test}
WHEELS=target/wheels
PIP_FLAGS=(-q --disable-pip-version-check)

wheel_path() {
  ls -t "$WHEELS"/realnvp-*-abi3-*.whl 2>/dev/null | head -n 1
}

build() {
  if [ ! -x "$BUILD_VENV/bin/python" ]; then
    echo "python: creating $BUILD_VENV"
    python3 -m venv "$BUILD_VENV"
  fi
  if [ "$("$BUILD_VENV/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
    echo "python: installing maturin==$MATURIN_VERSION into $BUILD_VENV"
    "$BUILD_VENV/bin/pip" install "${PIP_FLAGS[@]}" "maturin==$MATURIN_VERSION"
  fi
  # The root target/ (CARGO_TARGET_DIR), so that the runtime's compiled crates are shared with the workspace.
  (cd runtime/python && CARGO_TARGET_DIR="$PWD/../../target" "../../$BUILD_VENV/bin/maturin" build --release \
    --interpreter "../../$BUILD_VENV/bin/python" --out "../../$WHEELS")
  echo "python: $(wheel_path)"
}

test_venv() {
  if [ ! -x "$TEST_VENV/bin/python" ]; then
    echo "python: creating $TEST_VENV"
    python3 -m venv "$TEST_VENV"
  fi
  local check="import numpy, pytest, pytest_timeout, pyarrow, onnx, ray, onnxruntime, tritonclient.grpc.model_config_pb2
assert onnxruntime.__version__ == '$ORT_VERSION', onnxruntime.__version__
assert ray.__version__ == '$RAY_VERSION', ray.__version__"
  if ! "$TEST_VENV/bin/python" -c "$check" 2>/dev/null; then
    echo "python: installing the test dependencies into $TEST_VENV"
    "$TEST_VENV/bin/pip" install "${PIP_FLAGS[@]}" numpy pytest pytest-timeout pyarrow "onnx==$ONNX_VERSION" \
      "onnxruntime==$ORT_VERSION" "ray[data]==$RAY_VERSION" "tritonclient[grpc]==$TRITONCLIENT_VERSION"
  fi
  local wheel stamp="$TEST_VENV/.realnvp-wheel"
  wheel=$(wheel_path)
  [ -n "$wheel" ] || { echo "python: no wheel in $WHEELS; run make python" >&2; exit 1; }
  local sum
  sum=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "python: installing $wheel into $TEST_VENV"
    "$TEST_VENV/bin/pip" install "${PIP_FLAGS[@]}" --force-reinstall --no-deps "$wheel"
    echo "$sum" > "$stamp"
  fi
}

run_tests() {
  test_venv
  # Without ORT_DYLIB_PATH, the package finds ONNX Runtime as a user's `pip install realnvp onnxruntime` does:
  # in the onnxruntime package (the tests give the CLI the same library).
  env -u ORT_DYLIB_PATH "$TEST_VENV/bin/python" -m pytest -q -p no:cacheprovider --timeout=900 runtime/python/tests
}

case "${1:-}" in
  build) build ;;
  test) run_tests ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
