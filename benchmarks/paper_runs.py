"""Compute time of the paper-scale training runs, read from the book's results cache.

Every training run (:func:`fa_lib.training.run`) stores the seconds it took in its
results (``seconds``). This module reads them back for the MNIST, flexibility and beyond chapters
at ``FA_SCALE=paper`` without computing anything (:func:`fa_lib.runner.read_cached`;
a run that is not cached is listed as missing) and writes them into
``results/paper_scale.json`` under ``training_runs``::

    FA_MNIST_DIR=... python -m benchmarks.paper_runs [--cache-dir DIR]

The times are those of the process that computed each run (one core, one BLAS thread,
with whatever else the machine ran then). :mod:`benchmarks.cold_build` uses them for the
runs that were already cached when a cold build started, and the benchmarks' tables
compare them with the budget's extrapolation.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from fa_lib import runner

PAPER_SCALE_FILE = Path(__file__).resolve().parent / "results" / "paper_scale.json"

GROUPS = {"mnist_alignment": "mnist_alignment", "flexibility_fig8": "flexibility",
          "flexibility_s3": "flexibility", "feedback_rules": "feedback_rules",
          "deep_networks": "deep_networks"}
"""Groups of training runs and the chapter each belongs to."""


def _stored_seconds(names: Iterable[str], read: Callable[[str], Mapping]) -> dict:
    """Stored seconds of each cached run of ``names``, their total, and which are missing."""
    per_run, missing = {}, []
    for name in names:
        held, res = runner.read_cached(lambda n=name: read(n))
        if held and "seconds" in res:
            per_run[name] = round(float(np.sum(res["seconds"])), 1)
        elif held:
            continue  # not a training run (a read-out of other runs' weights)
        else:
            missing.append(name)
    return {"runs": len(per_run), "missing": missing,
            "seconds": round(sum(per_run.values()), 1), "per_run": per_run}


def collect() -> dict[str, dict]:
    """Stored seconds per group of paper-scale training runs.

    MNIST, Fig. 8, Fig. S3, and the two chapters beyond the paper (their runs shared with
    the MNIST and flexibility chapters are counted there too).
    """
    if os.environ.get("FA_SCALE") != "paper":
        raise RuntimeError("set FA_SCALE=paper before importing fa_lib (the runs are "
                           "read at paper scale).")
    from fa_lib.experiments import deep_networks as dn
    from fa_lib.experiments import feedback_rules as fr
    from fa_lib.experiments import flexibility as fx
    from fa_lib.experiments import mnist_alignment as ma

    def fx_read(n):
        return fx.results(n, progress=False)

    return {
        "mnist_alignment": _stored_seconds(ma.names(), lambda n: ma.results(n, progress=False)),
        "flexibility_fig8": _stored_seconds(fx.fig8_names(), fx_read),
        "flexibility_s3": _stored_seconds(fx.s3(), fx_read),
        "feedback_rules": _stored_seconds(fr.names(), lambda n: fr.results(n, progress=False)),
        "deep_networks": _stored_seconds(dn.names(), lambda n: dn.results(n, progress=False)),
    }


def update(data: dict, runs: Mapping[str, dict]) -> dict:
    """``paper_scale.json`` with the stored times of ``runs`` merged into ``training_runs``.

    A run cached now gets its stored time; a run timed before and not cached now (another
    machine's cache, a cache lost since) keeps its earlier time. The chapters' cold times
    come from a cold build (:mod:`benchmarks.cold_build`), which reads these stored times
    for the runs that were cached before it.
    """
    merged = {}
    for group in {**data.get("training_runs", {}), **runs}:
        old = data.get("training_runs", {}).get(group, {})
        new = runs.get(group, {"missing": old.get("missing", []), "per_run": {}})
        per_run = {**old.get("per_run", {}), **new["per_run"]}
        merged[group] = {"runs": len(per_run),
                         "missing": [n for n in new["missing"] if n not in per_run],
                         "seconds": round(sum(per_run.values()), 1), "per_run": per_run}
    return {**data, "training_runs": merged}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the table and update ``paper_scale.json``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.paper_runs",
                                description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=None, help="the book's results cache (FA_CACHE_DIR)")
    p.add_argument("--dry-run", action="store_true", help="print only; do not write the JSON")
    args = p.parse_args(argv)
    if args.cache_dir:
        os.environ["FA_CACHE_DIR"] = args.cache_dir
    os.environ["FA_SCALE"] = "paper"
    runs = collect()
    for group, r in runs.items():
        print(f"{group:18s} {r['runs']:3d} runs cached, {len(r['missing']):3d} missing, "
              f"{r['seconds']:9.0f} s ({r['seconds'] / 3600:.2f} h on one core)")
    if not args.dry_run:
        data = json.loads(PAPER_SCALE_FILE.read_text()) if PAPER_SCALE_FILE.is_file() else {}
        PAPER_SCALE_FILE.write_text(json.dumps(update(data, runs), indent=1) + "\n")
        print(f"wrote {PAPER_SCALE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
