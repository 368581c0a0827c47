"""examples/ray/score.py on 500 Fashion-MNIST test images matches `runtime score --ood`, finishes within its time
limit, and leaves no Ray process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import BUNDLE, ROOT, cli_score
from fmnist_pngs import fashion_mnist_test, write_png

SCRIPT = ROOT / "examples" / "ray" / "score.py"
LIMIT_S = 420
RAY_PROCESS_MARKERS = ("raylet", "gcs_server", "ray::", "ray/dashboard", "ray/_private", "plasma_store")


def ray_processes() -> dict:
    """PID → command line of the Ray processes on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in cmd for marker in RAY_PROCESS_MARKERS):
            found[int(entry.name)] = cmd
    return found


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray-input")
    for i, image in enumerate(fashion_mnist_test(500)):
        write_png(out / f"test{i:05d}.png", image)
    return out


@pytest.mark.timeout(LIMIT_S + 120)
@pytest.mark.parametrize("actors", [2])
def test_ray_pipeline_matches_runtime_score(images, tmp_path, actors):
    before = ray_processes()
    out = tmp_path / "scores.parquet"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    try:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--model", str(BUNDLE), "--input", str(images), "--output", str(out),
             "--actors", str(actors)],
            capture_output=True, text=True, env=env, timeout=LIMIT_S, cwd=tmp_path,
        )
    finally:
        # The script calls ray.shutdown(); give its processes a moment to exit, then end any it left (only
        # those that were not there before) and fail.
        deadline = time.monotonic() + 20
        while (left := set(ray_processes()) - set(before)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not left, f"Ray processes left behind: {[ray_processes().get(p, p) for p in left]}"
    assert "scored 500 images" in proc.stderr

    table = pq.read_table(out)
    assert table.column_names == ["path", "bits_per_dim", "ood_score", "ood"]
    got = {Path(p).name: i for i, p in enumerate(table.column("path").to_pylist())}
    assert len(got) == 500
    cli = cli_score([images], ood=True)
    order = [got[Path(r["path"]).name] for r in cli]
    bits = table.column("bits_per_dim").to_numpy()[order]
    score = table.column("ood_score").to_numpy()[order]
    flags = table.column("ood").to_numpy(zero_copy_only=False)[order]
    want_bits = np.array([r["bits_per_dim"] for r in cli], np.float32)
    want_score = np.array([r["ood_score"] for r in cli], np.float32)
    assert np.max(np.abs(bits - want_bits)) <= 1e-6
    assert np.max(np.abs(score - want_score)) <= 1e-6
    np.testing.assert_array_equal(flags, np.array([r["ood"] for r in cli]))
