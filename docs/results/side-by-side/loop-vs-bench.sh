#!/usr/bin/env bash
# The steps' own rate inside `trainer fit` (metrics.csv's examples_per_s, per 25-step interval) on the embedded
# 3k slice and on the full Fashion-MNIST, alternated with the bench's sustained step (bench_train, 3 runs of 40
# steps), ROUNDS times. Needs `make build` and the bench_train example
# (cargo build --release -p realnvp-trainer --example bench_train). Run on otherwise idle cores.
#
#   bash docs/results/side-by-side/loop-vs-bench.sh [ROUNDS=2] [STEPS=200]   # output: loop-vs-bench.log here
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-2}
steps=${2:-200}
export RAYON_NUM_THREADS=2
tmp=$(mktemp -d)
for round in $(seq 1 "$rounds"); do
  for data in embedded fmnist; do
    target/release/trainer fit --preset fmnist-small --data "$data" --out "$tmp/$data-$round" --steps "$steps" \
      --eval-every 1000000 --checkpoint-every 1000000 --sample-every 0 --eval-examples 200 --log-every 25 \
      --seed 0 --device cpu >/dev/null 2>&1
    echo "round $round, trainer fit --data $data, images/s per 25 steps: $(tail -n +2 "$tmp/$data-$round/metrics.csv" | cut -d, -f7 | tr '\n' ' ')"
  done
  echo "round $round, $(target/release/examples/bench_train fmnist-small 64 40 3 | tail -1)"
done | tee docs/results/side-by-side/loop-vs-bench.log
rm -rf "$tmp"
