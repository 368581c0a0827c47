#!/usr/bin/env bash
# Alternates two builds of `bench_train` (full training steps with Adam) and PyTorch's twin in the
# same minutes, round by round, because this host's speed drifts by ±10–25% between phases and a
# `make bench` run measures each engine once per round (docs/benchmarks.md, "Session 10").
#
#   bash docs/results/levers/alternate-train.sh OLD_BENCH_TRAIN NEW_BENCH_TRAIN [ROUNDS]   (4)
#
# Each cell: 5 runs of 1 step at batch 64 (the bench's setting), the median in images/s; PyTorch
# 10 steps. Needs .venv-bench (make bench) and quiet cores.
set -euo pipefail
old=$1; new=$2; rounds=${3:-4}
cd "$(git rev-parse --show-toplevel)"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2
for r in $(seq 1 "$rounds"); do
  for v in old new; do
    bin=$old; [ "$v" = new ] && bin=$new
    echo "round $r candle-$v $("$bin" fmnist-small 64 1 5 2>&1 | sed -n 's/.*median \([0-9.]*\) images\/s.*/\1/p')"
  done
  echo "round $r torch $(.venv-bench/bin/python benches/torch_ref.py --threads 2 train --batch 64 --steps 10 2>&1 | sed -n 's/^torch train_img_s 64 //p')"
done
