#!/usr/bin/env python3
"""Write a small but real RealNVP-format bundle (docs/bundle.md, version 1) for the runtime's tests.

The "flow" is an exactly invertible element-wise affine map, so tests can check the runtime against a
closed form:

  image [C,H,W]:  z = (x/256 - 0.5) * a + b   (x flattened in C,H,W order)
  vector [D]:     z = x * a + b

  log_prob = sum(-z^2/2) - L/2 ln(2 pi) + sum(ln|a|) (- L ln 256 for images)
  bits_per_dim = -log_prob / (L ln 2)

with a[i] = 8 + 0.5*i (alternating sign; large enough that samples at T = 1 stay inside [0, 256)) and b[i] = 0.01*i - 0.05, L the latent size. The tests mirror
these formulas; change both together.

Every name of the format (files, tensors, metadata keys, version, opset) comes from `--names FILE`, the JSON
of `realnvp_bundle::names::as_json()` that the Rust tests write: this script keeps no copy of them.

Usage: make_fixture_bundle.py OUT_DIR --names NAMES.json [--kind image|vector] [--shape 1,4,4]
       [--pair-mismatch] [--drop-key KEY] [--drop-from forward|inverse]
       [--truncate forward|inverse] [--model-json-set KEY=JSON ...] [--no-model-json]
       [--direction-swap] [--format-version V]
"""

import argparse
import json
import math
import os
import uuid

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def coefficients(latent):
    i = np.arange(latent, dtype=np.float64)
    a = (8.0 + 0.5 * i) * np.where(i % 2 == 0, 1.0, -1.0)
    b = 0.01 * i - 0.05
    return a.astype(np.float32), b.astype(np.float32)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def forward_graph(names, kind, shape, latent):
    t = names["tensors"]
    a, b = coefficients(latent)
    log_det = float(np.sum(np.log(np.abs(a.astype(np.float64)))))
    if kind == "image":
        log_det -= latent * math.log(256.0)
    log_norm = -0.5 * latent * math.log(2.0 * math.pi)
    init = [
        const("a", a),
        const("b", b),
        const("flat_shape", np.array([-1, latent], dtype=np.int64)),
        const("axes1", np.array([1], dtype=np.int64)),
        const("c256", np.array(256.0, dtype=np.float32)),
        const("chalf", np.array(0.5, dtype=np.float32)),
        const("cneghalf", np.array(-0.5, dtype=np.float32)),
        const("const_term", np.array(log_det + log_norm, dtype=np.float32)),
        const("neg_inv_l_ln2", np.array(-1.0 / (latent * math.log(2.0)), dtype=np.float32)),
    ]
    nodes = [helper.make_node("Reshape", [t["data"], "flat_shape"], ["xf"])]
    if kind == "image":
        nodes += [
            helper.make_node("Div", ["xf", "c256"], ["xs"]),
            helper.make_node("Sub", ["xs", "chalf"], ["xc"]),
        ]
        src = "xc"
    else:
        src = "xf"
    nodes += [
        helper.make_node("Mul", [src, "a"], ["za"]),
        helper.make_node("Add", ["za", "b"], [t["latent"]]),
        helper.make_node("Mul", [t["latent"], t["latent"]], ["z2"]),
        helper.make_node("ReduceSum", ["z2", "axes1"], ["ss"], keepdims=0),
        helper.make_node("Mul", ["ss", "cneghalf"], ["quad"]),
        helper.make_node("Add", ["quad", "const_term"], [t["log_prob"]]),
        helper.make_node("Mul", [t["log_prob"], "neg_inv_l_ln2"], [t["bits_per_dim"]]),
    ]
    inputs = [helper.make_tensor_value_info(t["data"], TensorProto.FLOAT, ["N", *shape])]
    outputs = [
        helper.make_tensor_value_info(t["latent"], TensorProto.FLOAT, ["N", latent]),
        helper.make_tensor_value_info(t["log_prob"], TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info(t["bits_per_dim"], TensorProto.FLOAT, ["N"]),
    ]
    return helper.make_graph(nodes, "realnvp_forward", inputs, outputs, init)


def inverse_graph(names, kind, shape, latent):
    t = names["tensors"]
    a, b = coefficients(latent)
    init = [
        const("a", a),
        const("b", b),
        const("data_shape", np.array([-1, *shape], dtype=np.int64)),
        const("c256", np.array(256.0, dtype=np.float32)),
        const("chalf", np.array(0.5, dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Sub", [t["latent"], "b"], ["zb"]),
        helper.make_node("Div", ["zb", "a"], ["u"]),
    ]
    if kind == "image":
        nodes += [
            helper.make_node("Add", ["u", "chalf"], ["uc"]),
            helper.make_node("Mul", ["uc", "c256"], ["xf"]),
        ]
    else:
        nodes += [helper.make_node("Identity", ["u"], ["xf"])]
    nodes += [helper.make_node("Reshape", ["xf", "data_shape"], [t["data"]])]
    inputs = [helper.make_tensor_value_info(t["latent"], TensorProto.FLOAT, ["N", latent])]
    outputs = [helper.make_tensor_value_info(t["data"], TensorProto.FLOAT, ["N", *shape])]
    return helper.make_graph(nodes, "realnvp_inverse", inputs, outputs, init)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--names", required=True, help="JSON of realnvp_bundle::names::as_json()")
    p.add_argument("--kind", default="image")
    p.add_argument("--shape", default=None, help="comma-separated data shape without batch")
    p.add_argument("--pair-mismatch", action="store_true")
    p.add_argument("--drop-key", default=None, help="a metadata key name, e.g. pair_id")
    p.add_argument("--drop-from", default="forward", help="a direction")
    p.add_argument("--truncate", default=None, help="a direction")
    p.add_argument("--model-json-set", action="append", default=[], metavar="KEY=JSON",
                   help="overwrite one model.json field")
    p.add_argument("--no-model-json", action="store_true")
    p.add_argument("--direction-swap", action="store_true")
    p.add_argument("--format-version", default=None)
    args = p.parse_args()
    with open(args.names) as f:
        names = json.load(f)
    keys = names["keys"]
    forward, inverse = names["directions"]
    image = names["data_kinds"][0]
    assert args.kind in names["data_kinds"], args.kind
    version = args.format_version if args.format_version is not None else str(names["format_version"])

    if args.shape:
        shape = [int(s) for s in args.shape.split(",")]
    else:
        shape = [1, 4, 4] if args.kind == image else [2]
    latent = int(np.prod(shape))
    pair_id = uuid.uuid4().hex
    preprocessing = {"kind": "scale"} if args.kind == image else {"kind": "standardize"}
    config = {"fixture": "affine", "layout": 2, "data_shape": shape}
    training = {"dataset": "fixture", "epochs": 0, "steps": 0, "test_bits_per_dim": None}
    export_errors = {"z_max_abs": 0.0, "log_prob_max_rel": 0.0, "roundtrip_max_abs": 0.0, "batch": 0}

    def values(direction, pid):
        """Each key's value by key name; names stay text, everything else is JSON."""
        return {
            "format_version": version,
            "direction": direction,
            "pair_id": pid,
            "data_kind": args.kind,
            "data_shape": json.dumps(shape),
            "latent_dim": str(latent),
            "opset": str(names["opset"]),
            "preprocessing": json.dumps(preprocessing),
            "config": json.dumps(config),
            "training": json.dumps(training),
            "export_errors": json.dumps(export_errors),
        }

    assert set(values(forward, pair_id)) == set(keys), "the fixture must set every key of the format"
    os.makedirs(args.out, exist_ok=True)
    graphs = {
        forward: forward_graph(names, args.kind, shape, latent),
        inverse: inverse_graph(names, args.kind, shape, latent),
    }
    for direction, graph in graphs.items():
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", names["opset"])], producer_name="fixture"
        )
        model.ir_version = names["ir_version"]
        pid = pair_id
        if args.pair_mismatch and direction == inverse:
            pid = uuid.uuid4().hex
        label = direction
        if args.direction_swap:
            label = inverse if direction == forward else forward
        meta = {keys[k]: v for k, v in values(label, pid).items()}
        if args.drop_key and args.drop_from == direction:
            meta.pop(keys[args.drop_key])
        helper.set_model_props(model, meta)
        onnx.checker.check_model(model)
        data = model.SerializeToString()
        if args.truncate == direction:
            data = data[: len(data) // 2]
        with open(os.path.join(args.out, names["files"][direction]), "wb") as f:
            f.write(data)

    if not args.no_model_json:
        card = {
            k: json.loads(v) if k not in ("pair_id", "data_kind", "format_version") else v
            for k, v in values(None, pair_id).items()
            if k != "direction"
        }
        card["format_version"] = int(version) if version.isdigit() else version
        for item in args.model_json_set:
            key, value = item.split("=", 1)
            card[key] = json.loads(value)
        card[names["card_files_field"]] = names["files"]
        with open(os.path.join(args.out, names["card_file"]), "w") as f:
            json.dump(card, f, indent=2)


if __name__ == "__main__":
    main()
