"""What a book build computes before its notebooks run: the build plan.

``jupyter-book build .`` executes the chapter notebooks one after another, and a
notebook cell that asks for results the results cache lacks computes them there, on one
core, under the cell timeout of ``_config.yml``: at the paper scale some cells would
compute for hours, and a timeout would end the build after hours of work. So, before
the first notebook runs, the build (the Sphinx extension :mod:`fa_lib.sphinxext`, on
``env-before-read-docs``) calls :func:`prepare_build`, which

1. lists the experiments of the chapters the build reads and whether each is in the
   results cache, computing nothing (:func:`fa_lib.runner.list_experiments`, the
   machinery of ``python -m fa_lib reproduce --list``);
2. fetches the published results of the missing experiments, where a release publishes
   them for this code (:func:`fetch_published`, from the committed manifest of a release);
3. says which scale it builds, what is missing and about how long it takes, from the
   times measured by the benchmarks (:func:`benchmark_times`, :func:`describe`);
4. computes the missing experiments with ``reproduce``'s runner, all cores at a time
   (``FA_JOBS`` sets how many), with its progress bar and time table
   (:func:`compute_missing`); if one fails, :class:`BuildPlanError` stops the build
   before any notebook runs.

The notebooks then only read the results cache. When nothing is missing, the plan is
one line and costs the listing only (reading the cache entries, a few seconds).
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fa_lib import cache, catalogue, config, results, runner
from fa_lib.outcome import error_summary

__all__ = [
    "BENCHMARK_RESULTS",
    "BuildPlanError",
    "Estimate",
    "NO_PUBLISHED",
    "Plan",
    "Times",
    "benchmark_times",
    "chapters_read",
    "compute_missing",
    "describe",
    "duration",
    "fetch_published",
    "make_plan",
    "prepare_build",
]

BENCHMARK_RESULTS = cache.PACKAGE_DIR.parent / "benchmarks" / "results"
"""The benchmarks' results (``benchmarks/README.md``): the measured times of the experiments."""

BOOK_DIR = "book"
"""The directory of the chapter notebooks: chapter ``c`` is the page ``book/c``."""

NO_PUBLISHED = "no published results for this code"
"""What :func:`fetch_published` says while no release publishes results."""

MEASURED = "measured"
EXTRAPOLATED = "extrapolated from short runs"
PER_CHAPTER = "measured per chapter"
HOWS = (MEASURED, PER_CHAPTER, EXTRAPOLATED)
"""How a time of :class:`Times` was found, from the most to the least direct."""

PREFIX = "fa_lib:"
"""The first word of every line the plan prints, so that it stands out in a build log."""


class BuildPlanError(RuntimeError):
    """An experiment computed before the notebooks failed, or the cache cannot be written."""


# --------------------------------------------------------------------------- times


@dataclass(frozen=True)
class Times:
    """The times of the book's experiments known from the benchmarks (:func:`benchmark_times`).

    Attributes
    ----------
    experiments : mapping of (str, str) to (float, str)
        (chapter, experiment) -> (seconds on one core, how it was found: one of
        :data:`HOWS`).
    chapters : mapping of str to float
        Chapter -> seconds on one core that computing all of its experiments took, for
        chapters timed as a whole only.
    """

    experiments: Mapping[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    chapters: Mapping[str, float] = field(default_factory=dict)


def _load(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or {} when the file is missing or not such an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _chapter_of(group: str, chapters: Sequence[str]) -> str:
    """The chapter of a group of training runs: ``flexibility_s3`` -> ``flexibility``."""
    found = [c for c in chapters if group == c or group.startswith(f"{c}_")]
    return max(found, key=len) if found else group


def _paper_times(directory: Path) -> dict[tuple[str, str], tuple[float, str]]:
    """Paper-scale times: the cold build's table, the training runs' stored times, the budget."""
    times: dict[tuple[str, str], tuple[float, str]] = {}
    # Lowest priority first, each source overwriting the one before.
    for row in _load(directory / "latest.json").get("budget", {}).get("rows", []):
        times[row["chapter"], row["experiment"]] = (float(row["seconds"]), EXTRAPOLATED)
    for row in _load(directory / "budget_update.json").get("rows", []):  # timed since
        times[row["chapter"], row["experiment"]] = (float(row["seconds"]), EXTRAPOLATED)
    runs = _load(directory / "paper_scale.json").get("training_runs", {})
    for group, table in runs.items():
        chapter = _chapter_of(group, catalogue.CHAPTERS)
        for name, seconds in table.get("per_run", {}).items():
            times[chapter, name] = (float(seconds), MEASURED)
    cold = _load(directory / "cold_build_paper.json")
    if cold.get("scale") == "paper":
        for row in cold.get("rows", []):
            if row.get("cached_before") == "no":  # computed in that run, from scratch
                times[row["chapter"], row["experiment"]] = (float(row["seconds"]), MEASURED)
    return times


def _quick_chapter_times(directory: Path) -> dict[str, float]:
    """Quick-scale chapter times: a chapter notebook run cold, less its warm run."""
    timed = _load(directory / "latest.json").get("chapters_quick", {})
    if timed.get("scale") != "quick":
        return {}
    return {chapter: max(float(t["cold_s"]) - float(t["warm_s"]), 0.0)
            for chapter, t in timed.get("chapters", {}).items()}


def benchmark_times(scale: str | None = None, directory: Path | str | None = None) -> Times:
    """Return the times of the book's experiments that the benchmarks measured.

    The one reader of ``benchmarks/results`` for the build plan. At the paper scale, per
    experiment, the first of: its seconds in the time table of the cold build
    (``cold_build_paper.json``, ``python -m fa_lib reproduce --scale paper --jobs 2
    --json`` from an empty cache; one core per experiment), the compute time a training
    run stored in the cache (``paper_scale.json``, ``training_runs``), both
    :data:`MEASURED`; else the floating-point budget's time (the rows of chapters timed
    since, ``budget_update.json``, else ``latest.json``'s ``budget``),
    :data:`EXTRAPOLATED` from a short run of the same configuration. At the
    quick scale only whole chapters were timed (``latest.json``, ``chapters_quick``: the
    notebook run from an empty cache, less its run from a full one).

    Parameters
    ----------
    scale : str, optional
        ``paper`` or ``quick``; default :func:`fa_lib.config.scale`.
    directory : path, optional
        Default :data:`BENCHMARK_RESULTS`. A missing directory or file, or one that is
        not JSON, gives no times (every experiment's time is then unknown).

    Returns
    -------
    Times
    """
    scale = config.scale() if scale is None else scale
    directory = BENCHMARK_RESULTS if directory is None else Path(directory)
    try:
        if scale == "paper":
            return Times(experiments=_paper_times(directory))
        return Times(chapters=_quick_chapter_times(directory))
    except (KeyError, TypeError, ValueError, AttributeError):  # a file of another layout
        return Times()


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Estimate:
    """How long the missing experiments of a plan take (:meth:`Plan.estimate`).

    Attributes
    ----------
    seconds : float
        The sum of the known times (one core each).
    longest : float
        The longest known time of a single experiment.
    counts : mapping of str to int
        How many experiments were timed each way (:data:`HOWS`).
    unknown : int
        How many experiments have no known time (not in ``seconds``).
    """

    seconds: float
    longest: float
    counts: Mapping[str, int]
    unknown: int

    def wall(self, jobs: int) -> float:
        """The seconds of the known work on ``jobs`` cores (at least its longest experiment)."""
        return max(self.seconds / max(jobs, 1), self.longest)


@dataclass(frozen=True)
class Plan:
    """What a build finds in the results cache before its notebooks run (:func:`make_plan`).

    Attributes
    ----------
    scale : str
    cache_dir : pathlib.Path
    experiments : tuple of (str, str, bool)
        (chapter, experiment, cached) for every experiment of the chapters read, in the
        book's order.
    modules : mapping of str to str
        Chapter -> its experiments module.
    published : str
        What :func:`fetch_published` said.
    times : Times
    fetched : int
        How many of the experiments were fetched from published results.
    """

    scale: str
    cache_dir: Path
    experiments: tuple[tuple[str, str, bool], ...]
    modules: Mapping[str, str]
    published: str = NO_PUBLISHED
    times: Times = field(default_factory=Times)
    fetched: int = 0

    @property
    def chapters(self) -> list[str]:
        """The chapters of the plan, in the book's order."""
        return list(self.modules)

    @property
    def missing(self) -> list[tuple[str, str]]:
        """(chapter, experiment) of every experiment not in the results cache."""
        return [(c, e) for c, e, cached in self.experiments if not cached]

    def missing_by_chapter(self) -> dict[str, int]:
        """Chapter -> how many of its experiments are missing (chapters with some only)."""
        return dict(Counter(c for c, _ in self.missing))

    def estimate(self) -> Estimate:
        """Add up the known times of the missing experiments.

        An experiment's own time (:attr:`Times.experiments`) where known; else, when all
        of its chapter's experiments are missing and none has a time of its own, the
        chapter's time (:attr:`Times.chapters`) for all of them; else unknown.
        """
        seconds, longest, unknown = 0.0, 0.0, 0
        counts: Counter[str] = Counter()
        missing = self.missing
        per_chapter = Counter(c for c, _, _ in self.experiments)
        for chapter, n in self.missing_by_chapter().items():
            own = [self.times.experiments.get((c, e)) for c, e in missing if c == chapter]
            if (n == per_chapter[chapter] and chapter in self.times.chapters
                    and not any(own)):
                seconds += self.times.chapters[chapter]
                counts[PER_CHAPTER] += n
                continue
            for known in own:
                if known is None:
                    unknown += 1
                    continue
                seconds += known[0]
                longest = max(longest, known[0])
                counts[known[1]] += 1
        return Estimate(seconds, longest, dict(counts), unknown)


def chapters_read(docnames: Iterable[str], toc: Path | str | None = None) -> list[str]:
    """Return the chapters with experiments among the pages that a build reads.

    Parameters
    ----------
    docnames : iterable of str
        The pages the build reads (Sphinx's names: ``book/flexibility``).
    toc : path, optional
        The build's table of contents (default the repository's ``_toc.yml``).

    Returns
    -------
    list of str
        In the order of the table of contents (:func:`fa_lib.catalogue.chapters`).
    """
    read = set(docnames)
    return [c for c in catalogue.chapters(None if toc is None else Path(toc))
            if f"{BOOK_DIR}/{c}" in read]


def fetch_published(missing: Sequence[tuple[str, str]], scale: str,
                    modules: Mapping[str, str] | None = None) -> tuple[
        list[tuple[str, str]], str]:
    """Fetch the published results of missing experiments into the results cache.

    Where a release publishes results of this scale (a committed manifest,
    :func:`fa_lib.results.default_manifest`), the archives of the chapters with missing
    experiments are fetched (:func:`fa_lib.results.fetch`: checked, all or nothing per
    archive) before anything is computed. Archives of other code (a checkout ahead of
    the release) are not downloaded.

    Parameters
    ----------
    missing : sequence of (str, str)
        (chapter, experiment) of the experiments not in the results cache.
    scale : str
    modules : mapping of str to str, optional
        Chapter -> experiments module.

    Returns
    -------
    fetched : list of (str, str)
        The experiments of ``missing`` now in the results cache.
    note : str
        What was fetched, for the plan's text (:data:`NO_PUBLISHED` when no release
        publishes results of this scale).
    """
    path = results.default_manifest(scale)
    chapters = list(dict.fromkeys(c for c, _ in missing))
    if not chapters or not path.is_file():
        return [], NO_PUBLISHED
    try:
        manifest = results.load_manifest(path)
        wanted = [c for c in chapters if c in manifest["chapters"]]
        report = results.fetch(wanted, path, modules=modules) if wanted else None
    except results.ResultsError as err:
        return [], f"none fetched ({err})"
    if report is None or not report.fetched:
        why = "" if report is None or not report.failed else \
            f" ({next(iter(report.failed.values()))})"
        return [], f"{NO_PUBLISHED}{why}"
    now = {(c, e) for c, e, ok in runner.list_experiments(chapters, modules) if ok}
    fetched = [m for m in missing if m in now]
    return fetched, (f"{_plural(len(report.fetched), 'archive')} of release "
                     f"{manifest['version']} fetched, {_plural(len(fetched), 'experiment')} "
                     "now in the results cache")


def make_plan(chapters: Sequence[str], modules: Mapping[str, str] | None = None,
              times: Times | None = None) -> Plan:
    """List what the results cache holds of ``chapters`` and fetch what is published.

    Computes nothing, and deletes nothing (see :func:`fa_lib.runner.list_experiments`).

    Parameters
    ----------
    chapters : sequence of str
        The chapters a build reads (:func:`chapters_read`).
    modules : mapping of str to str, optional
        Chapter -> experiments module; default ``fa_lib.experiments.<chapter>``.
    times : Times, optional
        Default :func:`benchmark_times` of the current scale.

    Returns
    -------
    Plan

    Raises
    ------
    BuildPlanError
        If listing fails (a chapter's module cannot be imported, or an experiment
        raises before it asks the results cache).
    """
    if modules is None:
        modules = {c: f"{catalogue.EXPERIMENTS_PACKAGE}.{c}" for c in chapters}
    modules = {c: modules[c] for c in chapters}
    try:
        items = runner.list_experiments(modules=modules) if modules else []
    except Exception as err:  # an import error, or an experiment that fails before the cache
        raise BuildPlanError(
            f"cannot list the experiments of {', '.join(modules)} in the results cache "
            f"({error_summary(err)}); the book is not built.") from err
    scale = config.scale()
    fetched, note = fetch_published([(c, e) for c, e, ok in items if not ok], scale, modules)
    items = [(c, e, ok or (c, e) in fetched) for c, e, ok in items]
    return Plan(scale=scale, cache_dir=cache.cache_dir(), experiments=tuple(items),
                modules=modules, published=note,
                times=benchmark_times(scale) if times is None else times, fetched=len(fetched))


# --------------------------------------------------------------------------- its text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """A time in words: ``"40 s"``, ``"12 min"`` or ``"3.5 hours"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} hours"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _at_a_time(jobs: int) -> str:
    return "one at a time" if jobs == 1 else f"{jobs} at a time"


def _scale_phrase(scale: str) -> str:
    other = "FA_SCALE=quick builds a fast preview" if scale == "paper" else \
        "FA_SCALE=paper, the default, builds at the paper's sizes"
    return f"the {scale} scale (FA_SCALE={scale}; {other})"


def _estimate_text(estimate: Estimate, jobs: int) -> str:
    if not estimate.counts:
        return ("How long they take is not known: benchmarks/results holds no time for "
                "them.")
    how = _and([f"{n} {h}" for h in HOWS if (n := estimate.counts.get(h, 0))])
    if estimate.unknown:
        how += (f"; {estimate.unknown} of unknown time "
                f"{'is' if estimate.unknown == 1 else 'are'} not counted")
    return (f"By the times in benchmarks/results ({how}), they take about "
            f"{duration(estimate.seconds)} on one core, so about "
            f"{duration(estimate.wall(jobs))} on {_plural(jobs, 'core')}.")


def estimate_missing(items: Sequence[tuple[str, str, bool]], jobs: int,
                     times: Times | None = None) -> str:
    """Say how long the experiments of a listing that are not cached take.

    Parameters
    ----------
    items : sequence of (str, str, bool)
        (chapter, experiment, cached), as :func:`fa_lib.runner.list_experiments`.
    jobs : int
        How many experiments would be computed at a time.
    times : Times, optional
        Default :func:`benchmark_times` of the current scale.

    Returns
    -------
    str
        One sentence, from the benchmarks' times (as the build's plan, :func:`describe`),
        or that nothing is missing.
    """
    plan = Plan(scale=config.scale(), cache_dir=cache.cache_dir(), experiments=tuple(items),
                modules=dict.fromkeys(c for c, _, _ in items),
                times=benchmark_times() if times is None else times)
    n = len(plan.missing)
    if not n:
        return "Nothing to compute: every experiment listed is cached."
    return textwrap.fill(
        f"Of the experiments listed, {n} {'is' if n == 1 else 'are'} not cached. "
        f"{_estimate_text(plan.estimate(), jobs)}",
        width=88, break_long_words=False, break_on_hyphens=False)


def describe(plan: Plan, jobs: int) -> str:
    """Return the plan as text: one line when nothing is missing, else a paragraph.

    Parameters
    ----------
    plan : Plan
    jobs : int
        How many experiments are computed at a time.

    Returns
    -------
    str
        The scale, how many experiments of which chapters are missing from the results
        cache, what fetching published results gave, about how long the missing ones
        take, and what happens next.
    """
    n_all, missing = len(plan.experiments), plan.missing
    chapters = _plural(len(plan.chapters), "chapter")
    if not plan.chapters:
        return (f"{PREFIX} this build is at the {plan.scale} scale and reads no chapter "
                "with experiments; nothing to compute.")
    if not missing:
        return (f"{PREFIX} this build is at the {plan.scale} scale; all {n_all} experiments "
                f"of the {chapters} it reads are in the results cache ({plan.cache_dir}), "
                "so nothing is computed before the notebooks.")
    by_chapter = [f"{n} of {c}" for c, n in plan.missing_by_chapter().items()]
    text = (
        f"{PREFIX} this build is at {_scale_phrase(plan.scale)}. "
        f"Of the {_plural(n_all, 'experiment')} of the {chapters} it reads, {len(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not in the results cache "
        f"({plan.cache_dir}): {_and(by_chapter)}. "
        f"Fetching published results: {plan.published}. "
        f"{_estimate_text(plan.estimate(), jobs)} "
        f"They are computed now, {_at_a_time(jobs)} (FA_JOBS sets how many), before any "
        "notebook runs; the notebooks then only read the results cache."
    )
    return textwrap.fill(text, width=88, break_long_words=False, break_on_hyphens=False)


# --------------------------------------------------------------------------- computing


def _failure_text(rows: Sequence[runner.Row], failures: Sequence[tuple[str, str, str]],
                  n_missing: int) -> str:
    listed = "\n".join(f"  - {c} / {e}: {err}" for c, e, err in failures)
    return (
        f"{_plural(len(failures), 'experiment')} of the {n_missing} computed before the "
        f"notebooks failed, so the book is not built:\n{listed}\n\n"
        f"{runner.format_table(rows)}\n\n"
        "The experiments that finished are in the results cache. Fix the failures (their "
        "tracebacks are printed above) and run the build again; `python -m fa_lib "
        "reproduce --only CHAPTER` computes a chapter's experiments alone."
    )


def compute_missing(plan: Plan, jobs: int, progress: bool = True,
                    log: Callable[[str], None] = print) -> list[runner.Row]:
    """Compute the missing experiments of ``plan`` with ``reproduce``'s runner.

    Parameters
    ----------
    plan : Plan
    jobs : int
        How many experiments are computed at a time, each in a worker process (1: one
        after another, in this process); see :func:`fa_lib.runner.reproduce`.
    progress : bool
        Show the runner's progress bar.
    log : callable
        Where the time table and the last line go (default :func:`print`).

    Returns
    -------
    list of fa_lib.runner.Row
        The time table of the chapters with missing experiments.

    Raises
    ------
    BuildPlanError
        If an experiment failed or the run was interrupted (the message lists the
        failures and holds the time table), or the cache directory cannot be written.
    """
    chapters = list(plan.missing_by_chapter())
    start = time.perf_counter()
    try:
        rows, failures = runner.reproduce(
            chapters, jobs=jobs, progress=progress,
            modules={c: plan.modules[c] for c in chapters})
    except runner.CacheNotWritableError as err:
        raise BuildPlanError(f"{err} Nothing was computed; the book is not built.") from None
    if failures:
        raise BuildPlanError(_failure_text(rows, failures, len(plan.missing)))
    log(runner.format_table(rows))
    log(f"{PREFIX} the {len(plan.missing)} missing experiments were computed in "
        f"{duration(time.perf_counter() - start)}, {_at_a_time(jobs)}; the notebooks now "
        "read them from the results cache.")
    return rows


def prepare_build(chapters: Sequence[str], *, jobs: int | None = None, progress: bool = True,
                  modules: Mapping[str, str] | None = None,
                  log: Callable[[str], None] = print) -> Plan | None:
    """Say what the build computes and compute it, before any notebook runs.

    Parameters
    ----------
    chapters : sequence of str
        The chapters the build reads (:func:`chapters_read`).
    jobs : int, optional
        How many experiments are computed at a time; default ``FA_JOBS``, else the
        number of cores (:func:`os.cpu_count`).
    progress : bool
        Show the runner's progress bar.
    modules : mapping of str to str, optional
        Chapter -> experiments module (see :func:`make_plan`).
    log : callable
        Where the plan's text and the time table go (default :func:`print`).

    Returns
    -------
    Plan or None
        The plan (as made before computing); None when the results cache is off
        (``FA_CACHE=off``: the notebooks compute everything themselves).

    Raises
    ------
    BuildPlanError
        See :func:`make_plan` and :func:`compute_missing`.
    """
    if not cache.cache_enabled():
        log(f"{PREFIX} FA_CACHE=off: the results cache is off, so nothing is computed "
            "before the notebooks; each notebook computes its experiments itself.")
        return None
    jobs = config.jobs(default=os.cpu_count() or 1) if jobs is None else jobs
    plan = make_plan(chapters, modules)
    log(describe(plan, jobs))
    if plan.missing:
        compute_missing(plan, jobs, progress=progress, log=log)
    return plan
