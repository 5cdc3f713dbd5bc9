"""Run one chapter's experiments at paper scale on a GPU and check them against the record.

On a machine with one CUDA GPU and PyTorch (or CuPy) and ``array-api-compat`` installed::

    FA_MNIST_DIR=/path/to/mnist python tools/gpu_paper_chapter.py [--chapter mnist_alignment]
        [--cache-dir DIR] [--gpu-tflops 10] [--ms-per-iteration 3] [--estimate-only]

1. prints the expected time of every chapter, from the FLOP budget of
   ``benchmarks/results/latest.json`` (:mod:`benchmarks.budget`: the matrix-product work
   of every paper-scale experiment) and two stated assumptions about the GPU: an
   effective rate for these products (``--gpu-tflops``; the stacked 50-wide products of
   the MNIST runs are far below a GPU's peak) and a floor per training iteration
   (``--ms-per-iteration``: some hundred small kernels and a few reads of the records
   back to the host per iteration, whatever the work). The estimate is the larger of
   work / rate and iterations x floor (the floor is counted for the training chapters
   whose run list is fixed; ``-`` where it depends on a tuning's results);
2. runs ``python -m fa_lib reproduce --scale paper --only CHAPTER --device cuda`` into
   an empty results cache (``--cache-dir``; default ``_cache_gpu``) and prints its wall
   time next to the estimate;
3. checks the cache with ``python -m fa_lib reproduce --scale paper --only CHAPTER
   --check-record results/paper_record.json``: every claim and headline number of the
   chapter against the record made with NumPy on the CPU, within the record's tolerances
   (a chapter the record does not hold yet is said so, with the command that records it).

Exit status: that of the check (0 when the GPU results pass), 2 when no GPU backend is
available. Not run by the tests (no GPU there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = ROOT / "benchmarks" / "results" / "latest.json"
UPDATE = ROOT / "benchmarks" / "results" / "budget_update.json"
RECORD = ROOT / "results" / "paper_record.json"


def chapter_work(path: Path = BUDGET, update: Path = UPDATE) -> dict[str, dict[str, float]]:
    """Per chapter: the work (FLOP), the training iterations and the one-core CPU seconds.

    The rows of a chapter timed since (``budget_update.json``) replace its rows of
    ``latest.json``.
    """
    rows = json.loads(path.read_text(encoding="utf-8"))["budget"]["rows"]
    if update.is_file():
        newer = json.loads(update.read_text(encoding="utf-8")).get("rows", [])
        timed = {r["chapter"] for r in newer}
        rows = [r for r in rows if r["chapter"] not in timed] + newer
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        c = out.setdefault(r["chapter"], {"flop": 0.0, "cpu_seconds": 0.0, "training": 0})
        c["flop"] += r["work_flop"]
        c["cpu_seconds"] += r["seconds"]
        c["training"] += r["kind"] == "training"
    return out


def training_iterations(chapter: str) -> int:
    """Iterations of the chapter's paper-scale training runs (0 when it has none).

    From :func:`benchmarks.budget.training_configs`, as the budget counts them (for the
    chapters that choose their rates, every run of every design: an upper bound).
    """
    from benchmarks import budget
    from fa_lib import config

    if chapter not in budget.TRAINING_CHAPTERS:
        return 0
    with config.scale_context("paper"):
        return sum(cfg.n_iter for cfg in budget.training_configs(chapter).values())


def estimate(chapter: str, work: dict, tflops: float, ms_per_iteration: float) -> dict:
    """Expected GPU seconds of a chapter: max(work / rate, iterations x floor)."""
    w = work[chapter]
    iterations = training_iterations(chapter) if w["training"] else 0
    by_work = w["flop"] / (tflops * 1e12)
    by_iterations = iterations * ms_per_iteration / 1e3
    return {"chapter": chapter, "tflop": w["flop"] / 1e12, "iterations": iterations,
            "by_work_s": by_work, "by_iterations_s": by_iterations,
            "expected_s": max(by_work, by_iterations), "cpu_1core_s": w["cpu_seconds"]}


def main(argv: list[str] | None = None) -> int:
    """Estimate, run and check one chapter at paper scale with FA_DEVICE=cuda."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="mnist_alignment")
    parser.add_argument("--cache-dir", default=str(ROOT / "_cache_gpu"))
    parser.add_argument("--gpu-tflops", type=float, default=10.0,
                        help="assumed effective float32 rate of the engine's products on the "
                             "GPU, TFLOP/s (default 10)")
    parser.add_argument("--ms-per-iteration", type=float, default=3.0,
                        help="assumed floor per training iteration on the GPU, ms (default 3)")
    parser.add_argument("--estimate-only", action="store_true",
                        help="print the estimates, run nothing")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    work = chapter_work()
    print(f"Expected time per chapter on one GPU (assumed: {args.gpu_tflops:g} TFLOP/s "
          f"effective, >= {args.ms_per_iteration:g} ms per training iteration):")
    print(f"{'chapter':28} {'TFLOP':>8} {'iterations':>11} {'GPU est. (min)':>15} "
          f"{'CPU 1 core (min)':>17}")
    est = {}
    for chapter in work:
        e = est[chapter] = estimate(chapter, work, args.gpu_tflops, args.ms_per_iteration)
        its = f"{e['iterations']:11d}" if e["iterations"] else f"{'-':>11}"
        print(f"{chapter:28} {e['tflop']:8.1f} {its} "
              f"{e['expected_s'] / 60:15.1f} {e['cpu_1core_s'] / 60:17.1f}")
    if args.estimate_only:
        return 0
    if args.chapter not in est:
        parser.error(f"unknown chapter {args.chapter!r}; expected one of {sorted(est)}.")
    from fa_lib import backend

    try:
        bk = backend.get("cuda")
    except ImportError as err:
        print(f"no GPU backend: {err}", file=sys.stderr)
        return 2
    env = {**os.environ, "FA_CACHE_DIR": args.cache_dir, "FA_DEVICE": "cuda",
           "FA_SCALE": "paper"}
    Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "fa_lib", "reproduce", "--scale", "paper", "--only",
            args.chapter]
    print(f"\nrunning {args.chapter} at paper scale on {bk.label}, cache {args.cache_dir}",
          flush=True)
    t0 = time.perf_counter()
    run = subprocess.run([*base, "--device", "cuda", "--jobs", "1", "--no-progress"],
                         cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - t0
    e = est[args.chapter]
    print(f"\n{args.chapter}: {seconds / 60:.1f} min on {bk.label} (exit {run.returncode}); "
          f"expected {e['expected_s'] / 60:.1f} min; one CPU core {e['cpu_1core_s'] / 60:.1f} "
          "min (benchmarks/README.md, budget)", flush=True)
    if run.returncode:
        return run.returncode
    recorded = json.loads(RECORD.read_text(encoding="utf-8")).get("chapters", {})
    if args.chapter not in recorded:
        print(f"{args.chapter} is not in {RECORD.relative_to(ROOT)} yet: nothing to check "
              "against; record it with `python -m fa_lib reproduce --scale paper --only "
              f"{args.chapter} --record {RECORD.relative_to(ROOT)}` (FA_CACHE_DIR="
              f"{args.cache_dir}), saying in the note that the GPU computed it.")
        return 0
    check = subprocess.run([*base, "--check-record", str(RECORD)], cwd=ROOT, env=env,
                           check=False)
    print(f"check against {RECORD.relative_to(ROOT)}: "
          + ("passed" if check.returncode == 0 else f"FAILED (exit {check.returncode})"))
    return check.returncode


if __name__ == "__main__":
    raise SystemExit(main())
