"""Fill the results cache with every experiment of the book: ``python -m fa_lib reproduce``.

Each chapter notebook asks its experiments module (``fa_lib.experiments.<chapter>``)
for results, and every result goes through the results cache
(:func:`fa_lib.cache.cached`, for MNIST runs :func:`fa_lib.training.cached_run`). This
command makes exactly the calls the notebooks make, with the same configurations, so
that a book build (``jupyter-book build .`` or ``pytest``) afterwards only reads the
cache. The calls are listed once, in :func:`fa_lib.catalogue.registry` (chapter ->
experiments); the runner is :mod:`fa_lib.runner`, this module the command line; a test
(``tests/test_reproduce.py``) checks that they cover every cache entry point the
notebooks call.

Usage, from the repository root::

    python -m fa_lib reproduce [--scale paper|quick] [--only CHAPTER ...] [--list]
                               [--shard K/N] [--device cpu|cuda]
                               [--jobs N | --scheduler ADDRESS|local:N]
                               [--json PATH] [--no-progress]
    python -m fa_lib reproduce [--scale paper|quick] [--only CHAPTER ...]
                               --record PATH | --check-record PATH

``--scale``
    ``paper`` or ``quick``; sets ``FA_SCALE`` for the run (the experiments read it when
    they are called). Default: the current ``FA_SCALE`` (unset means ``paper``).
``--device cpu|cuda``
    Where the training and open-loop runs compute; sets ``FA_DEVICE`` for the run (and
    its workers): ``cpu`` is NumPy, ``cuda`` PyTorch on the GPU (CuPy when PyTorch is not
    installed), :mod:`fa_lib.backend`. The cache keys do not depend on it; each entry's
    metadata says where it was computed. Default: the current ``FA_DEVICE`` (unset means
    ``cpu``).
``--only CHAPTER ...``
    Run only these chapters (names as in ``book/``, e.g. ``persistent_error``, ``depth``,
    ``flexibility``; :data:`fa_lib.catalogue.CHAPTERS`). Default: every chapter, in the
    book's order.
``--list``
    List the experiments and whether each is already cached, and say how long the
    missing ones take by the benchmarks' times (on ``--jobs`` cores); compute nothing.
``--shard K/N``
    Run only the ``K``-th of ``N`` shares of the experiments of the chosen chapters that
    are not cached yet (with ``--list``: list only them), so that a chapter longer than
    one CI job may run is split across ``N`` jobs. The shares are deterministic and
    balanced by the benchmarks' times: longest first, each into the share with the least
    work so far; an experiment without a time counts as the median of the others
    (:func:`fa_lib.ci_matrix.shard_of`). Every job must list the same results cache:
    the book workflow's compute jobs restore the cache its plan job listed
    (``python -m fa_lib plan-matrix``, :mod:`fa_lib.ci_matrix`). An empty share runs
    nothing (exit status 0).
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
    benchmarks read it). Written again, atomically, each time an experiment has been
    computed, with the rows so far and ``"complete": false``, so that a long run that
    is killed keeps the times of what it finished; ``"complete": true`` at the end.
``--record PATH``
    Write the record of this scale (:mod:`fa_lib.record`): every chapter's claims
    (computed from the cache by its verdicts module, :mod:`fa_lib.verdicts`; no build is
    needed) and the headline numbers of every experiment's cache entries, with the
    commit, date, machine and compute time, as JSON to ``PATH`` (atomically). Computes
    nothing: every experiment must be cached, else a clear error and exit status 2.
    With ``--only``, those chapters are written into the record at ``PATH``, which keeps
    its other chapters.
``--check-record PATH``
    Compare this scale's results cache and claims with the record at ``PATH``:
    verdicts identical, numbers within the tolerances of :data:`fa_lib.record.TOLERANCES`.
    Prints each difference; exit status 0 when they agree, 1 on a difference, 2 when
    the record is missing or malformed or the cache is incomplete. Computes
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
    python -m fa_lib reproduce --scale paper --only flexibility --shard 2/3 --jobs 4
    python -m fa_lib reproduce --scale quick --scheduler local:2
    python -m fa_lib reproduce --scale paper --scheduler tcp://head-node:8786
    python -m fa_lib reproduce --scale paper --record results/paper_record.json
    python -m fa_lib reproduce --scale paper --check-record results/paper_record.json

The chapters are those of ``_toc.yml`` that have an experiments module
(``book/<chapter>.ipynb`` listed there and ``fa_lib/experiments/<chapter>.py``), in the
book's order (:func:`fa_lib.catalogue.chapters`); each module lists its experiments with
``experiments()`` (name -> a call without arguments that returns the cached results, at
the scale read when it is called), its configuration in ``config()`` and the kind of the numbers of
every array its cache entries hold in ``KINDS`` (:func:`fa_lib.catalogue.declared_kinds`,
read by :mod:`fa_lib.record`). A new chapter is its notebook, its experiments module, its
verdicts module and one line in ``_toc.yml``.

How it observes the cache: each experiment runs under :func:`fa_lib.cache.observe`, a
context variable that :func:`fa_lib.cache.cached` reports to (entries asked for,
computed, damaged, not written). ``--list`` observes with ``refuse=True``: ``cached``
raises :class:`fa_lib.cache.ComputeRefused` instead of computing and leaves damaged
entries in place, so listing reads and reports but never computes or deletes. Nothing
is replaced in any module and no key changes (this module and ``fa_lib.cache`` are
bookkeeping, outside every code fingerprint).

Reliability: before anything is computed the cache directory must be writable and have
room for what the run writes (:func:`fa_lib.runner.check_writable`; else a clear error
and exit status 2); an entry computed but not written fails its experiment;
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
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fa_lib import backend, build_plan, cache, catalogue, ci_matrix, config, record, runner
from fa_lib.runner import CacheNotWritableError
from fa_lib.scheduler import SchedulerError, parse_scheduler

__all__ = ["main"]


def _set_device(device: str | None) -> None:
    """Set ``FA_DEVICE`` for this process and its workers; check the backend is there.

    Raises
    ------
    ValueError
        On a bad ``FA_DEVICE``, or when ``cuda`` is chosen and neither PyTorch nor CuPy
        imports (the message says what to install).
    """
    if device is not None:
        os.environ["FA_DEVICE"] = device
    try:
        backend.from_config()
    except ImportError as err:
        raise ValueError(str(err)) from None


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fill the results cache with every experiment of the book, making the "
                    "chapter notebooks' calls, and print the time each took.",
    )
    parser.add_argument("--scale", choices=config.SCALES, default=None,
                        help="paper or quick (sets FA_SCALE); default: the current FA_SCALE")
    parser.add_argument("--device", choices=config.DEVICES, default=None,
                        help="cpu (NumPy) or cuda (PyTorch, else CuPy, on a GPU) for the "
                             "training and open-loop runs (sets FA_DEVICE); default: the "
                             "current FA_DEVICE")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", default=None,
                        help=f"run only these chapters ({', '.join(catalogue.CHAPTERS)})")
    parser.add_argument("--list", action="store_true",
                        help="list the experiments, whether each is cached and how long the "
                             "missing ones take; compute nothing")
    parser.add_argument("--shard", default=None, metavar="K/N",
                        help="run only the K-th of N shares of the experiments not cached "
                             "yet, balanced by the benchmarks' times (for CI jobs)")
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
                                      ("--shard", args.shard),
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
        chosen = catalogue.check_chapters(args.only, catalogue.CHAPTERS)
        if args.scheduler is not None:
            if args.jobs is not None:
                raise ValueError("--jobs and --scheduler cannot be used together: with "
                                 "--scheduler, the cluster's workers compute.")
            parse_scheduler(args.scheduler)
        shard = None if args.shard is None else ci_matrix.parse_shard(args.shard)
        jobs = config.jobs() if args.jobs is None else args.jobs
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1; got {jobs}.")
        _check_record_options(args)
        catalogue.set_scale(args.scale)
        _set_device(args.device)
        runner.check_cache_on()
        _check_cache_dir(cache.cache_dir())
        if args.json is not None:
            _check_output_file("--json", Path(args.json))
    except ValueError as err:
        parser.error(str(err))
    device = config.device()
    print(f"scale {config.scale()}, results cache {cache.cache_dir()}"
          + ("" if device == "cpu" else f", device {device}"), flush=True)
    if args.record is not None or args.check_record is not None:
        return _record_command(args.record, args.check_record, args.only)
    share = None
    if shard is not None:
        items = runner.list_experiments(chosen)
        share = ci_matrix.shard_of(items, shard, build_plan.benchmark_times(config.scale()))
        print(f"--shard {shard[0]}/{shard[1]}: {len(share)} of the "
              f"{sum(1 for *_, cached in items if not cached)} experiment(s) not cached yet",
              flush=True)
        if args.list:
            wanted = set(share)
            listed = [i for i in items if (i[0], i[1]) in wanted]
            print(runner.format_list(listed))
            print(build_plan.estimate_missing(listed, jobs))
            return 0
    if args.list:
        items = runner.list_experiments(chosen)
        print(runner.format_list(items))
        print(build_plan.estimate_missing(items, jobs))
        return 0
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    so_far: list[runner.Row] = []

    def table(rows: list[runner.Row], failures: list, wall: float, complete: bool) -> None:
        cache.write_json(args.json, {
            "command": "python -m fa_lib reproduce " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "started": started.isoformat(timespec="seconds"), "scale": config.scale(),
            "jobs": None if args.scheduler else jobs, "scheduler": args.scheduler,
            "shard": args.shard,
            "cache_dir": str(cache.cache_dir()), "wall_s": wall,
            "rows": [dataclasses.asdict(r) for r in rows],
            "failures": [list(f) for f in failures], "complete": complete,
        })

    def computed(row: runner.Row) -> None:
        so_far.append(row)
        table(so_far, [[r.chapter, r.experiment, r.error] for r in so_far
                       if r.cached_before == "FAILED"], time.perf_counter() - start,
              complete=False)

    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        if share == []:
            rows, failures = [], []
        else:
            rows, failures = runner.reproduce(
                chosen, jobs=1 if args.scheduler else jobs, progress=not args.no_progress,
                scheduler=args.scheduler, experiments=share,
                on_row=None if args.json is None else computed)
    except (CacheNotWritableError, SchedulerError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    wall = time.perf_counter() - start
    print(runner.format_table(rows))
    how = f"--scheduler {args.scheduler}" if args.scheduler else f"--jobs {jobs}"
    print(f"wall clock: {wall:.1f} s with {how}")
    for chapter, label, err in failures:
        print(f"FAILED: {chapter} / {label}: {err}", file=sys.stderr)
    if args.json is not None:
        table(rows, failures, wall, complete=True)
        print(f"time table written to {args.json}")
    return 1 if failures else 0
