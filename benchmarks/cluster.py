"""The overhead of a dask cluster: ``reproduce --scheduler local:2`` against ``--jobs 2``.

Both commands compute the same experiments two at a time on this machine, from an empty
scratch results cache; ``--jobs 2`` in two worker processes of its own, ``--scheduler
local:2`` on a ``LocalCluster`` of two worker processes (one thread each) that return
their entries to the client, which checks and writes them. The difference is the
cluster's overhead: starting the cluster, sending tasks and MNIST, returning and checking
the entries. Two workloads::

    FA_MNIST_DIR=... python -m benchmarks.cluster [--parts quick s3] [--render-only]

``quick``
    Every experiment of the book at the quick scale
    (``python -m fa_lib reproduce --scale quick``).
``s3``
    A slice of the Fig. S3 grid at paper scale (:mod:`benchmarks.cluster_slice`: 4 runs of
    the grid, paper-scale sizes, 10 epochs per phase instead of 100), through
    :func:`fa_lib.runner.reproduce`.

Each command runs in a process of its own with one BLAS thread per worker (under a
subreaper, so that the CPU time of all its processes is counted). Timed: the
wall clock of the whole command (Python's start, the check of the cache, the cluster's
start and stop included), and the sum of the experiments' own times (the rows of the
time table). The ratio ``local:2 / jobs 2`` of each is the overhead. The machine is
shared: the busy fraction of its CPUs (from ``/proc/stat``, every process) and the CPU
share of the command (the CPU time of it and its children / wall time / cores) are
recorded for every run, so a ratio measured while others used the CPUs can be told apart.

Results go to ``results/cluster.json``; the book's appendix page ``book/cluster.md`` shows
them between the markers below (``--render-only`` rewrites that part from the JSON; a
test checks that the page matches the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"
PAGE = ROOT / "book" / "cluster.md"
START = "<!-- cluster-benchmark:start (python -m benchmarks.cluster --render-only) -->"
END = "<!-- cluster-benchmark:end -->"
MODES = {"jobs": ["--jobs", "2"], "cluster": ["--scheduler", "local:2"]}
"""The two ways of computing two at a time, as ``reproduce`` arguments."""

SLICE_RUN = """
import json, sys
from fa_lib import reproduce, runner
args = json.loads(sys.argv[1])
rows, failures = runner.reproduce(progress=False,
                                     modules={"s3_slice": "benchmarks.cluster_slice"}, **args)
print(json.dumps({"rows": [r.__dict__ for r in rows], "failures": failures}))
"""


# Runs a command as a subreaper: its orphaned descendants (a forkserver, a worker) are
# reaped here, so that the CPU time of every process of the command is in RUSAGE_CHILDREN.
SUBREAPER = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
rc = subprocess.call(sys.argv[1:])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid == 0:
        time.sleep(0.1)
sys.exit(rc)
"""


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU of the machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_command(argv: Sequence[str], env: Mapping[str, str]) -> dict:
    """Run a command; its wall time, CPU share and the machine's busy fraction meanwhile."""
    cores = os.cpu_count() or 1
    busy0, total0 = _cpu_times()
    cpu0, start = _children_cpu(), time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SUBREAPER, *argv], cwd=ROOT, env=dict(env),
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    busy1, total1 = _cpu_times()
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "cpu_share": round(cpu / wall / cores, 3),
            "machine_busy": round((busy1 - busy0) / max(total1 - total0, 1.0), 3),
            "stdout": out.stdout}


def _env(cache_dir: Path, scale: str) -> dict[str, str]:
    env = {**os.environ, "FA_CACHE_DIR": str(cache_dir), "FA_SCALE": scale, "FA_CACHE": "on",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_quick(mode: str, scratch: Path) -> dict:
    """The quick-scale book with ``--jobs 2`` or ``--scheduler local:2``."""
    record = scratch / f"quick-{mode}.json"
    argv = [sys.executable, "-m", "fa_lib", "reproduce", "--scale", "quick", "--no-progress",
            *MODES[mode], "--json", str(record)]
    result = _timed_command(argv, _env(scratch / f"cache-quick-{mode}", "quick"))
    table = json.loads(record.read_text())
    rows = table["rows"]
    return {"command": " ".join(argv[1:-2]), "wall_s": result["wall_s"],
            "reproduce_wall_s": round(table["wall_s"], 2),
            "experiments": len(rows),
            "experiments_s": round(sum(r["seconds"] for r in rows), 2),
            "cpu_s": result["cpu_s"], "cpu_share": result["cpu_share"],
            "machine_busy": result["machine_busy"]}


def run_s3(mode: str, scratch: Path) -> dict:
    """The Fig. S3 slice at paper scale with ``jobs=2`` or ``scheduler="local:2"``."""
    args = {"jobs": 2} if mode == "jobs" else {"scheduler": "local:2"}
    argv = [sys.executable, "-c", SLICE_RUN, json.dumps(args)]
    result = _timed_command(argv, _env(scratch / f"cache-s3-{mode}", "paper"))
    table = json.loads(result["stdout"].strip().splitlines()[-1])
    if table["failures"]:
        raise RuntimeError(f"the S3 slice failed with {mode}: {table['failures']}")
    rows = table["rows"]
    call = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return {"call": f"runner.reproduce(modules={{'s3_slice': "
                    f"'benchmarks.cluster_slice'}}, {call})",
            "wall_s": result["wall_s"], "experiments": len(rows),
            "experiments_s": round(sum(r["seconds"] for r in rows), 2),
            "cpu_s": result["cpu_s"], "cpu_share": result["cpu_share"],
            "machine_busy": result["machine_busy"]}


def _compare(one: Path, two: Path) -> dict:
    """How many entries the two caches hold, and how many are the same, array for array.

    The comparison is that of ``tools/compare_caches.py`` (timings ignored).
    """
    from tools.compare_caches import compare

    out = compare(one, two)
    return {"jobs": out["entries"], "cluster": len(list(two.glob("*.npz"))),
            "identical": out["identical"]}


def _ratios(part: Mapping[str, Mapping]) -> dict:
    jobs, cluster = part["jobs"], part["cluster"]
    return {"wall": round(cluster["wall_s"] / jobs["wall_s"], 3),
            "cpu": round(cluster["cpu_s"] / jobs["cpu_s"], 3),
            "experiments": round(cluster["experiments_s"] / jobs["experiments_s"], 3)}


def measure(parts: Sequence[str]) -> dict:
    """Time both modes on each part; return the record of ``results/cluster.json``."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import machine

    record = {"machine": machine("python -m benchmarks.cluster " + " ".join(sys.argv[1:])),
              "parts": {}}
    with tempfile.TemporaryDirectory(prefix="fa-cluster-bench-") as tmp:
        for part in parts:
            run = run_quick if part == "quick" else run_s3
            timings = {}
            for mode in MODES:  # --jobs 2 first, then local:2
                timings[mode] = run(mode, Path(tmp))
                print(f"{part} {mode}: {timings[mode]}", file=sys.stderr, flush=True)
            record["parts"][part] = {**timings, "ratio": _ratios(timings),
                                     "entries": _compare(Path(tmp) / f"cache-{part}-jobs",
                                                         Path(tmp) / f"cache-{part}-cluster")}
    if "s3" in record["parts"]:
        from importlib import import_module

        sliced = import_module("benchmarks.cluster_slice")
        record["parts"]["s3"]["slice"] = {
            "runs": list(sliced.NAMES), "epochs_per_phase": sliced.PHASE_EPOCHS,
            "paper_epochs_per_phase": 100,
            "reps": sliced.CONFIGS[sliced.NAMES[0]].reps,
            "batches_per_epoch": sliced.CONFIGS[sliced.NAMES[0]].n_batches,
            "batch_size": sliced.CONFIGS[sliced.NAMES[0]].batch_size}
    return record


# --------------------------------------------------------------------------- the book page


def render(record: Mapping) -> str:
    """The part of ``book/cluster.md`` made from ``results/cluster.json``."""
    m = record["machine"]
    lines = [START, "",
             "The quick-scale book is `python -m fa_lib reproduce --scale quick` with each "
             "option; the Fig. S3 slice is described below the table. "
             f"Measured on {m['date'][:10]} on {m['logical_cpus']} logical CPUs "
             f"({m['cpu_model']}), Python {m['python']}, NumPy {m['numpy']}, one BLAS thread "
             "per worker, each command from an empty results cache.", ""]
    names = {"quick": "the whole book, quick scale", "s3": "a Fig. S3 slice, paper scale"}
    # One column per workload, one row per measure: legible at a phone's width too. The
    # options as code: outside it, Sphinx's smart quotes turn "--" into a dash.
    parts = record["parts"]
    measures = [
        ("wall s, `--jobs 2` / `local:2`",
         lambda j, c, r: f"{j['wall_s']:.1f} / {c['wall_s']:.1f}"),
        ("**`local:2` / `--jobs 2`, wall**", lambda j, c, r: f"**{r['wall']:.2f}**"),
        ("CPU s, `--jobs 2` / `local:2`", lambda j, c, r: f"{j['cpu_s']:.1f} / {c['cpu_s']:.1f}"),
        ("`local:2` / `--jobs 2`, CPU", lambda j, c, r: f"{r['cpu']:.2f}"),
        ("experiments' own s, `--jobs 2` / `local:2`",
         lambda j, c, r: f"{j['experiments_s']:.1f} / {c['experiments_s']:.1f}"),
        ("`local:2` / `--jobs 2`, experiments", lambda j, c, r: f"{r['experiments']:.2f}"),
        ("CPU share of the command, `--jobs 2` / `local:2`",
         lambda j, c, r: f"{j['cpu_share']:.2f} / {c['cpu_share']:.2f}"),
        ("machine busy, `--jobs 2` / `local:2`",
         lambda j, c, r: f"{j['machine_busy']:.2f} / {c['machine_busy']:.2f}"),
    ]
    lines += ["| measure | " + " | ".join(
                  f"{names.get(part, part)} ({d['jobs']['experiments']} experiments)"
                  for part, d in parts.items()) + " |",
              "|---|" + "---|" * len(parts)]
    for label, cell in measures:
        lines.append(f"| {label} | " + " | ".join(
            cell(d["jobs"], d["cluster"], d["ratio"]) for d in parts.values()) + " |")
    lines += [""] + [
        f"Entries written, {names.get(part, part).split(' (')[0]}: {d['entries']['jobs']} "
        f"with `--jobs 2`, {d['entries']['cluster']} with `local:2`, of which "
        f"{d['entries']['identical']} are identical array for array (compute times aside)."
        for part, d in record["parts"].items()]
    if "s3" in record["parts"]:
        s = record["parts"]["s3"]["slice"]
        lines += ["", f"The Fig. S3 slice: the runs {', '.join(f'`{n}`' for n in s['runs'])}, "
                      f"each with the paper's sizes ({s['reps']} repetitions, "
                      f"{s['batches_per_epoch']} mini-batches of {s['batch_size']}) but "
                      f"{s['epochs_per_phase']} epochs per phase instead of "
                      f"{s['paper_epochs_per_phase']} (`benchmarks/cluster_slice.py`)."]
    modes = {"jobs": "--jobs 2", "cluster": "--scheduler local:2"}
    shared = [(names.get(part, part), modes[mode], d[mode]) for part, d in
              record["parts"].items() for mode in modes
              if d[mode]["machine_busy"] - d[mode]["cpu_share"] > 0.15]
    lines += ["", "*Wall s* is the whole command, from Python's start to its exit (the "
                  "cluster's start and stop included); the *experiments' own s* add up the "
                  "time table's rows (each experiment's time in its worker). The *CPU share* "
                  "is the CPU time of the command and its workers over its wall time and "
                  "the machine's cores; *machine busy* is the fraction of the machine's CPU "
                  "time used by all processes meanwhile (`/proc/stat`)."]
    lines += ["", "*CPU s* is the CPU time of the command and all its processes (the "
                  "client, the scheduler and the workers, or the `--jobs` workers): it "
                  "grows much less than the wall time when other processes share the CPUs "
                  "(a little, as they share the caches too)."]
    for name, mode, run in shared:
        lines += ["", f"The machine was shared while {name} ran with `{mode}`: other "
                      f"processes used {run['machine_busy'] - run['cpu_share']:.0%} of its CPU "
                      f"time (busy {run['machine_busy']:.2f}, the command "
                      f"{run['cpu_share']:.2f}), so that wall time includes waiting for the "
                      "CPU; its CPU time much less."]
    lines += ["", END]
    return "\n".join(lines)


def render_page(record: Mapping, page: Path = PAGE) -> str:
    """``page``'s text with the part between the markers made from ``record``."""
    text = page.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, found, tail = rest.partition(END)
    if not found:
        raise ValueError(f"{page} has no markers {START!r} ... {END!r}")
    return head + render(record) + tail


def main(argv: Sequence[str] | None = None) -> int:
    """Measure (or only render) and write ``results/cluster.json`` and ``book/cluster.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("quick", "s3"), default=["quick", "s3"])
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite book/cluster.md from results/cluster.json")
    args = parser.parse_args(argv)
    if args.render_only:
        record = json.loads(RESULTS.read_text(encoding="utf-8"))
        for part in record["parts"].values():  # derived from the measurements
            part["ratio"] = _ratios(part)
        RESULTS.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    else:
        record = measure(args.parts)
        RESULTS.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"written {RESULTS}", file=sys.stderr)
    PAGE.write_text(render_page(record), encoding="utf-8")
    print(f"written {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
