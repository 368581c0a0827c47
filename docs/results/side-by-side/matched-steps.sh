#!/usr/bin/env bash
# The matched-step comparison of docs/results.md: does the PyTorch twin learn more per step than `trainer fit`?
# The same fmnist-small RealNVP, data, optimizer and recipe as run.sh (batch 64, Adam at a constant 1e-3, no
# flips, no weight average), for a fixed number of STEPS instead of a wall time, each engine scoring the first
# EXAMPLES Fashion-MNIST test images at u = 0.5 every EVERY steps (the trainer's own evaluation; the twin's
# --eval-every does the same). For each seed both engines train at once, each pinned to its own core with one
# thread (taskset), so wall-clock drift does not matter (nothing here is timed).
#
#   bash docs/results/side-by-side/matched-steps.sh [STEPS=1000] [EVERY=250] [SEEDS="0 1 2"] [EXAMPLES=2000]
#
# Writes trainer-seedS.csv (the run's metrics.csv) and pytorch-seedS.json per seed into
# docs/results/side-by-side/matched-steps/ (OUT= to change), then prints matched_steps.py's table: each
# engine's mean and spread over the seeds at every evaluated step, and the difference.
# Needs `make build`, the bench venv (`make bench` creates .venv-bench with PyTorch) and 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../../.."
steps=${1:-1000}
every=${2:-250}
seeds=${3:-0 1 2}
examples=${4:-2000}
out=${OUT:-docs/results/side-by-side/matched-steps}
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export RAYON_NUM_THREADS=1
for seed in $seeds; do
  echo "== seed $seed: $steps steps, test bits/dim every $every on $examples images" >&2
  taskset -c 0 target/release/trainer fit --preset fmnist-small --data fmnist --out "$scratch/seed$seed" \
    --steps "$steps" --eval-every "$every" --eval-examples "$examples" --checkpoint-every 1000000 \
    --sample-every 0 --seed "$seed" --device cpu >"$scratch/trainer-seed$seed.log" 2>&1 &
  pid=$!
  taskset -c 1 .venv-bench/bin/python benches/torch_ref.py quality --threads 1 --seed "$seed" \
    --seconds 1e9 --max-steps "$steps" --eval-every "$every" --eval-examples "$examples" \
    --out "$out/pytorch-seed$seed.json" >"$scratch/pytorch-seed$seed.log" 2>&1 ||
    { cat "$scratch/pytorch-seed$seed.log" >&2; kill "$pid"; wait "$pid" || true; exit 1; }
  wait "$pid" || { cat "$scratch/trainer-seed$seed.log" >&2; exit 1; }
  cp "$scratch/seed$seed/metrics.csv" "$out/trainer-seed$seed.csv"
done
python3 docs/results/side-by-side/matched_steps.py "$out" $seeds | tee "$out/summary.txt"
