#!/usr/bin/env python3
"""Batch scoring of a folder of images on a Ray cluster with the `realnvp` package (docs/scale-out.md).

    python examples/ray/score.py --model pretrained/fmnist --input images/ --output scores.parquet [--actors K]
                                 [--address ADDR]

A Ray Data pipeline: the image files are read by Ray's read tasks (`read_binary_files`), decoded and scored by
`--actors` actors that each hold one `realnvp.Flow` (`map_batches` with a class), and written as Parquet with
the columns `path, bits_per_dim, ood_score, ood`. The scores are the runtime's: images are decoded with its
rules (`Flow.images_from_bytes`) and scored at their bin centres against the bundle's `calibration.json`, as
`runtime score --ood` does.

`--output` is a directory of Parquet files (Ray writes one per block; `pyarrow.parquet.read_table(OUT)` reads
it whole). It is written next to its final place and swapped in, so a failed run leaves the old one.

Without `--address` it starts a local Ray cluster (`ray.init()`); with `--address auto` or `HOST:6379` it joins
an existing one, whose every node must see the bundle and the input at the same paths.

CPU sizing: each actor asks Ray for `--actor-cpus` (0.5) CPUs. On a small machine, actors that each hold a
whole CPU leave none to the read tasks, and the pipeline waits forever; with fractional actors the reads
always get a CPU. ONNX Runtime inside each actor uses `--threads` threads (default: the cluster's CPUs per
actor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

COLUMNS = ["path", "bits_per_dim", "ood_score", "ood"]


class Scorer:
    """One `realnvp.Flow` per Ray actor: decodes a batch of image files and scores it."""

    def __init__(self, model: str, threads: Optional[int], device: str, calibration: Optional[str]):
        import realnvp

        self.flow = realnvp.Flow.load(model, device=device, threads=threads)
        self.calibration = calibration

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        pixels = self.flow.images_from_bytes(list(batch["bytes"]), names=paths)
        scores = self.flow.ood(pixels, calibration=self.calibration)
        return {
            "path": np.array(paths, dtype=object),
            "bits_per_dim": scores["bits_per_dim"],
            "ood_score": scores["ood_score"],
            "ood": scores["ood"],
        }


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="bundle directory (every node must see it at this path)")
    p.add_argument("--input", required=True, help="a folder of PNG/JPEG images, or a path Ray can read")
    p.add_argument("--output", required=True, help="Parquet output (a directory of .parquet files)")
    p.add_argument("--actors", type=int, default=None, help="scoring actors (default: cluster CPUs / 2, >= 1)")
    p.add_argument("--actor-cpus", type=float, default=0.5, help="CPUs Ray reserves per actor (default 0.5)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads per actor")
    p.add_argument("--batch-size", type=int, default=256, help="images per actor call")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--calibration", default=None, help="calibration file (default: the bundle's)")
    p.add_argument("--address", default=None, help="an existing Ray cluster (auto or HOST:PORT)")
    args = p.parse_args(argv)
    if args.actors is not None and args.actors < 1:
        p.error("--actors must be at least 1")
    if not 0 < args.actor_cpus:
        p.error("--actor-cpus must be > 0 (fractions such as 0.5 leave CPUs to the read tasks)")
    return args


def input_paths(source: str) -> List[str]:
    """A local folder by the runtime's folder rule (recursive, hidden names skipped, sorted); anything else
    (a file, a remote URI) as given, for Ray to list."""
    if os.path.isdir(source):
        import realnvp

        return [str(p) for p in realnvp.input_files(source)]
    return [source]


def replace_dir(tmp: Path, out: Path) -> None:
    """Moves `tmp` to `out`, replacing an earlier output that holds only Parquet files."""
    if out.exists():
        foreign = [p.name for p in out.iterdir() if not p.name.endswith(".parquet")] if out.is_dir() else [out.name]
        if foreign:
            shutil.rmtree(tmp)
            raise SystemExit(f"{out} exists and holds {foreign[:3]}, not only Parquet files: choose another --output")
        shutil.rmtree(out)
    tmp.rename(out)


def run(args: argparse.Namespace) -> int:
    import ray

    out = Path(args.output).absolute()
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    paths = input_paths(args.input)
    started = False
    try:
        ray.init(address=args.address, include_dashboard=False, logging_level="WARNING",
                 log_to_driver=False)
        started = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        actors = args.actors or max(1, int(cpus // 2))
        threads = args.threads or max(1, int(cpus // actors))
        t0 = time.perf_counter()
        ds = ray.data.read_binary_files(paths, include_paths=True)
        ds = ds.map_batches(
            Scorer,
            fn_constructor_kwargs=dict(model=str(Path(args.model).absolute()), threads=threads,
                                       device=args.device, calibration=args.calibration),
            batch_size=args.batch_size,
            batch_format="numpy",
            concurrency=actors,
            num_cpus=args.actor_cpus,
        )
        ds.write_parquet(str(tmp))
        seconds = time.perf_counter() - t0
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if started:
            ray.shutdown()
    replace_dir(tmp, out)

    import pyarrow.parquet as pq

    table = pq.read_table(out, columns=COLUMNS)
    n = table.num_rows
    bits = table.column("bits_per_dim").to_numpy()
    flagged = int(np.sum(table.column("ood").to_numpy(zero_copy_only=False)))
    print(
        f"scored {n} images in {seconds:.1f} s ({n / seconds:.0f} images/s) with {actors} actors × {threads} "
        f"threads on {cpus:g} CPUs: mean {bits.mean():.4f} bits/dim (u = 0.5), {flagged} flagged; wrote {out}",
        file=sys.stderr,
    )
    return 0


def main() -> None:
    # A SIGTERM (a scheduler's cancel, `timeout`) unwinds through run()'s `finally`, so the local Ray
    # cluster is shut down instead of left running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(run(parse_args()))


if __name__ == "__main__":
    main()
