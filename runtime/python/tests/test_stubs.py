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
