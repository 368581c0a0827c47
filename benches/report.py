#!/usr/bin/env python3
"""Formats the results files of scripts/bench.sh as one markdown table (standard library only).

    python3 benches/report.py ROUND1_RESULTS [ROUND2_RESULTS ...] [RUN_RESULTS]

Input lines: `ENGINE METRIC BATCH VALUE` (see scripts/bench.sh and benches/torch_ref.py).
Engines: `candle` (training, candle inference, export, FLOP counts, matmul peak), `runtime` (the
runtime crate: ONNX Runtime from Rust on our bundle), `torch` (PyTorch eager), `ort` (ONNX Runtime
from Python on PyTorch's own export), `machine`.
"""

import sys

BATCHES = ["1", "64", "256"]


def load(paths):
    """Merges results files (one per round, then the whole run's): a measurement is the median of
    its values over the files that have it; a `machine` line is the last file's that has it."""
    values = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    values.setdefault(tuple(parts[:3]), []).append(parts[3])
    r = {}
    for key, vs in values.items():
        try:
            nums = sorted(float(v) for v in vs)
        except ValueError:
            nums = None
        if key[0] == "machine" or nums is None:
            r[key] = vs[-1]
        else:
            mid = len(nums) // 2
            r[key] = str(nums[mid] if len(nums) % 2 else (nums[mid - 1] + nums[mid]) / 2)
    return r


def main():
    r = load(sys.argv[1:])

    def num(engine, metric, batch="-"):
        v = r.get((engine, metric, str(batch)))
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    def f(v, digits=1):
        return "—" if v is None else f"{v:,.{digits}f}"

    def ratio(a, b):
        return "—" if a is None or not b else f"{a / b:.2f}×"

    # The machine's limit: the faster of candle's matmul (the gemm crate as candle builds it) and
    # PyTorch's (MKL/oneDNN), both f32 on the same cores.
    peak_candle = num("candle", "matmul_peak")
    peak_torch = num("torch", "matmul_gflops", 2048)
    peak = max((p for p in (peak_candle, peak_torch) if p), default=None)
    fwd = num("candle", "flops_forward_per_image")
    train = num("candle", "flops_train_per_image")

    def gflops(img_s, per_image):
        if img_s is None or per_image is None:
            return "—"
        g = img_s * per_image / 1e9
        return f"{g:.1f} ({100 * g / peak:.0f}%)" if peak else f"{g:.1f}"

    cpu = r.get(("machine", "cpu", "-"), "?").replace("_", " ")
    cores = r.get(("machine", "cores", "-"), "?")
    threads = r.get(("machine", "threads", "-"), "?")
    runs = r.get(("machine", "runs", "-"), "?")
    rounds = r.get(("machine", "rounds", "-"), "1")
    p_ours, p_an, p_torch = (num("candle", "params_trainable"), num("candle", "params_analytic"), num("torch", "params"))
    print(f"fmnist-small on CPU, {threads} threads — {cpu}, {cores} cores; medians of {runs} runs "
          f"(×40 at batch 1), one process per engine and batch; each cell the median over {rounds} rounds.")
    print()
    print(f"- Trainable parameters: candle {f(p_ours, 0)}, analytic {f(p_an, 0)}, PyTorch {f(p_torch, 0)}"
          + (" (match)" if p_ours == p_torch == p_an and p_ours else " (MISMATCH)"))
    print(f"- FLOPs per image (3×3 convs, analytic): {f(fwd and fwd / 1e9, 3)} GFLOP scoring or sampling, "
          f"{f(train and train / 1e9, 3)} GFLOP training (3× forward)")
    mm = ", ".join(f"{n}³ {f(num('candle', 'matmul_gflops', n), 0)}" for n in ("1024", "2048"))
    print(f"- Machine peak, f32 matmul on {threads} threads: **{f(peak, 0)} GFLOP/s**, the faster of "
          f"candle/gemm ({mm}) and PyTorch (2048³ {f(peak_torch, 0)}); the % below are of this peak")
    print()
    print("| measurement | batch | candle | runtime (ORT, Rust) | PyTorch eager | ORT (Python) on PyTorch's export "
          "| ours ÷ PyTorch eager | runtime ÷ ORT on PyTorch's export |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def row(name, batch, cells, r1="", r2=""):
        print(f"| {name} | {batch} | " + " | ".join(cells) + f" | {r1} | {r2} |")

    c_tr = num("candle", "train_img_s", 64)
    t_tr = num("torch", "train_img_s", 64)
    row("training images/s (fwd+bwd+Adam)", 64, [f(c_tr), "—", f(t_tr), "—"], ratio(c_tr, t_tr) + " (candle)")
    row("training s/step", 64, [f(c_tr and 64 / c_tr, 3), "—", f(num("torch", "train_step_s", 64), 3), "—"])
    row("training GFLOP/s (% of peak)", 64, [gflops(c_tr, train), "—", gflops(t_tr, train), "—"])
    c_dir = num("candle_direct", "train_img_s", 64)
    row("training images/s, direct convolutions (no Winograd)", 64, [f(c_dir), "—", f(t_tr), "—"],
        ratio(c_dir, t_tr) + " (candle)")
    c_256, t_256 = num("candle", "train_img_s", 256), num("torch", "train_img_s", 256)
    row("training images/s", 256, [f(c_256), "—", f(t_256), "—"], ratio(c_256, t_256) + " (candle)")
    c_l, t_l = num("candle", "train_large_img_s", 64), num("torch", "train_large_img_s", 64)
    row("training images/s, fmnist-paper", 64, [f(c_l), "—", f(t_l), "—"], ratio(c_l, t_l) + " (candle)")
    large = num("candle", "flops_train_per_image_large")
    row("training GFLOP/s (% of peak), fmnist-paper", 64, [gflops(c_l, large), "—", gflops(t_l, large), "—"])
    row("training peak RSS MiB", 64, [f(num("candle", "rss_mib", "train"), 0), "—", f(num("torch", "rss_mib", "train"), 0), "—"])
    for what in ("score", "sample"):
        label = "scoring" if what == "score" else "sampling"
        for b in BATCHES:
            c, rt, t, o = (num(e, what, b) for e in ("candle", "runtime", "torch", "ort"))
            row(f"{label} images/s", b, [f(c), f(rt), f(t), f(o)], ratio(rt, t), ratio(rt, o))
        b = BATCHES[-1]
        row(f"{label} GFLOP/s (% of peak)", b,
            [gflops(num(e, what, b), fwd) for e in ("candle", "runtime", "torch", "ort")])
    for b in BATCHES:
        row("scoring+sampling peak RSS MiB", b, [f(num(e, "rss_mib", b), 0) for e in ("candle", "runtime", "torch", "ort")])
    c_ex, t_ex = num("candle", "export_s"), num("torch", "export_s")
    row("export s (both graphs)", "—", [f(c_ex, 2), "—", f(t_ex, 2), "—"], ratio(c_ex, t_ex) + " (time)")
    row("export peak RSS MiB", "—", [f(num("candle", "rss_mib", "export"), 0), "—", f(num("torch", "rss_mib", "export"), 0), "—"])
    print()
    wall = num("machine", "wall_s")
    s0, s1 = num("machine", "stall_start_us"), num("machine", "stall_end_us")
    stall = f"{100 * (s1 - s0) / 1e6 / wall:.0f}%" if None not in (s0, s1) and wall else "?"
    print(f"Ratios > 1× mean ours is faster (export: ours takes that multiple of PyTorch's time). "
          f"Measurements took {f(wall, 0)} s; 1-minute load average "
          f"{r.get(('machine', 'load_start', '-'), '?')} at the start, {r.get(('machine', 'load_end', '-'), '?')} at the end "
          f"(the start value, before any benchmark process, is below 1 on a quiet machine; above that, "
          f"other processes were using the cores and every figure is low); some task waited for a CPU during "
          f"{stall} of the time (Linux PSI; per step in round*/logs/stall.txt).")


if __name__ == "__main__":
    main()
