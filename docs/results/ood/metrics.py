"""AUROC, AUPR and FPR at 95% TPR of each score, and histograms, from `runtime score --ood --format json`.

usage: metrics.py IN.json OUT.json CALIBRATION_HELD_IN.json IMG_DIR > table.md
  IN.json   the 10,000 Fashion-MNIST test images (in distribution, the positive class is OUT)
  OUT.json  the 10,000 MNIST digits (out of distribution)
  CALIBRATION_HELD_IN.json  the 5,000 test images that calibration did not see (for the flag rates)
Larger scores mean "more out of distribution" for every statistic: -log p is bits/dim itself.
"""
import json, sys

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

inn, out, held, img_dir = (json.load(open(sys.argv[1])), json.load(open(sys.argv[2])),
                           json.load(open(sys.argv[3])), sys.argv[4])
STATS = [("bits_per_dim", "−log p (bits/dim)"), ("complexity_corrected", "S = bits/dim − L (complexity-corrected)"),
         ("typicality", "typicality: abs(bits/dim − test mean)")]


def auroc(s_in, s_out):
    # Mann-Whitney U with mid-ranks for ties: P(score_out > score_in) + 0.5 P(equal).
    s = np.concatenate([s_in, s_out])
    order = s.argsort(kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_out = ranks[len(s_in):].sum()
    return (r_out - len(s_out) * (len(s_out) + 1) / 2) / (len(s_in) * len(s_out))


def aupr(s_in, s_out):
    # Average precision with OUT as the positive class.
    s = np.concatenate([s_in, s_out])
    y = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    y = y[np.argsort(-s, kind="mergesort")]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    return float((precision * y).sum() / y.sum())


def fpr_at_95_tpr(s_in, s_out):
    # The largest threshold that still flags 95% of OUT; the share of IN above it.
    t = np.quantile(s_out, 0.05, method="lower")
    return float((s_in >= t).mean())


rows = []
for key, label in STATS:
    a = np.array([d[key] for d in inn], dtype=np.float64)
    b = np.array([d[key] for d in out], dtype=np.float64)
    rows.append((key, label, auroc(a, b), aupr(a, b), fpr_at_95_tpr(a, b), a.mean(), b.mean()))
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 80)
    ax.hist(a, bins=bins, alpha=0.6, label=f"Fashion-MNIST test ({len(a):,}, in)", color="#1f77b4")
    ax.hist(b, bins=bins, alpha=0.6, label=f"MNIST ({len(b):,}, out)", color="#d62728")
    ax.set_xlabel(label)
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{img_dir}/ood-{key}.png")
    plt.close(fig)

print("| score | AUROC | AUPR (MNIST positive) | FPR at 95% TPR | mean, Fashion-MNIST | mean, MNIST |")
print("|---|---|---|---|---|---|")
for key, label, roc, pr, fpr, ma, mb in rows:
    print(f"| {label} | {roc:.4f} | {pr:.4f} | {fpr:.4f} | {ma:.3f} | {mb:.3f} |")

flag_in = np.mean([d["ood"] for d in held])
flag_out = np.mean([d["ood"] for d in out])
print()
print(f"`ood` flag (calibrated at 5% on the other 5,000 test images): {flag_in:.2%} of the {len(held):,} held-out "
      f"Fashion-MNIST test images flagged, {flag_out:.2%} of the {len(out):,} MNIST digits flagged.")
