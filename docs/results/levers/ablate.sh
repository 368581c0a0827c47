#!/usr/bin/env bash
# Bounds what the training-step levers of issue 27 §2 could buy by removing their work outright
# (docs/benchmarks.md, "Session 10: the levers bounded by ablation"). The ablated step computes
# wrong statistics and gradients, so it only measures time; the patch is never part of the code.
#
#   bash docs/results/levers/ablate.sh [PRESET] [RUNS] [ROUNDS]     (fmnist-small 7 4)
#
# Builds `bench_step` twice in a scratch worktree of commit 8100dd9 (the code the patch was
# written for: the kernels before session 10's changes, which removed the passes it switches off),
# as it is and with ablation.patch, whose switches are read from $ABLATE, then alternates the
# variants round by round, because this host's speed drifts by ±10% within minutes. Prints
# `PRESET round R VARIANT MEDIAN_MS`.
# Needs quiet cores: stop any training run first.
set -euo pipefail
preset=${1:-fmnist-small}; runs=${2:-7}; rounds=${3:-4}
root=$(git rev-parse --show-toplevel)
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git -C "$root" worktree add --detach "$scratch/tree" 8100dd9 >/dev/null
export CARGO_TARGET_DIR="$root/target/ablation"
build() { (cd "$scratch/tree" && cargo build --release -q -p realnvp-models --example bench_step) && cp "$CARGO_TARGET_DIR/release/examples/bench_step" "$scratch/$1"; }
build base
git -C "$scratch/tree" apply "$root/docs/results/levers/ablation.patch"
build ablated
for r in $(seq 1 "$rounds"); do
  for v in base none moments moments,moments1 sums tk moments,moments1,sums,tk; do
    bin="$scratch/ablated"; switches=$v
    if [ "$v" = base ]; then bin="$scratch/base"; switches=; fi
    if [ "$v" = none ]; then switches=; fi
    ms=$(ABLATE=$switches "$bin" "$preset" 64 "$runs" | grep -o 'forward+backward median [0-9.]*' | awk '{print $3}')
    echo "$preset round $r $v $ms"
  done
done
