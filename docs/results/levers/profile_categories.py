"""Shares of a training step by kind of work, from `perf script` output of a call-graph profile.

    perf record -F 199 --call-graph dwarf,16384 -o step.data \
        target/release/examples/bench_step fmnist-small 64 5
    perf script -i step.data > step.txt
    python3 docs/results/levers/profile_categories.py step.txt

Each sample goes to the first category whose pattern appears in its innermost eight frames
(rayon worker stacks do not reach the candle op that started the work, so the categories name
kernels, not ops). Used for docs/benchmarks.md, "Session 10".
"""

import collections
import re
import sys

CATEGORIES = [
    ("gemm (microkernels, packing)", lambda leaf, s: leaf.startswith("gemm") or ("gemm_" in s and "matmul" in s)),
    ("transposes", lambda leaf, s: "transpose" in s),
    ("Winograd tile and kernel transforms", lambda leaf, s: "winograd" in s and ("tiles" in s or "transform_kernel" in s)),
    ("batch norm, ReLU, per-channel reductions", lambda leaf, s: "channel_ops" in s or "batch_norm" in s),
    ("direct convolutions (the nets' input and output layers)", lambda leaf, s: "im2col" in s or "direct_conv" in s),
    ("candle's own ops (couplings, flow, autograd)", lambda leaf, s: "candle_core" in s),
    ("memset, memcpy, page faults", lambda leaf, s: any(k in leaf for k in ("memset", "memmove", "memcpy", "clear_page")) or "page_fault" in s),
]


def frames(sample: str) -> list[str]:
    out = []
    for line in sample.strip().split("\n")[1:]:
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            out.append(re.sub(r"\+0x[0-9a-f]+", "", parts[1].rsplit(" (", 1)[0]))
    return out


def main(path: str) -> None:
    counts: collections.Counter[str] = collections.Counter()
    for sample in open(path).read().split("\n\n"):
        stack = frames(sample)
        if not stack:
            continue
        inner = " ".join(stack[:8])
        name = next((n for n, hit in CATEGORIES if hit(stack[0], inner)), "other (scheduling, rayon, gemm dispatch)")
        counts[name] += 1
    total = sum(counts.values())
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")
    print(f"{total} samples")


if __name__ == "__main__":
    main(sys.argv[1])
