"""Type stubs of the ``realnvp`` package (the native module ``realnvp._realnvp`` and its Python helpers)."""

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, "os.PathLike[str]"]
_Paths = Union[_Path, Sequence[_Path]]

__version__: str
#: The bundle format version this build reads.
FORMAT_VERSION: int

class Error(Exception):
    """Base class of every error the realnvp package raises; the message is the runtime's."""

class InputError(Error, ValueError):
    """Bad input data or arguments (shape, NaN, out of range, temperature, unreadable image); also a ValueError."""

class InputTypeError(Error, TypeError):
    """An array of the wrong dtype, or an object that is not an array; also a TypeError."""

class BundleError(Error, ValueError):
    """A bundle that breaks the format, is corrupt, or is of the wrong kind; also a ValueError."""

class MissingFileError(Error, FileNotFoundError):
    """A bundle, graph, calibration or input file that does not exist; also a FileNotFoundError."""

class IoError(Error, OSError):
    """Reading or writing a file failed; also an OSError."""

class LibraryError(Error, OSError):
    """The ONNX Runtime library or execution provider cannot be used; also an OSError."""

class Flow:
    """A RealNVP bundle (``forward.onnx``, ``inverse.onnx``, ``model.json``) loaded into ONNX Runtime.

    Image data are in pixel units: a uint8 array is scored at its bin centres (``p + 0.5``), exactly as
    ``runtime score`` scores image files; a float32 array is scored as given and must lie in ``[0, 256]``.
    Arrays are batched: ``[N, C, H, W]`` (or ``[N, H, W]`` for one-channel models) and ``[N, D]`` for vector
    models. Every call releases the GIL while ONNX Runtime runs. One ``Flow`` runs one call per graph at a
    time (calls from many threads are safe and give the one-thread results); load one ``Flow`` per worker for
    parallel throughput.
    """

    def __init__(
        self,
        path: _Path,
        *,
        device: str = "auto",
        library_path: Optional[_Path] = None,
        threads: Optional[int] = None,
        batch_size: int = 256,
    ) -> None:
        """``Flow(path, ...)`` is ``Flow.load(path, ...)``."""
    @staticmethod
    def load(
        path: _Path,
        *,
        device: str = "auto",
        library_path: Optional[_Path] = None,
        threads: Optional[int] = None,
        batch_size: int = 256,
    ) -> "Flow":
        """Loads and validates the bundle in ``path``.

        ``device``: ``"auto"`` (CUDA when this build has it and it works, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``. ``library_path``: the ``libonnxruntime.so`` to load; by default ``ORT_DYLIB_PATH``, then
        the system loader's search, then the ``onnxruntime`` Python package's ``capi/`` folder. ``threads``:
        ONNX Runtime intra-op threads (default: one per core). ``batch_size``: items per ONNX Runtime call.

        Raises ``MissingFileError`` for a missing bundle, ``BundleError`` for a corrupt or inconsistent one,
        ``LibraryError`` when no ONNX Runtime library can be loaded.
        """
    @property
    def data_shape(self) -> Tuple[int, ...]:
        """The per-item data shape: ``(C, H, W)`` or ``(D,)``."""
    @property
    def data_kind(self) -> str:
        """``"image"`` or ``"vector"``."""
    @property
    def latent_dim(self) -> int:
        """The latent size ``L`` (values per item)."""
    @property
    def path(self) -> Path:
        """The bundle directory."""
    @property
    def provider(self) -> str:
        """The execution provider that runs the graphs: ``"CPU"`` or ``"CUDA"``."""
    @property
    def library_path(self) -> Path:
        """The ONNX Runtime library file in use."""
    @property
    def batch_size(self) -> int:
        """Items per ONNX Runtime call."""
    @property
    def metadata(self) -> Dict[str, Any]:
        """The bundle's metadata (the content of ``model.json``, read from the graphs)."""
    def bits_per_dim(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Bits per dimension, ``-log p(x) / (L ln 2)``, of each item: float32 ``[N]``.

        ``x``: uint8 pixels (scored at ``p + 0.5``, as ``runtime score`` does) or float32 data.
        """
    def log_prob(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``log p(x)`` in nats (density in data space) of each item: float32 ``[N]``."""
    def encode(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The latents of the items of ``x``: float32 ``[N, L]``."""
    def decode(self, z: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Data for latents ``z`` (float32 ``[N, L]``): float32 ``[N, *data_shape]``; images projected onto
        ``[0, 256]`` (``realnvp.quantize`` turns them into uint8 pixels)."""
    def sample_latent(
        self, n: int, temperature: float = 1.0, seed: Optional[int] = None
    ) -> npt.NDArray[np.float32]:
        """``n`` latents ``z ~ N(0, temperature² I)`` (float32 ``[N, L]``), deterministic for a given ``seed``
        (``None``: a fresh random seed)."""
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        seed: Optional[int] = None,
        *,
        quantize: bool = True,
    ) -> npt.NDArray[Any]:
        """``n`` samples at ``temperature``, deterministic for a given ``seed`` (``None``: a fresh random seed).

        Image models: uint8 ``[N, C, H, W]`` (``floor(clamp(x, 0, 255))``), or float32 in ``[0, 256]`` with
        ``quantize=False``. Vector models: float32 ``[N, D]``. The same ``(n, temperature, seed)`` gives the
        same samples as ``runtime sample``.
        """
    def ood(
        self, x: npt.ArrayLike, calibration: Optional[_Path] = None
    ) -> Dict[str, npt.NDArray[Any]]:
        """Out-of-distribution scores of the items of ``x`` and their verdicts (docs/ood.md).

        Uses the bundle's ``calibration.json`` unless ``calibration`` names another file. Returns float32
        arrays ``log_prob``, ``bits_per_dim``, ``complexity_bits_per_dim``, ``complexity_corrected``,
        ``typicality`` (NaN where the bundle lacks what they need), ``ood_score`` (the calibrated statistic)
        and the bool array ``ood``.
        """
    def score_files(
        self,
        paths: _Paths,
        *,
        ood: bool = False,
        calibration: Optional[_Path] = None,
        on_error: str = "raise",
    ) -> Dict[str, Any]:
        """Scores image files and folders (CSV files for vector models) exactly as ``runtime score`` does.

        Returns the columns of ``runtime score --format json``: ``path`` (a list of str), float32 arrays
        ``log_prob`` and ``bits_per_dim``, and with ``ood=True`` (or a ``calibration`` file) the
        out-of-distribution columns of :meth:`ood`. ``on_error="raise"`` raises the first unreadable input's
        error (naming how many more there are); ``"skip"`` scores the readable ones and warns for each other.
        """
    def load_images(self, paths: _Paths) -> Tuple[npt.NDArray[np.uint8], List[str]]:
        """Reads image files and folders as ``runtime score`` does (never resized or converted): uint8
        ``[N, C, H, W]`` and the file names, folders expanded recursively and sorted."""
    def images_from_bytes(
        self, images: Sequence[bytes], names: Optional[Sequence[str]] = None
    ) -> npt.NDArray[np.uint8]:
        """Decodes PNG/JPEG file contents with the runtime's rules: uint8 ``[N, C, H, W]``; ``names`` name the
        items in errors."""
    def write_triton_repository(
        self,
        out: _Path,
        *,
        name: str = "realnvp",
        max_batch_size: int = 256,
        default_kind: str = "gpu",
        instances: int = 1,
        max_queue_delay_us: int = 100,
    ) -> List[Path]:
        """Writes a Triton Inference Server model repository (``NAME_forward``, ``NAME_inverse``) into ``out``
        and returns the model folders (docs/scale-out.md)."""

def load(
    path: _Path,
    *,
    device: str = "auto",
    library_path: Optional[_Path] = None,
    threads: Optional[int] = None,
    batch_size: int = 256,
) -> Flow:
    """``Flow.load(path, ...)``: loads and validates a bundle directory."""

def quantize(x: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """``floor(clamp(x, 0, 255))`` of a float32 array: data values as uint8 pixels."""

def dequantize(p: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``p + 0.5`` of a uint8 array: pixels at their bin centres, as they are scored."""

def input_files(paths: _Paths) -> List[Path]:
    """The files that ``paths`` name, by ``runtime score``'s folder rule: each folder expanded into its image
    files (recursively, names starting with '.' skipped, sorted), other paths kept as given. A folder with no
    image raises ``InputError``."""

def loaded_library_path() -> Optional[Path]:
    """The ONNX Runtime library this process has loaded, or None before the first ``Flow.load``."""

def onnxruntime_package_library() -> Optional[str]:
    """The ONNX Runtime library of the installed ``onnxruntime`` package, or None when it is not installed."""
