#!/usr/bin/env bash
# Installs everything `make test` needs, idempotently: system packages (protoc for candle-onnx,
# the Fashion-MNIST data set), a project venv with the python `onnx` checker, and the ONNX Runtime
# shared library (from the PyPI wheel; ort's download-binaries cannot reach its host from here).
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
ONNX_VERSION=1.23.2

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnx, onnxruntime; assert onnxruntime.__version__ == '$ORT_VERSION'" 2>/dev/null; then
  echo "setup: installing onnx==$ONNX_VERSION onnxruntime==$ORT_VERSION into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "onnx==$ONNX_VERSION" "onnxruntime==$ORT_VERSION" numpy
fi

lib=.ort/libonnxruntime.so.$ORT_VERSION
if [ ! -f "$lib" ]; then
  src=$(.venv/bin/python -c "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so.$ORT_VERSION'))")
  mkdir -p .ort
  cp "$src" "$lib.tmp" && mv "$lib.tmp" "$lib"
  ln -sf "libonnxruntime.so.$ORT_VERSION" .ort/libonnxruntime.so
  echo "setup: ONNX Runtime library at $lib"
fi
