"""Scores a bundle's forward.onnx on the full Fashion-MNIST test set in ONNX Runtime (Python), outside the
project's Rust code: random dequantization (K = 1, one u ~ U[0,1) per pixel, seeded) and u = 0.5.

    .venv/bin/python docs/results/fmnist/onnx_eval.py pretrained/fmnist [--seed 0]

Reads the names it needs from the bundle's model.json ("files") and the graph's own input/output names.
"""

import argparse
import gzip
import json
import os

import numpy as np
import onnxruntime as ort

TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bundle")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args()
    with open(os.path.join(args.bundle, "model.json")) as f:
        card = json.load(f)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        os.path.join(args.bundle, card["files"]["forward"]), options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    bpd_index = next(i for i, name in enumerate(outputs) if "bits" in name)
    pixels = load_idx(TEST).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    results = {}
    for label, noise in [("u = 0.5", lambda shape: np.full(shape, 0.5, np.float32)),
                         ("random u, K = 1", lambda shape: rng.random(shape, dtype=np.float32))]:
        total = 0.0
        for start in range(0, len(pixels), args.batch):
            x = pixels[start : start + args.batch]
            bpd = session.run(None, {input_name: x + noise(x.shape)})[bpd_index]
            total += float(np.sum(bpd.astype(np.float64)))
        results[label] = total / len(pixels)
    print(f"{args.bundle} (pair id {card['pair_id']}), {len(pixels)} test images, onnxruntime {ort.__version__}")
    for label, value in results.items():
        print(f"  {label}: {value:.4f} bits/dim")


if __name__ == "__main__":
    main()
