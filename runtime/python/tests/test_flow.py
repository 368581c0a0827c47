"""The realnvp package gives the numbers of `runtime score` / `runtime sample` (the same code), from numpy."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest

import realnvp
from conftest import BUNDLE, cli_score, run_cli


def test_shape_kind_and_metadata(flow):
    meta = flow.metadata
    assert flow.data_shape == tuple(meta["data_shape"]) == (1, 28, 28)
    assert flow.data_kind == meta["data_kind"] == "image"
    assert flow.latent_dim == meta["latent_dim"] == 784
    assert flow.provider == "CPU"
    assert flow.path.resolve() == BUNDLE.resolve()
    assert "realnvp.Flow" in repr(flow) and "(1, 28, 28)" in repr(flow)


def test_bits_per_dim_of_pixels_equals_runtime_score(flow, pixels, png_dir):
    cli = cli_score([png_dir])
    x, names = flow.load_images(png_dir)
    assert [r["path"] for r in cli] == names
    np.testing.assert_array_equal(x[:, 0], pixels)  # the PNGs read back as written
    bits = flow.bits_per_dim(x)
    assert bits.dtype == np.float32 and bits.shape == (len(pixels),)
    # Exactly: the package runs the runtime's code on the runtime's bin centres.
    np.testing.assert_array_equal(bits, np.array([r["bits_per_dim"] for r in cli], np.float32))
    np.testing.assert_array_equal(flow.log_prob(x), np.array([r["log_prob"] for r in cli], np.float32))
    # [N, H, W] for a one-channel model, and float32 bin centres, are the same items.
    np.testing.assert_array_equal(flow.bits_per_dim(pixels), bits)
    np.testing.assert_array_equal(flow.bits_per_dim(realnvp.dequantize(pixels)), bits)
    np.testing.assert_array_equal(flow.bits_per_dim(pixels.astype(np.float32) + 0.5), bits)


def test_score_files_equals_runtime_score(flow, png_dir):
    cli = cli_score([png_dir])
    got = flow.score_files(png_dir)
    assert got["path"] == [r["path"] for r in cli]
    for column in ("log_prob", "bits_per_dim"):
        np.testing.assert_array_equal(got[column], np.array([r[column] for r in cli], np.float32))
    assert set(got) == set(cli[0])


def test_ood_flags_equal_runtime_score_ood(flow, pixels, png_dir):
    cli = cli_score([png_dir], ood=True)
    flags = np.array([r["ood"] for r in cli])
    # Both verdicts occur, so the comparison below is not vacuous.
    assert 0 < flags.sum() < len(flags)
    files = flow.score_files(png_dir, ood=True)
    arrays = flow.ood(pixels)
    assert set(files) == set(cli[0]) and set(arrays) == set(cli[0]) - {"path"}
    for column in cli[0]:
        if column == "path":
            continue
        want = np.array([np.nan if r[column] is None else r[column] for r in cli])
        want = want.astype(bool if column == "ood" else np.float32)
        np.testing.assert_array_equal(files[column], want, err_msg=column)
        np.testing.assert_array_equal(arrays[column], want, err_msg=column)
    assert arrays["ood"].dtype == np.bool_


def test_ood_with_an_explicit_calibration_file(flow, pixels, tmp_path):
    calibration = tmp_path / "strict.json"
    text = (BUNDLE / "calibration.json").read_text()
    import json

    data = json.loads(text)
    data["threshold"] = -1e9  # flags everything
    calibration.write_text(json.dumps(data))
    assert flow.ood(pixels[:5], calibration=calibration)["ood"].all()
    assert not flow.ood(pixels[:5])["ood"].all()


def test_sample_shapes_dtype_and_seeds(flow):
    a = flow.sample(6, temperature=0.7, seed=3)
    assert a.shape == (6, 1, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, flow.sample(6, temperature=0.7, seed=3))
    assert not np.array_equal(a, flow.sample(6, temperature=0.7, seed=4))
    assert not np.array_equal(flow.sample(2), flow.sample(2))  # seed=None: fresh randomness
    x = flow.sample(6, temperature=0.7, seed=3, quantize=False)
    assert x.dtype == np.float32 and x.shape == (6, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 256
    np.testing.assert_array_equal(realnvp.quantize(x), a)
    z = flow.sample_latent(6, temperature=0.7, seed=3)
    assert z.shape == (6, 784) and z.dtype == np.float32
    np.testing.assert_array_equal(flow.decode(z), x)


def test_sample_equals_runtime_sample(flow, tmp_path):
    run_cli("sample", "--model", str(BUNDLE), "--n", "5", "--temperature", "0.6", "--seed", "11",
            "--out-dir", str(tmp_path))
    files = sorted(tmp_path.glob("sample_*.png"))
    assert len(files) == 5
    cli, _ = flow.load_images(files)
    np.testing.assert_array_equal(flow.sample(5, temperature=0.6, seed=11), cli)


def test_decode_inverts_encode(flow, pixels):
    x = realnvp.dequantize(pixels[:32])[:, None]
    z = flow.encode(x)
    assert z.shape == (32, 784) and z.dtype == np.float32
    back = flow.decode(z)
    assert back.shape == x.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, x, atol=0.02)
    np.testing.assert_array_equal(realnvp.quantize(back), pixels[:32, None])


def test_eight_threads_give_the_single_thread_results(flow, pixels):
    x = pixels[:16]
    reference = (flow.bits_per_dim(x), flow.ood(x)["ood_score"], flow.sample(4, 0.7, seed=5))
    results, errors = [], []

    def work():
        try:
            for _ in range(2):
                results.append((flow.bits_per_dim(x), flow.ood(x)["ood_score"], flow.sample(4, 0.7, seed=5)))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a scoring thread hung"
    assert not errors, errors
    assert len(results) == 16
    for got in results:
        for g, r in zip(got, reference):
            np.testing.assert_array_equal(g, r)


def test_onnx_runtime_runs_without_the_gil(flow, pixels):
    """While one thread is inside a long scoring call, the main thread keeps running Python code.

    With the GIL held through the call, the main thread could only run before and after it, so no time stamp
    of the main thread would fall in the middle half of the call. No duration is asserted.
    """
    x = np.tile(pixels, (3, 1, 1))  # 612 items: one call of a fraction of a second or more
    span = {}

    def score():
        span["start"] = time.perf_counter()
        flow.bits_per_dim(x)
        span["end"] = time.perf_counter()

    stamps = []
    worker = threading.Thread(target=score)
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    quarter = (span["end"] - span["start"]) / 4
    middle = [s for s in stamps if span["start"] + quarter < s < span["end"] - quarter]
    assert middle, "the main thread did not run during the call: the GIL was held"


def test_constructor_is_load(flow, pixels):
    again = realnvp.Flow(BUNDLE, device="cpu", batch_size=7)
    assert again.batch_size == 7
    np.testing.assert_array_equal(again.bits_per_dim(pixels[:9]), flow.bits_per_dim(pixels[:9]))


def test_pickle_reloads_the_bundle(flow, pixels):
    again = pickle.loads(pickle.dumps(flow))
    assert again.path == flow.path and again.data_shape == flow.data_shape
    np.testing.assert_array_equal(again.bits_per_dim(pixels[:3]), flow.bits_per_dim(pixels[:3]))


def test_images_from_bytes_reads_files_as_the_runtime(flow, png_dir):
    files = sorted(png_dir.glob("*.png"))[:10]
    x, _ = flow.load_images(files)
    from_bytes = flow.images_from_bytes([f.read_bytes() for f in files], names=[str(f) for f in files])
    np.testing.assert_array_equal(from_bytes, x)


def test_vector_bundle_scores_float32_rows(make_fixture):
    vector = realnvp.Flow.load(make_fixture("vector", "--kind", "vector", "--shape", "3"), device="cpu")
    assert vector.data_kind == "vector" and vector.data_shape == (3,)
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)
    assert vector.bits_per_dim(x).shape == (2,)
    s = vector.sample(4, temperature=1.0, seed=0)
    assert s.dtype == np.float32 and s.shape == (4, 3)
    np.testing.assert_allclose(vector.decode(vector.encode(x)), x, atol=1e-4)
