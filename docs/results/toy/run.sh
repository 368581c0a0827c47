#!/usr/bin/env bash
# The seed's four 2-D sets (docs/results.md, "2-D toy sets"): the `moons` preset (8 MLP couplings, 256
# hidden units) trained on each set, scored on its held-out points, and the figure of the last step
# (test data | samples | learned density) copied to docs/img/toy-SET.png.
#
#   bash docs/results/toy/run.sh [STEPS=3000]
#
# Needs `make build`. Logs and metrics land next to this script.
set -euo pipefail
cd "$(dirname "$0")/../../.."
steps=${1:-3000}
out=docs/results/toy
for set in moons circles blobs random; do
  run=$(mktemp -d)/$set
  {
    echo "# toy:$set, $steps steps of 256, lr 1e-3, seed 0"
    target/release/trainer fit --preset moons --data "toy:$set" --out "$run" --steps "$steps" \
      --batch-size 256 --lr 1e-3 --seed 0 --eval-every "$steps" --sample-every "$steps" \
      --checkpoint-every "$steps" --eval-examples 0 --device cpu
    target/release/trainer eval --run "$run" --data "toy:$set" --device cpu
  } 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*[0-9:]* \[' | tee "$out/$set.log"
  cp "$run/metrics.csv" "$out/$set-metrics.csv"
  cp "$run/samples/step-$steps.png" "docs/img/toy-$set.png"
done
