"""The paper-scale cold build, from the time table of one ``reproduce`` run.

``python -m fa_lib reproduce --scale paper --jobs N --json RECORD`` from an empty results
cache computes every experiment of the book, ``N`` at a time, and writes its time table
(one row per experiment, with the seconds its worker took and whether it was cached
before) and its wall-clock time to ``RECORD``. This module puts that record into
``results/paper_scale.json``::

    python -m benchmarks.cold_build RECORD [--compare-with BOOK_CACHE] [--dry-run]

An experiment that was already cached when the run started (for example the Fig. S3
grid, copied into the otherwise empty cache because it alone takes hours) has no time of
this run; its time is the compute time its training run stored, read earlier by
``python -m benchmarks.paper_runs`` (``training_runs`` of the same file). It must be there:
a cached experiment without a stored time is an error.

What is written (``cold_build``, and from it every chapter's ``cold_s`` and
``total_cold_s``):

- each chapter's cold time on one core: the seconds of its experiments computed in the
  run, plus the stored seconds of those that were cached, plus its warm execution
  (``warm_s``: the notebook reading the cache, making its figures and checks);
- with ``--compare-with``, how many of the entries the run wrote are identical, array
  for array (compute times aside), to the same entries of the book's cache
  (``compared_with_book``);
- the whole book's cold build on ``N`` cores (``minutes``): the run's wall-clock time,
  plus the cached experiments' stored seconds divided by ``N`` (they run ``N`` at a time,
  as the last runs of the grid did), plus the warm build (``total_warm_s``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from collections.abc import Mapping
from pathlib import Path

from benchmarks.paper_runs import GROUPS, PAPER_SCALE_FILE

COMPUTED = ("no", "partial")
"""``cached_before`` values of the rows that the run computed."""


def stored_seconds(training_runs: Mapping[str, Mapping]) -> dict[tuple[str, str], float]:
    """(chapter, experiment) -> stored compute seconds, from ``training_runs``."""
    return {(GROUPS[g], name): s for g, r in training_runs.items()
            for name, s in r["per_run"].items()}


def summarise(record: Mapping, training_runs: Mapping[str, Mapping]) -> dict:
    """The ``cold_build`` entry of ``paper_scale.json`` from a ``reproduce --json`` record.

    Parameters
    ----------
    record : mapping
        Written by ``python -m fa_lib reproduce --json``.
    training_runs : mapping
        ``training_runs`` of ``paper_scale.json`` (:mod:`benchmarks.paper_runs`).

    Returns
    -------
    dict
        The command, start, ``jobs``, ``wall_s``, and per chapter: ``computed`` (count),
        ``computed_s``, ``seconds`` (of each computed experiment), ``cached`` (the
        experiments cached before the run) and ``cached_stored_s``.

    Raises
    ------
    ValueError
        If the record is not a paper-scale run of every chapter, has failures, did not
        finish, or an experiment cached before the run has no stored compute time.
    """
    if record.get("scale") != "paper":
        raise ValueError(f"the record is of scale {record.get('scale')!r}, not 'paper'.")
    if record.get("failures"):
        raise ValueError(f"the run had failures: {record['failures']}; a cold build "
                         "must compute every experiment.")
    if record.get("complete") is False:
        raise ValueError("the time table is of a run that did not finish (\"complete\": "
                         "false): run reproduce again to the end, into the same cache.")
    from fa_lib.catalogue import CHAPTERS

    if sorted({r["chapter"] for r in record["rows"]}) != sorted(CHAPTERS):
        raise ValueError("the record does not cover every chapter (run reproduce without "
                         "--only): the cold build is of the whole book.")
    stored = stored_seconds(training_runs)
    chapters: dict[str, dict] = {}
    for row in record["rows"]:
        key = (row["chapter"], row["experiment"])
        entry = chapters.setdefault(row["chapter"], {"computed": 0, "computed_s": 0.0,
                                                     "cached": [], "cached_stored_s": 0.0,
                                                     "seconds": {}})
        if row["cached_before"] in COMPUTED:
            entry["computed"] += 1
            entry["computed_s"] += row["seconds"]
            entry["seconds"][row["experiment"]] = round(row["seconds"], 1)
        elif key in stored:
            entry["cached"].append(row["experiment"])
            entry["cached_stored_s"] += stored[key]
        else:
            raise ValueError(
                f"{key[0]} / {key[1]} was cached before the run and has no stored compute "
                "time; run it cold, or run `python -m benchmarks.paper_runs` first if it "
                "is a training run.")
    for entry in chapters.values():
        entry["computed_s"] = round(entry["computed_s"], 1)
        entry["cached_stored_s"] = round(entry["cached_stored_s"], 1)
    return {"command": record["command"], "started": record["started"],
            "jobs": record["jobs"], "wall_s": round(record["wall_s"], 1),
            "chapters": chapters}


def compare_entries(cold_dir: Path, book_dir: Path, since: float,
                    timings: tuple[str, ...] = ("seconds",)) -> dict:
    """Compare the entries a cold run wrote with the same entries of the book's cache.

    Parameters
    ----------
    cold_dir, book_dir : Path
        The cold run's results cache and the book's.
    since : float
        The run's start (POSIX time): the entries modified since then are the ones it
        wrote (those copied in beforehand keep their older time).
    timings : tuple of str
        Arrays that hold compute times, which differ from run to run.

    Returns
    -------
    dict
        ``entries`` (written by the run), ``identical`` (every other array equal, NaN
        included, to the book's), and the names of those that ``differ`` or are
        ``missing`` from the book's cache.
    """
    import numpy as np

    from fa_lib import cache

    written = sorted(p for p in Path(cold_dir).glob("*.npz") if p.stat().st_mtime >= since)
    differ, missing = [], []
    for path in written:
        other = Path(book_dir) / path.name
        if not other.exists():
            missing.append(path.name)
            continue
        # Read as the cache reads them: arrays stored as float32 are widened back.
        a, b = cache.read_entry(path)[0], cache.read_entry(other)[0]
        if sorted(a) != sorted(b) or not all(
                np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc")
                for k in a if k not in timings):
            differ.append(path.name)
    return {"entries": len(written), "identical": len(written) - len(differ) - len(missing),
            "differ": differ, "missing": missing}


def update(data: dict, cold: Mapping) -> dict:
    """``paper_scale.json`` with ``cold_build`` and the cold times derived from it.

    Every chapter of the cold build needs a measured ``warm_s`` in ``data["chapters"]``,
    and ``data["total_warm_s"]`` the warm build.
    """
    chapters = {k: dict(v) for k, v in data.get("chapters", {}).items()}
    missing = [c for c in cold["chapters"] if "warm_s" not in chapters.get(c, {})]
    if missing or "total_warm_s" not in data:
        raise ValueError(f"measure the warm execution first (warm_s of {missing}, "
                         "total_warm_s).")
    cached_s = 0.0
    for name, c in cold["chapters"].items():
        entry = chapters[name]
        entry["cold_s"] = round(c["computed_s"] + c["cached_stored_s"] + entry["warm_s"], 1)
        entry["cold_how"] = (f"{c['computed']} experiments computed in the cold build"
                             + (f" + {len(c['cached'])} cached runs' stored time"
                                if c["cached"] else "") + " + warm execution")
        cached_s += c["cached_stored_s"]
    minutes = (cold["wall_s"] + cached_s / cold["jobs"] + data["total_warm_s"]) / 60
    n_cached = sum(len(c["cached"]) for c in cold["chapters"].values())
    out = {**data, "chapters": chapters, "cold_build": {**cold, "minutes": round(minutes, 1)}}
    out["total_cold_s"] = round(sum(c["cold_s"] for c in chapters.values()), 1)
    out["total_cold_how"] = "sum of the chapters' cold times, one core each"
    command = re.sub(r" --json \S+", "", cold["command"])  # where it wrote, not how it ran
    out["cold_build"]["how"] = (
        f"`{command}` from an empty results cache: {cold['wall_s'] / 60:.1f} min "
        f"wall" + (f"; the {n_cached} runs cached before it (copied in): their stored time "
                   f"/ {cold['jobs']} cores, {cached_s / cold['jobs'] / 60:.1f} min"
                   if n_cached else "")
        + f"; the warm build: {data['total_warm_s'] / 60:.1f} min")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the summary and update ``paper_scale.json``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_build",
                                description=__doc__.split("\n")[0])
    p.add_argument("record", help="the JSON written by `python -m fa_lib reproduce --json`")
    p.add_argument("--compare-with", default=None, metavar="DIR",
                   help="the book's results cache: compare the entries the run wrote with it")
    p.add_argument("--dry-run", action="store_true", help="print only; do not write the JSON")
    args = p.parse_args(argv)
    data = json.loads(PAPER_SCALE_FILE.read_text()) if PAPER_SCALE_FILE.is_file() else {}
    record = json.loads(Path(args.record).read_text())
    cold = summarise(record, data.get("training_runs", {}))
    if args.compare_with:
        since = datetime.datetime.fromisoformat(record["started"]).timestamp()
        cold["compared_with_book"] = compare_entries(Path(record["cache_dir"]),
                                                     Path(args.compare_with), since)
        print(f"compared with {args.compare_with}: {cold['compared_with_book']}")
    new = update(data, cold)
    for name, c in new["cold_build"]["chapters"].items():
        print(f"{name:26s} {c['computed']:3d} computed {c['computed_s']:8.0f} s, "
              f"{len(c['cached']):3d} cached {c['cached_stored_s']:8.0f} s stored, "
              f"cold {new['chapters'][name]['cold_s']:8.0f} s")
    print(f"cold build on {record['jobs']} cores: {new['cold_build']['minutes']:.1f} min "
          f"({new['cold_build']['how']}); one core each: {new['total_cold_s']:.0f} s")
    if not args.dry_run:
        PAPER_SCALE_FILE.write_text(json.dumps(new, indent=1) + "\n")
        print(f"wrote {PAPER_SCALE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
