"""Fill the results cache with every experiment of the book: ``python -m fa_lib reproduce``.

Each chapter notebook asks its experiments module (``fa_lib.experiments.<chapter>``)
for results, and every result goes through the results cache
(:func:`fa_lib.cache.cached`, for MNIST runs :func:`fa_lib.training.cached_run`). This
command makes exactly the calls the notebooks make, with the same configurations, so
that a book build (``jupyter-book build .`` or ``pytest``) afterwards only reads the
cache. The calls are listed once, in :func:`registry` (chapter -> experiments); a test
(``tests/test_reproduce.py``) checks that they cover every cache entry point the
notebooks call.

Usage, from the repository root::

    python -m fa_lib reproduce [--scale paper|quick] [--only CHAPTER ...] [--list]
                               [--jobs N | --scheduler ADDRESS|local:N]
                               [--json PATH] [--no-progress]
    python -m fa_lib reproduce [--scale paper|quick] [--only CHAPTER ...]
                               --record PATH | --check-record PATH

``--scale``
    ``paper`` or ``quick``; sets ``FA_SCALE`` before any experiments module is imported
    (the MNIST chapters build their run lists when imported). Default: the current
    ``FA_SCALE`` (unset means ``paper``).
``--only CHAPTER ...``
    Run only these chapters (names as in ``book/``: ``persistent_error``,
    ``autocorrelation``, ``acf_weight_normalisation``, ``depth``, ``mnist_alignment``,
    ``flexibility``). Default: every chapter, in the book's order.
``--list``
    List the experiments and whether each is already cached, computing nothing.
``--jobs N``
    Compute the experiments that are not cached yet ``N`` at a time, each in a worker
    process of its own, in the book's order; the cached ones are only checked.
    Default ``FA_JOBS``, else 1: one after another, in this process. On a machine with
    ``N`` cores the workers keep every core busy to the end (the longest experiments, Fig. 4 and the
    MNIST runs, come early in the book's order or are many of one size).
``--scheduler ADDRESS`` or ``--scheduler local:N``
    Compute the experiments that are not cached yet on a ``dask.distributed`` cluster:
    the workers of the scheduler at ``ADDRESS`` (e.g. ``tcp://host:8786``), or a local
    cluster of ``N`` worker processes started for the run. The workers need no shared
    file system: each returns the entries it computed, which are checked and written
    here. Needs ``dask`` and ``distributed``; see :mod:`fa_lib.cluster` (MNIST, lost
    workers, the 10 s connection timeout). Not with ``--jobs``.
``--json PATH``
    Also write the time table (every row), the wall-clock time, the scale, ``--jobs``
    or ``--scheduler``, the results cache and the command to ``PATH`` as JSON (the
    benchmarks read it).
``--record PATH``
    Write the record of this scale (:mod:`fa_lib.record`): every chapter's saved claims
    and the headline numbers of every experiment's cache entries, with the commit, date,
    machine and compute time, as JSON to ``PATH`` (atomically). Computes nothing: every
    experiment must be cached and every chapter must have saved its claims at this scale
    (a book build), else a clear error and exit status 2. With ``--only``, those
    chapters are written into the record at ``PATH``, which keeps its other chapters.
``--check-record PATH``
    Compare this scale's results cache and saved claims with the record at ``PATH``:
    verdicts identical, numbers within the tolerances of :data:`fa_lib.record.TOLERANCES`.
    Prints each difference; exit status 0 when they agree, 1 on a difference, 2 when
    the record is missing or malformed or the cache or claims are incomplete. Computes
    nothing. With ``--only``, those chapters only.
``--no-progress``
    No progress bars (by default a bar over the experiments, and the experiments' own
    bars where they have a ``progress`` argument, on standard error).

The results go to ``FA_CACHE_DIR`` (default ``_cache/`` in the repository root); the
MNIST files are read from ``FA_MNIST_DIR``. At the end a table gives, per experiment,
its chapter, the seconds it took (wall clock, and the CPU seconds of this process, which
on a shared machine tell the work apart from the waiting) and whether it was cached
before (``yes``, ``no``, or ``partial`` when only some of its cache entries were), then
the totals; with ``--scheduler``, a note says on which worker it ran and whether a worker
was lost under it. The exit status is 0 when every experiment ran, 1 when one failed (the
others still run) or the run was interrupted (Ctrl-C or SIGTERM stops it and still prints
the table of what finished), 2 on bad arguments, a cache directory that cannot be
written, or a ``--scheduler`` that cannot be used (not answering, no worker, other code).

Examples::

    FA_CACHE_DIR=/tmp/cache python -m fa_lib reproduce --scale quick
    python -m fa_lib reproduce --scale paper --only mnist_alignment flexibility --jobs 2
    python -m fa_lib reproduce --scale paper --list
    python -m fa_lib reproduce --scale quick --scheduler local:2
    python -m fa_lib reproduce --scale paper --scheduler tcp://head-node:8786
    python -m fa_lib reproduce --scale paper --record results/paper_record.json
    python -m fa_lib reproduce --scale paper --check-record results/paper_record.json

The chapters are those of ``_toc.yml`` that have an experiments module
(``book/<chapter>.ipynb`` listed there and ``fa_lib/experiments/<chapter>.py``), in the
book's order (:func:`chapters`); each module lists its experiments in ``EXPERIMENTS``
(name -> a call without arguments that returns the cached results), its configuration
in ``config()`` and the kind of the numbers of every array its cache entries hold in
``KINDS`` (:func:`declared_kinds`, read by :mod:`fa_lib.record`). A new chapter is its
notebook, its experiments module and one line in ``_toc.yml``.

How it observes the cache: each experiment runs under :func:`fa_lib.cache.observe`, a
context variable that :func:`fa_lib.cache.cached` reports to (entries asked for,
computed, damaged, not written). ``--list`` observes with ``refuse=True``: ``cached``
raises :class:`fa_lib.cache.ComputeRefused` instead of computing and leaves damaged
entries in place, so listing reads and reports but never computes or deletes. Nothing
is replaced in any module and no key changes (this module and ``fa_lib.cache`` are
bookkeeping, outside every code fingerprint).

Reliability: before anything is computed the cache directory must be writable (else a
clear error and exit status 2); an entry computed but not written fails its experiment;
the temporary files of killed writers are removed at the start of a run
(:func:`fa_lib.cache.remove_stale_temporaries`); with ``--jobs`` every experiment runs
in a worker process of its own, so a worker killed (e.g. by the out-of-memory killer)
fails only its experiment, with the signal as cause, and the others complete; SIGTERM
is handled as Ctrl-C (the table of what finished, exit status 1). A FAILED row gives the
exception type and the first line of its message.
"""


from __future__ import annotations

import argparse
import dataclasses
import datetime
import errno
import importlib
import importlib.util
import inspect
import multiprocessing
import multiprocessing.connection
import os
import pkgutil
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fa_lib import cache, config

__all__ = [
    "CHAPTERS",
    "CacheNotWritableError",
    "Row",
    "SchedulerError",
    "chapters",
    "check_writable",
    "declared_kinds",
    "error_summary",
    "format_list",
    "format_table",
    "is_cached",
    "list_experiments",
    "main",
    "read_cached",
    "registry",
    "reproduce",
    "run_watched",
]

EXPERIMENTS_PACKAGE = "fa_lib.experiments"
TOC = cache.PACKAGE_DIR.parent / "_toc.yml"
_TOC_FILE = re.compile(r"""^\s*(?:-\s*)?file:\s*["']?book/([A-Za-z0-9_]+)""", re.MULTILINE)


def chapters(toc: Path | None = None) -> tuple[str, ...]:
    """Return the chapters with cached experiments, in the book's order.

    Parameters
    ----------
    toc : pathlib.Path, optional
        The table of contents (default ``_toc.yml`` of the repository). The chapters are
        its entries ``book/<chapter>`` (commented lines skipped) that have a module
        ``fa_lib.experiments.<chapter>``. Without the file (an installed package), every
        module of ``fa_lib.experiments``, in sorted order.

    Returns
    -------
    tuple of str
    """
    toc = TOC if toc is None else Path(toc)
    if toc.is_file():
        names = _TOC_FILE.findall(toc.read_text(encoding="utf-8"))
        return tuple(n for n in dict.fromkeys(names)
                     if importlib.util.find_spec(f"{EXPERIMENTS_PACKAGE}.{n}") is not None)
    package = importlib.import_module(EXPERIMENTS_PACKAGE)
    return tuple(sorted(m.name for m in pkgutil.iter_modules(package.__path__)))


CHAPTERS: tuple[str, ...] = chapters()
"""The chapters with cached experiments, in the book's order (:func:`chapters`); each is
a notebook ``book/<chapter>.ipynb`` and a module ``fa_lib.experiments.<chapter>``."""

Experiment = tuple[str, Callable[[], Any]]
"""An experiment: its label and a callable, without arguments, that makes the notebook's call."""


# --------------------------------------------------------------------------- the registry


def _modules(modules: Mapping[str, str] | None) -> dict[str, str]:
    """Chapter -> module name: the book's chapters, or the given mapping (e.g. in tests)."""
    if modules is None:
        return {ch: f"{EXPERIMENTS_PACKAGE}.{ch}" for ch in CHAPTERS}
    return dict(modules)


def _with_progress(run: Callable[..., Any], progress: bool) -> Callable[[], Any]:
    """``run`` with ``progress=True`` when asked and when it takes that keyword."""
    if progress and "progress" in inspect.signature(run).parameters:
        return lambda: run(progress=True)
    return run


def registry(progress: bool = False, modules: Mapping[str, str] | None = None
             ) -> dict[str, list[Experiment]]:
    """Return the book's cached experiments: chapter -> list of (label, callable).

    The list of every chapter is its module's ``EXPERIMENTS``, in order: each callable
    makes, without arguments, one of the calls of the chapter's notebook, at the scale of
    the module's ``config()``. The modules are imported here, so ``FA_SCALE`` must be set
    before the first call.

    Parameters
    ----------
    progress : bool
        Pass ``progress=True`` to the experiments that take it (a bar; it changes neither
        the results nor their cache key).
    modules : mapping of str to str, optional
        Chapter -> module name; default the chapters of :data:`CHAPTERS` and their modules
        in ``fa_lib.experiments``.

    Returns
    -------
    dict of str to list of (str, callable)
    """
    table = {}
    for chapter, name in _modules(modules).items():
        experiments = importlib.import_module(name).EXPERIMENTS
        table[chapter] = [(label, _with_progress(run, progress))
                          for label, run in experiments.items()]
    return table


def declared_kinds(modules: Mapping[str, str] | None = None) -> dict[str, Mapping[str, str]]:
    """Return chapter -> the kinds of numbers its experiments module declares (``KINDS``).

    Parameters
    ----------
    modules : mapping of str to str, optional
        As in :func:`registry`.

    Returns
    -------
    dict of str to mapping
        Chapter -> its module's ``KINDS``: array name (or a pattern, ``t*_aln``) ->
        ``angle``, ``accuracy`` or ``other`` (:func:`fa_lib.record.kind_of`); empty for a
        module without ``KINDS``, whose arrays are all ``other``.
    """
    return {chapter: getattr(importlib.import_module(name), "KINDS", {})
            for chapter, name in _modules(modules).items()}


# --------------------------------------------------------------------------- watching the cache


def run_watched(run: Callable[[], Any]) -> cache.Observer:
    """Call ``run()`` and return what it did with the results cache.

    Parameters
    ----------
    run : callable
        An experiment's callable (see :func:`registry`).

    Returns
    -------
    fa_lib.cache.Observer
        The cache entries it asked for, computed, found damaged and could not write.
    """
    with cache.observe() as observer:
        run()
    return observer


def read_cached(run: Callable[[], Any], quiet: bool = False) -> tuple[bool, Any]:
    """Call ``run()`` with every computation refused: read what the cache holds.

    ``run()`` reads the entries that exist and stops at the first that does not (or is
    damaged: it is reported and left in place; nothing is deleted).

    Parameters
    ----------
    run : callable
        Anything that reads the results cache, e.g. an experiment's callable (see
        :func:`registry`) or ``lambda: flexibility.results(name)``.
    quiet : bool
        Do not report a damaged entry (the caller computes it next, and that reports it).

    Returns
    -------
    cached : bool
        True when ``run()`` finished without computing anything.
    value
        What ``run()`` returned, or None when it would have computed.
    """
    try:
        with cache.observe(refuse=True, quiet=quiet):
            return True, run()
    except cache.ComputeRefused:
        return False, None


def _known_cached(run: Callable[[], Any]) -> bool:
    """:func:`is_cached`; an experiment that raises counts as not cached (its run reports it)."""
    try:
        return read_cached(run, quiet=True)[0]
    except Exception:  # noqa: BLE001 - the run that follows raises it again, as a FAILED row
        return False


def is_cached(run: Callable[[], Any]) -> bool:
    """Return whether every cache entry of an experiment is there, computing nothing.

    See :func:`read_cached`.
    """
    return read_cached(run)[0]


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Row:
    """One line of the time table.

    Attributes
    ----------
    chapter, experiment : str
    seconds : float
        Wall-clock time of the experiment's call (with ``--jobs``, in its worker).
    cached_before : str
        ``yes``, ``no``, ``partial`` or ``FAILED``.
    cpu_seconds : float
        CPU time of the process that made the call, during the call.
    error : str
        For a FAILED row, the exception type and the first line of its message.
    note : str
        With ``--scheduler``: the worker it ran on, and how many workers were lost
        under it (it then ran again on another).
    """

    chapter: str
    experiment: str
    seconds: float
    cached_before: str
    cpu_seconds: float
    error: str = ""
    note: str = ""


class CacheNotWritableError(OSError):
    """The results cache directory cannot be created or written."""


class SchedulerError(RuntimeError):
    """The cluster of ``--scheduler`` cannot be used (not answering, no worker, other code)."""


ENTRY_BYTES: dict[str, int] = {"quick": 4 * 2**20, "paper": 16 * 2**20}
"""A safe estimate of the bytes one experiment writes into the results cache, per scale.

About twice the mean over the book's experiments, measured on full caches: at the quick
scale 130 experiments write about 0.25 GiB; at the paper scale 285 experiments write
about 2 GiB (float64 arrays, uncompressed ``.npz``). :func:`check_writable` asks for this
much free space per experiment to compute, and writes one experiment's worth as a probe.
"""

_PROBE_CHUNK = 2**20


def _probe(directory: Path, size: int) -> None:
    """Write ``size`` bytes into a temporary file of ``directory``, fsync it, remove it."""
    fd, probe = tempfile.mkstemp(prefix=f".write-check.{cache._HOST}-{os.getpid()}.",
                                 suffix=".tmp", dir=directory)
    try:
        chunk = bytes(min(size, _PROBE_CHUNK))
        left = size
        while left > 0:
            left -= os.write(fd, chunk[:left])
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)


def check_writable(directory: Path | str | None = None, experiments: int = 0) -> Path:
    """Check that the results cache directory can hold what a run will write.

    The directory is created if missing; it must have room for ``experiments`` entries of
    :data:`ENTRY_BYTES` (at the current scale), and a file of one such entry's size must
    be written and synced there (a full file system or an exhausted quota fails here,
    before anything is computed, not after hours of computing).

    Parameters
    ----------
    directory : path, optional
        Default :func:`fa_lib.cache.cache_dir`.
    experiments : int
        How many experiments the run will compute (0: only check that a small file can
        be written).

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    CacheNotWritableError
        If the directory cannot be created or written, or has too little free space; the
        message gives the numbers.
    """
    path = cache.cache_dir(directory)
    per_entry = ENTRY_BYTES[config.scale()]
    need = experiments * per_entry
    try:
        path.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(path).free
        if need > free:
            raise CacheNotWritableError(
                f"the results cache directory {path} has {_mib(free)} free, but the "
                f"{experiments} experiments to compute write up to about {_mib(need)} "
                f"({_mib(per_entry)} each at the {config.scale()} scale); free some space "
                "or set FA_CACHE_DIR to a directory with more room.")
        _probe(path, per_entry if experiments else 4096)
    except CacheNotWritableError:
        raise
    except OSError as err:
        room = (f" (a test file of {_mib(per_entry)}, one experiment's results, could not be "
                "written: is the disk full or the quota used up?)"
                if err.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        raise CacheNotWritableError(
            f"the results cache directory {path} cannot be written ({error_summary(err)})"
            f"{room}; set FA_CACHE_DIR to a directory you can write."
        ) from err
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def error_summary(err: BaseException) -> str:
    """Return ``"<type>: <first line of the message>"`` of an exception.

    Parameters
    ----------
    err : BaseException

    Returns
    -------
    str
    """
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _check_chapters(chosen: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    if chosen is None:
        return list(known)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValueError(
            f"unknown chapter(s) {', '.join(map(repr, unknown))}; "
            f"expected one or more of: {', '.join(known)}."
        )
    return list(dict.fromkeys(chosen))


def _check_cache_on() -> None:
    if not cache.cache_enabled():
        raise ValueError("FA_CACHE=off: the results cache is disabled, so there is nothing "
                         "to fill or list; unset FA_CACHE or set it to 'on'.")


def list_experiments(chapters: Sequence[str] | None = None,
                     modules: Mapping[str, str] | None = None) -> list[tuple[str, str, bool]]:
    """Return (chapter, experiment, cached) for every experiment, computing and deleting nothing.

    Parameters
    ----------
    chapters : sequence of str, optional
        Chapters of :data:`CHAPTERS` (or of ``modules``); default all.
    modules : mapping of str to str, optional
        Chapter -> experiments module, as in :func:`registry`.

    Returns
    -------
    list of (str, str, bool)
        In the book's order; ``cached`` as in :func:`is_cached` (a damaged entry counts as
        not cached; it is reported and left in place).

    Raises
    ------
    ValueError
        On an unknown chapter, or when the cache is off (``FA_CACHE=off``).
    """
    names = _modules(modules)
    chosen = _check_chapters(chapters, list(names))
    _check_cache_on()
    table = registry(modules={ch: names[ch] for ch in chosen})
    return [(ch, label, is_cached(run)) for ch in chosen for label, run in table[ch]]


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="reproduce", unit="exp", file=sys.stderr)


Outcome = tuple[float, float, str, str, str]
"""(wall s, CPU s, cached before or FAILED, error summary, traceback) of one experiment."""


def _timed(run: Callable[[], Any]) -> Outcome:
    """Call ``run()`` under an observer and time it."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        observer = run_watched(run)
    except Exception as err:  # noqa: BLE001 - reported by the caller, the rest still runs
        return (time.perf_counter() - start, time.process_time() - cpu, "FAILED",
                error_summary(err), traceback.format_exc())
    state, summary, detail = observer.cached_before, "", ""
    if observer.write_errors:
        n = len(observer.write_errors)
        state = "FAILED"
        summary = (f"CacheWriteError: {n} cache entr{'y' if n == 1 else 'ies'} not written: "
                   f"{observer.write_errors[0]}")
        detail = "\n".join(observer.write_errors) + "\n"
    return time.perf_counter() - start, time.process_time() - cpu, state, summary, detail


def _worker(conn: Any, module: str, label: str, environment: dict[str, str],
            threads: int, path: list[str]) -> None:
    """The body of a ``--jobs`` worker process: run one experiment, send its outcome.

    ``environment`` holds the parent's ``FA_*`` settings (the worker is forked from a
    server started earlier, whose environment and import path may be older); ``threads``
    limits BLAS; ``path`` is the parent's ``sys.path``.
    """
    try:
        sys.path[:0] = [entry for entry in path if entry not in sys.path]
        for name in [k for k in os.environ if k.startswith("FA_") and k not in environment]:
            del os.environ[name]
        os.environ.update(environment)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads):
            run = importlib.import_module(module).EXPERIMENTS[label]
            outcome = _timed(run)
    except BaseException as err:  # noqa: BLE001 - an import error or an interruption
        outcome = (0.0, 0.0, "FAILED", error_summary(err), traceback.format_exc())
    conn.send(outcome)
    conn.close()


def _exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"WorkerDied: the worker process was killed by {name}{hint}"
    return f"WorkerDied: the worker process exited with status {code} without a result"


def _context() -> Any:
    """Return the multiprocessing context of the ``--jobs`` workers.

    Forked from a server that has NumPy and ``fa_lib`` loaded (fast to start, and safe
    with threads), else spawned.
    """
    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:
        return multiprocessing.get_context("spawn")
    context.set_forkserver_preload(["numpy", "scipy.stats", "fa_lib.cache", "fa_lib.training"])
    return context


def _run_workers(tasks: Sequence[tuple[str, str, str]], jobs: int,
                 finish: Callable[..., None]) -> None:
    """Run ``(chapter, label, module)`` tasks ``jobs`` at a time, one process each.

    A worker that dies without a result (killed by a signal) fails its own experiment
    only. On an interruption the running workers are terminated and their experiments
    fail as interrupted; the interruption is raised again.
    """
    context = _context()
    environment = {k: v for k, v in os.environ.items() if k.startswith("FA_")}
    environment["FA_SCALE"] = config.scale()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending = deque(tasks)
    running: dict[Any, tuple[Any, str, str, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                chapter, label, module = pending.popleft()
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_worker, name=f"reproduce {chapter}: {label}",
                    args=(send, module, label, environment, threads, list(sys.path)))
                process.start()
                send.close()
                running[receive] = (process, chapter, label, time.perf_counter())
            for receive in multiprocessing.connection.wait(list(running)):
                process, chapter, label, started = running.pop(receive)
                try:
                    outcome = receive.recv()
                except (EOFError, OSError):
                    outcome = None
                receive.close()
                process.join()
                if outcome is None:
                    cause = _exit_cause(process.exitcode)
                    outcome = (time.perf_counter() - started, 0.0, "FAILED", cause, cause + "\n")
                finish(chapter, label, *outcome)
    except BaseException:
        for receive, (process, chapter, label, started) in running.items():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            receive.close()
            finish(chapter, label, time.perf_counter() - started, 0.0, "FAILED",
                   "interrupted", "")
        raise


def _run_on_cluster(tasks: Sequence[tuple[str, str, str]], scheduler: str,
                    finish: Callable[..., None]) -> None:
    """Run the tasks on the dask cluster of ``--scheduler`` (:mod:`fa_lib.cluster`)."""
    try:
        from fa_lib import cluster
    except ImportError as err:
        raise SchedulerError(
            f"--scheduler needs the packages dask and distributed ({error_summary(err)}); "
            "install them with `pip install -r requirements.txt`.") from None
    cluster.run_tasks(tasks, scheduler, finish)


def reproduce(
    chapters: Sequence[str] | None = None, jobs: int = 1, progress: bool = True,
    modules: Mapping[str, str] | None = None, scheduler: str | None = None,
) -> tuple[list[Row], list[tuple[str, str, str]]]:
    """Run the experiments of ``chapters`` through the results cache, timing each.

    Parameters
    ----------
    chapters : sequence of str, optional
        Chapters of :data:`CHAPTERS` (or of ``modules``); default all, in the book's order.
    jobs : int
        1 runs every experiment in this process, one after another. With more, the
        experiments that are not cached yet are computed ``jobs`` at a time, each in a
        worker process of its own, dispatched in the book's order; the others are only
        checked (their row's time is that of the check).
    progress : bool
        Show a bar over the experiments and (with ``jobs=1``) the experiments' own bars.
    modules : mapping of str to str, optional
        Chapter -> experiments module, as in :func:`registry` (default: the book's).
    scheduler : str, optional
        ``local:N`` or the address of a ``dask.distributed`` scheduler: the experiments
        that are not cached yet are computed on its workers (:mod:`fa_lib.cluster`),
        as with ``jobs > 1`` otherwise; ``jobs`` is then not used.

    Returns
    -------
    rows : list of Row
        The time table, in the book's order, with a row for every experiment that finished
        or failed. With ``jobs > 1`` a computed row's times are its worker's.
    failures : list of (str, str, str)
        (chapter, experiment, error type and first line) of every experiment that raised,
        could not write an entry, or lost its worker; the others still ran. On Ctrl-C or
        SIGTERM (:class:`KeyboardInterrupt`) the run stops, the running experiments fail
        as interrupted, and ``("[run]", "interrupted", ...)`` is the last failure.

    Raises
    ------
    ValueError
        On an unknown chapter, ``jobs < 1``, or when the cache is off (``FA_CACHE=off``).
    CacheNotWritableError
        If the cache directory cannot be written, or has too little free space for the
        experiments to compute (:func:`check_writable`; checked before anything runs).
    SchedulerError
        With ``scheduler``, if the cluster cannot be used (the scheduler does not answer
        within 10 s, has no worker, or a worker runs other code); nothing was computed.
    """
    names = _modules(modules)
    chosen = _check_chapters(chapters, list(names))
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1; got {jobs!r}.")
    _check_cache_on()
    directory = check_writable()
    for path in cache.remove_stale_temporaries(directory):
        print(f"removed a stale temporary file of the cache: {path.name}", file=sys.stderr)
    selected = {ch: names[ch] for ch in chosen}
    serial = jobs == 1 and scheduler is None
    where = f"on {scheduler}" if scheduler is not None else f"{jobs} at a time"
    table = registry(progress and serial, modules=selected)
    plan = [(ch, label, run) for ch in chosen for label, run in table[ch]]
    done: dict[tuple[str, str], Row] = {}
    failures: list[tuple[str, str, str]] = []
    bar = _progress_bar(len(plan), progress)

    def finish(ch: str, label: str, seconds: float, cpu: float, state: str,
               summary: str = "", detail: str = "", note: str = "") -> None:
        if state == "FAILED":
            if detail:
                print(detail, file=sys.stderr, end="")
            failures.append((ch, label, summary))
        done[ch, label] = Row(ch, label, seconds, state, cpu, summary, note)
        if bar is not None:
            if not serial and state != "yes":
                bar.set_postfix_str(f"{where}; done: {ch}: {label}")
            bar.update(1)

    try:
        missing = []
        for ch, label, run in plan:
            start, cpu = time.perf_counter(), time.process_time()
            if _known_cached(run):
                finish(ch, label, time.perf_counter() - start,
                       time.process_time() - cpu, "yes")
            else:
                missing.append((ch, label, run))
        # Room for what the run writes, before anything is computed.
        check_writable(directory, len(missing))
        if missing and bar is not None and not serial:
            bar.set_postfix_str(f"computing {len(missing)}, {where}")
        if serial:
            for ch, label, run in missing:
                if bar is not None:
                    bar.set_postfix_str(f"{ch}: {label}")
                finish(ch, label, *_timed(run))
        else:
            tasks = [(ch, label, selected[ch]) for ch, label, _ in missing]
            if scheduler is None:
                _run_workers(tasks, min(jobs, len(tasks)) or 1, finish)
            elif tasks:
                _run_on_cluster(tasks, scheduler, finish)
    except KeyboardInterrupt as err:
        # Ctrl-C or SIGTERM: the finished experiments stay cached; report them and stop.
        failures.append(("[run]", "interrupted", f"interrupted ({str(err) or 'Ctrl-C'})"))
    finally:
        if bar is not None:
            bar.close()
    rows = [done[ch, label] for ch, label, _ in plan if (ch, label) in done]
    return rows, failures


def format_table(rows: Sequence[Row]) -> str:
    """Return the time table of :func:`reproduce` as text, with the total on the last line.

    Parameters
    ----------
    rows : sequence of Row

    Returns
    -------
    str
        One line per row (chapter, experiment, wall-clock seconds, CPU seconds, cached
        before, for a FAILED row its error type and first line, and the row's note in
        brackets), then the totals and the counts of experiments cached before, computed
        and failed.
    """
    head = ("chapter", "experiment", "seconds", "cpu s", "cached before")
    body = [(r.chapter, r.experiment, f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}",
             "  ".join([r.cached_before] + [r.error] * bool(r.error)
                       + [f"[{r.note}]"] * bool(r.note))) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(5)]

    def line(cells: Sequence[str]) -> str:
        return (f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                f"{cells[2]:>{widths[2]}}  {cells[3]:>{widths[3]}}  {cells[4]}").rstrip()

    out = [line(head), line(["-" * w for w in widths])] + [line(b) for b in body]
    count = {s: sum(r.cached_before == s for r in rows) for s in ("yes", "no", "partial",
                                                                     "FAILED")}
    out.append(
        f"total: {sum(r.seconds for r in rows):.1f} s "
        f"(cpu {sum(r.cpu_seconds for r in rows):.1f} s) "
        f"for {len(rows)} experiments "
        f"({count['yes']} cached before, {count['no']} computed, {count['partial']} partly "
        f"computed, {count['FAILED']} failed)"
    )
    return "\n".join(out)


def format_list(items: Sequence[tuple[str, str, bool]]) -> str:
    """Return the listing of :func:`list_experiments` as text, with a count at the end.

    Parameters
    ----------
    items : sequence of (str, str, bool)

    Returns
    -------
    str
        One line per experiment (chapter, experiment, cached yes/no), then the counts.
    """
    head = ("chapter", "experiment", "cached")
    body = [(c, e, "yes" if ok else "no") for c, e, ok in items]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(2)]
    out = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in [head, *body]]
    n_ok = sum(ok for _, _, ok in items)
    out.append(f"{n_ok} of {len(items)} experiments cached (scale {config.scale()}, "
               f"cache {cache.cache_dir()})")
    return "\n".join(out)


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fill the results cache with every experiment of the book, making the "
                    "chapter notebooks' calls, and print the time each took.",
    )
    parser.add_argument("--scale", choices=config.SCALES, default=None,
                        help="paper or quick (sets FA_SCALE); default: the current FA_SCALE")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", default=None,
                        help=f"run only these chapters ({', '.join(CHAPTERS)})")
    parser.add_argument("--list", action="store_true",
                        help="list the experiments and whether each is cached; compute nothing")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="compute the experiments not cached yet N at a time "
                             "(default: FA_JOBS, else 1)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS|local:N",
                        help="compute the experiments not cached yet on a dask cluster: the "
                             "scheduler at ADDRESS (tcp://host:8786) or N local worker "
                             "processes (local:N); not with --jobs")
    parser.add_argument("--record", default=None, metavar="PATH",
                        help="write the record of this scale's claims and headline numbers "
                             "(fa_lib.record) to PATH from the results cache and the saved "
                             "claims; compute nothing")
    parser.add_argument("--check-record", default=None, metavar="PATH",
                        help="compare the results cache and the saved claims of this scale "
                             "with the record at PATH; print each difference and exit 1 on "
                             "any; compute nothing")
    parser.add_argument("--no-progress", action="store_true", help="show no progress bars")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the time table, the wall-clock time and the "
                             "command to this JSON file")
    return parser


def _set_scale(scale: str | None) -> None:
    """Set ``FA_SCALE`` before the experiments modules are imported (some read it then)."""
    if scale is None:
        config.scale()  # a bad FA_SCALE fails here, with config's message
        return
    loaded = sorted(n for n in sys.modules if n.startswith(f"{EXPERIMENTS_PACKAGE}."))
    if loaded and config.scale() != scale:
        raise ValueError(
            f"--scale {scale}: the experiments modules {loaded} are already imported at "
            f"scale {config.scale()!r}; run the command in a new process."
        )
    os.environ["FA_SCALE"] = scale


SCHEDULER_ADDRESS = re.compile(
    r"(?:(?P<scheme>tcp|tls)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})")
"""The form of a scheduler address for ``--scheduler``: ``[tcp://|tls://]HOST:PORT``."""


def _parse_scheduler(spec: str) -> None:
    """Check the syntax of ``--scheduler`` (``local:N`` or an address) without dask.

    Raises
    ------
    ValueError
        Naming what is wrong: an empty value, ``local:`` without a whole number >= 1, or
        an address that is not ``[tcp://|tls://]HOST:PORT`` with a port from 1 to 65535.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("--scheduler needs an address (tcp://host:8786) or local:N.")
    if spec == "local" or spec.startswith("local:"):
        raw = spec.partition(":")[2]
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"--scheduler {spec}: expected local:N with N a whole number "
                             ">= 1 (the number of worker processes).")
        return
    match = SCHEDULER_ADDRESS.fullmatch(spec)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"--scheduler {spec}: expected local:N or the address of a dask "
                         "scheduler, tcp://HOST:PORT or tls://HOST:PORT with a port from 1 "
                         "to 65535 (e.g. tcp://head-node:8786).")


def _check_cache_dir(directory: Path) -> None:
    """A results cache directory that exists must be a directory (any command)."""
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"the results cache directory {directory} is a file, not a directory; "
                         "set FA_CACHE_DIR to a directory (it is created if missing).")


def _check_output_file(option: str, path: Path) -> None:
    """The file an option writes at the end must be writable now, before any computing."""
    directory = path.parent
    if path.is_dir():
        raise ValueError(f"{option} {path}: that is a directory; give a file name.")
    if not directory.is_dir():
        raise ValueError(f"{option} {path}: the directory {directory} does not exist; create "
                         "it first or give another path.")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the directory {directory} cannot be written.")


def _check_record_options(args: argparse.Namespace) -> None:
    """``--record`` and ``--check-record`` compute nothing: no other action goes with them."""
    chosen = [name for name, value in (("--record", args.record),
                                       ("--check-record", args.check_record))
              if value is not None]
    if not chosen:
        return
    others = [name for name, used in (("--list", args.list), ("--jobs", args.jobs),
                                      ("--scheduler", args.scheduler), ("--json", args.json))
              if used not in (None, False)]
    if len(chosen) > 1 or others:
        raise ValueError(f"{' and '.join(chosen + others)} cannot be used together: "
                         f"{chosen[0]} reads the results cache and computes nothing.")


def _record_command(write: str | None, check: str | None,
                    only: Sequence[str] | None = None) -> int:
    """Write (``--record``) or check (``--check-record``) the record; return the exit status.

    With ``only`` (``--only``): write those chapters into the record at ``write`` (made if
    there is none; :func:`fa_lib.record.merge_records`), or check those chapters only.
    """
    from fa_lib import record

    try:
        if write is not None:
            new = record.build_record(only)
            if only and Path(write).is_file():
                new = record.merge_records(record.load_record(write), new)
            path = record.write_record(new, write)
            what = f"chapter(s) {', '.join(only)} of" if only else "record of"
            print(f"{what} the {config.scale()} scale written to {path} "
                  f"({record.describe(new)})")
            if new["missing_chapters"]:
                print(f"the record does not hold yet: {', '.join(new['missing_chapters'])}")
            return 0
        recorded = record.load_record(check)
        if recorded["scale"] != config.scale():
            raise record.RecordError(
                f"the record {check} is of the {recorded['scale']} scale; check it with "
                f"--scale {recorded['scale']}.")
        differences = record.check_record(recorded, only)
    except (record.RecordError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in differences:
        print(f"DIFFERENT: {line}")
    if differences:
        print(f"{len(differences)} difference(s) from the record {check} "
              f"({record.describe(recorded)}).")
        return 1
    print(f"the results cache agrees with the record {check} ({record.describe(recorded)}): "
          "every verdict identical, every number within its tolerance.")
    return 0


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command line ``reproduce`` (see the module's docstring).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``reproduce``; default ``sys.argv[1:]``.
    prog : str, optional
        The program name shown in the usage text.

    Returns
    -------
    int
        0 on success, 1 when an experiment failed or the run was interrupted (Ctrl-C,
        SIGTERM) or, with ``--check-record``, on a difference from the record, 2 when the
        cache directory cannot be written or the record cannot be made or read. Bad
        arguments exit with status 2 (:class:`SystemExit`, from :mod:`argparse`).
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        chosen = _check_chapters(args.only, CHAPTERS)
        if args.scheduler is not None:
            if args.jobs is not None:
                raise ValueError("--jobs and --scheduler cannot be used together: with "
                                 "--scheduler, the cluster's workers compute.")
            _parse_scheduler(args.scheduler)
        jobs = config.jobs() if args.jobs is None else args.jobs
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1; got {jobs}.")
        _check_record_options(args)
        _set_scale(args.scale)
        _check_cache_on()
        _check_cache_dir(cache.cache_dir())
        if args.json is not None:
            _check_output_file("--json", Path(args.json))
    except ValueError as err:
        parser.error(str(err))
    print(f"scale {config.scale()}, results cache {cache.cache_dir()}", flush=True)
    if args.list:
        print(format_list(list_experiments(chosen)))
        return 0
    if args.record is not None or args.check_record is not None:
        return _record_command(args.record, args.check_record, args.only)
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        rows, failures = reproduce(chosen, jobs=1 if args.scheduler else jobs,
                                   progress=not args.no_progress, scheduler=args.scheduler)
    except (CacheNotWritableError, SchedulerError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    wall = time.perf_counter() - start
    print(format_table(rows))
    how = f"--scheduler {args.scheduler}" if args.scheduler else f"--jobs {jobs}"
    print(f"wall clock: {wall:.1f} s with {how}")
    for chapter, label, err in failures:
        print(f"FAILED: {chapter} / {label}: {err}", file=sys.stderr)
    if args.json is not None:
        record = {
            "command": "python -m fa_lib reproduce " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "started": started.isoformat(timespec="seconds"), "scale": config.scale(),
            "jobs": None if args.scheduler else jobs, "scheduler": args.scheduler,
            "cache_dir": str(cache.cache_dir()), "wall_s": wall,
            "rows": [dataclasses.asdict(r) for r in rows],
            "failures": [list(f) for f in failures],
        }
        cache.write_json(args.json, record)
        print(f"time table written to {args.json}")
    return 1 if failures else 0
