#!/usr/bin/env bash
# How long `make demo` takes on a machine with nothing cached: clones this repository's HEAD into a fresh
# directory, builds with an empty CARGO_HOME (every crate downloaded) and no pip cache, and prints when the first
# picture (out/demo/pretrained-t0.5.png) was on disk and when the demo ended. apt packages are whatever the machine
# has (setup.sh installs protoc and the Fashion-MNIST package only when missing). Run it with nothing else busy.
#
#   bash scripts/demo-timing.sh [WORK_DIR]     # log: WORK_DIR/demo.log
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
rm -rf "$work/clone" "$work/cargo-home"
git clone -q "$repo" "$work/clone"
mkdir -p "$work/cargo-home"
cd "$work/clone"
export CARGO_HOME=$work/cargo-home PATH=$HOME/.cargo/bin:$PATH PIP_NO_CACHE_DIR=1
start=$(date +%s.%N)
(
  while [ ! -f out/demo/pretrained-t0.5.png ]; do sleep 0.5; done
  echo "first picture after $(echo "$(date +%s.%N) - $start" | bc) s"
) &
watcher=$!
status=0
make demo >"$work/demo.log" 2>&1 || status=$?
end=$(date +%s.%N)
kill "$watcher" 2>/dev/null || true
grep -E "Finished|^done:" "$work/demo.log" || true
echo "make demo: exit $status after $(echo "$end - $start" | bc) s (log: $work/demo.log)"
exit "$status"
