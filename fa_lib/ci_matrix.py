"""Split the missing experiments into CI jobs: ``--shard K/N`` and ``python -m fa_lib plan-matrix``.

A paper-scale results cache takes about 14 CPU-hours, more than a hosted CI runner's job
may run (six hours), and one chapter (``flexibility``, the Fig. 8 runs and the Fig. S3
grid) takes six of them. So the book workflow (``.github/workflows/book.yml``) plans
first: after the published results are fetched, :func:`plan_matrix` gives one job per
chapter with missing experiments, and a chapter whose estimated time on the runner is
over the budget is split into ``--shard K/N`` pieces (``python -m fa_lib reproduce
--only CHAPTER --shard K/N``), each under the budget.

Shares (:func:`shares`) are deterministic: the missing experiments of the chapters
chosen, in the book's order, are placed longest first (ties in the book's order) into
the share that has the least work so far (ties: the lowest ``K``), by the times of
:func:`fa_lib.build_plan.benchmark_times` (:func:`experiment_seconds`). Every job of a
matrix therefore computes the same split from the same results cache: the workflow's
compute jobs restore exactly the cache the plan job listed.

The estimated wall time of a share on a runner is ``max(seconds / cores, longest) *
safety`` (:func:`wall_seconds`): the work spread over the runner's cores, at least its
longest experiment, times a safety factor (default :data:`SAFETY`, 1.5: the benchmark
times were measured on one core of a workstation, and the runner's cores are shared and
slower).

Usage::

    python -m fa_lib plan-matrix [--scale paper|quick] [--only CHAPTER ...]
                                 [--budget-hours H] [--cores C] [--safety F]
                                 [--json] [--github-output PATH]

It lists the results cache (computing nothing, fetching nothing: fetch first with
``python -m fa_lib results fetch``), prints the plan on standard error and, with
``--json``, the matrix on standard output: ``{"include": [...]}``, one entry per job
(:func:`plan_matrix`; ``{"include": []}`` when nothing is missing). With
``--github-output PATH`` it appends ``matrix=<json>`` and ``any=true|false`` to ``PATH``
(a step's ``$GITHUB_OUTPUT``). Exit status 0, 2 on bad arguments or when the cache
cannot be listed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fa_lib import build_plan, catalogue, config, runner
from fa_lib.outcome import error_summary

__all__ = [
    "BUDGET_HOURS",
    "CORES",
    "DEFAULT_SECONDS",
    "SAFETY",
    "experiment_seconds",
    "main",
    "parse_shard",
    "plan_matrix",
    "shard_of",
    "shares",
    "wall_seconds",
]

BUDGET_HOURS = 4.5
"""Default budget of one compute job, in hours (a hosted runner's job may run six)."""

CORES = 4
"""Default cores of a runner (GitHub's hosted Linux runners of public repositories)."""

SAFETY = 1.5
"""Default safety factor on the estimated wall time of a job."""

DEFAULT_SECONDS = 600.0
"""The time of an experiment when no experiment of the plan has a known time (10 min)."""

_SHARD = re.compile(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """Read ``K/N`` (the ``--shard`` option): the K-th of N shares, 1 <= K <= N.

    Parameters
    ----------
    text : str
        E.g. ``"2/3"``.

    Returns
    -------
    (int, int)
        ``(K, N)``.

    Raises
    ------
    ValueError
        When ``text`` is not two integers ``K/N`` with ``N >= 1`` and ``1 <= K <= N``.
    """
    match = _SHARD.fullmatch(text)
    if not match:
        raise ValueError(f"--shard {text}: expected K/N, two whole numbers (e.g. 2/3).")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1:
        raise ValueError(f"--shard {text}: N must be at least 1.")
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N.")
    return k, n


def experiment_seconds(experiments: Sequence[tuple[str, str]], times: build_plan.Times,
                       per_chapter: Mapping[str, int] | None = None) -> list[float]:
    """Return the seconds (on one core) of each experiment, by the benchmarks' times.

    An experiment's own time where the benchmarks give one; else, where its chapter was
    timed as a whole (the quick scale), the chapter's time shared evenly among its
    experiments; else the median of the times found for ``experiments``; else
    :data:`DEFAULT_SECONDS`.

    Parameters
    ----------
    experiments : sequence of (str, str)
        (chapter, experiment).
    times : fa_lib.build_plan.Times
    per_chapter : mapping of str to int, optional
        Chapter -> how many experiments it has (to share a chapter's time); default the
        count in ``experiments``.

    Returns
    -------
    list of float
        In the order of ``experiments``.
    """
    return _filled(own_seconds(experiments, times, per_chapter))


def _filled(found: Sequence[float | None]) -> list[float]:
    """``found`` with each None replaced by the median of the others (or the default)."""
    known = [s for s in found if s is not None]
    fallback = statistics.median(known) if known else DEFAULT_SECONDS
    return [fallback if s is None else s for s in found]


def own_seconds(experiments: Sequence[tuple[str, str]], times: build_plan.Times,
                per_chapter: Mapping[str, int] | None = None) -> list[float | None]:
    """Return each experiment's time from the benchmarks, None where they give none.

    Its own time (measured or extrapolated), else its share of its chapter's time (the
    quick scale); :func:`experiment_seconds` counts the None ones at the median of the
    others. Arguments as in :func:`experiment_seconds`.
    """
    counts = dict(per_chapter or {})
    for chapter, _ in experiments:
        counts.setdefault(chapter, sum(1 for c, _ in experiments if c == chapter))
    found: list[float | None] = []
    for chapter, name in experiments:
        own = times.experiments.get((chapter, name))
        if own is not None:
            found.append(float(own[0]))
        elif chapter in times.chapters:
            found.append(float(times.chapters[chapter]) / max(counts[chapter], 1))
        else:
            found.append(None)
    return found


def shares(experiments: Sequence[tuple[str, str]], n: int,
           seconds: Sequence[float]) -> list[list[tuple[str, str]]]:
    """Split ``experiments`` into ``n`` shares of about equal time, deterministically.

    Longest first (ties in the given order), each into the share with the least time so
    far (ties: the first share); each share keeps the given order.

    Parameters
    ----------
    experiments : sequence of (str, str)
        (chapter, experiment), in the book's order.
    n : int
        How many shares, at least 1.
    seconds : sequence of float
        The time of each experiment (:func:`experiment_seconds`).

    Returns
    -------
    list of list of (str, str)
        ``n`` shares (some empty when there are fewer experiments than shares).

    Raises
    ------
    ValueError
        When ``n < 1`` or ``seconds`` is not as long as ``experiments``.
    """
    if n < 1:
        raise ValueError(f"the number of shares must be at least 1; got {n}.")
    if len(seconds) != len(experiments):
        raise ValueError("one time per experiment is needed.")
    loads = [0.0] * n
    owner: dict[int, int] = {}
    for i in sorted(range(len(experiments)), key=lambda i: (-seconds[i], i)):
        k = min(range(n), key=lambda k: (loads[k], k))
        owner[i] = k
        loads[k] += seconds[i]
    return [[e for i, e in enumerate(experiments) if owner[i] == k] for k in range(n)]


def shard_of(items: Sequence[tuple[str, str, bool]], shard: tuple[int, int],
             times: build_plan.Times) -> list[tuple[str, str]]:
    """Return the missing experiments of the ``K``-th of ``N`` shares (``--shard K/N``).

    The split of :func:`plan_matrix` for the same chapters and results cache: the
    missing experiments of ``items`` (:func:`shares`, by :func:`experiment_seconds`).

    Parameters
    ----------
    items : sequence of (str, str, bool)
        (chapter, experiment, cached) of the chapters chosen, in the book's order
        (:func:`fa_lib.runner.list_experiments`).
    shard : (int, int)
        ``(K, N)`` (:func:`parse_shard`).
    times : fa_lib.build_plan.Times

    Returns
    -------
    list of (str, str)
        (chapter, experiment) of the share, in the book's order.
    """
    k, n = shard
    missing = [(c, e) for c, e, cached in items if not cached]
    per_chapter = dict(Counter(c for c, _, _ in items))
    return shares(missing, n, experiment_seconds(missing, times, per_chapter))[k - 1]


def wall_seconds(seconds: Sequence[float], cores: int, safety: float = SAFETY) -> float:
    """Return the estimated wall time of a job computing experiments of these times.

    Parameters
    ----------
    seconds : sequence of float
        The experiments' times on one core.
    cores : int
        The runner's cores (experiments computed at a time).
    safety : float
        The safety factor (:data:`SAFETY`).

    Returns
    -------
    float
        ``max(sum / cores, longest) * safety``; 0 for no experiment.
    """
    if not seconds:
        return 0.0
    return max(sum(seconds) / max(cores, 1), max(seconds)) * safety


def plan_matrix(missing: Sequence[tuple[str, str]], times: build_plan.Times, *,
                budget_hours: float = BUDGET_HOURS, cores: int = CORES,
                safety: float = SAFETY,
                per_chapter: Mapping[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Return the GitHub Actions matrix of the compute jobs for the missing experiments.

    One entry per chapter with missing experiments, in the book's order; a chapter whose
    estimated wall time (:func:`wall_seconds`) is over the budget is split into the
    fewest shares (:func:`shares`) that are each under it. An experiment that alone is
    over the budget cannot be split: the chapter is split into the fewest shares none
    longer than that experiment, and its share is marked ``over_budget``.

    Parameters
    ----------
    missing : sequence of (str, str)
        (chapter, experiment) not in the results cache, in the book's order.
    times : fa_lib.build_plan.Times
    budget_hours : float
        The most one job may take, in hours.
    cores : int
        The runner's cores.
    safety : float
        The safety factor on the estimates.
    per_chapter : mapping of str to int, optional
        As in :func:`experiment_seconds`.

    Returns
    -------
    dict
        ``{"include": [...]}``; each entry has ``chapter``, ``shard`` (``"K/N"``, or
        ``""`` for a whole chapter), ``id`` (``chapter`` or ``chapter-KofN``, for cache
        keys and artifact names), ``experiments`` (how many), ``hours`` (the estimated
        wall time, rounded to 0.01), ``over_budget`` and ``untimed`` (how many of its
        experiments the benchmarks give no time for: counted at the median of the others,
        :func:`experiment_seconds`). ``{"include": []}`` when nothing
        is missing.

    Raises
    ------
    ValueError
        When the budget, the cores or the safety factor is not positive.
    """
    if budget_hours <= 0 or cores < 1 or safety <= 0:
        raise ValueError("the budget, the cores and the safety factor must be positive.")
    budget = budget_hours * 3600
    include: list[dict[str, Any]] = []
    for chapter in dict.fromkeys(c for c, _ in missing):
        mine = [m for m in missing if m[0] == chapter]
        own = own_seconds(mine, times, per_chapter)
        seconds = _filled(own)
        time_of = dict(zip(mine, seconds, strict=True))
        untimed = {e for e, s in zip(mine, own, strict=True) if s is None}
        # No split does better than the longest experiment alone.
        reachable = max(budget, wall_seconds([max(seconds)], cores, safety))
        for n in range(1, len(mine) + 1):
            parts = shares(mine, n, seconds)
            walls = [wall_seconds([time_of[e] for e in p], cores, safety) for p in parts]
            if max(walls) <= reachable:
                break
        for k, (part, wall) in enumerate(zip(parts, walls, strict=True), start=1):
            include.append({
                "chapter": chapter,
                "shard": f"{k}/{n}" if n > 1 else "",
                "id": f"{chapter}-{k}of{n}" if n > 1 else chapter,
                "experiments": len(part),
                "hours": round(wall / 3600, 2),
                "over_budget": wall > budget,
                "untimed": sum(e in untimed for e in part),
            })
    return {"include": include}


# --------------------------------------------------------------------------- command line


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Plan the CI compute jobs: one per chapter with missing experiments, "
                    "chapters over the budget split into --shard K/N pieces.")
    parser.add_argument("--scale", choices=config.SCALES, default=None,
                        help="paper or quick (sets FA_SCALE); default: the current FA_SCALE")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", default=None,
                        help="plan only these chapters")
    parser.add_argument("--budget-hours", type=float, default=BUDGET_HOURS, metavar="H",
                        help=f"the most one job may take (default {BUDGET_HOURS})")
    parser.add_argument("--cores", type=int, default=CORES, metavar="C",
                        help=f"the runner's cores (default {CORES})")
    parser.add_argument("--safety", type=float, default=SAFETY, metavar="F",
                        help=f"safety factor on the estimated times (default {SAFETY})")
    parser.add_argument("--json", action="store_true",
                        help="print the matrix as JSON on standard output")
    parser.add_argument("--github-output", default=None, metavar="PATH",
                        help="append matrix=<json> and any=true|false to PATH "
                             "($GITHUB_OUTPUT)")
    return parser


def _describe(matrix: Mapping[str, Sequence[Mapping[str, Any]]], n_missing: int,
              budget_hours: float, cores: int, safety: float) -> str:
    jobs = matrix["include"]
    if not jobs:
        return "fa_lib: nothing is missing from the results cache; no compute job."
    lines = [f"fa_lib: {n_missing} experiment(s) missing; {len(jobs)} compute job(s) "
             f"(budget {budget_hours:g} h, {cores} cores, safety factor {safety:g}):"]
    for job in jobs:
        shard = f" --shard {job['shard']}" if job["shard"] else ""
        over = "  OVER BUDGET (one experiment alone)" if job["over_budget"] else ""
        guessed = (f" ({job['untimed']} of them without a time in the benchmarks, counted "
                   "at the median of the others)" if job.get("untimed") else "")
        lines.append(f"  --only {job['chapter']}{shard}: {job['experiments']} "
                     f"experiment(s), about {job['hours']:.2f} h{guessed}{over}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run ``python -m fa_lib plan-matrix`` (the arguments after ``plan-matrix``).

    Parameters
    ----------
    argv : sequence of str, optional
        Default ``sys.argv[1:]``.
    prog : str, optional
        The program name shown in the usage text.

    Returns
    -------
    int
        0, or 2 when the results cache cannot be listed. Bad arguments exit with status
        2 (:class:`SystemExit`, from :mod:`argparse`).
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        chosen = catalogue.check_chapters(args.only, catalogue.CHAPTERS)
        catalogue.set_scale(args.scale)
        runner.check_cache_on()
        if args.budget_hours <= 0 or args.cores < 1 or args.safety <= 0:
            raise ValueError("--budget-hours, --cores and --safety must be positive.")
    except ValueError as err:
        parser.error(str(err))
    try:
        items = runner.list_experiments(chosen)
    except Exception as err:  # an import error, or an experiment failing before the cache
        print(f"error: cannot list the results cache ({error_summary(err)})", file=sys.stderr)
        return 2
    missing = [(c, e) for c, e, ok in items if not ok]
    per_chapter = dict(Counter(c for c, _, _ in items))
    matrix = plan_matrix(missing, build_plan.benchmark_times(config.scale()),
                         budget_hours=args.budget_hours, cores=args.cores,
                         safety=args.safety, per_chapter=per_chapter)
    print(_describe(matrix, len(missing), args.budget_hours, args.cores, args.safety),
          file=sys.stderr)
    text = json.dumps(matrix, separators=(",", ":"))
    if args.json:
        print(text)
    if args.github_output is not None:
        with Path(args.github_output).open("a", encoding="utf-8") as out:
            out.write(f"matrix={text}\nany={'true' if matrix['include'] else 'false'}\n")
    return 0
