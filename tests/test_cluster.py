"""Tests of ``python -m fa_lib reproduce --scheduler`` (fa_lib/cluster.py).

Every cluster here is a ``LocalCluster`` of at most 2 worker processes with 1 thread
each, on loopback addresses only; each test takes well under a minute at the quick scale.
The tests that need ``dask.distributed`` are skipped, with the reason, when it is not
installed (``requirements.txt`` pins it, so CI runs them). The checks of the entries
(:func:`fa_lib.cache.store_entry`) and of a worker without MNIST need no cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from toy_chapters import kill_first_writer, toy_package

from fa_lib import cache, catalogue, runner, scheduler

try:
    import distributed  # noqa: F401 - only whether it is there
except ImportError:
    HAS_DASK = False
else:
    HAS_DASK = True

needs_dask = pytest.mark.skipif(
    not HAS_DASK, reason="dask.distributed is not installed (pip install -r requirements.txt)")

ROOT = Path(__file__).resolve().parents[1]
CHEAP = "persistent_error"


def _env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FA_CACHE_DIR": str(cache_dir), "FA_SCALE": "quick", "FA_CACHE": "on",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _cli(cache_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fa_lib", "reproduce", "--no-progress", *args],
        cwd=ROOT, env=_env(cache_dir), capture_output=True, text=True, timeout=timeout)


def _rows(stdout: str) -> dict[tuple[str, str], str]:
    """(chapter, experiment) -> cached before, from the table of a run."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) > 4 and cells[0] in catalogue.CHAPTERS:
            rows[cells[0], cells[1]] = cells[4]
    return rows


def _assert_same_entries(one: Path, two: Path) -> list[str]:
    names = sorted(p.name for p in one.glob("*.npz"))
    assert names and names == sorted(p.name for p in two.glob("*.npz"))
    for name in names:
        with np.load(one / name) as a, np.load(two / name) as b:
            arrays = sorted(k for k in a.files if not k.startswith("__"))
            assert arrays == sorted(k for k in b.files if not k.startswith("__"))
            for k in arrays:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}: {k}")
    return names


def _no_temporaries(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- a real chapter


@needs_dask
def test_local_cluster_writes_the_same_entries_as_a_serial_run(tmp_path):
    serial, clustered = tmp_path / "serial", tmp_path / "cluster"
    one = _cli(serial, "--only", CHEAP)
    record = tmp_path / "table.json"
    two = _cli(clustered, "--only", CHEAP, "--scheduler", "local:2", "--json", str(record))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    rows = _rows(two.stdout)
    assert list(rows) == list(_rows(one.stdout))  # same experiments, in the book's order
    assert set(rows.values()) == {"no"}, two.stdout
    assert "wall clock:" in two.stdout and "with --scheduler local:2" in two.stdout
    assert "2 worker(s)" in two.stderr and "up to 2 time(s)" in two.stderr
    table = json.loads(record.read_text())
    assert (table["scale"], table["scheduler"], table["jobs"], table["failures"]) == (
        "quick", "local:2", None, [])
    workers = {r["note"] for r in table["rows"]}
    assert all(n.startswith("on tcp://127.0.0.1:") for n in workers), workers
    # The workers key and compute every entry exactly as the serial run does.
    _assert_same_entries(serial, clustered)
    _no_temporaries(clustered)

    again = _cli(clustered, "--only", CHEAP, "--scheduler", "local:2")
    assert again.returncode == 0, again.stderr
    assert set(_rows(again.stdout).values()) == {"yes"}, again.stdout
    assert "dask scheduler" not in again.stderr  # nothing missing: no cluster started


# --------------------------------------------------------------------------- toy chapters

TOY = '''
import os
import time
from pathlib import Path

import numpy as np

from fa_lib.cache import cached


def _entry(name, n=3):
    return cached(f"toy_{name}", {"n": n}, lambda: {"x": np.arange(n) * 0.5,
                                                    "y": np.eye(n)})


def _slow():
    """Sleeps until killed on its first attempt (its worker's PID goes to a file)."""

    def compute():
        pids = os.environ["FA_TOY_PIDS"]
        first = not os.path.exists(pids)
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        if first:
            time.sleep(45)
        return {"x": np.arange(4) * 0.5}

    return cached("toy_slow", {"n": 4}, compute)


def _labels():
    """Reads MNIST from FA_MNIST_DIR, which the worker got from the client."""
    directory = os.environ["FA_MNIST_DIR"]
    labels = mnist.read_idx_file(mnist.find_file(Path(directory), mnist.TEST_LABELS),
                                 verify=True)
    return cached("toy_labels", {"dir_is_local": "fa_lib-mnist" in directory,
                                 "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")},
                  lambda: {"y": labels[:20]})


EXPERIMENTS = {"a": lambda: _entry("a"), "slow": _slow, "b": lambda: _entry("b", 5)}
MNIST = {"labels": _labels}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Test-only chapter modules (``toy_cluster.toy``, ``.mnist``) and a private cache."""
    with_mnist = (
        TOY.replace("EXPERIMENTS = {", "_UNUSED = {").replace("MNIST = {", "EXPERIMENTS = {")
        .replace("from fa_lib.cache import", "from fa_lib import mnist\nfrom fa_lib.cache import"))
    cache_dir = toy_package(tmp_path, monkeypatch, "toy_cluster",
                            {"toy": TOY, "with_mnist": with_mnist})
    monkeypatch.setenv("FA_TOY_PIDS", str(tmp_path / "pids.txt"))
    return cache_dir


@needs_dask
def test_a_worker_killed_mid_task_has_its_task_completed_by_the_other(toy, tmp_path):
    pids = tmp_path / "pids.txt"
    killed: list[int] = []
    killer = threading.Thread(target=kill_first_writer, args=(pids, killed, time.monotonic() + 50))
    killer.start()
    start = time.monotonic()
    try:
        rows, failures = runner.reproduce(progress=False, scheduler="local:2",
                                             modules={"toy": "toy_cluster.toy"})
    finally:
        killer.join()
    assert time.monotonic() - start < 45  # the killed attempt's sleep was not waited for
    assert killed, "the slow experiment never started"
    assert not failures, failures
    states = {r.experiment: r.cached_before for r in rows}
    assert states == {"a": "no", "slow": "no", "b": "no"}, rows
    slow = next(r for r in rows if r.experiment == "slow")
    assert "1 worker lost, run again" in slow.note, slow
    attempts = [int(p) for p in pids.read_text().split()]
    assert len(attempts) == 2 and attempts[0] == killed[0] and attempts[1] != killed[0]
    # Every entry is there, complete and valid; nothing partial was left behind.
    names = sorted(p.name.split("-")[0] for p in toy.glob("*.npz"))
    assert names == ["toy_a", "toy_b", "toy_slow"]
    _no_temporaries(toy)
    from toy_cluster import toy as module  # noqa: I001 - importable only in this test

    for label, run in module.EXPERIMENTS.items():
        assert runner.is_cached(run), label
    assert "1 worker lost" in runner.format_table(rows)


@needs_dask
@pytest.mark.skipif(not os.environ.get("FA_MNIST_DIR"),
                    reason="FA_MNIST_DIR is not set (the client's MNIST files)")
def test_mnist_reaches_the_workers_from_the_client(toy, capsys):
    from fa_lib import catalogue

    assert catalogue.needs_mnist("toy_cluster.with_mnist")  # it holds fa_lib.mnist
    assert not catalogue.needs_mnist("toy_cluster.toy")
    assert catalogue.needs_mnist("fa_lib.experiments.flexibility")
    assert not catalogue.needs_mnist("fa_lib.experiments.depth")
    rows, failures = runner.reproduce(progress=False, scheduler="local:1",
                                         modules={"toy": "toy_cluster.with_mnist"})
    assert not failures, failures
    assert [(r.experiment, r.cached_before) for r in rows] == [("labels", "no")]
    assert "MNIST sent to the workers" in capsys.readouterr().err
    (entry,) = toy.glob("toy_labels-*.npz")
    with np.load(entry) as npz:
        meta = json.loads(str(npz["__meta__"][()]))
        # From the client's files; glibc's thresholds not fixed by the nanny (local:N).
        assert meta["config"] == {"dir_is_local": True, "malloc_trim": None}
        assert npz["y"].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_dask
def test_a_scheduler_that_does_not_answer_is_a_clear_error_within_the_timeout(tmp_path):
    from fa_lib import cluster

    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    out = _cli(tmp_path / "cache", "--only", CHEAP, "--scheduler", address, timeout=120)
    elapsed = time.monotonic() - start
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert (f"error: cannot reach the dask scheduler at {address} within "
            f"{cluster.CONNECT_TIMEOUT:g} s") in out.stderr
    assert "Traceback" not in out.stderr and "total:" not in out.stdout
    # The timeout, plus the start of Python and the check of the (empty) cache.
    assert cluster.CONNECT_TIMEOUT - 1 < elapsed < cluster.CONNECT_TIMEOUT + 30, elapsed
    assert not list((tmp_path / "cache").glob("*.npz"))


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "local:0"], "expected local:N"),
    (["--scheduler", "local:two"], "expected local:N"),
    (["--scheduler", " "], "--scheduler needs an address"),
    (["--scheduler", "local:2", "--jobs", "2"], "cannot be used together"),
    (["--scheduler", "nonsense"], "tcp://HOST:PORT or tls://HOST:PORT"),
    (["--scheduler", "tcp://head-node"], "tcp://HOST:PORT or tls://HOST:PORT"),
    (["--scheduler", "127.0.0.1:70000"], "a port from 1 to 65535"),
    (["--scheduler", "http://127.0.0.1:8787"], "tcp://HOST:PORT or tls://HOST:PORT"),
])
def test_bad_scheduler_arguments(tmp_path, args, message):
    out = _cli(tmp_path, "--only", CHEAP, *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())


class _NotDask:
    """A TCP server on a free port of 127.0.0.1 that is not a dask scheduler.

    ``http``: a web server (what dask's dashboard port is), which reads dask's handshake
    as the start of a request and never answers it; ``banner``: a server that greets
    every connection with a banner (as SSH does), bytes that dask reads as frame sizes.
    """

    def __init__(self, kind: str) -> None:
        import http.server

        if kind == "http":
            self.server = http.server.HTTPServer(("127.0.0.1", 0),
                                                 http.server.BaseHTTPRequestHandler)
            self.port = self.server.server_address[1]
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        else:
            self.server = None
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen()
            self.port = self.sock.getsockname()[1]
            self.thread = threading.Thread(target=self._banner, daemon=True)
        self.thread.start()

    def _banner(self) -> None:
        self.sock.settimeout(60)
        try:
            while True:
                conn, _ = self.sock.accept()
                conn.sendall(b"SSH-2.0-x\r\n" * 10)
        except OSError:
            return

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        else:
            self.sock.close()


@needs_dask
@pytest.mark.parametrize("kind", ["http", "banner"])
def test_a_server_that_is_not_a_dask_scheduler_is_one_error_line(tmp_path, kind):
    from fa_lib import cluster

    server = _NotDask(kind)
    address = f"tcp://127.0.0.1:{server.port}"
    try:
        # The whole handshake has a hard deadline (the web server never answers it).
        start = time.monotonic()
        with pytest.raises(scheduler.SchedulerError, match="127.0.0.1") as info:
            with cluster.connect(address, timeout=2):
                pass
        assert time.monotonic() - start < 8
        assert "dask scheduler" in str(info.value) and "\n" not in str(info.value)
        if kind == "banner":  # the command: one line, exit status 2, nothing computed
            out = _cli(tmp_path / "cache", "--only", CHEAP, "--scheduler", address,
                       timeout=120)
            assert out.returncode == 2, (out.stdout, out.stderr)
            errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and address in errors[0], out.stderr
            assert "Traceback" not in out.stderr and "total:" not in out.stdout
            assert not list((tmp_path / "cache").glob("*.npz"))
    finally:
        server.close()


def _self_signed(directory: Path) -> dict[str, str]:
    """A self-signed certificate and key for 127.0.0.1 (openssl), as dask's TLS files."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return {"ca": str(cert), "cert": str(cert), "key": str(key)}


@needs_dask
def test_tls_without_dask_configuration_is_refused_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    out = subprocess.run(
        [sys.executable, "-m", "fa_lib", "reproduce", "--no-progress", "--only", CHEAP,
         "--scheduler", f"tls://127.0.0.1:{_free_port()}"],
        cwd=ROOT, env={**_env(tmp_path / "cache"), **env, "FA_CACHE_DIR": str(tmp_path / "c")},
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "dask's TLS settings are not configured" in out.stderr
    assert "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" in out.stderr
    assert "Traceback" not in out.stderr


@needs_dask
@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0,
                    reason="openssl is needed to make a self-signed certificate")
def test_tls_works_through_dask_configuration(tmp_path):
    import dask

    from fa_lib import cluster

    tls = _self_signed(tmp_path)
    port = _free_port()
    flags = ["--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]
    env = _env(tmp_path / "cache")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
         f"tls://127.0.0.1:{port}", "--no-dashboard", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", f"tls://127.0.0.1:{port}",
         "--nthreads", "1", "--no-nanny", "--no-dashboard", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with dask.config.set({"distributed.comm.tls.ca-file": tls["ca"],
                              "distributed.comm.tls.client.cert": tls["cert"],
                              "distributed.comm.tls.client.key": tls["key"]}):
            deadline = time.monotonic() + 60
            while True:  # the scheduler takes a few seconds to start
                try:
                    with cluster.connect(f"tls://127.0.0.1:{port}", timeout=5,
                                         worker_timeout=30) as client:
                        workers = client.scheduler_info()["workers"]
                        assert workers and all(w.startswith("tls://") for w in workers)
                        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
                    break
                except scheduler.SchedulerError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=30)


INTERRUPTED_RUN = """
import signal, sys
# as in a terminal, whatever this test process inherited: Ctrl-C not blocked, not ignored
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
from fa_lib import runner

rows, failures = runner.reproduce(progress=False, scheduler="local:2",
                                  modules={"toy": "toy_cluster.toy"})
print(runner.format_table(rows))
for failure in failures:
    print("FAILED:", *failure, file=sys.stderr)
"""


@needs_dask
def test_ctrl_c_to_the_process_group_leaves_quiet_workers(toy, tmp_path):
    """Ctrl-C in a terminal reaches every process of the group: the workers say nothing."""
    pids = tmp_path / "pids.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in err, err
    assert "total:" in out


# --------------------------------------------------------------------------- without a cluster


def _entry_bytes(directory: Path) -> tuple[str, bytes]:
    cache.cached("cluster_test", {"n": 2, "s": "x"},
                 lambda: {"a": np.arange(6.0).reshape(2, 3), "b": np.array([1, 2])},
                 cache_dir=directory)
    (path,) = directory.glob("cluster_test-*.npz")
    return path.name, path.read_bytes()


def test_store_entry_checks_and_writes_atomically(tmp_path):
    name, data = _entry_bytes(tmp_path / "worker")
    target = tmp_path / "client"
    written = cache.store_entry(name, data, target)
    assert written == target / name and written.read_bytes() == data
    _assert_same_entries(tmp_path / "worker", target)

    bad = {
        "a truncated file": (name, data[:len(data) // 2]),
        "another name": ("cluster_test-00000000000000000000.npz", data),
        "not an entry": (name, b"PK\x03\x04 nothing"),
    }
    # An array changed after the checksum was taken (stored as float32, which holds it).
    altered = bytearray(data)
    offset = data.index(np.arange(6.0, dtype=np.float32).tobytes())
    altered[offset] ^= 1
    bad["a changed array"] = (name, bytes(altered))
    # A key that does not belong to the configuration.
    import io
    import json as json_

    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json_.loads(str(arrays["__meta__"][()]))
    meta["config"]["n"] = 3
    arrays["__meta__"] = np.array(json_.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    bad["a foreign key"] = (name, buffer.getvalue())
    for why, (file_name, content) in bad.items():
        with pytest.raises(cache.EntryRejected, match="rejected"):
            cache.store_entry(file_name, content, tmp_path / "rejected")
        assert not (tmp_path / "rejected").exists() or not any(
            (tmp_path / "rejected").iterdir()), why


@needs_dask
def test_a_worker_without_mnist_or_with_other_code_fails_clearly(tmp_path):
    from fa_lib import cluster, mnist

    code = cache.loaded_code_fingerprint()
    # Called outside a worker: no plugin brought MNIST.
    result = cluster.compute("fa_lib.experiments.flexibility", "x", {}, [], code, True)
    assert result["outcome"].state == "FAILED"
    assert result["outcome"].summary.startswith(
        "MNISTUnavailableError: MNIST did not reach worker")
    result = cluster.compute("fa_lib.experiments.depth", "x", {}, [], "0" * 64, False)
    assert result["outcome"].state == "FAILED"
    assert result["outcome"].summary.startswith("CodeMismatch")
    assert result["entries"] == {}

    class Worker:
        local_directory = str(tmp_path)

    plugin = cluster.MNISTFiles({f"{mnist.TEST_LABELS}": b"\x00\x00\x08\x01 not labels"})
    plugin.setup(Worker())
    assert plugin.directory is None and "ChecksumError" in plugin.error, plugin.error
    assert cluster._mnist_status(type("W", (), {"plugins": {cluster.PLUGIN: plugin}})())


# --------------------------------------------------------------------------- the measured overhead


def test_the_book_page_shows_the_measured_overhead_from_its_json():
    """``book/cluster.md`` shows ``benchmarks/results/cluster.json``, computed, not typed in."""
    from benchmarks import cluster as bench

    record = json.loads(bench.RESULTS.read_text(encoding="utf-8"))
    assert set(record["parts"]) == {"quick", "s3"}
    for part in record["parts"].values():
        jobs, clustered = part["jobs"], part["cluster"]
        assert part["ratio"]["wall"] == round(clustered["wall_s"] / jobs["wall_s"], 3)
        for run in (jobs, clustered):
            assert 0 < run["cpu_share"] <= 1.05 and 0 < run["machine_busy"] <= 1.0
    page = bench.PAGE.read_text(encoding="utf-8")
    assert bench.render_page(record) == page, "run python -m benchmarks.cluster --render-only"
    assert f"**{record['parts']['quick']['ratio']['wall']:.2f}**" in page
    # The README's table of the ways to run the book quotes the same ratios.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| a cluster |"))
    for part in record["parts"].values():
        assert f"{part['ratio']['wall']:.2f}x" in row, (part["ratio"], row)
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "file: book/cluster" in toc.split("Checks, benchmarks and references")[1]
