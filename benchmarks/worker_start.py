"""What a ``--jobs`` worker pays before its experiment: MNIST read in the worker or preloaded.

:mod:`fa_lib.runner` runs each experiment in a new process forked from a server; since
:mod:`fa_lib.worker_data` the server reads MNIST once and every worker finds it in
:func:`fa_lib.training.load_data`'s cache. This module times, in workers of the runner's
own context, the first ``load_data`` of a worker (what a training run calls first; its
imports done before) and the whole worker (start to result), against workers of a
``spawn`` context, which do not inherit the server's arrays and read MNIST themselves, as
a forked worker did before the preload. The first load is the like-for-like comparison;
the whole worker's time also counts a spawned interpreter's start and imports::

    FA_MNIST_DIR=... python -m benchmarks.worker_start [--workers N]

and writes ``results/worker_start.json`` (with the machine): the median of ``N`` workers
of each kind, the seconds the preload saves a worker's first load, and the ratio of the
whole workers' times. Wall-clock times: run it on a quiet machine. Not run by
``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

from benchmarks import common

RESULT = Path(__file__).resolve().parent / "results" / "worker_start.json"


def _first_load(conn) -> None:
    """In a worker: the seconds of the first ``load_data`` (as a training run calls it)."""
    from fa_lib import training

    start = time.perf_counter()
    fields = training.TrainConfig.__dataclass_fields__
    training.load_data(fields["image_size"].default, fields["dtype"].default)
    conn.send(time.perf_counter() - start)
    conn.close()


def _time_workers(context, n: int) -> dict:
    """Median seconds of the first load in a worker, and of the worker from start to result."""
    loads, wholes = [], []
    for _ in range(n):
        receive, send = context.Pipe(duplex=False)
        start = time.perf_counter()
        process = context.Process(target=_first_load, args=(send,))
        process.start()
        send.close()
        loads.append(receive.recv())
        process.join()
        wholes.append(time.perf_counter() - start)
    return {"first_load_s": float(f"{statistics.median(loads):.3g}"),
            "worker_s": float(f"{statistics.median(wholes):.3g}"), "workers": n}


def run(n: int) -> dict:
    """Time ``n`` workers of the runner's context and ``n`` spawned ones."""
    from fa_lib import runner, worker_data

    preloaded = runner._context()
    _time_workers(preloaded, 1)  # start the server (its preload is not a worker's cost)
    out = {"runner": _time_workers(preloaded, n),
           "spawn": _time_workers(multiprocessing.get_context("spawn"), n)}
    out["ratio_worker"] = round(out["spawn"]["worker_s"] / out["runner"]["worker_s"], 1)
    # the preloaded first load is a cache lookup (microseconds): a ratio to it says nothing,
    # the seconds it saves each worker do
    out["first_load_saved_s"] = float(
        f"{out['spawn']['first_load_s'] - out['runner']['first_load_s']:.3g}")
    out["preloaded_from"] = str(worker_data.LOADED_FROM) if worker_data.LOADED_FROM else None
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: time, print and write ``results/worker_start.json``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker_start",
                                description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=5, help="workers of each kind (default 5)")
    p.add_argument("--note", default="", help="what else the machine ran (kept in the JSON)")
    args = p.parse_args(argv)
    result = {"machine": common.machine(" ".join(["python -m benchmarks.worker_start",
                                                   *sys.argv[1:]])),
              "note": args.note, **run(args.workers)}
    for kind in ("runner", "spawn"):
        r = result[kind]
        print(f"{kind:7s} first load_data {r['first_load_s']:.3g} s, worker start to result "
              f"{r['worker_s']:.3g} s (median of {r['workers']})")
    print(f"the preload saves each worker {result['first_load_saved_s']:.3g} s of reading "
          f"MNIST; a spawned worker costs {result['ratio_worker']}x a forked one in all")
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
