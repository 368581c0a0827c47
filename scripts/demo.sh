#!/usr/bin/env bash
# The whole chain on the embedded Fashion-MNIST slice (no download): fit -> export -> sample -> score.
# Usage: scripts/demo.sh [OUT_DIR]   (make demo runs it after `make setup`)
#
# The runtime (no candle) is built first, so the pretrained model's pictures are on disk before the trainer's
# longer build starts. `--workspace --bin X` resolves features as `cargo test --workspace` does, so a demo after
# `make test` (or the reverse) rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/demo}
steps=${DEMO_STEPS:-1500}
bin=target/release
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.ort/libonnxruntime.so}
mkdir -p "$out"
cargo=${CARGO:-cargo}

echo "== building the runtime (ONNX Runtime; no candle)"
"$cargo" build --release --workspace --bin runtime

echo "== 0/4 the pretrained Fashion-MNIST model in pretrained/fmnist (no training): samples, interpolations, reconstructions"
"$bin/runtime" info --model pretrained/fmnist
for t in 0.5 0.7 1.0; do
  "$bin/runtime" sample --model pretrained/fmnist --n 64 --temperature "$t" --seed 1 --out "$out/pretrained-t$t.png"
done
ex=pretrained/examples
"$bin/runtime" interpolate --model pretrained/fmnist --steps 10 --out "$out/pretrained-interpolation.png" \
  "$ex/test0000-boot.png" "$ex/test0001-pullover.png" \
  "$ex/test0002-trouser.png" "$ex/test0004-shirt.png" \
  "$ex/test0006-coat.png" "$ex/test0003-trouser.png"
"$bin/runtime" reconstruct --model pretrained/fmnist --out "$out/pretrained-reconstruction.png" "$ex"
echo "-- out-of-distribution flags (docs/ood.md): 8 Fashion-MNIST test images, then 4 MNIST digits"
"$bin/runtime" score --model pretrained/fmnist --ood "$ex" "$ex/ood" | tee "$out/pretrained-ood.csv" \
  | cut -d, -f1,3,5,8

echo "== building the trainer (candle)"
"$cargo" build --release --workspace --bin trainer

echo "== 1/4 trainer fit: preset tiny, embedded Fashion-MNIST slice, $steps steps"
if [ -f "$out/run/checkpoint.safetensors" ]; then
  "$bin/trainer" fit --out "$out/run" --resume --steps "$steps"
else
  "$bin/trainer" fit --preset tiny --out "$out/run" --steps "$steps" --batch-size 32 --lr 2e-3 \
    --eval-every 100 --sample-every 100 --eval-examples 500 --seed 1
fi

echo "== 2/4 trainer export -> $out/model, and runtime check (decode fresh samples, re-score them)"
"$bin/trainer" export --run "$out/run" --out "$out/model"
"$bin/runtime" check --model "$out/model" --n 64 --temperature 1.0

echo "== 3/4 runtime sample (ONNX Runtime)"
"$bin/runtime" info --model "$out/model"
"$bin/runtime" sample --model "$out/model" --n 64 --temperature 0.7 --seed 1 --out "$out/samples.png"
rm -rf "$out/sampled"
"$bin/runtime" sample --model "$out/model" --n 8 --temperature 0.7 --seed 2 --out-dir "$out/sampled"

echo "== 4/4 runtime score (u = 0.5 dequantization)"
"$bin/runtime" score --model "$out/model" "$out/sampled" > "$out/scores.csv"
head -n 5 "$out/scores.csv"

cat <<MSG

Done. Files:
  $out/pretrained-t{0.5,0.7,1.0}.png  64 samples each from the pretrained model (temperatures 0.5, 0.7, 1.0)
  $out/pretrained-interpolation.png  latent paths between pairs of test images (pretrained/examples)
  $out/pretrained-reconstruction.png test images (top) and their reconstructions through the flow
  $out/pretrained-ood.csv            bits/dim, complexity-corrected score and out-of-distribution flag of
                                     pretrained/examples (clothes: kept) and pretrained/examples/ood (digits: flagged)
  $out/run/curve.png            training curve (bits/dim)
  $out/run/samples/             sample grids written during training (candle)
  $out/model/                   the bundle: forward.onnx, inverse.onnx, model.json
  $out/samples.png              64 samples from inverse.onnx via ONNX Runtime (T = 0.7)
  $out/scores.csv               log_prob and bits/dim of $out/sampled/*.png from forward.onnx
MSG
