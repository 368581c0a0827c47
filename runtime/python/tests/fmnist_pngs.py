#!/usr/bin/env python3
"""Fashion-MNIST test images as PNG files, for the tests and the throughput figures of docs/scale-out.md.

Reads the IDX file of the Debian package `dataset-fashion-mnist` (installed by `make setup`) and writes 8-bit
grey PNGs with a small writer of its own (zlib only, no imaging library).

    python fmnist_pngs.py OUT_DIR [--count N]      # OUT_DIR/test00000.png, ...
"""

from __future__ import annotations

import argparse
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

IDX = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def fashion_mnist_test(count: int, idx: Path = IDX) -> np.ndarray:
    """The first `count` of the 10,000 Fashion-MNIST test images, uint8 [count, 28, 28]."""
    if not idx.is_file():
        raise FileNotFoundError(f"{idx} is missing: `make setup` installs the Debian package dataset-fashion-mnist")
    data = gzip.decompress(idx.read_bytes())
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        raise ValueError(f"{idx}: not an IDX file of uint8 images (magic {magic:#x})")
    if count > n:
        raise ValueError(f"{idx} holds {n} images, {count} asked for")
    pixels = np.frombuffer(data, np.uint8, count * rows * cols, offset=16)
    return pixels.reshape(count, rows, cols)


def png_bytes(image: np.ndarray) -> bytes:
    """An 8-bit grey PNG of `image` (uint8 [H, W])."""
    height, width = image.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_png(path: Path, image: np.ndarray) -> None:
    """Writes `image` (uint8 [H, W]) as a PNG file."""
    Path(path).write_bytes(png_bytes(image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(fashion_mnist_test(args.count)):
        write_png(args.out / f"test{i:05d}.png", image)
    print(f"wrote {args.count} PNGs to {args.out}")


if __name__ == "__main__":
    main()
