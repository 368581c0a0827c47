"""Finding ONNX Runtime's shared library inside the ``onnxruntime`` Python package.

``realnvp.Flow.load`` first looks where the Rust runtime looks (``library_path``, ``ORT_DYLIB_PATH``, the
system loader's search); only when nothing is configured and that finds nothing does it use the library of
the ``onnxruntime`` package, so ``pip install realnvp onnxruntime`` is all a user needs. The package is located
with ``importlib`` without importing it (its ``__init__`` loads its own copy of the library and more).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Optional

#: File names of the library in ``onnxruntime/capi/``, per platform (the wheels ship versioned names).
_PATTERNS = {
    "linux": ("libonnxruntime.so*",),
    "darwin": ("libonnxruntime*.dylib",),
    "win32": ("onnxruntime.dll",),
}


def _version_key(path: Path) -> tuple:
    """Sorts ``libonnxruntime.so.1.31.1`` above ``libonnxruntime.so.1`` above ``libonnxruntime.so``."""
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def onnxruntime_package_library() -> Optional[str]:
    """The ONNX Runtime library of the installed ``onnxruntime`` package, or None when it is not installed.

    Looks in each ``onnxruntime/capi/`` folder of the package's search locations for the library file
    (``libonnxruntime.so.X.Y.Z`` on Linux) and returns the most specific name. Provider plug-ins
    (``libonnxruntime_providers_*.so``) are not the library and are skipped.
    """
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    patterns = _PATTERNS.get(sys.platform, _PATTERNS["linux"])
    found = []
    for location in spec.submodule_search_locations:
        capi = Path(location) / "capi"
        for pattern in patterns:
            found.extend(p for p in capi.glob(pattern) if p.is_file() and "providers" not in p.name)
    if not found:
        return None
    return str(max(found, key=_version_key))
