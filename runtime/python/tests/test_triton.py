"""The Triton model repository (realnvp_runtime::triton) parses with Triton's own model-config protobuf schema
(from tritonclient) and says what the bundle's graphs say."""

from __future__ import annotations

import subprocess

import numpy as np
import onnxruntime
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

import realnvp
from conftest import BUNDLE, cli_env, runtime_binary


def parse(path) -> "mc.ModelConfig":
    return text_format.Parse(path.read_text(), mc.ModelConfig())


@pytest.fixture(scope="module")
def repository(tmp_path_factory, flow):
    out = tmp_path_factory.mktemp("triton")
    models = flow.write_triton_repository(out, name="fmnist", max_batch_size=64, instances=2)
    return out, models


def test_layout(repository):
    out, models = repository
    assert [m.name for m in models] == ["fmnist_forward", "fmnist_inverse"]
    for model, graph in zip(models, ["forward.onnx", "inverse.onnx"]):
        assert (model / "1" / "model.onnx").read_bytes() == (BUNDLE / graph).read_bytes()
        assert sorted(p.relative_to(model).as_posix() for p in model.rglob("*.pbtxt")) == [
            "config.pbtxt", "configs/cpu.pbtxt", "configs/gpu.pbtxt"]


def test_configs_match_the_graphs(repository, flow):
    out, models = repository
    for model in models:
        session = onnxruntime.InferenceSession(str(model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        graph_io = {t.name: t for t in [*session.get_inputs(), *session.get_outputs()]}
        for config_file, kind in [("config.pbtxt", mc.ModelInstanceGroup.KIND_GPU),
                                  ("configs/cpu.pbtxt", mc.ModelInstanceGroup.KIND_CPU),
                                  ("configs/gpu.pbtxt", mc.ModelInstanceGroup.KIND_GPU)]:
            config = parse(model / config_file)
            assert config.name == model.name
            assert config.platform == "onnxruntime_onnx"
            assert config.max_batch_size == 64
            assert config.HasField("dynamic_batching")
            assert [(g.kind, g.count) for g in config.instance_group] == [(kind, 2)]
            assert config.parameters["realnvp.pair_id"].string_value == flow.metadata["pair_id"]
            declared = [*config.input, *config.output]
            assert {t.name for t in config.input} == {t.name for t in session.get_inputs()}
            assert {t.name for t in config.output} == {t.name for t in session.get_outputs()}
            for tensor in declared:
                graph = graph_io[tensor.name]
                assert tensor.data_type == mc.TYPE_FP32 and graph.type == "tensor(float)"
                # Triton leaves out the batch dimension; a tensor that is only the batch dimension is [1]
                # reshaped to [].
                per_item = list(graph.shape[1:])
                if per_item:
                    assert list(tensor.dims) == per_item and not tensor.HasField("reshape")
                else:
                    assert list(tensor.dims) == [1] and list(tensor.reshape.shape) == []
    forward = parse(models[0] / "config.pbtxt")
    dims = {t.name: list(t.dims) for t in [*forward.input, *forward.output]}
    assert dims == {"x": list(flow.data_shape), "z": [flow.latent_dim], "log_prob": [1], "bits_per_dim": [1]}
    inverse = parse(models[1] / "config.pbtxt")
    assert {t.name: list(t.dims) for t in [*inverse.input, *inverse.output]} == {
        "z": [flow.latent_dim], "x": list(flow.data_shape)}


def test_what_a_triton_client_sends_gives_the_runtime_numbers(repository, flow, pixels):
    """The request docs/scale-out.md describes (x = p + 0.5 as float32) run through the repository's graph by
    plain ONNX Runtime gives the package's bits/dim (to float rounding: another session, other kernels
    allowed)."""
    out, models = repository
    session = onnxruntime.InferenceSession(str(models[0] / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = pixels[:8, None].astype(np.float32) + 0.5
    (bits,) = session.run(["bits_per_dim"], {"x": x})
    np.testing.assert_allclose(bits, flow.bits_per_dim(pixels[:8]), rtol=1e-5)
    z = flow.sample_latent(4, temperature=0.7, seed=2)
    inverse = onnxruntime.InferenceSession(str(models[1] / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (x,) = inverse.run(["x"], {"z": z})
    pixels_out = np.floor(np.clip(np.clip(x, 0, 256), 0, 255)).astype(np.uint8)
    assert np.mean(pixels_out == flow.sample(4, temperature=0.7, seed=2)) > 0.999


def test_bad_options_are_refused(flow, tmp_path):
    with pytest.raises(realnvp.InputError, match="max_batch_size.*at least 1"):
        flow.write_triton_repository(tmp_path, max_batch_size=0)
    with pytest.raises(realnvp.InputError, match="a model name is a folder name"):
        flow.write_triton_repository(tmp_path, name="a/b")
    with pytest.raises(realnvp.InputError, match='use "cpu" or "gpu"'):
        flow.write_triton_repository(tmp_path, default_kind="tpu")


def test_the_cli_writes_the_same_repository(repository, tmp_path):
    """`runtime triton` (the command line over the same library call) writes byte-identical configs and graphs."""
    out, models = repository
    cli_out = tmp_path / "repo"
    subprocess.run(
        [str(runtime_binary()), "--device", "cpu", "triton", "--model", str(BUNDLE), "--out", str(cli_out),
         "--name", "fmnist", "--max-batch-size", "64", "--instances", "2"],
        check=True, env=cli_env(), capture_output=True, text=True, timeout=120)
    for model in models:
        files = sorted(p.relative_to(model) for p in model.rglob("*") if p.is_file())
        assert files, model
        for rel in files:
            assert (cli_out / model.name / rel).read_bytes() == (model / rel).read_bytes(), rel
