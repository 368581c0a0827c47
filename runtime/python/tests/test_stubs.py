"""The checked-in type stubs (realnvp/__init__.pyi) name exactly the package's public API, each with a
docstring, and so does the native module."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import realnvp

STUB = Path(realnvp.__file__).with_name("__init__.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    top, methods = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
            assert ast.get_docstring(node), f"{node.name} has no docstring in the stub"
            if isinstance(node, ast.ClassDef) and node.name == "Flow":
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        methods.add(item.name)
                        assert ast.get_docstring(item), f"Flow.{item.name} has no docstring in the stub"
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
    return top, methods


def test_stub_matches_the_module():
    top, methods = stub_names()
    public = {name for name in realnvp.__all__}
    assert top - {"_Path", "_Paths"} == public
    flow_public = {name for name in dir(realnvp.Flow) if not name.startswith("_")}
    assert methods - {"__init__"} == flow_public


def test_everything_public_has_a_docstring():
    for name in realnvp.__all__:
        obj = getattr(realnvp, name)
        if callable(obj):
            assert inspect.getdoc(obj), name
    for name in dir(realnvp.Flow):
        if not name.startswith("_"):
            assert inspect.getdoc(getattr(realnvp.Flow, name)), f"Flow.{name}"


def literal_defaults(node):
    """{parameter: default} of a stub function, the defaults read as Python literals."""
    args = node.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: ast.literal_eval(d) for a, d in pairs}


def signature_defaults(obj):
    return {
        name: p.default
        for name, p in inspect.signature(obj).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_defaults_are_the_runtimes_in_the_module_and_the_stubs():
    """Keyword defaults are literals in three places (the native signatures, the `load` wrapper, the stubs):
    each equals the Rust runtime's own default (`_realnvp._DEFAULTS`) and the native signature."""
    from realnvp import _realnvp

    native = {"load": signature_defaults(realnvp.Flow.load), "Flow.__init__": signature_defaults(realnvp.Flow)}
    for name in dir(realnvp.Flow):
        if not name.startswith("_") and callable(getattr(realnvp.Flow, name)):
            native[f"Flow.{name}"] = signature_defaults(getattr(realnvp.Flow, name))
    seen = set()
    for where, defaults in native.items():
        for name, value in defaults.items():
            if name in _realnvp._DEFAULTS:
                assert value == _realnvp._DEFAULTS[name], f"{where}: {name}={value!r}, the runtime's is {_realnvp._DEFAULTS[name]!r}"
                seen.add(name)
    assert seen == set(_realnvp._DEFAULTS), f"no signature takes {set(_realnvp._DEFAULTS) - seen}"
    assert signature_defaults(realnvp.load) == native["load"]
    tree = ast.parse(STUB.read_text())
    checked = 0
    for node in tree.body:
        functions = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef) and node.name == "Flow":
            functions = [(f"Flow.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
        for where, function in functions:
            if where in native:
                assert literal_defaults(function) == native[where], f"the stub's {where}"
                checked += bool(native[where])
    # load, Flow.__init__, Flow.load, Flow.sample, Flow.sample_latent, Flow.ood, Flow.score_files,
    # Flow.images_from_bytes, Flow.write_triton_repository: the ones with defaults.
    assert checked >= 9, f"only {checked} stub signatures with defaults compared"
