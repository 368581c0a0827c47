"""Summarizes matched-steps.sh: per evaluated step, each engine's test bits/dim (u = 0.5, the first M test
images) as mean ± sample standard deviation over the seeds, and trainer − twin with the standard error of that
difference (independent seeds). Standard library only.

    python3 docs/results/side-by-side/matched_steps.py DIR SEED [SEED ...]
"""

import csv
import json
import math
import os
import statistics
import sys


def trainer_curve(path):
    with open(path, newline="") as f:
        return {int(r["step"]): float(r["test_bpd"]) for r in csv.DictReader(f) if r["test_bpd"]}


def pytorch_curve(path):
    with open(path) as f:
        return {int(step): float(bpd) for step, bpd in json.load(f)["curve"]}


def spread(values):
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, seeds = sys.argv[1], sys.argv[2:]
    curves = {
        "trainer": [trainer_curve(os.path.join(out, f"trainer-seed{s}.csv")) for s in seeds],
        "pytorch": [pytorch_curve(os.path.join(out, f"pytorch-seed{s}.json")) for s in seeds],
    }
    steps = sorted(set.intersection(*(set(c) for engine in curves.values() for c in engine)))
    if not steps:
        sys.exit(f"matched_steps: no step is evaluated in every run under {out}")
    print(f"seeds {' '.join(seeds)}; test bits/dim at u = 0.5, mean ± sd over the seeds")
    print("| step | trainer fit | PyTorch twin | trainer − twin (± se) |")
    print("|---:|---:|---:|---:|")
    for step in steps:
        t = [c[step] for c in curves["trainer"]]
        p = [c[step] for c in curves["pytorch"]]
        se = math.sqrt(spread(t) ** 2 / len(t) + spread(p) ** 2 / len(p))
        print(
            f"| {step:,} | {statistics.mean(t):.4f} ± {spread(t):.4f} | {statistics.mean(p):.4f} ± {spread(p):.4f} "
            f"| {statistics.mean(t) - statistics.mean(p):+.4f} ± {se:.4f} |"
        )


if __name__ == "__main__":
    main()
