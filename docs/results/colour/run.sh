#!/usr/bin/env bash
# Colour (docs/results.md): `cifar-small` on the 821 committed 32×32 RGB photograph patches
# (data/colour-patches, the trainer's fixed split: 739 train / 82 held out), for a fixed wall time, then
# scored on the held-out patches (u = 0.5, and random u with K = 1 and IW-4) and exported; samples at
# T = 0.7 to docs/img/colour-t0.7.png. A small stand-in for CIFAR-10, not CIFAR-10.
#
#   bash docs/results/colour/run.sh [SECONDS=1200] [RUN_DIR=runs/colour]
#
# The fit uses --resume: a second call continues the same run for another SECONDS. Needs `make build`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.ort/libonnxruntime.so}
limit=${1:-1200}
run=${2:-runs/colour}
data=images:data/colour-patches
out=docs/results/colour
{
  echo "# $data, cifar-small, $limit s of training this session, seed 0"
  target/release/trainer fit --preset cifar-small --data "$data" --out "$run" --steps 100000 \
    --time-limit "$limit" --flip --warmup-steps 100 --eval-examples 0 --seed 0 --resume
  target/release/trainer eval --run "$run" --samples 4
  target/release/trainer export --run "$run" --out "$run/bundle"
  target/release/runtime check --model "$run/bundle"
  target/release/runtime sample --model "$run/bundle" --n 64 --temperature 0.7 --seed 1 --scale 2 \
    --out docs/img/colour-t0.7.png
} 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*[0-9:]* \[' | tee -a "$out/colour.log"
cp "$run/metrics.csv" "$out/metrics.csv"
