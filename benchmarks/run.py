"""Run every benchmark, record ``benchmarks/results/latest.json`` and render the tables.

Usage (from the repository root)::

    FA_MNIST_DIR=/path/to/mnist taskset -c 1 python -m benchmarks [--quick]

``--quick`` runs everything in about three minutes except the chapter notebooks (whose
cold run alone takes several minutes) and writes ``results/latest-quick.json``; the full
mode (about 15 minutes) also executes every chapter at the quick scale, cold then warm,
and writes ``results/latest.json``, ``benchmarks/README.md`` and ``book/benchmarks.md``.
One BLAS thread is used throughout (set before NumPy is imported); ``--cpu N`` pins the
process to core ``N``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["FA_SCALE"] = "paper"  # the budget reads the chapters' paper-scale configurations

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/run.py`
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
PAPER_SCALE_FILE = RESULTS / "paper_scale.json"

TARGETS = {
    "mnist_loop_fraction_of_peak": 0.60,
    "stacked_over_looped": 5.0,
    "paper_cold_minutes": 90.0,
    "paper_within_floor_factor": 2.0,
    "paper_within_gemm_floor_factor": 1.5,
    "warm_rebuild_minutes": 2.0,
}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _timed(name: str, func, *args):
    """Run ``func(*args)``; return its result and the section's wall and CPU seconds.

    A CPU share well below 1 means that something else ran on the same core (the timings
    of that section are then pessimistic).
    """
    _log(name)
    w0, c0 = time.perf_counter(), os.times()
    out = func(*args)
    c1 = os.times()
    wall = time.perf_counter() - w0
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return out, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                 "cpu_share": round(cpu / wall, 3)}


def mnist_section(quick: bool) -> dict:
    """Benchmarks 1-2, the profile, the prototype and the float32 check."""
    from benchmarks import mnist_loop, patch, prototype

    out: dict = {"square_gemm_gflops_1core": {}, "peak": {}, "engine": {}, "looped": {}}
    short, long = (3, 11) if quick else (4, 24)
    for dt in ("float64", "float32"):
        out["square_gemm_gflops_1core"][dt] = mnist_loop.square_peak(dt, seconds=0.5)
        for bp in (True, False):
            key = f"{dt}, {'FA + BP comparison' if bp else 'FA only'}"
            _log(f"MNIST loop {key}")
            peak = mnist_loop.matmul_peak(dt, bp, seconds=0.6 if quick else 1.5)
            eng = mnist_loop.engine_rate(dt, bp, short=short, long=long,
                                         repeat=1 if quick else 2)
            eng["fraction_of_peak"] = eng["gflops"] / peak["peak_gflops"]
            out["peak"][key], out["engine"][key] = peak, eng
            if bp:
                loop = mnist_loop.looped_rate(dt, bp, short=short, long=long,
                                              repeat=1 if quick else 2)
                loop["stacked_over_looped"] = (eng["iterations_per_s"]
                                               / loop["iterations_per_s"])
                out["looped"][key] = loop
    _log("profile")
    out["profile"] = mnist_loop.profile("float64", True, n_batches=10 if quick else 30)
    # float32: the precision of the book's MNIST runs
    out["profile_float32"] = mnist_loop.profile("float32", True, n_batches=10 if quick else 30)
    _log("prototype")
    out["prototype"] = {dt: prototype.compare(dt, True, n_batches=10 if quick else 30)
                        for dt in ("float64", "float32")}
    _log("engine before / after sharing f'(Z), through training.run")
    out["patch"] = {f"{dt}, {'FA + BP comparison' if bp else 'FA only'}":
                    patch.measure(dt, bp, n_batches=10 if quick else 30)
                    for dt in ("float64", "float32") for bp in (True, False)}
    _log("float32 vs float64")
    out["precision"] = mnist_loop.precision_check(epochs=1 if quick else 2,
                                                  n_batches=20 if quick else 30)
    return out


def budget_section(quick: bool, peaks: dict) -> dict:
    """Benchmark 5: rows, totals, and the book's floor on two cores."""
    from benchmarks import budget

    rows = budget.run(quick)
    for r in rows:
        if r["kind"] == "training":
            key = f"{r['dtype']}, FA + BP comparison"
            r["peak_gflops"] = peaks["peak"][key]["peak_gflops"]
            r["peak_kind"] = "MNIST-shape stacked matmul"
        else:
            r["peak_gflops"] = peaks["square_gemm_gflops_1core"][r["dtype"]]
            r["peak_kind"] = "1000 x 1000 GEMM"
        r["gflops"] = r["work_flop"] / r["seconds"] / 1e9
        r["fraction_of_peak"] = r["gflops"] / r["peak_gflops"]
        r["floor_s_2cores"] = r["work_flop"] / (2 * r["peak_gflops"] * 1e9)
        r["gemm_floor_s_2cores"] = r["work_flop"] / (
            2 * peaks["square_gemm_gflops_1core"][r["dtype"]] * 1e9)
    total_work = sum(r["work_flop"] for r in rows)
    total_s = sum(r["seconds"] for r in rows)
    floor = sum(r["floor_s_2cores"] for r in rows)
    gemm_floor = sum(r["gemm_floor_s_2cores"] for r in rows)
    return {
        "rows": rows,
        "total_work_tflop": total_work / 1e12,
        "total_seconds_1core": total_s,
        "total_minutes_2cores_ideal_split": total_s / 2 / 60,
        "floor_minutes_2cores": floor / 60,
        "ratio_to_floor": (total_s / 2) / floor,
        "gemm_floor_minutes_2cores": gemm_floor / 60,
        "ratio_to_gemm_floor": (total_s / 2) / gemm_floor,
        "s3_grid": {
            "runs": sum(1 for r in rows if r["experiment"].startswith("s3_")),
            "work_tflop": sum(r["work_flop"] for r in rows
                              if r["experiment"].startswith("s3_")) / 1e12,
            "seconds_1core": sum(r["seconds"] for r in rows
                                 if r["experiment"].startswith("s3_")),
        },
    }


def _cold_build_label(res: dict) -> str:
    """When and where the measured cold build ran, if not on this run's machine."""
    ps = res.get("paper_scale") or {}
    cold = ps.get("cold_build") or {}
    label = f"cold build of {cold['started'][:10]}" if cold.get("started") else "cold build"
    where = ps.get("machine")
    where = where.get("cpu_model") if isinstance(where, dict) else where
    here = (res.get("machine") or {}).get("cpu_model", "")
    if where and here and here not in str(where):
        label += f", on another machine ({where}) than this floor ({here})"
    return label


def targets(res: dict) -> dict:
    """Compare the measurements with the issue's targets."""
    eng = res["mnist"]["engine"]["float32, FA + BP comparison"]
    eng64 = res["mnist"]["engine"]["float64, FA + BP comparison"]
    loop = res["mnist"]["looped"]["float32, FA + BP comparison"]
    b = res["budget"]
    out = {
        "mnist_loop_fraction_of_peak": {
            "target": TARGETS["mnist_loop_fraction_of_peak"],
            "float32": eng["fraction_of_peak"], "float64": eng64["fraction_of_peak"]},
        "stacked_over_looped": {"target": TARGETS["stacked_over_looped"],
                                "float32": loop["stacked_over_looped"],
                                "float64": res["mnist"]["looped"][
                                    "float64, FA + BP comparison"]["stacked_over_looped"]},
        "budget_estimate_minutes_2cores": {"target": TARGETS["paper_cold_minutes"],
                                           "value": b["total_minutes_2cores_ideal_split"]},
        "budget_ratio_to_floor": {"target": TARGETS["paper_within_floor_factor"],
                                  "value": b["ratio_to_floor"]},
    }
    if "ratio_to_gemm_floor" in b:
        out["budget_ratio_to_gemm_floor"] = {
            "target": TARGETS["paper_within_gemm_floor_factor"],
            "value": b["ratio_to_gemm_floor"]}
    ch = res.get("chapters_quick")
    if ch:
        out["warm_rebuild_minutes_quick_scale"] = {"target": TARGETS["warm_rebuild_minutes"],
                                                   "value": ch["total_warm_s"] / 60}
    cold = (res.get("paper_scale") or {}).get("cold_build")
    if cold:  # measured: one reproduce run from an empty cache (benchmarks.cold_build)
        out["paper_cold_minutes_measured"] = {
            "target": TARGETS["paper_cold_minutes"], "value": cold["minutes"],
            "how": cold["how"]}
        out["paper_measured_ratio_to_floor"] = {
            "target": TARGETS["paper_within_floor_factor"],
            "value": cold["minutes"] / b["floor_minutes_2cores"],
            "minutes_2cores": cold["minutes"], "floor_minutes_2cores": b["floor_minutes_2cores"]}
        if "gemm_floor_minutes_2cores" in b:
            out["paper_measured_ratio_to_gemm_floor"] = {
                "target": TARGETS["paper_within_gemm_floor_factor"],
                "value": cold["minutes"] / b["gemm_floor_minutes_2cores"],
                "minutes_2cores": cold["minutes"],
                "floor_minutes_2cores": b["gemm_floor_minutes_2cores"],
                "engine": _cold_build_label(res)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs (about 3 minutes)")
    p.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    p.add_argument("--skip-chapters", action="store_true",
                   help="do not execute the chapter notebooks (full mode)")
    p.add_argument("--chapters-from", default=None,
                   help="read the chapter timings from this JSON (written by "
                        "`python -m benchmarks.chapters`) instead of executing them")
    p.add_argument("--render-only", action="store_true",
                   help="only render README.md and book/benchmarks.md from latest.json")
    args = p.parse_args(argv)
    from benchmarks import render

    if args.render_only:  # with the latest paper-scale measurements
        res = json.loads((RESULTS / "latest.json").read_text())
        if PAPER_SCALE_FILE.is_file():
            res["paper_scale"] = json.loads(PAPER_SCALE_FILE.read_text())
            res["targets"] = targets(res)
        render.render_all(res)
        return 0
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if not os.environ.get("FA_MNIST_DIR"):
        _log("warning: FA_MNIST_DIR is not set; fa_lib.mnist looks in its default place")
    scratch = tempfile.TemporaryDirectory(prefix="fa-bench-")  # nothing of the book's cache
    os.environ["FA_CACHE_DIR"] = scratch.name
    from benchmarks import common, draws

    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    res: dict = {"machine": common.machine(command.strip()), "quick": args.quick}
    _log(f"machine: {res['machine']['cpu_model']}, affinity {res['machine']['affinity']}")
    res["sections"] = {}
    res["mnist"], res["sections"]["mnist"] = _timed("MNIST loop", mnist_section, args.quick)
    res["draws"], res["sections"]["draws"] = _timed("draws and open loops", draws.run,
                                                    args.quick)
    res["budget"], res["sections"]["budget"] = _timed("budget", budget_section, args.quick,
                                                      res["mnist"])
    if args.chapters_from:
        res["chapters_quick"] = json.loads(Path(args.chapters_from).read_text())
        res["chapters_quick"]["source"] = f"read from {args.chapters_from}"
    elif not args.quick and not args.skip_chapters:
        from benchmarks import chapters

        _log("chapters at FA_SCALE=quick, cold then warm")
        res["chapters_quick"] = chapters.run("quick")
        os.environ["FA_SCALE"] = "paper"
    res["paper_scale"] = (json.loads(PAPER_SCALE_FILE.read_text())
                          if PAPER_SCALE_FILE.is_file() else None)
    res["targets"] = targets(res)
    res["benchmark_seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "latest-quick.json" if args.quick else "latest.json"
    (RESULTS / name).write_text(json.dumps(res, indent=1, default=float) + "\n")
    _log(f"wrote {RESULTS / name} ({res['benchmark_seconds']:.0f} s)")
    scratch.cleanup()
    if not args.quick:
        render.render_all(res)
        _log("rendered benchmarks/README.md and book/benchmarks.md")
    print(render.summary(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
