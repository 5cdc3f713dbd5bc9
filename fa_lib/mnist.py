"""MNIST data pipeline: find or download, validate, preprocess, batch, code.

The four files of the standard MNIST distribution (IDX format, raw or
gzip-compressed) are looked for in one directory, chosen in this order:

1. the ``data_dir`` argument;
2. the environment variable ``FA_MNIST_DIR``;
3. a per-user cache, ``$XDG_CACHE_HOME/fa_lib/mnist`` (or
   ``~/.cache/fa_lib/mnist`` when ``XDG_CACHE_HOME`` is unset).

Missing files are downloaded over HTTPS from public mirrors, tried in order,
and written atomically (temporary file, verification, ``os.replace``).

Checksums
---------
The pinned SHA-256 sums in :data:`SHA256` are those of the *decompressed*
IDX files. They equal the values published for the original uncompressed
MNIST files, and they were checked against the verified copy in
``shared/data/mnist`` (see its README). Pinning the decompressed content,
not the ``.gz`` bytes, is deliberate: gzip output depends on compression
settings and header fields, so the shared ``.gz`` files and the mirrors'
``.gz`` files differ byte-wise while holding the same IDX data. Every file,
local or downloaded, raw or ``.gz``, is checked against the same pin.

Preprocessing follows the authors' code: pixels / 255 (as floats), then a
bilinear resize to ``size x size`` with OpenCV's ``cv2.resize`` INTER_LINEAR
semantics (the authors resized float32 arrays, so no 8-bit fixed-point
rounding is involved), then flattening.

No pickle is ever loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from fa_lib import _checks

ENV_VAR = "FA_MNIST_DIR"
"""Environment variable naming the directory that holds the MNIST files."""

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES: tuple[str, ...] = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
"""Base names (without ``.gz``) of the four MNIST files."""

SHA256: Mapping[str, str] = MappingProxyType(
    {
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
)
"""Pinned SHA-256 of each decompressed IDX file (see the module docstring)."""

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Base URLs serving ``<name>.gz``, tried in order."""

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

_CHUNK = 1 << 16

Opener = Callable[..., Any]
"""A ``urllib.request.urlopen``-like callable: ``opener(url, timeout=...)``."""


class MNISTUnavailableError(RuntimeError):
    """The MNIST files are neither present nor downloadable."""


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt or of the wrong kind."""


class ChecksumError(ValueError):
    """A file's content does not match its pinned SHA-256."""


class DownloadError(OSError):
    """A download ended early or returned something unusable."""


@dataclass(frozen=True)
class MNIST:
    """Preprocessed MNIST, in the original order of the distribution.

    Attributes
    ----------
    x_train : ndarray, shape (60000, size * size)
        Training images, pixels / 255, resized and flattened row by row.
    y_train : ndarray of int64, shape (60000,)
        Training labels 0-9.
    x_test : ndarray, shape (10000, size * size)
        Test images, preprocessed as ``x_train``.
    y_test : ndarray of int64, shape (10000,)
        Test labels 0-9.
    """

    x_train: NDArray[np.floating]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.floating]
    y_test: NDArray[np.int64]

    @property
    def n_features(self) -> int:
        """Number of input features (``size * size``)."""
        return int(self.x_train.shape[1])


# --------------------------------------------------------------------------
# Where the files live
# --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Return the per-user cache directory for the MNIST files.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/fa_lib/mnist`` if ``XDG_CACHE_HOME`` is set to an
        absolute path, else ``~/.cache/fa_lib/mnist``.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fa_lib" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the directory to use: argument, then ``FA_MNIST_DIR``, then cache.

    Parameters
    ----------
    data_dir : path-like, optional
        Explicit directory; wins over everything else.

    Returns
    -------
    Path
        The chosen directory (it need not exist yet).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def find_file(directory: Path, name: str) -> Path | None:
    """Return the path of ``name`` or ``name.gz`` in ``directory``, if any.

    The uncompressed file is preferred when both exist.
    """
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------
# Reading and validating
# --------------------------------------------------------------------------


def _base_name(path: Path) -> str:
    return path.name.removesuffix(".gz")


def _expected_magic(name: str) -> int:
    return IMAGES_MAGIC if "idx3" in name else LABELS_MAGIC


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the IDX bytes of ``path``, decompressing it if it ends in ``.gz``.

    Raises
    ------
    IDXFormatError
        If a ``.gz`` file is not valid gzip or is truncated.
    """
    path = Path(path)
    raw = path.read_bytes()
    if not path.name.endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXFormatError(
            f"{path}: not a valid gzip file ({exc}); expected a gzip-compressed "
            "IDX file. Delete it so that it can be downloaded again."
        ) from exc


def parse_idx(data: bytes, expected_magic: int, source: str = "<bytes>") -> NDArray[np.uint8]:
    """Parse an unsigned-byte IDX file with full validation.

    Parameters
    ----------
    data : bytes
        The whole (decompressed) file.
    expected_magic : int
        2051 for an image file, 2049 for a label file.
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    ndarray of uint8
        Array of the shape given by the header (a writable copy).

    Raises
    ------
    IDXFormatError
        On a wrong magic number, a truncated header, or a size that does not
        match the header exactly.
    """
    kind = "image" if expected_magic == IMAGES_MAGIC else "label"
    if len(data) < 4:
        raise IDXFormatError(
            f"{source}: {len(data)} bytes, too short for an IDX header; "
            f"expected an IDX {kind} file (magic {expected_magic})."
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise IDXFormatError(
            f"{source}: magic number {magic} (0x{magic:08x}), expected "
            f"{expected_magic} (0x{expected_magic:08x}) for an IDX {kind} file; "
            "wrong or corrupt file."
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{source}: {len(data)} bytes, truncated inside the {header}-byte header."
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected_size = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_size:
        problem = "truncated" if len(data) < expected_size else "has trailing bytes"
        raise IDXFormatError(
            f"{source}: {len(data)} bytes, but its header (dimensions {dims}) "
            f"requires exactly {expected_size}; the file {problem}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def verify_sha256(data: bytes, expected: str, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``sha256(data) == expected``."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{source}: SHA-256 of the IDX content is {actual}, expected {expected}. "
            "The file is corrupt or not the standard MNIST file; delete it so "
            "that it can be downloaded again."
        )


def _pin(name: str, checksums: Mapping[str, str]) -> str:
    try:
        return checksums[name]
    except KeyError:
        raise ValueError(f"no pinned SHA-256 for {name!r} in the checksum table") from None


def read_idx_file(
    path: str | os.PathLike[str],
    *,
    verify: bool = True,
    checksums: Mapping[str, str] | None = None,
) -> NDArray[np.uint8]:
    """Read, validate and (optionally) checksum one MNIST IDX file.

    Parameters
    ----------
    path : path-like
        One of the four MNIST files, raw or ``.gz``; its base name decides
        whether it must be an image (``idx3``) or a label (``idx1``) file.
    verify : bool
        Check the SHA-256 of the decompressed content against the pin.
    checksums : mapping, optional
        ``{base name: sha256}``; default :data:`SHA256`.

    Returns
    -------
    ndarray of uint8

    Raises
    ------
    IDXFormatError, ChecksumError
        Both subclasses of ``ValueError``.
    """
    path = Path(path)
    name = _base_name(path)
    data = read_bytes(path)
    array = parse_idx(data, _expected_magic(name), str(path))
    if verify:
        verify_sha256(data, _pin(name, SHA256 if checksums is None else checksums), str(path))
    return array


# --------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------

_DOWNLOAD_ERRORS = (
    OSError,
    http.client.HTTPException,
    ValueError,
    EOFError,
    zlib.error,
)


def _fetch(url: str, out: Any, opener: Opener, timeout: float) -> None:
    """Stream ``url`` into the binary file ``out``; check Content-Length."""
    with opener(url, timeout=timeout) as response:
        status = getattr(response, "status", 200)
        if status is not None and status != 200:
            raise DownloadError(f"HTTP status {status}")
        length = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
    if length is not None and received != int(length):
        raise DownloadError(f"received {received} of {int(length)} bytes; download interrupted")
    if received == 0:
        raise DownloadError("empty response")


def _sha256_of_gzip(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        while chunk := f.read(_CHUNK * 16):
            digest.update(chunk)
    return digest.hexdigest()


def _download_one(url: str, target: Path, expected: str, opener: Opener, timeout: float) -> None:
    """Download ``url`` to ``target`` atomically, verifying the content first.

    The download is staged in ``target``'s directory when it exists, else in the system's
    temporary directory; ``target``'s directory is created only once the content is
    verified, so a failed download of a mistyped ``FA_MNIST_DIR`` creates nothing.
    """
    staging = target.parent if target.parent.is_dir() else Path(tempfile.gettempdir())
    fd, tmp_name = tempfile.mkstemp(dir=staging, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, opener, timeout)
        actual = _sha256_of_gzip(tmp)
        if actual != expected:
            raise ChecksumError(f"SHA-256 of the IDX content is {actual}, expected {expected}")
        if staging != target.parent:
            _make_directory(target.parent)
            fd, moved = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part")
            os.close(fd)
            try:
                shutil.copyfile(tmp, moved)
                os.replace(moved, target)
            except BaseException:
                Path(moved).unlink(missing_ok=True)
                raise
        else:
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTUnavailableError(
            _unavailable_message(directory, f"cannot create {directory} ({exc}).")
        ) from exc


def _unavailable_message(directory: Path, detail: str) -> str:
    names = ", ".join(FILES)
    return (
        f"MNIST is not available: {detail}\n"
        f"Place the four MNIST IDX files ({names}; raw or .gz) in {directory}, "
        f"or set the environment variable {ENV_VAR} to a directory that holds them."
    )


def download_file(
    name: str,
    directory: str | os.PathLike[str],
    *,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``<name>.gz`` into ``directory`` from the first mirror that works.

    Each attempt streams into a temporary file in ``directory``, checks the
    byte count against Content-Length and the SHA-256 of the decompressed
    content against the pin, and only then renames it into place. A failed
    attempt leaves nothing behind.

    Parameters
    ----------
    name : str
        Base name of the file, e.g. ``"train-images-idx3-ubyte"``.
    directory : path-like
        Where to write ``<name>.gz``; created if missing, once a download is verified
        (a failed download creates nothing).
    mirrors : sequence of str
        Base URLs, tried in order.
    checksums : mapping, optional
        ``{base name: sha256 of the decompressed content}``; default :data:`SHA256`.
    opener : callable, optional
        ``urlopen``-like callable; default ``urllib.request.urlopen``.
    timeout : float
        Socket timeout in seconds, per attempt.

    Returns
    -------
    Path
        The written ``<name>.gz``.

    Raises
    ------
    MNISTUnavailableError
        If every mirror failed; the message lists each failure.
    """
    directory = Path(directory)
    expected = _pin(name, SHA256 if checksums is None else checksums)
    opener = urllib.request.urlopen if opener is None else opener
    target = directory / f"{name}.gz"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            _download_one(url, target, expected, opener, timeout)
            return target
        except _DOWNLOAD_ERRORS as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    tried = "; ".join(failures) if failures else "no mirror given"
    raise MNISTUnavailableError(
        _unavailable_message(directory, f"{name} is missing and could not be downloaded ({tried}).")
    )


def ensure_files(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Return ``{base name: path}`` of the four files, downloading missing ones.

    Parameters
    ----------
    data_dir : path-like, optional
        See :func:`resolve_data_dir`.
    download : bool
        If False, a missing file raises instead of being downloaded.
    mirrors, checksums, opener, timeout
        Passed to :func:`download_file`.

    Raises
    ------
    MNISTUnavailableError
        If a file is missing and cannot be downloaded.
    """
    directory = resolve_data_dir(data_dir)
    paths = {}
    for name in FILES:
        path = find_file(directory, name)
        if path is None:
            if not download:
                raise MNISTUnavailableError(
                    _unavailable_message(directory, f"{name} is missing (download disabled).")
                )
            path = download_file(
                name,
                directory,
                mirrors=mirrors,
                checksums=checksums,
                opener=opener,
                timeout=timeout,
            )
        paths[name] = path
    return paths


def load_raw(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> dict[str, NDArray[np.uint8]]:
    """Return the four MNIST arrays as uint8, validated.

    Parameters
    ----------
    data_dir, download, mirrors, checksums, opener, timeout
        See :func:`ensure_files`.
    verify : bool
        Check the SHA-256 of local files too (downloads are always checked).

    Returns
    -------
    dict
        ``{base name: array}``: images (n, 28, 28), labels (n,).

    Raises
    ------
    MNISTUnavailableError, IDXFormatError, ChecksumError
    """
    paths = ensure_files(
        data_dir,
        download=download,
        mirrors=mirrors,
        checksums=checksums,
        opener=opener,
        timeout=timeout,
    )
    arrays = {
        name: read_idx_file(path, verify=verify, checksums=checksums)
        for name, path in paths.items()
    }
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        _check_pair(arrays[images], arrays[labels], paths[images], paths[labels])
    return arrays


def _check_pair(
    images: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    image_path: Path,
    label_path: Path,
) -> None:
    if images.shape[1:] != IMAGE_SHAPE:
        raise IDXFormatError(
            f"{image_path}: images of shape {images.shape[1:]}, expected {IMAGE_SHAPE}."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise IDXFormatError(
            f"{label_path}: {labels.shape} labels for {len(images)} images in {image_path}."
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise IDXFormatError(f"{label_path}: label {labels.max()} outside 0-{N_CLASSES - 1}.")


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------


def bilinear_matrix(n_in: int, n_out: int) -> NDArray[np.float64]:
    """Return the (n_out, n_in) matrix of 1-D linear interpolation, as cv2.

    OpenCV's INTER_LINEAR maps output index ``d`` to the source coordinate
    ``s = (d + 0.5) * n_in / n_out - 0.5`` (half-pixel centres), interpolates
    between ``floor(s)`` and ``floor(s) + 1``, and clamps at the edges
    (``s < 0`` uses pixel 0, ``s >= n_in - 1`` uses pixel ``n_in - 1``). No
    antialiasing is applied when shrinking.
    """
    n_in, n_out = _checks.whole("n_in", n_in), _checks.whole("n_out", n_out)
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    left = np.floor(src).astype(np.int64)
    frac = src - left
    frac[left < 0] = 0.0
    left[left < 0] = 0
    at_end = left >= n_in - 1
    frac[at_end] = 0.0
    left[at_end] = n_in - 1
    right = np.minimum(left + 1, n_in - 1)
    matrix = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(matrix, (rows, left), 1.0 - frac)
    np.add.at(matrix, (rows, right), frac)
    return matrix


def resize_images(images: NDArray[np.floating], size: int) -> NDArray[np.float64]:
    """Resize a stack of images (n, h, w) to (n, size, size), bilinearly.

    Computes ``R_rows @ img @ R_cols`` for every image at once, with
    ``R_rows = bilinear_matrix(h, size)`` and ``R_cols = bilinear_matrix(w, size).T``.
    """
    size = _checks.whole("size", size)
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (n, h, w), got {images.shape}")
    r_rows = bilinear_matrix(images.shape[1], size)
    r_cols = bilinear_matrix(images.shape[2], size).T
    return r_rows @ images @ r_cols


def preprocess(
    images: NDArray[np.uint8], size: int = 15, dtype: DTypeLike = np.float64
) -> NDArray[np.floating]:
    """Return images as the authors used them: / 255, resized, flattened.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, h, w)
    size : int
        Output side length; ``size == h == w`` skips the resize.
    dtype : dtype
        Output floating dtype (computation is in float64).

    Returns
    -------
    ndarray, shape (n, size * size)
    """
    size = _checks.whole("size", size)
    scaled = np.asarray(images, dtype=np.float64) / 255.0
    if scaled.shape[1:] != (size, size):
        scaled = resize_images(scaled, size)
    return scaled.reshape(len(scaled), -1).astype(dtype, copy=False)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    size: int = 15,
    dtype: DTypeLike = np.float64,
    **load_options: Any,
) -> MNIST:
    """Load MNIST, preprocessed as in the paper (15 x 15, 225 features).

    Parameters
    ----------
    data_dir : path-like, optional
        Directory of the IDX files; default ``$FA_MNIST_DIR``, then the
        per-user cache (see :func:`resolve_data_dir`).
    size : int
        Side of the resized images.
    dtype : dtype
        Floating dtype of ``x_train`` and ``x_test``.
    **load_options
        ``verify``, ``download``, ``mirrors``, ``checksums``, ``opener``, ``timeout``:
        keyword arguments of :func:`load_raw`.

    Returns
    -------
    MNIST
    """
    raw = load_raw(data_dir, **load_options)
    return MNIST(
        x_train=preprocess(raw[TRAIN_IMAGES], size, dtype),
        y_train=raw[TRAIN_LABELS].astype(np.int64),
        x_test=preprocess(raw[TEST_IMAGES], size, dtype),
        y_test=raw[TEST_LABELS].astype(np.int64),
    )


# --------------------------------------------------------------------------
# Batches and label codes
# --------------------------------------------------------------------------


def minibatches(
    x: NDArray[Any], y: NDArray[Any], batch_size: int = 1000
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Split a data set into fixed consecutive mini-batches, in order.

    Parameters
    ----------
    x : ndarray, shape (n, ...)
    y : ndarray, shape (n, ...)
    batch_size : int
        Must be positive and divide ``n``.

    Returns
    -------
    xb : ndarray, shape (n // batch_size, batch_size, ...)
    yb : ndarray, shape (n // batch_size, batch_size, ...)
        Batch ``k`` holds samples ``k * batch_size`` to ``(k + 1) * batch_size - 1``
        (views of the inputs where possible).

    Raises
    ------
    ValueError
        If the lengths differ, or ``batch_size`` is not a whole number >= 1 (``2.5`` is
        not truncated) or does not divide ``n``.
    TypeError
        If ``batch_size`` is not a number.
    """
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} samples but y has {len(y)}")
    batch_size = _checks.whole("batch_size", batch_size)
    if n % batch_size:
        raise ValueError(f"batch_size {batch_size} does not divide the {n} samples")
    n_batches = n // batch_size
    return (
        x.reshape(n_batches, batch_size, *x.shape[1:]),
        y.reshape(n_batches, batch_size, *y.shape[1:]),
    )


def encode_labels(
    labels: NDArray[np.integer], codes: NDArray[Any], dtype: DTypeLike = np.float64
) -> NDArray[np.floating]:
    """Return the target rows ``codes[labels]``.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Class indices in ``0 .. C - 1``.
    codes : ndarray, shape (C, m)
        Row ``c`` is the (n-hot) code of class ``c``.
    dtype : dtype
        Dtype of the targets.

    Returns
    -------
    ndarray, shape (n, m)
    """
    labels = np.asarray(labels)
    codes = np.asarray(codes)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if codes.ndim != 2:
        raise ValueError(f"codes must be a (classes, units) matrix, got shape {codes.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(codes)):
        raise ValueError(f"labels must lie in 0..{len(codes) - 1}")
    return codes[labels].astype(dtype)


def decode(outputs: NDArray[np.floating], codes: NDArray[Any]) -> NDArray[np.int64]:
    """Return the predicted class: the one whose code units sum highest.

    Parameters
    ----------
    outputs : ndarray, shape (n, m)
        Network outputs.
    codes : ndarray, shape (C, m)
        Code matrix (row ``c`` = code of class ``c``).

    Returns
    -------
    ndarray of int64, shape (n,)
        ``argmax(outputs @ codes.T, axis=1)``; ties go to the lowest class index.
    """
    outputs = np.asarray(outputs)
    codes = np.asarray(codes)
    if outputs.ndim != 2 or codes.ndim != 2 or outputs.shape[1] != codes.shape[1]:
        raise ValueError(
            f"outputs (n, m) and codes (C, m) must agree, got {outputs.shape} and {codes.shape}"
        )
    return np.argmax(outputs @ codes.T, axis=1).astype(np.int64)


def label_smoothing(
    targets: NDArray[np.floating], low: float = 0.05, high: float = 0.95
) -> NDArray[np.float64]:
    """Map 0/1 targets to ``low``/``high`` (linearly: ``low + (high - low) * t``)."""
    return low + (high - low) * np.asarray(targets, dtype=np.float64)
