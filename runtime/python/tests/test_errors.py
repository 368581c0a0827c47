"""Every bad input raises a realnvp.Error subclass carrying the runtime's message, which names the problem."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import realnvp
from conftest import BUNDLE


@contextlib.contextmanager
def raises(cls, *fragments):
    """`pytest.raises(cls)` that also checks that the error is a realnvp.Error and each fragment is in its
    message."""
    with pytest.raises(cls) as info:
        yield info
    message = str(info.value)
    assert isinstance(info.value, realnvp.Error), type(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_hierarchy():
    assert issubclass(realnvp.InputError, realnvp.Error) and issubclass(realnvp.InputError, ValueError)
    assert issubclass(realnvp.InputTypeError, TypeError)
    assert issubclass(realnvp.MissingFileError, FileNotFoundError)
    assert issubclass(realnvp.BundleError, ValueError)
    assert issubclass(realnvp.LibraryError, OSError)


def test_wrong_shape(flow):
    with raises(realnvp.InputError, "x has shape (2, 28, 27)", "(N, 1, 28, 28) or (N, 28, 28)"):
        flow.bits_per_dim(np.zeros((2, 28, 27), np.uint8))
    with raises(realnvp.InputError, "x has shape (28, 28)", "x[None]"):
        flow.bits_per_dim(np.zeros((28, 28), np.uint8))
    with raises(realnvp.InputError, "z has shape (2, 783)", "(N, 784)"):
        flow.decode(np.zeros((2, 783), np.float32))


def test_wrong_dtype(flow):
    with raises(realnvp.InputTypeError, "dtype float64", "uint8 pixels", "float32"):
        flow.bits_per_dim(np.zeros((2, 1, 28, 28)))
    with raises(realnvp.InputTypeError, "dtype int64"):
        flow.log_prob(np.zeros((2, 28, 28), np.int64))
    with raises(realnvp.InputTypeError, "z has dtype float64", "float32"):
        flow.decode(np.zeros((2, 784)))


def test_nan_and_out_of_range(flow):
    x = np.full((3, 1, 28, 28), 100.5, np.float32)
    x[1, 0, 2, 3] = np.nan
    with raises(realnvp.InputError, "item 1 holds a non-finite value (NaN) at position 59"):
        flow.bits_per_dim(x)
    x[1, 0, 2, 3] = 300.0
    with raises(realnvp.InputError, "item 1 has pixel value 300", "outside [0, 256]"):
        flow.encode(x)
    z = np.zeros((1, 784), np.float32)
    z[0, 7] = np.inf
    with raises(realnvp.InputError, "z: item 0 holds a non-finite value (inf) at position 7"):
        flow.decode(z)


def test_empty_batch_and_bad_arguments(flow):
    with raises(realnvp.InputError, "empty batch"):
        flow.bits_per_dim(np.zeros((0, 1, 28, 28), np.uint8))
    with raises(realnvp.InputError, "temperature must be a finite number > 0, got 0"):
        flow.sample(2, temperature=0.0)
    with raises(realnvp.InputError, "invalid option `device`", "unknown device `tpu`"):
        realnvp.Flow.load(BUNDLE, device="tpu")
    with raises(realnvp.InputError, "invalid option `batch_size`"):
        realnvp.Flow.load(BUNDLE, batch_size=0)


def test_missing_bundle(tmp_path):
    with raises(realnvp.MissingFileError, str(tmp_path / "nowhere" / "forward.onnx"), "does not exist"):
        realnvp.Flow.load(tmp_path / "nowhere")


def test_directory_that_is_not_a_bundle(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with raises(realnvp.MissingFileError, "forward.onnx does not exist", "is this a bundle directory"):
        realnvp.Flow.load(tmp_path)


def test_corrupt_and_mismatched_bundles(bundle_copy, make_fixture):
    graph = bundle_copy / "forward.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    with raises(realnvp.BundleError, "cannot load ONNX graph", "forward.onnx", "corrupt or truncated"):
        realnvp.Flow.load(bundle_copy)
    with raises(realnvp.BundleError, "pair"):
        realnvp.Flow.load(make_fixture("mismatch", "--pair-mismatch"))


def test_bundle_of_the_wrong_kind(make_fixture, png_dir):
    vector = realnvp.Flow.load(make_fixture("vector", "--kind", "vector", "--shape", "784"), device="cpu")
    with raises(realnvp.InputError, "needs an image model, but this bundle is a vector model"):
        vector.bits_per_dim(np.zeros((2, 1, 784), np.uint8)[:, 0])
    with raises(realnvp.InputError, "loading images needs an image model"):
        vector.load_images(png_dir)


def test_unreadable_files(flow, png_dir, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    small = tmp_path / "small.png"
    from fmnist_pngs import write_png

    write_png(small, np.zeros((20, 28), np.uint8))
    with raises(realnvp.InputError, f"cannot read image {text}"):
        flow.score_files([text])
    with raises(realnvp.InputError, f"image {small} is 28×20 pixels", "expects 28×28", "resize it first"):
        flow.score_files([small])
    with raises(realnvp.MissingFileError, str(tmp_path / "gone.png")):
        flow.score_files([tmp_path / "gone.png"])
    with raises(realnvp.InputError, "cannot read image", "(and 1 more unreadable inputs"):
        flow.score_files([text, small, png_dir])
    with pytest.warns(UserWarning, match="cannot read image"):
        got = flow.score_files([text, png_dir], on_error="skip")
    assert len(got["path"]) == len(list(png_dir.glob("*.png")))
    with raises(realnvp.InputError, "cannot read image <image 1>"):
        flow.images_from_bytes([(png_dir / "img0000.png").read_bytes(), b"junk"])


def test_missing_calibration(flow, tmp_path):
    with raises(realnvp.MissingFileError, "no out-of-distribution calibration", "runtime calibrate"):
        flow.ood(np.zeros((1, 28, 28), np.uint8), calibration=tmp_path / "none.json")


def _load_in_fresh_process(env_changes: dict, library_path=None) -> subprocess.CompletedProcess:
    """Loads the bundle in a new interpreter (the ONNX Runtime library is chosen once per process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DYLIB_PATH", "LD_LIBRARY_PATH")}
    env.update(env_changes)
    code = (
        "import realnvp, sys\n"
        f"lib = {library_path!r}\n"
        "try:\n"
        f"    f = realnvp.Flow.load({str(BUNDLE)!r}, library_path=lib)\n"
        "    print(f.library_path)\n"
        "except realnvp.LibraryError as e:\n"
        "    print('LibraryError:', e)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_library_found_in_the_onnxruntime_package():
    import ctypes.util

    if ctypes.util.find_library("onnxruntime"):
        pytest.skip("the system loader finds an ONNX Runtime library, which comes first")
    proc = _load_in_fresh_process({})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == realnvp.onnxruntime_package_library(), proc.stdout


def test_an_explicit_library_never_falls_back():
    proc = _load_in_fresh_process({}, library_path="/nonexistent/libonnxruntime.so")
    assert "LibraryError: cannot load the ONNX Runtime library" in proc.stdout, proc.stdout + proc.stderr
    assert "/nonexistent/libonnxruntime.so`: no such file" in proc.stdout
    proc = _load_in_fresh_process({"ORT_DYLIB_PATH": "/nonexistent/lib.so"})
    assert "LibraryError:" in proc.stdout and "ORT_DYLIB_PATH `/nonexistent/lib.so`" in proc.stdout
