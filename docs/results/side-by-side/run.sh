#!/usr/bin/env bash
# The 20-minute side-by-side of docs/results.md: the same fmnist-small RealNVP trained on the full
# Fashion-MNIST for the same wall time on the same machine, by `trainer fit` and by the PyTorch twin
# (benches/torch_ref.py quality). Both: batch 64, Adam at a constant 1e-3, no flips, no weight average, seed 0;
# the clock starts at the first step and each stops after the step that crosses the limit; then both score
# the full 10k test set with u = 0.5 and with random u (K = 1).
#
#   bash docs/results/side-by-side/run.sh [SECONDS=1200] [THREADS=2] [sequential|together]
#
# sequential (default): one after the other on an otherwise idle machine, THREADS threads each; logs
#   trainer.log, pytorch.log, pytorch.json.
# together: both at once, each pinned to its own core (taskset) with one thread, so that the host's speed
#   drifting over minutes (±15% on shared VMs) slows both alike; logs trainer-together.log,
#   pytorch-together.log, pytorch-together.json. Needs 2 cores.
#
# Needs `make build` and the bench venv (`make bench` creates .venv-bench with PyTorch).
set -euo pipefail
cd "$(dirname "$0")/../../.."
limit=${1:-1200}
threads=${2:-2}
mode=${3:-sequential}
out=docs/results/side-by-side
run=$(mktemp -d)/fmnist-small

# trainer PIN SUFFIX / pytorch PIN SUFFIX: one engine's run and its log; PIN is a taskset prefix or empty.
trainer() {
  local pin=$1 suffix=$2
  {
    echo "# $(date -u +%FT%TZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $limit s, $threads threads, $mode"
    $pin target/release/trainer fit --preset fmnist-small --data fmnist --out "$run" --steps 1000000 \
      --time-limit "$limit" --eval-every 1000000 --checkpoint-every 1000000 --sample-every 0 \
      --eval-examples 2000 --seed 0 --device cpu
    $pin target/release/trainer eval --run "$run" --data fmnist --samples 1 --device cpu
    tail -n 3 "$run/metrics.csv"
  } 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*[0-9:]* \[' >"$out/trainer$suffix.log"
}
pytorch() {
  local pin=$1 suffix=$2
  $pin .venv-bench/bin/python benches/torch_ref.py quality --seconds "$limit" --threads "$threads" --seed 0 \
    --out "$out/pytorch$suffix.json" >"$out/pytorch$suffix.log" 2>&1
}

case $mode in
  sequential)
    export RAYON_NUM_THREADS=$threads
    trainer "" ""
    pytorch "" ""
    cat "$out/trainer.log" "$out/pytorch.log"
    ;;
  together)
    threads=1
    export RAYON_NUM_THREADS=1
    trainer "taskset -c 0" -together &
    pid=$!
    pytorch "taskset -c 1" -together
    wait "$pid"
    cat "$out/trainer-together.log" "$out/pytorch-together.log"
    ;;
  *)
    echo "mode: sequential or together, not $mode" >&2
    exit 2
    ;;
esac
