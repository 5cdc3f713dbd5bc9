"""Tests of fa_lib.mnist: loading, validation, downloads, preprocessing, batches.

Every download goes to a local HTTP server on 127.0.0.1 or to a closed
local port; nothing here touches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fa_lib import mnist

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST_CANDIDATES = (
    REPO.parent / "shared" / "data" / "mnist",
    Path("/work/shared/data/mnist"),
)

# An opener that ignores any proxy settings, so 127.0.0.1 is reached directly.
NO_PROXY_OPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


# --------------------------------------------------------------------------
# Synthetic IDX files
# --------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Encode a uint8 array as an IDX file with the given magic number."""
    header = magic.to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def synthetic_files() -> dict[str, bytes]:
    """Return small but valid IDX contents for the four MNIST file names."""
    rng = np.random.default_rng(0)
    out = {}
    for images, labels, n in (
        (mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, 6),
        (mnist.TEST_IMAGES, mnist.TEST_LABELS, 4),
    ):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        out[images] = idx_bytes(pixels, mnist.IMAGES_MAGIC)
        out[labels] = idx_bytes(np.arange(n, dtype=np.uint8) % 10, mnist.LABELS_MAGIC)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return synthetic_files()


@pytest.fixture(scope="module")
def checksums(files: dict[str, bytes]) -> dict[str, str]:
    return {name: sha(data) for name, data in files.items()}


def write_files(directory: Path, files: dict[str, bytes], gz: bool = False) -> None:
    for name, data in files.items():
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / name).write_bytes(data)


def closed_port_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------------
# A local HTTP server
# --------------------------------------------------------------------------


class Server:
    """Serve ``routes[path] = (body, mode)`` on 127.0.0.1.

    Modes: ``"ok"``; ``"short"`` sends a correct Content-Length but only
    half of the body, then closes; ``"short-nolength"`` sends half of the
    body without Content-Length, then closes. Unknown paths give 404.
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                if mode != "short-nolength":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if mode == "ok" else body[: len(body) // 2])
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}/"

    def serve(self, prefix: str, files: dict[str, bytes], mode: str = "ok") -> str:
        for name, data in files.items():
            self.routes[f"/{prefix}/{name}.gz"] = (gzip.compress(data), mode)
        return self.url(prefix)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


# --------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------


def real_dir() -> Path | None:
    env = os.environ.get(mnist.ENV_VAR)
    if env:
        return Path(env)
    return next((d for d in SHARED_MNIST_CANDIDATES if d.is_dir()), None)


def test_real_data() -> None:
    directory = real_dir()
    if directory is None:
        pytest.skip(f"{mnist.ENV_VAR} unset and no shared MNIST copy found")
    for name in mnist.FILES:  # checksum of each file against the pin
        mnist.read_idx_file(mnist.find_file(directory, name), verify=True)
    data = mnist.load_mnist(directory, download=False)
    assert data.x_train.shape == (60000, 225)
    assert data.x_test.shape == (10000, 225)
    assert data.y_train.shape == (60000,) and data.y_test.shape == (10000,)
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int64
    assert data.n_features == 225
    for x in (data.x_train, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(data.y_train)) == set(range(10))
    assert data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(data.y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip


# --------------------------------------------------------------------------
# Directory resolution and local loading
# --------------------------------------------------------------------------


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    home_cache = tmp_path / "home" / ".cache" / "fa_lib" / "mnist"
    assert mnist.resolve_data_dir() == home_cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.resolve_data_dir() == tmp_path / "xdg" / "fa_lib" / "mnist"
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path / "env"))
    assert mnist.resolve_data_dir() == tmp_path / "env"
    assert mnist.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


@pytest.mark.parametrize("gz", [False, True])
def test_load_local_raw_and_gz(
    tmp_path: Path, files: dict[str, bytes], checksums: dict[str, str], gz: bool
) -> None:
    write_files(tmp_path, files, gz=gz)
    data = mnist.load_mnist(
        tmp_path, size=15, dtype=np.float32, checksums=checksums, download=False
    )
    assert data.x_train.shape == (6, 225) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (4, 225)
    assert data.y_train.tolist() == list(range(6))
    full = mnist.load_mnist(tmp_path, size=28, checksums=checksums, download=False)
    images = np.frombuffer(files[mnist.TRAIN_IMAGES][16:], dtype=np.uint8)
    np.testing.assert_array_equal(full.x_train.ravel(), images / 255.0)


def test_env_var_is_used(
    tmp_path: Path,
    files: dict[str, bytes],
    checksums: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_files(tmp_path, files)
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path))
    raw = mnist.load_raw(checksums=checksums, download=False)
    assert raw[mnist.TEST_IMAGES].shape == (4, 28, 28)


def test_missing_files_offline_names_directory(tmp_path: Path) -> None:
    target = tmp_path / "nowhere"
    with pytest.raises(mnist.MNISTUnavailableError) as info:
        mnist.load_mnist(target, mirrors=[closed_port_url()], opener=NO_PROXY_OPEN, timeout=5)
    message = str(info.value)
    assert str(target) in message and mnist.ENV_VAR in message
    assert mnist.TRAIN_IMAGES in message
    assert not target.exists()  # a mistyped FA_MNIST_DIR is not created by a failed download


@pytest.mark.parametrize("outcome", ["tampered", "good"])
def test_a_missing_directory_is_created_only_after_a_verified_download(
    tmp_path: Path, server: Server, files: dict[str, bytes], checksums: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, outcome: str,
) -> None:
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(mnist.tempfile, "tempdir", str(staging))
    served = dict(files)
    if outcome == "tampered":
        served[mnist.TRAIN_LABELS] = files[mnist.TRAIN_LABELS][:-1] + b"\x07"
    url = server.serve(outcome, served)
    target = tmp_path / "typo" / "mnist"
    if outcome == "tampered":
        with pytest.raises(mnist.MNISTUnavailableError, match="ChecksumError"):
            mnist.download_file(mnist.TRAIN_LABELS, target, mirrors=[url],
                                checksums=checksums, opener=NO_PROXY_OPEN)
        assert not (tmp_path / "typo").exists()
    else:
        path = mnist.download_file(mnist.TRAIN_LABELS, target, mirrors=[url],
                                   checksums=checksums, opener=NO_PROXY_OPEN)
        assert leftovers(target) == [path.name]
        assert gzip.decompress(path.read_bytes()) == files[mnist.TRAIN_LABELS]
    assert leftovers(staging) == []


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(mnist.MNISTUnavailableError, match=mnist.ENV_VAR) as info:
        mnist.load_raw(tmp_path, download=False)
    assert str(tmp_path) in str(info.value)


def test_truncated_file(tmp_path: Path, files: dict[str, bytes], checksums: dict[str, str]) -> None:
    write_files(tmp_path, files)
    path = tmp_path / mnist.TRAIN_IMAGES
    path.write_bytes(files[mnist.TRAIN_IMAGES][:-100])
    with pytest.raises(mnist.IDXFormatError, match="truncated") as info:
        mnist.load_raw(tmp_path, checksums=checksums, download=False)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    path.write_bytes(files[mnist.TRAIN_IMAGES][:10])  # inside the header
    with pytest.raises(mnist.IDXFormatError, match="header"):
        mnist.read_idx_file(path, verify=False)
    path.write_bytes(files[mnist.TRAIN_IMAGES] + b"\0")
    with pytest.raises(mnist.IDXFormatError, match="trailing"):
        mnist.read_idx_file(path, verify=False)


def test_truncated_gz(tmp_path: Path, files: dict[str, bytes]) -> None:
    path = tmp_path / f"{mnist.TRAIN_LABELS}.gz"
    blob = gzip.compress(files[mnist.TRAIN_LABELS])
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(mnist.IDXFormatError, match="gzip") as info:
        mnist.read_idx_file(path, verify=False)
    assert str(path) in str(info.value)


def test_wrong_checksum(tmp_path: Path, files: dict[str, bytes], checksums: dict[str, str]) -> None:
    write_files(tmp_path, files)
    bad = dict(checksums, **{mnist.TEST_LABELS: "0" * 64})
    with pytest.raises(mnist.ChecksumError, match="0" * 64) as info:
        mnist.load_raw(tmp_path, checksums=bad, download=False)
    assert str(tmp_path / mnist.TEST_LABELS) in str(info.value)
    # verify=False skips the local check.
    mnist.load_raw(tmp_path, checksums=bad, verify=False, download=False)
    # The real pins reject synthetic files.
    with pytest.raises(mnist.ChecksumError):
        mnist.read_idx_file(tmp_path / mnist.TEST_LABELS)


def test_wrong_magic(tmp_path: Path, files: dict[str, bytes]) -> None:
    path = tmp_path / mnist.TRAIN_IMAGES
    path.write_bytes(files[mnist.TRAIN_LABELS])  # a label file under an image name
    with pytest.raises(mnist.IDXFormatError, match="2051") as info:
        mnist.read_idx_file(path, verify=False)
    assert str(path) in str(info.value) and "2049" in str(info.value)


def test_inconsistent_pair(
    tmp_path: Path, files: dict[str, bytes], checksums: dict[str, str]
) -> None:
    bad = dict(files)
    bad[mnist.TEST_LABELS] = idx_bytes(np.array([1, 2, 3, 11]), mnist.LABELS_MAGIC)
    write_files(tmp_path, bad)
    with pytest.raises(mnist.IDXFormatError, match="label 11"):
        mnist.load_raw(tmp_path, verify=False, download=False)


# --------------------------------------------------------------------------
# Downloads (local server only)
# --------------------------------------------------------------------------


def test_download_succeeds(
    tmp_path: Path, server: Server, files: dict[str, bytes], checksums: dict[str, str]
) -> None:
    url = server.serve("good", files)
    target = tmp_path / "cache" / "mnist"  # created on demand
    data = mnist.load_mnist(target, mirrors=[url], checksums=checksums, opener=NO_PROXY_OPEN)
    assert data.x_train.shape == (6, 225)
    assert leftovers(target) == sorted(f"{name}.gz" for name in mnist.FILES)
    for name, content in files.items():
        assert gzip.decompress((target / f"{name}.gz").read_bytes()) == content
    # A second load uses the local files: no further request is made.
    n_requests = len(server.requests)
    mnist.load_mnist(target, mirrors=[url], checksums=checksums, opener=NO_PROXY_OPEN)
    assert len(server.requests) == n_requests


def test_first_mirror_fails_second_succeeds(
    tmp_path: Path, server: Server, files: dict[str, bytes], checksums: dict[str, str]
) -> None:
    good = server.serve("good", files)
    missing = server.url("missing")  # 404 for everything
    mirrors = [closed_port_url(), missing, good]
    path = mnist.download_file(
        mnist.TRAIN_LABELS,
        tmp_path,
        mirrors=mirrors,
        checksums=checksums,
        opener=NO_PROXY_OPEN,
        timeout=5,
    )
    assert path == tmp_path / f"{mnist.TRAIN_LABELS}.gz"
    assert server.requests == [
        f"/missing/{mnist.TRAIN_LABELS}.gz",
        f"/good/{mnist.TRAIN_LABELS}.gz",
    ]
    assert leftovers(tmp_path) == [path.name]


@pytest.mark.parametrize("mode", ["short", "short-nolength"])
def test_interrupted_download_leaves_nothing(
    tmp_path: Path,
    server: Server,
    files: dict[str, bytes],
    checksums: dict[str, str],
    mode: str,
) -> None:
    url = server.serve("broken", files, mode=mode)
    with pytest.raises(mnist.MNISTUnavailableError) as info:
        mnist.download_file(
            mnist.TRAIN_IMAGES,
            tmp_path,
            mirrors=[url],
            checksums=checksums,
            opener=NO_PROXY_OPEN,
        )
    assert str(tmp_path) in str(info.value)
    if mode == "short":
        assert "interrupted" in str(info.value)
    assert leftovers(tmp_path) == []


def test_download_checksum_mismatch_leaves_nothing(
    tmp_path: Path, server: Server, files: dict[str, bytes], checksums: dict[str, str]
) -> None:
    tampered = dict(files)
    tampered[mnist.TRAIN_IMAGES] = files[mnist.TRAIN_IMAGES][:-1] + b"\x01"
    url = server.serve("tampered", tampered)
    with pytest.raises(mnist.MNISTUnavailableError, match="ChecksumError"):
        mnist.download_file(
            mnist.TRAIN_IMAGES,
            tmp_path,
            mirrors=[url],
            checksums=checksums,
            opener=NO_PROXY_OPEN,
        )
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------


def cv2_linear_reference(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Pixel-by-pixel cv2.resize INTER_LINEAR (half-pixel centres, clamped)."""

    def taps(d: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        s = (d + 0.5) * n_in / n_out - 0.5
        i = int(np.floor(s))
        f = s - i
        if i < 0:
            i, f = 0, 0.0
        if i >= n_in - 1:
            i, f = n_in - 1, 0.0
        return i, min(i + 1, n_in - 1), f

    h, w = image.shape
    out = np.empty((out_h, out_w))
    for r in range(out_h):
        r0, r1, fr = taps(r, h, out_h)
        for c in range(out_w):
            c0, c1, fc = taps(c, w, out_w)
            top = (1 - fc) * image[r0, c0] + fc * image[r0, c1]
            bottom = (1 - fc) * image[r1, c0] + fc * image[r1, c1]
            out[r, c] = (1 - fr) * top + fr * bottom
    return out


@pytest.mark.parametrize("size", [15, 7, 28, 40])
def test_resize_constant_stays_constant(size: int) -> None:
    images = np.full((3, 28, 28), 0.37)
    out = mnist.resize_images(images, size)
    assert out.shape == (3, size, size)
    np.testing.assert_allclose(out, 0.37, rtol=0, atol=1e-15)
    np.testing.assert_allclose(mnist.bilinear_matrix(28, size).sum(axis=1), 1.0)


@pytest.mark.parametrize("size", [15, 40])
def test_resize_matches_cv2_formula(size: int) -> None:
    rng = np.random.default_rng(1)
    images = rng.random((2, 28, 28))
    out = mnist.resize_images(images, size)
    for image, resized in zip(images, out, strict=True):
        expected = cv2_linear_reference(image, size, size)
        np.testing.assert_allclose(resized, expected, rtol=0, atol=1e-12)


def test_resize_15_weights() -> None:
    """28 -> 15: every output row mixes two neighbouring source rows."""
    r = mnist.bilinear_matrix(28, 15)
    assert r.shape == (15, 28)
    assert np.count_nonzero(r, axis=1).tolist() == [2] * 15
    np.testing.assert_allclose(r[0, :2], [1 - 13 / 30, 13 / 30])


def test_preprocess_scales_and_flattens() -> None:
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[1] = 255
    out = mnist.preprocess(images, size=15)
    assert out.shape == (2, 225)
    np.testing.assert_allclose(out[0], 0.0)
    np.testing.assert_allclose(out[1], 1.0)


# --------------------------------------------------------------------------
# Batches and codes
# --------------------------------------------------------------------------


def test_minibatches_fixed_order() -> None:
    x = np.arange(12 * 3).reshape(12, 3)
    y = np.arange(12)
    xb, yb = mnist.minibatches(x, y, batch_size=4)
    assert xb.shape == (3, 4, 3) and yb.shape == (3, 4)
    assert yb.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    np.testing.assert_array_equal(xb[1], x[4:8])
    xb2, _ = mnist.minibatches(x, y, batch_size=4)
    np.testing.assert_array_equal(xb, xb2)


@pytest.mark.parametrize("batch_size", [0, -4, 5, 2.5])
def test_minibatches_rejects_bad_batch_size(batch_size: float) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        mnist.minibatches(np.zeros((12, 2)), np.zeros(12), batch_size=batch_size)


def test_minibatches_rejects_a_batch_size_that_is_not_a_number() -> None:
    with pytest.raises(TypeError, match=r"batch_size must be a whole number >= 1; got '4' \(str\)"):
        mnist.minibatches(np.zeros((12, 2)), np.zeros(12), batch_size="4")
    xb, _ = mnist.minibatches(np.zeros((12, 2)), np.zeros(12), batch_size=4.0)
    assert xb.shape == (3, 4, 2)


@pytest.mark.parametrize(("call", "name", "value"), [
    (lambda: mnist.bilinear_matrix(28, 14.5), "n_out", "14.5"),
    (lambda: mnist.bilinear_matrix(0, 15), "n_in", "0"),
    (lambda: mnist.resize_images(np.zeros((1, 28, 28)), 15.5), "size", "15.5"),
    (lambda: mnist.preprocess(np.zeros((1, 28, 28), dtype=np.uint8), size=2.7), "size", "2.7"),
])
def test_resize_rejects_sizes_that_are_not_whole_numbers(call, name, value) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a whole number >= 1; got {value}\.$"):
        call()


def test_minibatches_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="samples"):
        mnist.minibatches(np.zeros((12, 2)), np.zeros(8), batch_size=4)


CODES = np.array(  # 3 classes, mutually exclusive 2-hot codes on 6 units
    [
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1],
    ]
)


def test_encode_decode_roundtrip() -> None:
    labels = np.array([2, 0, 1, 1, 0])
    targets = mnist.encode_labels(labels, CODES)
    assert targets.shape == (5, 6) and targets.dtype == np.float64
    np.testing.assert_array_equal(targets[0], [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(mnist.decode(targets, CODES), labels)
    with pytest.raises(ValueError, match="0..2"):
        mnist.encode_labels(np.array([3]), CODES)


def test_decode_uses_summed_code_units() -> None:
    # Unit 0 is the single largest output, but class 1's units sum higher.
    outputs = np.array([[0.9, -0.5, 0.6, 0.6, 0.0, 0.0]])
    assert mnist.decode(outputs, CODES).tolist() == [1]
    assert mnist.decode(np.zeros((1, 6)), CODES).tolist() == [0]  # ties -> lowest
    with pytest.raises(ValueError):
        mnist.decode(np.zeros((1, 5)), CODES)


def test_label_smoothing() -> None:
    targets = mnist.encode_labels(np.array([1]), CODES)
    smooth = mnist.label_smoothing(targets)
    np.testing.assert_allclose(smooth, [[0.05, 0.05, 0.95, 0.95, 0.05, 0.05]])
