"""Score and sample RealNVP normalizing-flow bundles exported by realnvp-rs, from numpy.

Every number comes from the Rust runtime (``realnvp-runtime``) that ``runtime score`` and ``runtime sample``
use: the u8 → bin-centre convention, bits/dim, the temperature, the out-of-distribution statistics and
``calibration.json``, and the bundle's metadata checks. This package only moves numpy arrays in and out,
releases the GIL around every ONNX Runtime call and raises ``realnvp.Error`` subclasses with the runtime's
messages.

>>> import realnvp
>>> flow = realnvp.Flow.load("pretrained/fmnist")        # doctest: +SKIP
>>> flow.bits_per_dim(images_uint8)                      # doctest: +SKIP
>>> flow.sample(16, temperature=0.7, seed=1).shape       # doctest: +SKIP
(16, 1, 28, 28)

ONNX Runtime is found as the runtime finds it (``library_path=``, ``ORT_DYLIB_PATH``, the system loader),
then in the ``onnxruntime`` Python package: ``pip install realnvp onnxruntime`` is all it needs.
"""

from __future__ import annotations

from typing import Optional, Union
import os

from ._realnvp import (
    FORMAT_VERSION,
    BundleError,
    Error,
    Flow,
    InputError,
    InputTypeError,
    IoError,
    LibraryError,
    MissingFileError,
    __version__,
    dequantize,
    input_files,
    loaded_library_path,
    quantize,
)
from ._library import onnxruntime_package_library

__all__ = [
    "FORMAT_VERSION",
    "BundleError",
    "Error",
    "Flow",
    "InputError",
    "InputTypeError",
    "IoError",
    "LibraryError",
    "MissingFileError",
    "__version__",
    "dequantize",
    "input_files",
    "load",
    "loaded_library_path",
    "onnxruntime_package_library",
    "quantize",
]


def load(
    path: Union[str, "os.PathLike[str]"],
    *,
    device: str = "auto",
    library_path: Optional[Union[str, "os.PathLike[str]"]] = None,
    threads: Optional[int] = None,
    batch_size: int = 256,
) -> Flow:
    """``Flow.load(path, ...)``: loads and validates a bundle directory."""
    return Flow.load(
        path, device=device, library_path=library_path, threads=threads, batch_size=batch_size
    )


def _load_for_pickle(path, device, library_path, threads, batch_size) -> Flow:
    """What an unpickled ``Flow`` calls: loads the bundle again with the options it was loaded with."""
    return Flow.load(
        path, device=device, library_path=library_path, threads=threads, batch_size=batch_size
    )
