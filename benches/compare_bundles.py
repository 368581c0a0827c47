"""Throughput of two bundles of the same model under ONNX Runtime, measured alternately.

    .venv/bin/python benches/compare_bundles.py OLD_BUNDLE NEW_BUNDLE [--threads 2] [--rounds 8]

For an A/B of an export change (for example docs/benchmarks.md's Mul/Add versus
BatchNormalization graphs): both bundles' forward and inverse graphs run in one process, in
alternating rounds, so that load from other processes on a shared machine hits both alike.
Prints, per batch (1, 64, 256) and direction, the best and median images/s of each bundle and
NEW ÷ OLD. Image bundles only (input `x` `[N, C, H, W]` in pixel units, latent `z` `[N, L]`).
"""

import argparse
import time

import numpy as np
import onnxruntime as ort


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    bundles = {
        name: (session(f"{d}/forward.onnx", args.threads), session(f"{d}/inverse.onnx", args.threads))
        for name, d in (("old", args.old), ("new", args.new))
    }
    data_shape = [int(d) for d in bundles["old"][0].get_inputs()[0].shape[1:]]
    latent = int(np.prod(data_shape))
    rng = np.random.default_rng(0)
    print(f"# onnxruntime {ort.__version__}, {args.threads} intra-op threads, {args.rounds} rounds")
    for batch in (1, 64, 256):
        x = (rng.random([batch] + data_shape) * 255).astype(np.float32)
        z = (rng.standard_normal((batch, latent)) * 0.7).astype(np.float32)
        times = {(b, w): [] for b in bundles for w in ("score", "sample")}
        reps = 60 if batch == 1 else 2
        for _ in range(args.rounds):
            for name, (forward, inverse) in bundles.items():
                for what, s, feed in (("score", forward, {"x": x}), ("sample", inverse, {"z": z})):
                    s.run(None, feed)
                    for _ in range(reps):
                        t = time.perf_counter()
                        s.run(None, feed)
                        times[(name, what)].append(time.perf_counter() - t)
        for what in ("score", "sample"):
            old, new = np.array(times[("old", what)]), np.array(times[("new", what)])
            print(
                f"batch {batch} {what}: old best {batch / old.min():.0f} median {batch / np.median(old):.0f} img/s; "
                f"new best {batch / new.min():.0f} median {batch / np.median(new):.0f} img/s; "
                f"new/old best {old.min() / new.min():.2f}x median {np.median(old) / np.median(new):.2f}x"
            )


if __name__ == "__main__":
    main()
