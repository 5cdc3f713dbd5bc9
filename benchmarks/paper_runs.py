"""Compute time of the paper-scale training runs, read from the book's results cache.

Every training run (:func:`fa_lib.training.run`) stores the seconds it took in its
results (``seconds``). This module reads them back for the MNIST and flexibility chapters
at ``FA_SCALE=paper`` without computing anything (a run that is not cached is counted as
missing) and writes them into ``results/paper_scale.json`` under ``training_runs``::

    FA_MNIST_DIR=... python -m benchmarks.paper_runs [--cache-dir DIR]

The times are those of the process that computed each run (one core, one BLAS thread,
with whatever else the machine ran then), so they add up to the chapter's cold compute
time on one core, not to the wall time of a build that runs several at a time.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

PAPER_SCALE_FILE = Path(__file__).resolve().parent / "results" / "paper_scale.json"


class NotCached(Exception):
    """A run that the results cache does not hold (nothing is computed here)."""


def _stored_seconds(names: Iterable[str], read: Callable[[str], Mapping]) -> dict:
    """Total stored seconds of the cached runs ``names``, and which are missing."""
    total, found, missing = 0.0, 0, []
    for name in names:
        try:
            total += float(np.sum(read(name)["seconds"]))
            found += 1
        except NotCached:
            missing.append(name)
    return {"runs": found, "missing": missing, "seconds": round(total, 1)}


def collect() -> dict[str, dict]:
    """Stored seconds per group of paper-scale training runs (MNIST, Fig. 8, Fig. S3)."""
    if os.environ.get("FA_SCALE") != "paper":
        raise RuntimeError("set FA_SCALE=paper before importing fa_lib (the runs are "
                           "read at paper scale).")
    from fa_lib import training

    def _refuse(*args, **kwargs):
        raise NotCached

    real_run, training.run = training.run, _refuse
    try:
        from fa_lib.experiments import flexibility as fx
        from fa_lib.experiments import mnist_alignment as ma

        def fx_read(n):
            return fx.results(n, progress=False)

        return {
            "mnist_alignment": _stored_seconds(ma.names(),
                                               lambda n: ma.results(n, progress=False)),
            "flexibility_fig8": _stored_seconds(fx.FIG8_NAMES, fx_read),
            "flexibility_s3": _stored_seconds(fx.S3, fx_read),
        }
    finally:
        training.run = real_run


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
        data["training_runs"] = runs
        PAPER_SCALE_FILE.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {PAPER_SCALE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
