#!/usr/bin/env bash
# usage: gapfm.sh BIN_DIR RUN_DIR SEED STEPS...  -- fmnist-small on full Fashion-MNIST, in segments; u=0.5 vs random-u on 2000 test images
set -eu
bin=$1; run=$2; seed=$3; shift 3
first=1
for s in "$@"; do
  if [ $first = 1 ]; then
    $bin/trainer fit --preset fmnist-small --data fmnist --out $run --steps $s --seed $seed --eval-every 100000 --sample-every 0 >/dev/null 2>&1
    first=0
  else
    $bin/trainer fit --out $run --resume --steps $s >/dev/null 2>&1
  fi
  half=$($bin/trainer eval --run $run --limit 2000 2>&1 | grep "u = 0.5" | grep -o "[0-9.]* bits")
  rnd=$($bin/trainer eval --run $run --limit 2000 --samples 1 2>&1 | grep "K = 1" | grep -o "[0-9.]* bits")
  echo "step $s | u=0.5: $half | random u: $rnd"
done
