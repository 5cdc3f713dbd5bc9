"""The runner: compute the missing experiments of chosen chapters, timing each.

:func:`reproduce` runs every experiment of the chosen chapters through the results
cache: those cached are only checked, the missing ones are computed in this process,
``jobs`` at a time in worker processes of their own (forked from a server that has NumPy
and ``fa_lib`` loaded), or on a dask cluster (:mod:`fa_lib.cluster`). Before anything is
computed it checks that the cache directory can hold what the run writes
(:func:`check_writable`). Its rows (:class:`Row`) make the time table
(:func:`format_table`). ``python -m fa_lib reproduce`` (:mod:`fa_lib.reproduce`) is its
command line; the book build (:mod:`fa_lib.build_plan`) calls it too.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fa_lib import cache, catalogue, config, dependencies, mnist
from fa_lib.outcome import Outcome, error_summary, timed
from fa_lib.scheduler import SchedulerError

__all__ = [
    "ENTRY_BYTES",
    "CacheNotWritableError",
    "Row",
    "check_cache_on",
    "check_writable",
    "format_list",
    "format_table",
    "is_cached",
    "list_experiments",
    "read_cached",
    "reproduce",
]


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


def is_cached(run: Callable[[], Any]) -> bool:
    """Return whether every cache entry of an experiment is there, computing nothing.

    See :func:`read_cached`.
    """
    return read_cached(run)[0]


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


ENTRY_BYTES: dict[str, int] = {"quick": 2 * 2**20, "paper": 16 * 2**20}
"""A safe estimate of the bytes one experiment writes into the results cache, per scale.

Measured on full caches: at the quick scale the 208 experiments write 45 MiB (0.22 MiB
each on average, the largest 1.5 MiB); at the paper scale the 285 experiments write about
2 GiB (7 MiB each on average; float64 arrays, uncompressed ``.npz``, before float32-exact
arrays were stored as float32, which makes them smaller). :func:`check_writable`
asks for this much free space per experiment to compute, and writes one experiment's
worth as a probe.
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


def check_cache_on() -> None:
    """Refuse to fill or list the results cache when it is off (``FA_CACHE=off``).

    Raises
    ------
    ValueError
        Saying how to turn it on.
    """
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
    names = catalogue.module_names(modules)
    chosen = catalogue.check_chapters(chapters, list(names))
    check_cache_on()
    table = catalogue.registry(modules={ch: names[ch] for ch in chosen})
    return [(ch, label, is_cached(run)) for ch in chosen for label, run in table[ch]]


def _progress_bar(total: int, show: bool) -> Any:
    """A tqdm bar over ``total`` experiments, or None when not shown or tqdm is not installed."""
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="reproduce", unit="exp", file=sys.stderr)


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
        if "fa_lib.worker_data" in sys.modules:  # MNIST read in the server (preloaded)
            sys.modules["fa_lib.worker_data"].check_worker()
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads):
            run = catalogue.experiments_of(importlib.import_module(module))[label]
            outcome = timed(run)
    except BaseException as err:  # noqa: BLE001 - an import error or an interruption
        outcome = Outcome.failed(error_summary(err), traceback.format_exc())
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

    Forked from a server that has NumPy and ``fa_lib`` loaded, and MNIST read when its
    files are on disk (:mod:`fa_lib.worker_data`): fast to start, and safe with threads;
    else spawned.
    """
    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:
        return multiprocessing.get_context("spawn")
    context.set_forkserver_preload(["numpy", "scipy.stats", "fa_lib.cache", "fa_lib.training",
                                    "fa_lib.worker_data"])
    return context


def _mnist_before_workers() -> None:
    """Make sure of the MNIST files here, once, before the workers start.

    Downloaded where they are missing (every worker would otherwise download them at
    once), so that the workers' server reads them (:mod:`fa_lib.worker_data`). A failure
    is left to the workers that need the files: each says what is wrong in its row.
    """
    with contextlib.suppress(Exception):
        mnist.ensure_files()


Task = tuple[str, str, str]
"""(chapter, experiment, experiments module) of an experiment to compute."""


def _run_workers(tasks: Sequence[Task], jobs: int, finish: Callable[[str, str, Outcome], None],
                 check: Callable[[Task], dependencies.Probe] = dependencies.independent,
                 probes: dict[Task, dependencies.Probe] | None = None) -> None:
    """Run ``(chapter, label, module)`` tasks ``jobs`` at a time, one process each.

    In the given order, except that a task waits while one running or before it would
    compute the same first missing entry (:class:`fa_lib.dependencies.Gate`, with
    ``check`` and ``probes``). A worker that dies without a result (killed by a signal)
    fails its own experiment only. On an interruption the running workers are terminated
    and their experiments fail as interrupted; the interruption is raised again.
    """
    if any(catalogue.needs_mnist(module) for module in {m for _, _, m in tasks}):
        _mnist_before_workers()
    context = _context()
    environment = {k: v for k, v in os.environ.items() if k.startswith("FA_")}
    environment["FA_SCALE"] = config.scale()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    gate = dependencies.Gate(tasks, check, probes)
    running: dict[Any, tuple[Any, Task, float]] = {}
    try:
        while gate or running:
            while len(running) < jobs and (taken := gate.take()) is not None:
                task = taken[0]
                chapter, label, module = task
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_worker, name=f"reproduce {chapter}: {label}",
                    args=(send, module, label, environment, threads, list(sys.path)))
                process.start()
                send.close()
                running[receive] = (process, task, time.perf_counter())
            for receive in multiprocessing.connection.wait(list(running)):
                process, task, started = running.pop(receive)
                chapter, label, _ = task
                try:
                    outcome = receive.recv()
                except (EOFError, OSError):
                    outcome = None
                receive.close()
                process.join()
                if outcome is None:
                    cause = _exit_cause(process.exitcode)
                    outcome = Outcome.failed(cause, seconds=time.perf_counter() - started)
                finish(chapter, label, outcome)
                gate.finished(task)
    except BaseException:
        for receive, (process, (chapter, label, _), started) in running.items():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            receive.close()
            finish(chapter, label, Outcome.failed("interrupted", "",
                                                  time.perf_counter() - started))
        raise


def _run_on_cluster(tasks: Sequence[Task], scheduler: str,
                    finish: Callable[[str, str, Outcome], None],
                    check: Callable[[Task], dependencies.Probe],
                    probes: dict[Task, dependencies.Probe]) -> None:
    """Run the tasks on the dask cluster of ``--scheduler`` (:mod:`fa_lib.cluster`)."""
    try:
        from fa_lib import cluster
    except ImportError as err:
        raise SchedulerError(
            f"--scheduler needs the packages dask and distributed ({error_summary(err)}); "
            "install them with `pip install -r requirements.txt`.") from None
    cluster.run_tasks(tasks, scheduler, finish, check=check, probes=probes)


def reproduce(
    chapters: Sequence[str] | None = None, jobs: int = 1, progress: bool = True,
    modules: Mapping[str, str] | None = None, scheduler: str | None = None,
    experiments: Collection[tuple[str, str]] | None = None,
    on_row: Callable[[Row], None] | None = None,
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
    experiments : collection of (str, str), optional
        Run only these (chapter, experiment) of ``chapters`` (``reproduce --shard``,
        :func:`fa_lib.ci_matrix.shard_of`); default all of them.
    on_row : callable, optional
        Called with the row of every experiment that was computed (or failed) as soon as
        it finishes (``reproduce --json`` writes the time table so far with it).

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
    names = catalogue.module_names(modules)
    chosen = catalogue.check_chapters(chapters, list(names))
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1; got {jobs!r}.")
    check_cache_on()
    directory = check_writable()
    for path in cache.remove_stale_temporaries(directory):
        print(f"removed a stale temporary file of the cache: {path.name}", file=sys.stderr)
    selected = {ch: names[ch] for ch in chosen}
    serial = jobs == 1 and scheduler is None
    where = f"on {scheduler}" if scheduler is not None else f"{jobs} at a time"
    table = catalogue.registry(progress and serial, modules=selected)
    plan = [(ch, label, run) for ch in chosen for label, run in table[ch]
            if experiments is None or (ch, label) in experiments]
    done: dict[tuple[str, str], Row] = {}
    failures: list[tuple[str, str, str]] = []
    bar = _progress_bar(len(plan), progress)

    def finish(ch: str, label: str, outcome: Outcome) -> None:
        if outcome.state == "FAILED":
            if outcome.detail:
                print(outcome.detail, file=sys.stderr, end="")
            failures.append((ch, label, outcome.summary))
        done[ch, label] = Row(ch, label, outcome.seconds, outcome.state, outcome.cpu_seconds,
                              outcome.summary, outcome.note)
        if bar is not None:
            if not serial and outcome.state != "yes":
                bar.set_postfix_str(f"{where}; done: {ch}: {label}")
            bar.update(1)
        if on_row is not None and outcome.state != "yes":
            on_row(done[ch, label])

    try:
        missing, probes = [], {}
        for ch, label, run in plan:
            start, cpu = time.perf_counter(), time.process_time()
            found = dependencies.probe(run)
            if found.cached:
                finish(ch, label, Outcome(time.perf_counter() - start,
                                          time.process_time() - cpu, "yes"))
            else:
                missing.append((ch, label, run))
                probes[ch, label, selected[ch]] = found
        # Room for what the run writes, before anything is computed.
        check_writable(directory, len(missing))
        if missing and bar is not None and not serial:
            bar.set_postfix_str(f"computing {len(missing)}, {where}")
        if serial:
            for ch, label, run in missing:
                if bar is not None:
                    bar.set_postfix_str(f"{ch}: {label}")
                finish(ch, label, timed(run))
        else:
            tasks = [(ch, label, selected[ch]) for ch, label, _ in missing]
            runs = {(ch, label, selected[ch]): run for ch, label, run in missing}

            def check(task: Task) -> dependencies.Probe:
                return dependencies.probe(runs[task])

            if scheduler is None:
                _run_workers(tasks, min(jobs, len(tasks)) or 1, finish, check, probes)
            elif tasks:
                _run_on_cluster(tasks, scheduler, finish, check, probes)
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
