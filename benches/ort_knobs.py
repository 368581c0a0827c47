"""ONNX Runtime session settings on the pretrained bundle's graphs (issue 17, inference): which knobs matter.

usage: ort_knobs.py BUNDLE_DIR [ROUNDS]
Prints, per setting, median seconds per call at batch 1 and images/s at batch 64 and 256, for forward.onnx
(scoring) and inverse.onnx (sampling), settings interleaved round by round so drift hits them alike.
"""
import os, statistics, sys, tempfile, time

import numpy as np
import onnxruntime as ort

bundle, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
L = ort.GraphOptimizationLevel
cache_dir = tempfile.mkdtemp()


def options(level=L.ORT_ENABLE_ALL, spin=True, arena=True, pattern=True, inter=1, cache=None):
    o = ort.SessionOptions()
    o.graph_optimization_level = level
    o.intra_op_num_threads = THREADS
    o.inter_op_num_threads = inter
    o.enable_cpu_mem_arena = arena
    o.enable_mem_pattern = pattern
    o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if cache:
        o.optimized_model_filepath = cache
    return o


SETTINGS = {
    "default (all, spin, arena, pattern)": {},
    "basic optimizations": {"level": L.ORT_ENABLE_BASIC},
    "extended optimizations": {"level": L.ORT_ENABLE_EXTENDED},
    "no spinning": {"spin": False},
    "no arena": {"arena": False},
    "no memory pattern": {"pattern": False},
}

rng = np.random.default_rng(0)
x = {b: (rng.integers(0, 256, size=(b, 1, 28, 28)) + 0.5).astype(np.float32) for b in (1, 64, 256)}
z = {b: rng.standard_normal((b, 784)).astype(np.float32) for b in (1, 64, 256)}


def timed(sess, name, feed, calls):
    sess.run(None, {name: feed})  # warm-up
    t = time.perf_counter()
    for _ in range(calls):
        sess.run(None, {name: feed})
    return (time.perf_counter() - t) / calls


results = {}
for r in range(rounds):
    for label, kw in SETTINGS.items():
        for graph, name, data in (("forward", "x", x), ("inverse", "z", z)):
            t0 = time.perf_counter()
            sess = ort.InferenceSession(os.path.join(bundle, f"{graph}.onnx"), options(**kw),
                                        providers=["CPUExecutionProvider"])
            load = time.perf_counter() - t0
            row = results.setdefault((label, graph), {"load": [], 1: [], 64: [], 256: []})
            row["load"].append(load)
            row[1].append(timed(sess, name, data[1], 40))
            row[64].append(64 / timed(sess, name, data[64], 4))
            row[256].append(256 / timed(sess, name, data[256], 2))

print(f"ONNX Runtime {ort.__version__}, {THREADS} intra-op threads, medians of {rounds} interleaved rounds")
print("| setting | graph | session load s | batch 1 ms/call | batch 64 images/s | batch 256 images/s |")
print("|---|---|---:|---:|---:|---:|")
for (label, graph), row in results.items():
    med = {k: statistics.median(v) for k, v in row.items()}
    print(f"| {label} | {graph} | {med['load']:.3f} | {med[1] * 1e3:.2f} | {med[64]:.1f} | {med[256]:.1f} |")
