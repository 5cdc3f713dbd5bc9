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
                               [--jobs N] [--json PATH] [--no-progress]

``--scale``
    ``paper`` or ``quick``; sets ``FA_SCALE`` before any experiments module is imported
    (they read the scale when imported). Default: the current ``FA_SCALE`` (unset means
    ``paper``).
``--only CHAPTER ...``
    Run only these chapters (names as in ``book/``: ``persistent_error``,
    ``autocorrelation``, ``acf_weight_normalisation``, ``depth``, ``mnist_alignment``,
    ``flexibility``). Default: every chapter, in the book's order.
``--list``
    List the experiments and whether each is already cached, computing nothing.
``--jobs N``
    Compute the experiments that are not cached yet ``N`` at a time, each in a worker
    process of its own (joblib), in the book's order; the cached ones are only checked.
    Default 1: one after another, in this process. On a machine with ``N`` cores the
    workers keep every core busy to the end (the longest experiments, Fig. 4 and the
    MNIST runs, come early in the book's order or are many of one size).
``--json PATH``
    Also write the time table (every row), the wall-clock time, the scale, ``--jobs``,
    the results cache and the command to ``PATH`` as JSON (the benchmarks read it).
``--no-progress``
    No progress bars (by default a bar over the experiments, and the experiments' own
    bars where they have a ``progress`` argument, on standard error).

The results go to ``FA_CACHE_DIR`` (default ``_cache/`` in the repository root); the
MNIST files are read from ``FA_MNIST_DIR``. At the end a table gives, per experiment,
its chapter, the seconds it took (wall clock, and the CPU seconds of this process, which
on a shared machine tell the work apart from the waiting) and whether it was cached
before (``yes``, ``no``, or ``partial`` when only some of its cache entries were), then
the totals. The exit status is 0 when every experiment ran, 1 when one failed (the
others still run) or the run was interrupted (Ctrl-C stops it and still prints the table
of what finished), 2 on bad arguments.

Examples::

    FA_CACHE_DIR=/tmp/cache python -m fa_lib reproduce --scale quick
    python -m fa_lib reproduce --scale paper --only mnist_alignment flexibility --jobs 2
    python -m fa_lib reproduce --scale paper --list

How it observes the cache: while an experiment runs, :func:`fa_lib.cache.cached` (and
the name ``cached`` imported from it by the experiments modules) is replaced by a thin
wrapper that passes every call through unchanged, with ``compute`` wrapped to note
whether it was called. ``--list`` uses the same wrapper with a ``compute`` that refuses
to run: an experiment is cached when it finishes without calling any ``compute``.
An entry keeps its key: the wrapped ``compute`` is keyed by the module of the original
(checked on every call against :func:`fa_lib.cache.fingerprint_of`), the code
fingerprints are taken before the wrapper is installed, and no experiments module
imports this one, so it never enters a cache key.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fa_lib import cache, config

__all__ = [
    "CHAPTERS",
    "Row",
    "Watch",
    "format_list",
    "format_table",
    "is_cached",
    "list_experiments",
    "main",
    "registry",
    "reproduce",
    "run_watched",
]

CHAPTERS: tuple[str, ...] = (
    "persistent_error",
    "autocorrelation",
    "acf_weight_normalisation",
    "depth",
    "mnist_alignment",
    "flexibility",
)
"""The chapters with cached experiments, in the book's order (``_toc.yml``); each is a
notebook ``book/<chapter>.ipynb`` and a module ``fa_lib.experiments.<chapter>``."""

Experiment = tuple[str, Callable[[], Any]]
"""An experiment: its label and a callable, without arguments, that makes the notebook's call."""


# --------------------------------------------------------------------------- the registry


def _experiments_module(chapter: str) -> Any:
    return importlib.import_module(f"fa_lib.experiments.{chapter}")


def registry(progress: bool = False) -> dict[str, list[Experiment]]:
    """Return the book's cached experiments: chapter -> list of (label, callable).

    Every callable makes, without arguments, one of the calls of the chapter's notebook
    into its experiments module, with the notebook's configuration (the module's
    configuration at the selected scale). The experiments modules are imported here,
    so ``FA_SCALE`` must be set before the first call.

    Parameters
    ----------
    progress : bool
        Passed as ``progress`` to the experiments that have one (it shows a bar and does
        not change the results or their cache key).

    Returns
    -------
    dict of str to list of (str, callable)
        The chapters of :data:`CHAPTERS`, in that order, each with its experiments in
        the order of the notebook.
    """
    pe = _experiments_module("persistent_error")
    ac = _experiments_module("autocorrelation")
    wn = _experiments_module("acf_weight_normalisation")
    depth = _experiments_module("depth")
    mn = _experiments_module("mnist_alignment")
    fx = _experiments_module("flexibility")

    pe_cfg = pe.get_config()
    pe_runs: list[Experiment] = [("openloop_sim", lambda: pe.run_openloop_sim(pe_cfg))]
    pe_runs += [(f"cond{c}", lambda c=c: pe.run_condition(c, pe_cfg)) for c in pe.CONDITIONS]
    pe_runs += [("eigenvalues", lambda: pe.run_eigenvalues(pe_cfg)),
                ("control", lambda: pe.run_control(pe_cfg))]
    pe_runs += [(f"cond{c}_fixedEX", lambda c=c: pe.run_condition(c, pe_cfg, fixed_ex=True))
                for c in pe.CONDITIONS]

    ac_cfg = ac.settings()
    f2, mask, f3 = ac_cfg["fig2"], ac_cfg["mask"], ac_cfg["fig3"]
    ac_runs: list[Experiment] = [
        ("fig2", lambda: ac.fig2(f2)),
        ("relu_mask", lambda: ac.relu_mask_fact(mask)),
        ("fig3", lambda: ac.fig3(f3)),
        ("fig3_text_eta", lambda: ac.fig3(f3, f3.eta_text)),
        ("fig3_case2_extra", lambda: ac.fig3_case2_extra(f3)),
    ]

    wn_cfg = wn.chapter_config()
    wn_runs: list[Experiment] = [
        ("fig4e_correlograms", lambda: wn.correlograms(wn_cfg.correlogram)),
        ("fig4", lambda: wn.fig4(wn_cfg.fig4, progress)),
        ("fig4_text_eta", lambda: wn.fig4_text_eta(wn_cfg.fig4, progress)),
        ("s1", lambda: wn.s1_runs(wn_cfg.s1, progress)),
    ]

    depth_cfg = depth.get_config()
    depth_runs: list[Experiment] = [
        ("heatmap", lambda: depth.run_heatmap(depth_cfg)),
        ("histograms", lambda: depth.run_histograms(depth_cfg)),
    ]

    mn_runs: list[Experiment] = [
        (name, lambda name=name: mn.results(name, progress=progress)) for name in mn.names()
    ]
    fx_runs: list[Experiment] = [
        (name, lambda name=name: fx.results(name, progress=progress)) for name in fx.CONFIGS
    ]

    table = {
        "persistent_error": pe_runs,
        "autocorrelation": ac_runs,
        "acf_weight_normalisation": wn_runs,
        "depth": depth_runs,
        "mnist_alignment": mn_runs,
        "flexibility": fx_runs,
    }
    assert tuple(table) == CHAPTERS, (tuple(table), CHAPTERS)
    return table


# --------------------------------------------------------------------------- watching the cache


class _Refused(BaseException):
    """Raised by a refused ``compute`` (a BaseException, so no ``except Exception`` eats it)."""


@dataclass
class Watch:
    """What one experiment did with the results cache.

    Attributes
    ----------
    entries : int
        Calls of :func:`fa_lib.cache.cached` (one per cache entry it asked for).
    computed : int
        How many of them computed their results (no valid entry was found).
    """

    entries: int = 0
    computed: int = 0

    @property
    def cached_before(self) -> str:
        """``"yes"`` (nothing computed), ``"no"`` (everything computed) or ``"partial"``."""
        if self.computed == 0:
            return "yes"
        return "no" if self.computed == self.entries else "partial"


class _WatchedCompute:
    """A ``compute`` that notes (or refuses) its call, keyed by the cache like the original.

    :func:`fa_lib.cache.fingerprint_of` keys an entry by the module of ``compute.func``
    when there is one, so ``func`` is the original's function.
    """

    def __init__(self, compute: Callable[[], Any], watch: Watch, refuse: bool) -> None:
        self.func = getattr(compute, "func", compute)
        self._compute = compute
        self._watch = watch
        self._refuse = refuse

    def __call__(self) -> Any:
        if self._refuse:
            raise _Refused
        self._watch.computed += 1
        return self._compute()


def _prewarm_fingerprints() -> None:
    """Take the code fingerprint of every loaded ``fa_lib`` module, before any patching.

    :func:`fa_lib.cache.module_fingerprint` follows a module's globals and keeps its
    answer for the process; taken now, the wrapper of :func:`_watching` can never enter it.
    """
    for name in sorted(sys.modules):
        if name.startswith("fa_lib.") and name not in (__name__, "fa_lib.__main__"):
            cache.module_fingerprint(name)


@contextlib.contextmanager
def _watching(watch: Watch, refuse: bool) -> Iterator[None]:
    """Route every :func:`fa_lib.cache.cached` call through a wrapper that fills ``watch``."""
    real = cache.cached
    _prewarm_fingerprints()

    def cached(name: str, key: Any, compute: Callable[[], Any], *args: Any, **kwargs: Any
               ) -> Any:
        wrapped = _WatchedCompute(compute, watch, refuse)
        if cache.fingerprint_of(wrapped) != cache.fingerprint_of(compute):
            raise RuntimeError(
                f"the cache would key entry {name!r} differently when watched; "
                "fa_lib.reproduce cannot observe it (has fa_lib.cache.fingerprint_of changed?)."
            )
        watch.entries += 1
        return real(name, key, wrapped, *args, **kwargs)

    # Bookkeeping, like fa_lib.cache itself: a module that holds this wrapper in its
    # globals while its fingerprint is taken must not count this file as its code.
    cached.__module__ = cache.__name__
    targets = [cache] + [
        module for name, module in sorted(sys.modules.items())
        if name.startswith("fa_lib.") and module is not cache
        and getattr(module, "cached", None) is real
    ]
    for module in targets:
        module.cached = cached
    try:
        yield
    finally:
        for module in targets:
            module.cached = real


def run_watched(run: Callable[[], Any]) -> Watch:
    """Call ``run()`` and return what it did with the results cache.

    Parameters
    ----------
    run : callable
        An experiment's callable (see :func:`registry`).

    Returns
    -------
    Watch
        The number of cache entries it asked for and how many of them it computed.
    """
    watch = Watch()
    with _watching(watch, refuse=False):
        run()
    return watch


def read_cached(run: Callable[[], Any]) -> tuple[bool, Any]:
    """Call ``run()`` with every ``compute`` refused: read what the cache holds, compute nothing.

    ``run()`` reads the entries that exist and stops at the first that does not. (As
    with any read of the cache, an entry that is damaged is deleted, with a warning.)

    Parameters
    ----------
    run : callable
        Anything that reads the results cache, e.g. an experiment's callable (see
        :func:`registry`) or ``lambda: flexibility.results(name)``.

    Returns
    -------
    cached : bool
        True when ``run()`` finished without computing anything.
    value
        What ``run()`` returned, or None when it would have computed.
    """
    try:
        with _watching(Watch(), refuse=True):
            return True, run()
    except _Refused:
        return False, None


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
    """

    chapter: str
    experiment: str
    seconds: float
    cached_before: str
    cpu_seconds: float


def _check_chapters(chapters: Sequence[str] | None) -> list[str]:
    if chapters is None:
        return list(CHAPTERS)
    unknown = [c for c in chapters if c not in CHAPTERS]
    if unknown:
        raise ValueError(
            f"unknown chapter(s) {', '.join(map(repr, unknown))}; "
            f"expected one or more of: {', '.join(CHAPTERS)}."
        )
    return list(dict.fromkeys(chapters))


def _check_cache_on() -> None:
    if not cache.cache_enabled():
        raise ValueError("FA_CACHE=off: the results cache is disabled, so there is nothing "
                         "to fill or list; unset FA_CACHE or set it to 'on'.")


def list_experiments(chapters: Sequence[str] | None = None) -> list[tuple[str, str, bool]]:
    """Return (chapter, experiment, cached) for every experiment, computing nothing.

    Parameters
    ----------
    chapters : sequence of str, optional
        Chapters of :data:`CHAPTERS`; default all.

    Returns
    -------
    list of (str, str, bool)
        In the book's order; ``cached`` as in :func:`is_cached`.

    Raises
    ------
    ValueError
        On an unknown chapter, or when the cache is off (``FA_CACHE=off``).
    """
    chosen = _check_chapters(chapters)
    _check_cache_on()
    table = registry()
    return [(ch, label, is_cached(run)) for ch in chosen for label, run in table[ch]]


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="reproduce", unit="exp", file=sys.stderr)


def _timed(run: Callable[[], Any]) -> tuple[float, float, str, str | None]:
    """Call ``run_watched(run)``: (wall s, CPU s of this process, cached before, traceback)."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        state, error = run_watched(run).cached_before, None
    except Exception:  # noqa: BLE001 - reported by the caller, the rest still runs
        state, error = "FAILED", traceback.format_exc()
    return time.perf_counter() - start, time.process_time() - cpu, state, error


def _run_in_worker(chapter: str, label: str, environment: dict[str, str]
                   ) -> tuple[str, str, float, float, str, str | None]:
    """Run one experiment in a worker process of ``--jobs`` (see :func:`reproduce`).

    ``environment`` holds the parent's ``FA_*`` settings; a worker that already imported
    the experiments modules at another scale refuses (:func:`_set_scale`).
    """
    _set_scale(environment["FA_SCALE"])
    for name in [k for k in os.environ if k.startswith("FA_") and k not in environment]:
        del os.environ[name]  # a reused worker keeps no setting the parent dropped
    os.environ.update(environment)
    run = dict(registry(progress=False)[chapter])[label]
    return (chapter, label, *_timed(run))


def _fa_environment() -> dict[str, str]:
    """The ``FA_*`` settings of this process (scale, cache, MNIST), for the workers."""
    return {**{k: v for k, v in os.environ.items() if k.startswith("FA_")},
            "FA_SCALE": config.scale()}


def reproduce(
    chapters: Sequence[str] | None = None, jobs: int = 1, progress: bool = True
) -> tuple[list[Row], list[tuple[str, str, str]]]:
    """Run the experiments of ``chapters`` through the results cache, timing each.

    Parameters
    ----------
    chapters : sequence of str, optional
        Chapters of :data:`CHAPTERS`; default all, in the book's order.
    jobs : int
        1 runs every experiment in this process, one after another. With more, the
        experiments that are not cached yet are computed ``jobs`` at a time in worker
        processes (joblib), dispatched in the book's order; the others are only checked
        (their row's time is that of the check).
    progress : bool
        Show a bar over the experiments and (with ``jobs=1``) the experiments' own bars.

    Returns
    -------
    rows : list of Row
        The time table, in the book's order. With ``jobs > 1`` a computed row's times are
        its worker's.
    failures : list of (str, str, str)
        (chapter, experiment, error) of every experiment that raised; the others still ran.
        On Ctrl-C (:class:`KeyboardInterrupt`) the run stops and the experiment it
        interrupted (``jobs=1``; with more, ``[workers]``) is the last failure.

    Raises
    ------
    ValueError
        On an unknown chapter, ``jobs < 1``, or when the cache is off (``FA_CACHE=off``).
    """
    chosen = _check_chapters(chapters)
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1; got {jobs!r}.")
    _check_cache_on()
    table = registry(progress and jobs == 1)
    plan = [(ch, label, run) for ch in chosen for label, run in table[ch]]
    done: dict[tuple[str, str], Row] = {}
    failures: list[tuple[str, str, str]] = []
    bar = _progress_bar(len(plan), progress)

    def finish(ch: str, label: str, seconds: float, cpu: float, state: str,
               error: str | None) -> None:
        if error is not None:
            print(error, file=sys.stderr, end="")
            failures.append((ch, label, error.strip().splitlines()[-1]))
        done[ch, label] = Row(ch, label, seconds, state, cpu)
        if bar is not None:
            if jobs > 1 and state != "yes":
                bar.set_postfix_str(f"{jobs} at a time; done: {ch}: {label}")
            bar.update(1)

    ch = label = ""
    try:
        if jobs == 1:
            for ch, label, run in plan:
                if bar is not None:
                    bar.set_postfix_str(f"{ch}: {label}")
                finish(ch, label, *_timed(run))
        else:
            missing = []
            for ch, label, run in plan:
                start, cpu = time.perf_counter(), time.process_time()
                if is_cached(run):
                    finish(ch, label, time.perf_counter() - start,
                           time.process_time() - cpu, "yes", None)
                else:
                    missing.append((ch, label))
            ch, label = "[workers]", f"{len(missing)} experiments, --jobs {jobs}"
            if missing:
                if bar is not None:
                    bar.set_postfix_str(f"computing {len(missing)}, {jobs} at a time")
                from joblib import Parallel, delayed

                env = _fa_environment()
                workers = Parallel(n_jobs=min(jobs, len(missing)), batch_size=1,
                                   return_as="generator_unordered")
                try:
                    for out in workers(delayed(_run_in_worker)(c, lab, env)
                                       for c, lab in missing):
                        finish(*out)
                except Exception as err:  # noqa: BLE001 - a worker died; report, keep the rest
                    traceback.print_exc()
                    failures.append((ch, label, repr(err)))
    except KeyboardInterrupt:
        # Ctrl-C: the finished experiments stay cached; report them and stop.
        failures.append((ch, label, "interrupted (KeyboardInterrupt)"))
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
        before), then the totals and the counts of experiments cached before and computed.
    """
    head = ("chapter", "experiment", "seconds", "cpu s", "cached before")
    body = [(r.chapter, r.experiment, f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}",
             r.cached_before) for r in rows]
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
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="compute the experiments not cached yet N at a time (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="show no progress bars")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the time table, the wall-clock time and the "
                             "command to this JSON file")
    return parser


def _set_scale(scale: str | None) -> None:
    """Set ``FA_SCALE`` before the experiments modules are imported (they read it then)."""
    if scale is None:
        config.scale()  # a bad FA_SCALE fails here, with config's message
        return
    loaded = sorted(n for n in sys.modules if n.startswith("fa_lib.experiments."))
    if loaded and config.scale() != scale:
        raise ValueError(
            f"--scale {scale}: the experiments modules {loaded} are already imported at "
            f"scale {config.scale()!r}; run the command in a new process."
        )
    os.environ["FA_SCALE"] = scale


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
        0 on success, 1 when an experiment failed. Bad arguments exit with status 2
        (:class:`SystemExit`, from :mod:`argparse`).
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        chapters = _check_chapters(args.only)
        if args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1; got {args.jobs}.")
        _set_scale(args.scale)
        _check_cache_on()
    except ValueError as err:
        parser.error(str(err))
    print(f"scale {config.scale()}, results cache {cache.cache_dir()}", flush=True)
    if args.list:
        print(format_list(list_experiments(chapters)))
        return 0
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    rows, failures = reproduce(chapters, jobs=args.jobs, progress=not args.no_progress)
    wall = time.perf_counter() - start
    print(format_table(rows))
    print(f"wall clock: {wall:.1f} s with --jobs {args.jobs}")
    for chapter, label, err in failures:
        print(f"FAILED: {chapter} / {label}: {err}", file=sys.stderr)
    if args.json is not None:
        record = {
            "command": "python -m fa_lib reproduce " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "started": started.isoformat(timespec="seconds"), "scale": config.scale(),
            "jobs": args.jobs, "cache_dir": str(cache.cache_dir()), "wall_s": wall,
            "rows": [dataclasses.asdict(r) for r in rows],
            "failures": [list(f) for f in failures],
        }
        cache.write_json(args.json, record)
        print(f"time table written to {args.json}")
    return 1 if failures else 0

