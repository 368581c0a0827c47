#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target in fuzz/ (one per loader of outside input, docs/fuzzing.md), each for
# FUZZ_SECONDS (60) seconds, starting from the committed seeds (fuzz/seeds/TARGET) and the corpus that earlier
# runs grew (fuzz/corpus/TARGET, not in git). Stops at the first crash: libFuzzer writes the input to
# fuzz/artifacts/TARGET/, `cargo fuzz run TARGET FILE` replays it; make it a regression test and fix the loader.
#
# Knobs (environment): FUZZ_SECONDS (60), FUZZ_TARGETS (all, space-separated), FUZZ_SANITIZER (address;
# `none` builds faster and finds panics, overflows and hangs the same way, but not memory errors in unsafe code).
# cargo-fuzz needs nightly features: on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-60}
SANITIZER=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)" >&2
  cargo install cargo-fuzz --locked
fi

TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
for target in $TARGETS; do
  cargo fuzz build --sanitizer "$SANITIZER" "$target"
done

summary=()
for target in $TARGETS; do
  corpus=$PWD/fuzz/corpus/$target
  mkdir -p "$corpus"
  echo "== fuzzing $target for ${SECONDS_EACH}s" >&2
  # -rss_limit_mb: the loaders' inputs are small; a run near 2 GB is a blow-up worth a crash report.
  # -timeout: one input taking 10 s is a hang. -max_len: the largest seed (a 784-pixel npm file) fits.
  status=0
  cargo fuzz run --sanitizer "$SANITIZER" "$target" "$corpus" "$PWD/fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
    -print_final_stats=1 >"fuzz/$target.log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|INFO: seed corpus|==[0-9]+==|SUMMARY|Done [0-9]+ runs)|panicked" "fuzz/$target.log" >&2 || true
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "fuzz/$target.log" | grep -oE "[0-9]+$" || echo "?")
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target FAILED (exit $status): see fuzz/$target.log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
  summary+=("$target: $runs runs in ${SECONDS_EACH}s, no crash")
done
printf '%s\n' "${summary[@]}"
