#!/usr/bin/env bash
# `make bench`: fmnist-small on CPU with 2 threads — candle training, candle / ONNX Runtime (this
# repo's runtime crate) scoring and sampling, export time, peak RSS, GFLOP/s against the
# machine's matmul peak, and the same model in PyTorch (eager, and ONNX Runtime on PyTorch's own
# export) as the reference. Prints one table (markdown) and keeps everything under out/bench/.
#
# Knobs (environment): BENCH_THREADS (2), BENCH_RUNS (5: timed runs per measurement, medians
# reported; batch 1 runs 40x as many), BENCH_TRAIN_STEPS (1: candle steps per timed run),
# BENCH_TORCH_STEPS (10: PyTorch timed steps; 4 for the larger preset), BENCH_ROUNDS (3: the whole sequence is measured
# this many times and every cell is the median over rounds, because on a shared VM one round's
# figures move by up to ±30%), BENCH_OUT (out/bench).
# Not part of `make test`: the PyTorch venv (.venv-bench) is large and is made here, once.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-5}
TRAIN_STEPS=${BENCH_TRAIN_STEPS:-1}
TORCH_STEPS=${BENCH_TORCH_STEPS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
BASE=${BENCH_OUT:-out/bench}
PRESET=fmnist-small # benches/torch_ref.py implements this preset and LARGE (--preset)
LARGE=fmnist-paper  # the larger preset, trained too (batch 64)
BATCHES=(1 64 256)
ORT_VERSION=1.31.1
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.ort/libonnxruntime.so}
# Every engine on the same THREADS cores: candle (rayon), PyTorch (OpenMP), ONNX Runtime (set per
# session by the examples and torch_ref.py).
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

PY=.venv-bench/bin/python
if ! "$PY" -c "import torch, numpy, onnx, onnxscript, onnxruntime; assert onnxruntime.__version__ == '$ORT_VERSION'" 2>/dev/null; then
  echo "bench: creating .venv-bench (PyTorch, numpy, onnx, onnxruntime==$ORT_VERSION, onnxscript)" >&2
  [ -x "$PY" ] || python3 -m venv .venv-bench
  "$PY" -m pip install -q --disable-pip-version-check torch numpy onnx "onnxruntime==$ORT_VERSION" onnxscript
fi

echo "bench: building release examples" >&2
cargo build --release -q \
  -p realnvp-models --example bench_matmul --example flop_count \
  -p realnvp-trainer --example bench_train \
  -p realnvp-e2e --example bench_inference --example bench_export \
  -p realnvp-runtime --example bench_runtime
EX=target/release/examples

rm -rf "$BASE"
mkdir -p "$BASE"
start_all=$(date +%s)

# run NAME CMD...: runs CMD with its output in $OUT/logs/NAME.log and its peak RSS (KiB, from
# /usr/bin/time) in $OUT/logs/NAME.rss; fails loudly with the log's tail.
# Also prints the share of its wall time in which some task waited for a CPU (Linux PSI): near 0
# on a quiet machine, high when other processes compete for the cores.
run() {
  local name=$1
  shift
  local t0 p0
  t0=$(date +%s.%N)
  p0=$(cpu_stall_us)
  if ! /usr/bin/time -f %M -o "$OUT/logs/$name.rss" "$@" >"$OUT/logs/$name.log" 2>&1; then
    echo "bench: $name failed: $*" >&2
    tail -n 20 "$OUT/logs/$name.log" >&2
    exit 1
  fi
  local stall
  stall=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" -v p0="$p0" -v p1="$(cpu_stall_us)" \
    'BEGIN { w = t1 - t0; printf "%.0f s, CPU stall %.0f%%", w, (p1 - p0) / 1e4 / w }')
  echo "bench: $name ($stall)" >&2
  echo "$name $stall" >>"$OUT/logs/stall.txt"
}
cpu_stall_us() { sed -n 's/^some .*total=\([0-9]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || echo 0; }
rss_mib() { awk '{printf "%.0f", $1 / 1024}' "$OUT/logs/$1.rss"; }
# Batch 1 calls take milliseconds and their medians scatter most on a shared VM: 40x the runs.
runs_for() { if [ "$1" = 1 ]; then echo $((RUNS * 40)); else echo "$RUNS"; fi; }
# Result lines: ENGINE METRIC BATCH VALUE (BATCH "-" where it does not apply).
put() { echo "$*" >>"$RESULTS"; }

# measure_round OUT: every measurement once, results in OUT/results.txt, logs in OUT/logs.
measure_round() {
OUT=$1
RESULTS=$OUT/results.txt
mkdir -p "$OUT/logs"
: >"$RESULTS"
{
  echo "machine cpu - $(lscpu | sed -n 's/^Model name: *//p' | head -n1 | tr ' ' '_')"
  echo "machine cores - $(nproc)"
  echo "machine threads - $THREADS"
  echo "machine runs - $RUNS"
  echo "machine load_start - $(cut -d' ' -f1 /proc/loadavg)"
  echo "machine stall_start_us - $(cpu_stall_us)"
} >>"$RESULTS"

# 1. Analytic FLOPs and the parameter count; the matmul peak.
run flop_count "$EX/flop_count" "$PRESET"
awk '/^(params_trainable|params_analytic|flops_forward_per_image|flops_train_per_image) / {print "candle", $1, "-", $2}' \
  "$OUT/logs/flop_count.log" >>"$RESULTS"
run flop_count_large "$EX/flop_count" "$LARGE"
awk '/^flops_train_per_image / {print "candle flops_train_per_image_large", "-", $2}' \
  "$OUT/logs/flop_count_large.log" >>"$RESULTS"
run matmul "$EX/bench_matmul" $((RUNS * 3))
awk '/^matmul [0-9]/ {print "candle matmul_gflops", $2, $3} /^matmul_peak/ {print "candle matmul_peak - " $2}' \
  "$OUT/logs/matmul.log" >>"$RESULTS"

# 2. candle training: full steps (forward, backward, Adam) at batch 64, again with the direct
# convolutions instead of Winograd's (what Winograd buys, in the same run), at batch 256, and the
# larger preset at batch 64.
train_img_s() { sed -n 's/.*median \([0-9.]*\) images\/s.*/\1/p' "$OUT/logs/$1.log"; }
run candle_train "$EX/bench_train" "$PRESET" 64 "$TRAIN_STEPS" "$RUNS"
put "candle train_img_s 64 $(train_img_s candle_train)"
put "candle rss_mib train $(rss_mib candle_train)"
run candle_train_direct env REALNVP_CONV=direct "$EX/bench_train" "$PRESET" 64 "$TRAIN_STEPS" "$RUNS"
put "candle_direct train_img_s 64 $(train_img_s candle_train_direct)"
run candle_train_256 "$EX/bench_train" "$PRESET" 256 "$TRAIN_STEPS" "$RUNS"
put "candle train_img_s 256 $(train_img_s candle_train_256)"
run candle_train_large "$EX/bench_train" "$LARGE" 64 "$TRAIN_STEPS" "$RUNS"
put "candle train_large_img_s 64 $(train_img_s candle_train_large)"

# 3. candle scoring and sampling (random weights), one process per batch.
for b in "${BATCHES[@]}"; do
  run "candle_infer_$b" "$EX/bench_inference" candle "$PRESET" "$b" "$(runs_for "$b")"
  # bench_inference prints: candle PRESET BATCH SCORE_IMG_S SAMPLE_IMG_S PEAK_RSS_MIB
  awk '$1 == "candle" {print "candle score", $3, $4; print "candle sample", $3, $5; print "candle rss_mib", $3, $6}' \
    "$OUT/logs/candle_infer_$b.log" >>"$RESULTS"
done

# 4. Export: export_bundle (emit, verify with candle-onnx, write) on random weights; the bundle
# it leaves is what the runtime measurements load.
run export "$EX/bench_export" "$PRESET" "$OUT/bundle" 3
awk '$1 == "export" {print "candle export_s -", $3; print "candle rss_mib export", $4}' "$OUT/logs/export.log" >>"$RESULTS"

# 5. The runtime crate (ONNX Runtime from Rust), one process per batch.
for b in "${BATCHES[@]}"; do
  run "runtime_$b" "$EX/bench_runtime" "$OUT/bundle" "$b" "$(runs_for "$b")" "$THREADS"
  awk '$1 == "runtime" {print "runtime score", $2, $3; print "runtime sample", $2, $4; print "runtime rss_mib", $2, $5}' \
    "$OUT/logs/runtime_$b.log" >>"$RESULTS"
done

# 6. PyTorch: parameters, training, eager inference (one process per batch), its own ONNX
# export, and ONNX Runtime (Python) on that export (one process per batch).
TREF=(benches/torch_ref.py --threads "$THREADS")
collect() { grep -E '^(torch|ort) ' "$OUT/logs/$1.log" >>"$RESULTS" || true; }
run torch_params "$PY" "${TREF[@]}" params && collect torch_params
run torch_train "$PY" "${TREF[@]}" train --batch 64 --steps "$TORCH_STEPS" && collect torch_train
run torch_train_256 "$PY" "${TREF[@]}" train --batch 256 --steps "$TORCH_STEPS"
grep -E '^torch train_(img_s|step_s) ' "$OUT/logs/torch_train_256.log" >>"$RESULTS"
run torch_train_large "$PY" "${TREF[@]}" train --preset "$LARGE" --batch 64 --steps 4
sed -n 's/^torch train_img_s 64 /torch train_large_img_s 64 /p' "$OUT/logs/torch_train_large.log" >>"$RESULTS"
for b in "${BATCHES[@]}"; do
  extra=()
  [ "$b" = 1 ] && extra=(--matmul)
  run "torch_eager_$b" "$PY" "${TREF[@]}" eager --batches "$b" --runs "$RUNS" "${extra[@]}" && collect "torch_eager_$b"
done
run torch_export "$PY" "${TREF[@]}" export "$OUT/torch_onnx" && collect torch_export
for b in "${BATCHES[@]}"; do
  run "ort_$b" "$PY" "${TREF[@]}" ort "$OUT/torch_onnx" --batches "$b" --runs "$RUNS" && collect "ort_$b"
done

}

# The whole run's machine lines; each round's results file has its own.
RESULTS=$BASE/results.txt
{
  echo "machine rounds - $ROUNDS"
  echo "machine load_start - $(cut -d' ' -f1 /proc/loadavg)"
  echo "machine stall_start_us - $(cpu_stall_us)"
} >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  echo "bench: round $round of $ROUNDS" >&2
  measure_round "$BASE/round$round"
done
RESULTS=$BASE/results.txt
put "machine wall_s - $(($(date +%s) - start_all))"
put "machine load_end - $(cut -d' ' -f1 /proc/loadavg)"
put "machine stall_end_us - $(cpu_stall_us)"
python3 benches/report.py "$BASE"/round*/results.txt "$RESULTS" | tee "$BASE/table.md"
echo "bench: raw results in $BASE/round*/results.txt, logs in $BASE/round*/logs" >&2
