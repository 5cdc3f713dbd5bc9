"""Array backends of the engine: the namespace of an array, devices, host <-> device.

The engine (:mod:`fa_lib.network`, :mod:`fa_lib.pathways`, :mod:`fa_lib.rule`,
:mod:`fa_lib.openloop`, :mod:`fa_lib.training`, :mod:`fa_lib.linalg`,
:mod:`fa_lib.activations`) takes its array namespace from its inputs, through the
Python array API standard (``array_api_compat.array_namespace``): NumPy arrays in,
NumPy calls (``numpy`` itself, so the numbers are those of the NumPy code, bit for
bit); PyTorch, CuPy or ``array_api_strict`` arrays in, the standard's functions of
that library, on the arrays' device.

Random numbers are always drawn on the host, with the NumPy generators and streams of
:mod:`fa_lib.ensembles`, and moved to the device (:meth:`Backend.asarray`): every
backend starts from the same weights, codes and batches.

:class:`Backend` names where the engine's runs compute; :func:`from_config` reads the
one setting, ``FA_DEVICE`` (:func:`fa_lib.config.device`): ``cpu`` is NumPy (the
default), ``cuda`` is PyTorch on the GPU (CuPy when PyTorch is not installed).
``array_api_compat`` is imported only for arrays that are not NumPy's, so the NumPy
path needs nothing beyond NumPy.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from fa_lib import config

__all__ = [
    "BACKENDS",
    "Backend",
    "asarray_like",
    "available",
    "copy",
    "device_of",
    "from_config",
    "get",
    "is_numpy",
    "namespace",
    "note",
    "numpy_dtype",
    "to_numpy",
    "track",
]

BACKENDS = ("numpy", "array_api_strict", "torch-cpu", "torch-cuda", "cupy")
"""The backends :func:`get` knows by name."""

_HOST = (np.ndarray, np.generic, int, float, bool, list, tuple)


def namespace(*arrays: Any) -> ModuleType:
    """Return the array namespace of ``arrays`` (``None`` entries skipped).

    NumPy arrays, NumPy scalars, Python numbers and lists give ``numpy`` itself; other
    arrays give their array-API namespace (``array_api_compat.array_namespace``), which
    raises TypeError for arrays of two libraries.

    Parameters
    ----------
    *arrays
        Arrays (or ``None``).

    Returns
    -------
    module
    """
    others = [a for a in arrays if a is not None and not isinstance(a, _HOST)]
    if not others:
        return np
    from array_api_compat import array_namespace

    return array_namespace(*others)


def is_numpy(xp: ModuleType) -> bool:
    """Return True for NumPy's namespace (``numpy`` or ``array_api_compat.numpy``)."""
    return xp is np or getattr(xp, "__name__", "") == "array_api_compat.numpy"


def device_of(x: Any) -> Any:
    """Return the device of array ``x`` (``None`` for a NumPy array)."""
    if isinstance(x, _HOST):
        return None
    from array_api_compat import device

    return device(x)


def to_numpy(x: Any) -> np.ndarray:
    """Return array ``x`` as a NumPy array on the host (NumPy arrays as they are)."""
    if isinstance(x, _HOST):
        return np.asarray(x)
    from array_api_compat import is_array_api_strict_namespace, is_cupy_array, is_torch_array

    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_cupy_array(x):
        return x.get()
    xp = namespace(x)
    if is_array_api_strict_namespace(xp):
        x = x.to_device(xp.Device("CPU_DEVICE"))
    return np.asarray(x)


def copy(x: Any) -> Any:
    """Return a copy of array ``x`` in its namespace, on its device."""
    if isinstance(x, np.ndarray):
        return x.copy()
    xp = namespace(x)
    return xp.asarray(x, copy=True)


def asarray_like(host: Any, like: Any) -> Any:
    """Return host numbers ``host`` as an array of ``like``'s namespace, device and dtype.

    How a draw made on the host (a pathway's runtime noise, say) joins the arrays it is
    used with. For a NumPy ``like`` this is ``np.asarray(host).astype(like.dtype)``.

    Parameters
    ----------
    host : array_like
        Numbers on the host (NumPy).
    like : array
        An array of the namespace, device and dtype wanted.

    Returns
    -------
    array
    """
    if isinstance(like, np.ndarray):
        return np.asarray(host).astype(like.dtype)
    xp = namespace(like)
    host = np.asarray(host).astype(numpy_dtype(like.dtype))
    return xp.asarray(host, device=device_of(like))


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a floating, integer or bool dtype of any namespace."""
    if isinstance(dtype, np.dtype):
        return dtype
    name = str(dtype).rsplit(".", 1)[-1].strip("'>")
    return np.dtype(name)


@dataclass(frozen=True)
class Backend:
    """Where the engine computes: an array library and a device.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    device : object
        The device arrays are made on (``None``: the library's default).
    """

    name: str = "numpy"
    device: Any = None

    @property
    def xp(self) -> ModuleType:
        """The array namespace (``numpy`` itself for NumPy)."""
        if self.name == "numpy":
            return np
        if self.name == "array_api_strict":
            return importlib.import_module("array_api_strict")
        if self.name == "cupy":
            return importlib.import_module("array_api_compat.cupy")
        return importlib.import_module("array_api_compat.torch")

    @property
    def is_numpy(self) -> bool:
        """True for NumPy (the engine's own calls, bit for bit)."""
        return self.name == "numpy"

    @property
    def label(self) -> str:
        """A short description, kept in the results cache's metadata (``torch:cuda``)."""
        if self.name == "numpy":
            return "numpy"
        return f"{self.name.split('-')[0]}:{self.device}"

    def asarray(self, host: Any, dtype: Any = None) -> Any:
        """Move host numbers to this backend's device (a NumPy array stays as it is).

        Parameters
        ----------
        host : array_like
            NumPy array (or numbers) on the host.
        dtype : NumPy dtype, optional
            Cast on the host first (``None``: keep ``host``'s).

        Returns
        -------
        array
        """
        host = np.asarray(host)
        if dtype is not None:
            host = host.astype(dtype, copy=False)
        if self.is_numpy:
            return host
        _note(self)
        return self.xp.asarray(host, device=self.device)


def get(name: str | Backend | None = None, device: Any = None) -> Backend:
    """Return the backend called ``name`` (``None``: :func:`from_config`).

    Parameters
    ----------
    name : str, Backend or None
        ``"numpy"``, ``"array_api_strict"``, ``"torch-cpu"``, ``"torch-cuda"`` or
        ``"cupy"``; also ``"cpu"`` (NumPy) and ``"cuda"`` (as ``FA_DEVICE``).
    device : object, optional
        A device of ``array_api_strict`` (e.g. ``Device("device1")``, whose arrays refuse
        any NumPy call: how the tests find one) or of the library.

    Raises
    ------
    ValueError
        For an unknown name.
    ImportError
        When the library is not installed (it says what to install).
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        return from_config()
    if name == "cpu":
        name = "numpy"
    if name == "cuda":
        return _cuda()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS} "
                         "(or 'cpu', 'cuda').")
    if name == "numpy":
        return Backend()
    if name == "array_api_strict":
        _need("array_api_strict", "array-api-strict")
        return Backend(name, device)
    _need("array_api_compat", "array-api-compat")
    if name.startswith("torch"):
        torch = _need("torch", "torch (PyTorch)")
        if device is None:
            if name == "torch-cuda" and not torch.cuda.is_available():
                raise ImportError("PyTorch is installed but sees no CUDA GPU (torch.cuda."
                                  "is_available() is False); use FA_DEVICE=cpu.")
            device = torch.device(name.split("-")[1])
        # full float32 products on the GPU, as on the CPU (no TF32 rounding of the inputs)
        torch.backends.cuda.matmul.allow_tf32 = False
        return Backend(name, device)
    cupy = _need("cupy", "cupy (e.g. cupy-cuda12x)")
    return Backend(name, device if device is not None else cupy.cuda.Device())


def _need(module: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"this backend needs {what}: pip install {what.split()[0]} "
                          f"({err}).") from None


def _cuda() -> Backend:
    """PyTorch on CUDA if it imports, else CuPy; a clear ImportError otherwise."""
    try:
        import torch  # noqa: F401
    except ImportError:
        try:
            import cupy  # noqa: F401
        except ImportError:
            raise ImportError(
                "FA_DEVICE=cuda needs PyTorch with CUDA (pip install torch) or CuPy "
                "(pip install cupy-cuda12x, matching the CUDA version), and "
                "array-api-compat; neither torch nor cupy imports here. Use FA_DEVICE=cpu "
                "for NumPy."
            ) from None
        return get("cupy")
    return get("torch-cuda")


def from_config() -> Backend:
    """The backend of the setting ``FA_DEVICE`` (:func:`fa_lib.config.device`)."""
    return get(config.device())


def available() -> list[str]:
    """Names of the backends that can run here (NumPy first)."""
    out = []
    for name in BACKENDS:
        try:
            get(name)
        except ImportError:
            continue
        out.append(name)
    return out


_USED: contextvars.ContextVar[set | None] = contextvars.ContextVar("fa_lib_backends", default=None)


def _note(backend: Backend) -> None:
    used = _USED.get()
    if used is not None:
        used.add(backend.label)


def note(backend: Backend) -> None:
    """Record that an engine run computes on ``backend`` (seen by :func:`track`)."""
    _note(backend)


@contextlib.contextmanager
def track() -> Iterator[set[str]]:
    """Collect the labels of the backends the engine runs use inside the block.

    Yields
    ------
    set of str
        Filled by the runs of the block (NumPy runs add ``"numpy"``).
    """
    used: set[str] = set()
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)
