"""Compute the missing experiments on a dask cluster: ``reproduce --scheduler``.

``python -m fa_lib reproduce --scheduler ADDRESS`` sends the experiments that are not
cached yet to the workers of a running ``dask.distributed`` scheduler (for example
``tcp://host:8786``, started with ``dask scheduler``); ``--scheduler local:N`` starts a
:class:`distributed.LocalCluster` of ``N`` worker processes (one thread each) on this
machine for the run. Everything else is that of ``--jobs``
(:func:`fa_lib.runner.reproduce`): which experiments are missing, the order (the
book's), the progress bar, the time table and the exit status. This module is imported
only with ``--scheduler``, so ``dask`` and ``distributed`` are needed only then.

How the entries travel
    The workers need no shared file system. A worker runs one experiment at a time
    (:func:`compute`): the client's ``FA_*`` settings, with ``FA_CACHE_DIR`` pointing
    to a scratch directory of its own, so every entry the experiment computes is
    written there by :func:`fa_lib.cache.cached` as usual. The worker returns the bytes
    of those ``.npz`` files with the experiment's outcome and removes the scratch
    directory. The scratch directory starts with the entries of the client's cache that
    the experiment reads (found as :func:`fa_lib.dependencies.probe` finds them, just
    before it is sent), so a worker computes only what a local run would compute. The
    client checks each entry (:func:`fa_lib.cache.store_entry`: the zip
    CRCs, the key against the entry's name, configuration and code fingerprint, the file
    name, the SHA-256 of its arrays) and writes it into its own results cache with the
    cache's atomic write (temporary file, ``fsync``, rename). An entry that fails a check
    fails its experiment and is not written.
Experiments that read other experiments' entries
    They are sent in the book's order, except that one waits while an experiment sent
    earlier, or before it, would compute the same first missing entry
    (:class:`fa_lib.dependencies.Gate`): ``feedback_rules/dfa_stable`` is sent when the
    tuning runs it reads are in the client's cache, and then gets them, inside the task
    (not scattered: a task whose worker is lost runs again elsewhere with them). At most
    :data:`IN_FLIGHT` experiments per worker thread are sent ahead.
Same code
    Entries are keyed by the code that computed them, so every worker must run the same
    ``fa_lib`` as the client: the client compares the workers' code fingerprints
    (:func:`fa_lib.cache.loaded_code_fingerprint`) with its own before it sends anything,
    and each task checks again (for workers that join later).
MNIST
    Sent by the client. When an experiment to compute uses MNIST (its module depends on
    :mod:`fa_lib.mnist`), the client finds the four IDX files as a serial run would
    (``FA_MNIST_DIR``, else the per-user download, :func:`fa_lib.mnist.ensure_files`),
    checks each against its pinned SHA-256, and sends them once to every worker, as a
    worker plugin (:class:`MNISTFiles`; a worker that joins later, or is restarted,
    gets them too). Each worker writes them into its local directory and checks their
    SHA-256 again; the experiment reads them from there (``FA_MNIST_DIR`` is set for the
    task). ``FA_MNIST_DIR`` on a worker is not used. When the client cannot get MNIST,
    the experiments that need it fail with the loader's message (the others run); when a
    worker cannot store or verify the files, the command stops with an error naming the
    worker, and an experiment given to such a worker (joined later) fails with
    ``MNISTUnavailableError: MNIST did not reach worker ...``.
A lost worker
    When a worker dies while it computes an experiment (killed, out of memory, its
    machine gone), the scheduler gives the task to another worker, up to the scheduler's
    ``distributed.scheduler.allowed-failures`` times (:data:`ALLOWED_FAILURES` = 2 for
    ``local:N``, so at most 3 attempts; dask's default is 3 on a scheduler you start).
    Nothing of the lost attempt reaches the results cache (its entries were in the lost
    worker's scratch directory). The row of the time table says where the experiment
    ran and how many workers were lost under it (``on tcp://...; 1 worker lost, run
    again``); the run prints the number of retries allowed at the start. After the
    last attempt, the experiment fails (``KilledWorker``) and the others go on. A task
    that fails outside the experiment (e.g. it cannot be unpacked on a worker) is
    retried :data:`RETRIES` times by dask; an exception raised by the experiment itself
    is not retried (it is reported as with ``--jobs``).
Scheduler not answering, or not a scheduler
    Before the client is made, the address is asked who it is (dask's ``identity``
    call, :func:`identify`) under a hard deadline of :data:`CONNECT_TIMEOUT` seconds
    (10 s) for the whole exchange: connecting, dask's handshake and the answer. Nothing
    answering, a server that is not dask's (a web server, dask's dashboard port, an SSH
    server) or a dask process that is not a scheduler stops the command with one line,
    ``error: ... ADDRESS ...``, and exit status 2. A scheduler with no worker is waited
    for :data:`WORKER_TIMEOUT` seconds.
TLS
    A ``tls://`` address uses dask's own TLS configuration (:class:`distributed.Security`
    reads ``distributed.comm.tls.ca-file``, ``distributed.comm.tls.client.cert`` and
    ``distributed.comm.tls.client.key``, e.g. from the environment variables
    ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``, ``..._CLIENT__CERT`` and
    ``..._CLIENT__KEY``); without it the command stops with an error saying so.

BLAS threads: ``distributed``'s nanny starts every worker process with
``OMP_NUM_THREADS=1`` (and the MKL and OpenBLAS equivalents), so start one worker
process per core (``dask worker ADDRESS --nworkers N --nthreads 1``). It also sets
``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's thresholds so that every large
temporary array of NumPy is mapped and unmapped afresh: measured here, the training loop
then takes 1.6 times the CPU time (14 times the page faults). A worker given that setting
restores glibc's usual thresholds before its first experiment (:func:`_usual_malloc`),
and ``local:N`` starts its workers without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import importlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from distributed import comm as dask_comm
from distributed.security import Security

from fa_lib import cache, catalogue, config, dependencies, mnist
from fa_lib.outcome import Outcome, error_summary, timed
from fa_lib.scheduler import SchedulerError, parse_scheduler

__all__ = [
    "ALLOWED_FAILURES",
    "CONNECT_TIMEOUT",
    "IN_FLIGHT",
    "MNISTFiles",
    "RETRIES",
    "WORKER_TIMEOUT",
    "compute",
    "connect",
    "run_tasks",
]

CONNECT_TIMEOUT = 10.0
"""Seconds the client waits for the scheduler to answer before the command fails."""

WORKER_TIMEOUT = 120.0
"""Seconds the client waits for a first worker when the scheduler has none."""

ALLOWED_FAILURES = 2
"""For ``local:N``: how many times a task is given to another worker after its worker was
lost (``distributed.scheduler.allowed-failures``); a scheduler you start has its own
setting (dask's default 3), printed at the start of the run."""

RETRIES = 2
"""dask's ``retries`` of every task: how many times a task that fails outside the
experiment (the experiment's own exceptions are caught and reported) is tried again."""

IN_FLIGHT = 2
"""Experiments sent to the scheduler ahead of the results, per worker thread (the rest
wait on the client, so that an experiment is given the entries it reads when it is sent)."""

PLUGIN = "fa_lib-mnist"
"""The name of the worker plugin that carries MNIST (:class:`MNISTFiles`)."""

_MALLOC_SET: list[bool] = []  # the thresholds were restored in this process
_LOCK = threading.Lock()  # one experiment at a time per worker process (os.environ is global)


# --------------------------------------------------------------------------- the scheduler


def _security(address: str) -> Security:
    """Return the security settings for ``address``, from dask's configuration."""
    security = Security()
    if address.startswith("tls://") and \
            security.get_connection_args("client")["ssl_context"] is None:
        raise SchedulerError(
            f"the scheduler address {address} asks for TLS, but dask's TLS settings are not "
            "configured: set distributed.comm.tls.ca-file, distributed.comm.tls.client.cert "
            "and distributed.comm.tls.client.key (e.g. the environment variables "
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT "
            "and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY); see book/cluster.md.")
    return security


def identify(address: str, timeout: float = CONNECT_TIMEOUT,
             security: Security | None = None) -> dict[str, Any]:
    """Ask the dask process at ``address`` who it is, within a hard deadline.

    Connecting, dask's handshake and the ``identity`` call together must finish within
    ``timeout`` seconds; whatever goes wrong (nothing listening, a server that speaks
    another protocol and never answers, or answers with bytes that dask cannot parse, a
    TLS failure) becomes one :class:`~fa_lib.scheduler.SchedulerError`.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` or ``tls://HOST:PORT``.
    timeout : float
        Seconds for the whole exchange.
    security : distributed.Security, optional
        Default :func:`_security` of the address (dask's configuration).

    Returns
    -------
    dict
        The answer of the ``identity`` call; its ``type`` is ``"Scheduler"`` for a
        scheduler.

    Raises
    ------
    fa_lib.scheduler.SchedulerError
        If no dask process answers at ``address`` within ``timeout`` seconds.
    """
    security = _security(address) if security is None else security
    connection_args = security.get_connection_args("client")
    outcome: dict[str, Any] = {}

    async def ask() -> dict[str, Any]:
        remote = await dask_comm.connect(address, timeout=timeout, **connection_args)
        try:
            await remote.write({"op": "identity", "reply": True})
            return await remote.read()
        finally:
            remote.abort()

    def run() -> None:
        try:
            outcome["answer"] = asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as err:  # noqa: BLE001 - every failure becomes one message
            outcome["error"] = err

    # A thread of its own: a running event loop (a notebook's) does not get in the way,
    # and the deadline holds even if a read blocks outside the event loop.
    thread = threading.Thread(target=run, name="fa_lib-identify", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    err = outcome.get("error")
    if thread.is_alive() or isinstance(err, (TimeoutError, asyncio.TimeoutError)):
        raise SchedulerError(
            f"cannot reach the dask scheduler at {address} within {timeout:g} s (no answer "
            "in dask's protocol); is `dask scheduler` running there, and is the address "
            "(tcp://HOST:PORT) its scheduler port (8786 by default), not its dashboard "
            "(8787)?")
    if isinstance(err, OSError):
        raise SchedulerError(
            f"cannot reach the dask scheduler at {address} within {timeout:g} s "
            f"({error_summary(err)}); is `dask "
            "scheduler` running there, and is the address (tcp://HOST:PORT) its scheduler "
            "port (8786 by default)?")
    if err is not None:  # it answered, but not in dask's protocol (bytes taken for sizes...)
        raise SchedulerError(
            f"the server at {address} does not answer as a dask scheduler "
            f"({type(err).__name__} on reading its answer); is the address (tcp://HOST:PORT) "
            "the scheduler's port (8786 by default)?")
    answer = outcome.get("answer")
    if not isinstance(answer, dict):
        raise SchedulerError(f"the server at {address} does not answer as a dask scheduler "
                             "would; is the address (tcp://HOST:PORT) its scheduler port?")
    return answer


@contextlib.contextmanager
def connect(spec: str, timeout: float = CONNECT_TIMEOUT,
            worker_timeout: float = WORKER_TIMEOUT) -> Iterator[Client]:
    """Connect to the scheduler of ``--scheduler`` (or start a local cluster).

    Parameters
    ----------
    spec : str
        ``local:N`` or a scheduler address (see :func:`fa_lib.scheduler.parse_scheduler`).
    timeout : float
        Seconds to wait for the scheduler to answer (a hard deadline, :func:`identify`).
    worker_timeout : float
        Seconds to wait for a first worker when the scheduler has none.

    Yields
    ------
    distributed.Client
        Closed at the end (and the local cluster with it).

    Raises
    ------
    fa_lib.scheduler.SchedulerError
        If the address is malformed, nothing there answers as a dask scheduler within
        ``timeout``, TLS is asked for but not configured, or no worker joins it.
    """
    try:
        kind, value = parse_scheduler(spec)
    except ValueError as err:
        raise SchedulerError(str(err)) from None
    cluster = None
    try:
        if kind == "local":
            with dask.config.set({
                    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                    # None unsets it (see _usual_malloc)
                    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
                    _workers_ignore_sigint():
                cluster = LocalCluster(
                    n_workers=int(value), threads_per_worker=1, processes=True,
                    dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
            target: Any = cluster
            security = None
        else:
            target = str(value)
            if "://" not in target:
                target = f"tcp://{target}"
            security = _security(target)
            answer = identify(target, timeout, security)
            if answer.get("type") != "Scheduler":
                what = answer.get("type", "process of unknown type")
                raise SchedulerError(f"the dask process at {target} is a {what}, not a "
                                     "scheduler; give the scheduler's address.")
        try:
            client = Client(target, timeout=timeout, security=security)
        except Exception as err:  # noqa: BLE001 - whatever dask raises, one message
            raise SchedulerError(
                f"cannot reach the dask scheduler at {value} within {timeout:g} s "
                f"({error_summary(err)}); is `dask scheduler` running there, and is the "
                "address (tcp://HOST:PORT) right?") from None
        try:
            try:
                client.wait_for_workers(1, timeout=worker_timeout)
            except (OSError, TimeoutError):
                raise SchedulerError(
                    f"the dask scheduler at {client.scheduler.address} has no worker after "
                    f"{worker_timeout:g} s; start some with `dask worker "
                    f"{client.scheduler.address}`.") from None
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT while worker processes are started in this block.

    Ctrl-C (sent to the whole process group) is for the command, which stops the run and
    cancels the tasks; workers started with SIGINT ignored keep it so (Python leaves an
    inherited SIG_IGN alone) and print no traceback of their own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _allowed_failures(dask_scheduler: Any = None) -> int:
    return int(dask_scheduler.allowed_failures)


def _attempts(key: str, dask_scheduler: Any = None) -> tuple[int, int] | None:
    """(workers lost under the task, dask retries left) of a task, on the scheduler."""
    task = dask_scheduler.tasks.get(key)
    return None if task is None else (int(task.suspicious), int(task.retries))


def _fingerprint() -> str:
    return cache.loaded_code_fingerprint()


# --------------------------------------------------------------------------- MNIST


def _mnist_files() -> dict[str, bytes]:
    """The four MNIST files as the client finds them (file name -> bytes), each verified."""
    files = {}
    for name, path in mnist.ensure_files().items():
        data = path.read_bytes()
        mnist.verify_sha256(mnist.read_bytes(path), mnist.SHA256[name], str(path))
        files[path.name] = data
    return files


class MNISTFiles(WorkerPlugin):
    """A worker plugin that carries the MNIST files from the client to every worker.

    On each worker (:meth:`setup`), the files are written atomically into
    ``<worker local directory>/fa_lib-mnist`` and checked against the pinned SHA-256 of
    :data:`fa_lib.mnist.SHA256`. :attr:`directory` is then that directory, or None and
    :attr:`error` says why.

    Parameters
    ----------
    files : dict of str to bytes
        File name (an MNIST IDX file, optionally ``.gz``) -> content.
    """

    name = PLUGIN

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.directory: str | None = None
        self.error = "the files were not stored yet"

    def setup(self, worker: Any) -> None:
        """Store and verify the files on ``worker``; never raises (see :attr:`error`)."""
        try:
            directory = Path(worker.local_directory) / "fa_lib-mnist"
            directory.mkdir(parents=True, exist_ok=True)
            for file_name, data in self.files.items():
                target = directory / file_name
                fd, tmp = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".tmp",
                                           dir=directory)
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                base = file_name.removesuffix(".gz")
                mnist.verify_sha256(mnist.read_bytes(target), mnist.SHA256[base], str(target))
            missing = [n for n in mnist.FILES if mnist.find_file(directory, n) is None]
            if missing:
                raise mnist.MNISTUnavailableError(f"the client sent no {', '.join(missing)}")
            self.directory, self.error = str(directory), ""
        except Exception as err:  # noqa: BLE001 - reported by the tasks and the client
            self.directory, self.error = None, error_summary(err)
        self.files = {}


def _mnist_status(dask_worker: Any = None) -> str:
    """'' when the worker holds verified MNIST files, else why not."""
    plugin = dask_worker.plugins.get(PLUGIN)
    if plugin is None:
        return "the MNIST plugin is not installed"
    return "" if plugin.directory else plugin.error


# --------------------------------------------------------------------------- on a worker


def _usual_malloc() -> None:
    """Undo a fixed ``MALLOC_TRIM_THRESHOLD_`` in this process (glibc only, once).

    Fixing a threshold turns off glibc's dynamic mmap threshold, so that every array above
    128 KiB is mapped and unmapped afresh. This sets the values the dynamic threshold
    reaches for large arrays (mmap above 32 MiB, trim above 64 MiB).
    """
    if _MALLOC_SET or not any(k in os.environ for k in ("MALLOC_TRIM_THRESHOLD_",
                                                        "MALLOC_MMAP_THRESHOLD_")):
        return
    _MALLOC_SET.append(True)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD


def compute(module: str, label: str, environment: dict[str, str], path: Sequence[str],
            code: str, needs_mnist: bool,
            seed: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Run one experiment on a worker and return its outcome and its cache entries.

    The task of :func:`run_tasks`. It runs with the client's ``FA_*`` settings
    (``environment``) and ``FA_CACHE_DIR`` set to a scratch directory that holds the
    entries of ``seed`` only, removed at the end; the experiment's exceptions are caught
    and reported in the outcome, as in a ``--jobs`` worker. One experiment runs at a
    time in a worker process.

    Parameters
    ----------
    module, label : str
        The experiments module and the experiment's name in its experiments
        (:func:`fa_lib.catalogue.experiments_of`, at the scale of ``environment``).
    environment : dict of str to str
        The client's ``FA_*`` variables.
    path : sequence of str
        The client's ``sys.path`` (entries missing here are put in front).
    code : str
        The client's :func:`fa_lib.cache.loaded_code_fingerprint`; the experiment fails
        without computing when this worker runs other code.
    needs_mnist : bool
        Whether the experiment reads MNIST (from the worker plugin :class:`MNISTFiles`).
    seed : dict of str to bytes, optional
        Entries of the client's cache that the experiment reads (file name -> bytes);
        the cache checks them as it checks every entry it reads.

    Returns
    -------
    dict
        ``outcome`` (wall s, CPU s, cached before or FAILED, error summary, traceback),
        ``entries`` (file name -> bytes of every entry computed, those of ``seed`` left
        out), ``worker`` (its address), ``host`` and ``pid``.
    """
    try:
        worker = get_worker()
    except ValueError:  # called outside a worker (tests)
        worker = None
    address = worker.address if worker is not None else "(no worker)"
    result: dict[str, Any] = {"worker": address, "host": socket.gethostname(),
                              "pid": os.getpid(), "entries": {}}
    with _LOCK:
        if code != cache.loaded_code_fingerprint():
            cause = (f"CodeMismatch: worker {address} on {result['host']} runs other fa_lib "
                     f"code (fingerprint {cache.loaded_code_fingerprint()[:12]}, the client's "
                     f"{code[:12]}); give every worker the client's version of the book")
            result["outcome"] = Outcome.failed(cause)
            return result
        mnist_dir = None
        if needs_mnist:
            plugin = worker.plugins.get(PLUGIN) if worker is not None else None
            mnist_dir = getattr(plugin, "directory", None)
            if mnist_dir is None:
                why = getattr(plugin, "error", "the client sent no MNIST files")
                cause = (f"MNISTUnavailableError: MNIST did not reach worker {address} on "
                         f"{result['host']}: {why}")
                result["outcome"] = Outcome.failed(cause)
                return result
        _usual_malloc()
        local = worker.local_directory if worker is not None else None
        scratch = tempfile.mkdtemp(prefix="fa_lib-entries-", dir=local)
        saved_env, saved_path = dict(os.environ), list(sys.path)
        try:
            sys.path[:0] = [entry for entry in path if entry not in sys.path]
            for name in [k for k in os.environ if k.startswith("FA_") and k != mnist.ENV_VAR]:
                del os.environ[name]
            os.environ.update(environment)
            os.environ.update({"FA_CACHE_DIR": scratch, "FA_CACHE": "on"})
            if mnist_dir is not None:  # else the worker's own FA_MNIST_DIR, if any
                os.environ[mnist.ENV_VAR] = mnist_dir
            for name, data in (seed or {}).items():
                if Path(name).name != name or not name.endswith(".npz"):
                    raise ValueError(f"not the file name of a cache entry: {name!r}")
                (Path(scratch) / name).write_bytes(data)
            run = catalogue.experiments_of(importlib.import_module(module))[label]
            result["outcome"] = timed(run)
            result["entries"] = {p.name: p.read_bytes()
                                 for p in sorted(Path(scratch).glob("*.npz"))
                                 if p.name not in (seed or {})}
        except Exception as err:  # noqa: BLE001 - an import error: reported as FAILED
            result["outcome"] = Outcome.failed(error_summary(err), traceback.format_exc())
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            sys.path[:] = saved_path
            shutil.rmtree(scratch, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- on the client


def _running(client: Client) -> set[str]:
    """The keys of the tasks the workers are running (empty when it cannot be told)."""
    try:
        return {key for keys in client.processing().values() for key in keys}
    except Exception:  # noqa: BLE001 - the cluster may be gone already
        return set()


def _check_workers(client: Client, code: str, needs_mnist: bool) -> None:
    """Stop with a clear error when a worker runs other code or has no MNIST."""
    other = {address: fp for address, fp in client.run(_fingerprint).items() if fp != code}
    if other:
        raise SchedulerError(
            f"{len(other)} worker(s) run other fa_lib code than this client "
            f"({', '.join(sorted(other))}: fingerprint "
            f"{next(iter(other.values()))[:12]}, here {code[:12]}); install the client's "
            "version of the book on every worker.")
    if needs_mnist:
        bad = {a: why for a, why in client.run(_mnist_status).items() if why}
        if bad:
            raise SchedulerError(
                "MNIST did not reach every worker: " + "; ".join(
                    f"{a}: {why}" for a, why in sorted(bad.items())))


def _seed(reads: Sequence[Path]) -> dict[str, bytes]:
    """The bytes of the entries an experiment read (one gone since is left out: computed)."""
    seed = {}
    for path in reads:
        with contextlib.suppress(OSError):
            seed[path.name] = path.read_bytes()
    return seed


def run_tasks(tasks: Sequence[tuple[str, str, str]], spec: str,
              finish: Callable[[str, str, Outcome], None], directory: Path | str | None = None,
              timeout: float = CONNECT_TIMEOUT,
              check: Callable[[Any], dependencies.Probe] = dependencies.independent,
              probes: dict[tuple[str, str, str], dependencies.Probe] | None = None) -> None:
    """Compute ``(chapter, label, module)`` tasks on a dask cluster, in the given order.

    Called by :func:`fa_lib.runner.reproduce` with the experiments that are not
    cached yet. A task is sent when no task sent earlier, or before it, would compute
    the same first missing entry (:class:`fa_lib.dependencies.Gate`), with the entries
    of the cache it reads. Every finished task's entries are checked and written into the
    results cache (:func:`fa_lib.cache.store_entry`), then ``finish(chapter, label,
    outcome)`` is called with its :class:`fa_lib.outcome.Outcome`, as for ``--jobs``.

    Parameters
    ----------
    tasks : sequence of (str, str, str)
    spec : str
        ``--scheduler``: ``local:N`` or a scheduler address.
    finish : callable
        Receives every task's row (see above).
    directory : path, optional
        The results cache (default :func:`fa_lib.cache.cache_dir`).
    timeout : float
        Seconds to wait for the scheduler.
    check : callable, optional
        ``check(task)`` -> the task's :class:`fa_lib.dependencies.Probe` now (the
        runner's: :func:`fa_lib.dependencies.probe` of its experiment); by default the
        tasks read nothing of each other.
    probes : dict, optional
        Probes already taken (the runner's first check).

    Raises
    ------
    fa_lib.scheduler.SchedulerError
        If the scheduler does not answer, has no worker, or a worker runs other code or
        cannot store MNIST; nothing was computed then.
    KeyboardInterrupt
        Passed on after the running tasks were reported as interrupted and cancelled.
    """
    directory = cache.cache_dir(directory)
    code = cache.loaded_code_fingerprint()
    environment = {k: v for k, v in os.environ.items()
                   if k.startswith("FA_") and k not in ("FA_CACHE_DIR", mnist.ENV_VAR)}
    environment["FA_SCALE"] = config.scale()
    needs = {module: catalogue.needs_mnist(module) for _, _, module in tasks}
    mnist_files, mnist_error = None, ""
    if any(needs.values()):
        try:
            mnist_files = _mnist_files()
        except (mnist.MNISTUnavailableError, ValueError, OSError) as err:
            mnist_error = error_summary(err)
    with connect(spec, timeout) as client:
        if mnist_files is not None:
            client.register_plugin(MNISTFiles(mnist_files), name=PLUGIN)
        _check_workers(client, code, mnist_files is not None)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        allowed = client.run_on_scheduler(_allowed_failures)
        print(f"dask scheduler {client.scheduler.address}: {len(workers)} worker(s), "
              f"{sum(w['nthreads'] for w in workers.values())} thread(s); a task whose worker "
              f"is lost runs again on another, up to {allowed} time(s)"
              + ("; MNIST sent to the workers" if mnist_files is not None else ""),
              file=sys.stderr, flush=True)
        gate = dependencies.Gate(tasks, check, probes)
        limit = IN_FLIGHT * max(1, sum(w["nthreads"] for w in workers.values()))
        futures: dict[Any, tuple[str, str, str]] = {}
        done = as_completed()
        run_id = uuid.uuid4().hex[:8]

        def send() -> None:
            while len(futures) < limit and (taken := gate.take()) is not None:
                task, found = taken
                chapter, label, module = task
                if needs[module] and mnist_error:
                    finish(chapter, label, Outcome.failed(mnist_error))
                    gate.finished(task)
                    continue
                # In the task itself, not scattered: a task whose worker is lost runs
                # again elsewhere with it (data scattered to a lost worker is gone).
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Sending large graph of size")
                    future = client.submit(
                        compute, module, label, environment, list(sys.path), code,
                        needs[module], _seed(found.reads),
                        key=f"reproduce-{chapter}-{label}-{run_id}", pure=False,
                        retries=RETRIES)
                futures[future] = task
                done.add(future)

        try:
            send()
            for future in done:
                chapter, label, module = futures.pop(future)
                _collect(client, future, chapter, label, directory, finish)
                gate.finished((chapter, label, module))
                send()
        except BaseException:
            running = _running(client)
            for future, (chapter, label, _) in futures.items():
                if future.key in running:
                    finish(chapter, label, Outcome.failed("interrupted", ""))
            client.cancel(list(futures))
            raise


def _collect(client: Client, future: Any, chapter: str, label: str, directory: Path,
             finish: Callable[[str, str, Outcome], None]) -> None:
    """Write a finished task's entries into the cache and report its row."""
    attempts = None
    with contextlib.suppress(Exception):
        attempts = client.run_on_scheduler(_attempts, future.key)
    lost = attempts[0] if attempts else 0
    try:
        result = future.result()
    except Exception as err:  # noqa: BLE001 - e.g. KilledWorker after the last attempt
        summary = error_summary(err)
        finish(chapter, label, Outcome.failed(
            summary, note=f"{lost} worker(s) lost" if lost else ""))
        future.release()
        return
    future.release()
    outcome: Outcome = result["outcome"]
    state, summary, detail = outcome.state, outcome.summary, outcome.detail
    note = f"on {result['worker']}"
    if result["host"] != socket.gethostname():
        note += f" ({result['host']})"
    if lost:
        note += f"; {lost} worker{'s' if lost > 1 else ''} lost, run again"
    if attempts and RETRIES - attempts[1] > 0:
        note += f"; retried {RETRIES - attempts[1]} time(s) after an error"
    for file_name, data in result["entries"].items():
        try:
            cache.store_entry(file_name, data, directory)
        except (cache.EntryRejected, OSError) as err:
            state, summary = "FAILED", error_summary(err)
            detail += f"{directory / file_name}: {summary}\n"
    finish(chapter, label, dataclasses.replace(outcome, state=state, summary=summary,
                                               detail=detail, note=note))
