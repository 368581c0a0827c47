"""Shared fixtures of the realnvp package's tests.

The reference numbers come from the `runtime` binary built from the same tree (target/release/runtime, or
$REALNVP_RUNTIME_BIN), run in the same test session: the package must give exactly what `runtime score` and
`runtime sample` give, since it is the same code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import realnvp

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "pretrained" / "fmnist"
FIXTURE_SCRIPT = ROOT / "runtime" / "tests" / "make_fixture_bundle.py"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fmnist_pngs import fashion_mnist_test, write_png  # noqa: E402


def runtime_binary() -> Path:
    """The CLI built from this tree; its absence is a failure, not a skip (`make python-test` builds it)."""
    binary = Path(os.environ.get("REALNVP_RUNTIME_BIN", ROOT / "target" / "release" / "runtime"))
    if not binary.is_file():
        pytest.fail(
            f"{binary} is missing: build it with `cargo build --release --workspace --bin runtime` "
            "(make python-test does)"
        )
    return binary


def cli_env() -> dict:
    """The environment of CLI runs: ORT_DYLIB_PATH as given, else the onnxruntime package's library."""
    env = dict(os.environ)
    if not env.get("ORT_DYLIB_PATH"):
        library = realnvp.onnxruntime_package_library()
        assert library, "the tests need the onnxruntime package (pip install onnxruntime==1.31.1)"
        env["ORT_DYLIB_PATH"] = library
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Runs `runtime ARGS...`, failing the test with its stderr when it fails."""
    proc = subprocess.run(
        [str(runtime_binary()), *args], capture_output=True, text=True, env=cli_env(), timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(f"runtime {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def cli_score(paths, *, ood: bool = False) -> list:
    """`runtime score --model BUNDLE --format json [--ood] PATHS...`, parsed."""
    args = ["score", "--model", str(BUNDLE), "--format", "json"]
    if ood:
        args.append("--ood")
    return json.loads(run_cli(*args, *[str(p) for p in paths]).stdout)


@pytest.fixture(scope="session")
def flow() -> realnvp.Flow:
    """The pretrained Fashion-MNIST bundle."""
    return realnvp.Flow.load(BUNDLE, device="cpu")


@pytest.fixture(scope="session")
def pixels() -> np.ndarray:
    """200 Fashion-MNIST test images, an all-black and an all-white image, and two of uniform noise: uint8
    [204, 28, 28] (the last four are far from the training data, so the out-of-distribution flags differ)."""
    images = fashion_mnist_test(200)
    rng = np.random.default_rng(0)
    extra = [
        np.zeros((28, 28), np.uint8),
        np.full((28, 28), 255, np.uint8),
        rng.integers(0, 256, (28, 28), dtype=np.uint8),
        rng.integers(0, 256, (28, 28), dtype=np.uint8),
    ]
    return np.concatenate([images, np.stack(extra)])


@pytest.fixture(scope="session")
def png_dir(tmp_path_factory, pixels) -> Path:
    """`pixels` as PNG files img0000.png, ... (sorted = array order)."""
    out = tmp_path_factory.mktemp("pngs")
    for i, image in enumerate(pixels):
        write_png(out / f"img{i:04d}.png", image)
    return out


@pytest.fixture(scope="session")
def names_json(tmp_path_factory) -> Path:
    """The bundle format's names, for make_fixture_bundle.py."""
    path = tmp_path_factory.mktemp("names") / "names.json"
    path.write_text(realnvp._realnvp._bundle_names_json())
    return path


@pytest.fixture(scope="session")
def make_fixture(tmp_path_factory, names_json):
    """Writes a fixture bundle with runtime/tests/make_fixture_bundle.py (needs the `onnx` package)."""
    pytest.importorskip("onnx", reason="make_fixture_bundle.py needs the onnx package")

    def make(name: str, *args: str) -> Path:
        out = tmp_path_factory.mktemp("fixtures") / name
        subprocess.run(
            [sys.executable, str(FIXTURE_SCRIPT), str(out), "--names", str(names_json), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return out

    return make


@pytest.fixture()
def bundle_copy(tmp_path) -> Path:
    """A copy of the pretrained bundle that a test may damage."""
    out = tmp_path / "bundle"
    shutil.copytree(BUNDLE, out)
    return out
