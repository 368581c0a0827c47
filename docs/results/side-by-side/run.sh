#!/usr/bin/env bash
# The 20-minute side-by-side of docs/results.md: the same fmnist-small RealNVP trained on the full
# Fashion-MNIST for the same wall time on the same machine and threads, first by `trainer fit`, then by
# the PyTorch twin (benches/torch_ref.py quality), one after the other on an otherwise idle machine.
# Both: batch 64, Adam at a constant 1e-3, no flips, no weight average, seed 0; the clock starts at the
# first step and each stops after the step that crosses the limit; then both score the full 10k test
# set with u = 0.5 and with random u (K = 1).
#
#   bash docs/results/side-by-side/run.sh [SECONDS=1200] [THREADS=2]
#
# Needs `make build` and the bench venv (`make bench` creates .venv-bench with PyTorch).
set -euo pipefail
cd "$(dirname "$0")/../../.."
limit=${1:-1200}
threads=${2:-2}
out=docs/results/side-by-side
run=$(mktemp -d)/fmnist-small
export RAYON_NUM_THREADS=$threads

{
  echo "# $(date -u +%FT%TZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $limit s, $threads threads"
  target/release/trainer fit --preset fmnist-small --data fmnist --out "$run" --steps 1000000 \
    --time-limit "$limit" --eval-every 1000000 --checkpoint-every 1000000 --sample-every 0 \
    --eval-examples 2000 --seed 0 --device cpu
  target/release/trainer eval --run "$run" --data fmnist --samples 1 --device cpu
  tail -n 3 "$run/metrics.csv"
} 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*[0-9:]* \[' | tee "$out/trainer.log"

.venv-bench/bin/python benches/torch_ref.py quality --seconds "$limit" --threads "$threads" --seed 0 \
  --out "$out/pytorch.json" 2>&1 | tee "$out/pytorch.log"
