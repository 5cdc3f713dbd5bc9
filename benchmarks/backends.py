"""Benchmark 6: the engine on every array backend that runs here (:mod:`fa_lib.backend`).

Two workloads, each timed on NumPy, ``array_api_strict``, PyTorch on the CPU and, where a
GPU is present, PyTorch (or CuPy) on CUDA:

- ``openloop``: one iteration of the Fig. 4 open loop (100-100-10, batch 100, FA with the
  BP comparison, its three variants stacked: 3 x 11 betas x 30 repetitions = 990 nets,
  float32), through :func:`fa_lib.openloop.run_openloop`;
- ``mnist``: one iteration of a small MNIST run (225-50-50-50-50-50, batch 1000, 10
  stacked repetitions, FA with the BP comparison, float32; random images of MNIST's
  shape, so that no data set is needed), through :func:`fa_lib.training.run`.

Each time per iteration is the difference of a long and a short run divided by the extra
iterations (set-up and test evaluations cancel), best of ``--repeat``, by wall clock
(a GPU computes asynchronously; the engine reads its records back every iteration, so
the wall clock covers the work). CPU backends run on one thread (BLAS and PyTorch), as
the other benchmarks do. ``array_api_strict`` is NumPy underneath, with a checking layer
around every operation and without NumPy's fast paths (``einsum``, the shared first-layer
product): its time is that of the standard-only code path, not of another library.

Writes ``benchmarks/results/backends.json`` and the table of ``benchmarks/README.md``
between its markers::

    python -m benchmarks.backends [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from fa_lib import backend, mnist, training  # noqa: E402
from fa_lib.openloop import Signal, run_openloop  # noqa: E402
from fa_lib.rule import Rule  # noqa: E402
from fa_lib.training import TrainConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "backends.json"
README = HERE / "README.md"
BEGIN, END = "<!-- backends table begin -->", "<!-- backends table end -->"

OPENLOOP = {"sizes": (100, 100, 10), "n_b": 100, "betas": 11, "reps": 30, "dtype": "float32"}
MNIST = {"sizes": (225, 50, 50, 50, 50, 50), "batch": 1000, "reps": 10, "dtype": "float32"}


def _openloop_args(reps: int) -> dict:
    from fa_lib.experiments import acf_weight_normalisation as acf

    rules = [acf.variant(v, 0.001, 1.0) for v in acf.VARIANTS]
    betas = np.repeat(np.linspace(0.0, 1.0, OPENLOOP["betas"]), reps)
    return dict(seed=4040, reps=len(betas), sizes=OPENLOOP["sizes"], n_b=OPENLOOP["n_b"],
                rule=rules, x=Signal(beta=betas), e=Signal(beta=0.8), dtype=OPENLOOP["dtype"])


def _mnist_data(n_batches: int) -> mnist.MNIST:
    g = np.random.default_rng(0)
    n = n_batches * MNIST["batch"]
    dt = MNIST["dtype"]
    return mnist.MNIST(x_train=g.uniform(0, 1, (n, 225)).astype(dt), y_train=g.integers(0, 10, n),
                       x_test=g.uniform(0, 1, (100, 225)).astype(dt),
                       y_test=g.integers(0, 10, 100))


def _mnist_cfg(n_batches: int) -> TrainConfig:
    return TrainConfig(width=50, depth=5, rule=Rule("fa", eta=0.0005), epochs=1,
                       reps=MNIST["reps"], n_batches=n_batches, batch_size=MNIST["batch"],
                       n_test=100, dtype=MNIST["dtype"], record_bp=True)


def _wall(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def per_iteration(run, short: int, long: int, repeat: int) -> float:
    """Seconds per iteration: ``(min t(long) - min t(short)) / (long - short)``."""
    run(short)  # warm-up (imports, allocator, CUDA context)
    t_short = min(_wall(lambda: run(short)) for _ in range(repeat))
    t_long = min(_wall(lambda: run(long)) for _ in range(repeat))
    return max(t_long - t_short, 1e-9) / (long - short)


def time_backend(name: str, quick: bool, repeat: int) -> dict:
    """Time both workloads on backend ``name``."""
    bk = backend.get(name)
    if name.startswith("torch"):
        import torch

        torch.set_num_threads(1)
    reps = 5 if quick else OPENLOOP["reps"]
    ol = _openloop_args(reps)
    short, long = (2, 6) if quick else (5, 25)
    ol_s = per_iteration(lambda n: run_openloop(n_iter=n, **ol, backend=bk), short, long, repeat)
    nets = len(ol["rule"]) * ol["reps"]
    ol_flop = common.openloop_iteration_flops(*OPENLOOP["sizes"], OPENLOOP["n_b"]) * nets
    data = _mnist_data(12)
    m_short, m_long = (2, 6) if quick else (4, 12)
    mn_s = per_iteration(lambda n: training.run(_mnist_cfg(n), data, progress=False,
                                                backend=bk), m_short, m_long, repeat)
    mn_flop = common.train_iteration_flops(MNIST["sizes"], MNIST["batch"], True) * MNIST["reps"]
    return {
        "backend": name, "label": bk.label,
        "openloop": {"nets": nets, "seconds_per_iteration": ol_s,
                     "gflops": ol_flop / ol_s / 1e9, "iterations": [short, long]},
        "mnist": {"reps": MNIST["reps"], "seconds_per_iteration": mn_s,
                  "gflops": mn_flop / mn_s / 1e9, "iterations": [m_short, m_long]},
    }


NOTES = {
    "numpy": "the default; NumPy's own calls (einsum, the shared first-layer product)",
    "array_api_strict": "NumPy underneath, checked by array-api-strict: the standard-only path",
    "torch-cpu": "PyTorch on the CPU, one thread",
    "torch-cuda": "PyTorch on the GPU",
    "cupy": "CuPy on the GPU",
}


def render(result: dict) -> str:
    """The Markdown table of a result."""
    numpy_row = next((r for r in result["rows"] if r["backend"] == "numpy"), None)
    lines = ["| backend | open loop: ms / iteration | GFLOP/s | vs NumPy | MNIST: ms / iteration "
             "| GFLOP/s | vs NumPy | note |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        cells = [r["backend"]]
        for key in ("openloop", "mnist"):
            s = r[key]["seconds_per_iteration"]
            ref = numpy_row[key]["seconds_per_iteration"] if numpy_row else float("nan")
            cells += [f"{1e3 * s:.3g}", f"{r[key]['gflops']:.3g}", f"{s / ref:.2f}x"]
        cells.append(NOTES.get(r["backend"], ""))
        lines.append("| " + " | ".join(cells) + " |")
    m = result["machine"]
    missing = ", ".join(result["not_available"]) or "none"
    lines += ["", f"Measured {m['date'][:10]} on {m['cpu_model']} ({m['logical_cpus']} logical "
              f"CPUs, shared), NumPy {m['numpy']}"
              + (f", PyTorch {result['torch']}" if result.get("torch") else "")
              + f"; {'quick' if result['quick'] else 'full'} mode, best of {result['repeat']}, "
              f"wall clock. Not available here: {missing}. Open loop: one iteration of the "
              f"Fig. 4 open loop, {_net(result['openloop']['sizes'])}, batch "
              f"{result['openloop']['n_b']}, {result['rows'][0]['openloop']['nets']} stacked "
              f"nets (FA without WN, with WN, with WN and B normalised), with the BP "
              f"comparison, {result['openloop']['dtype']}. MNIST: one iteration of "
              f"{_net(result['mnist']['sizes'])}, batch {result['mnist']['batch']}, "
              f"{result['mnist']['reps']} stacked repetitions, FA with the BP comparison and "
              f"the per-iteration records, {result['mnist']['dtype']}, random images. "
              "GFLOP/s count the matrix products only. 'vs NumPy' is the time relative to "
              "NumPy's (> 1 is slower)."]
    return "\n".join(lines)


def _net(sizes) -> str:
    return "-".join(str(n) for n in sizes)


def write_readme(table: str, path: Path = README) -> None:
    """Put ``table`` between the markers of ``path`` (appended with them if missing)."""
    text = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:  # in the hand-written part, which benchmarks.render keeps
        from benchmarks.render import MARKER

        head, marker, tail = text.partition(MARKER)
        text = (head.rstrip("\n") + "\n\n## 6. Backends (fa_lib.backend)\n\n" + block
                + "\n\n" + marker + tail)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Time every available backend, write the JSON result and the README table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends",
                                     description="Time the engine on every array backend.")
    parser.add_argument("--quick", action="store_true", help="fewer nets and iterations")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = parser.parse_args(argv)
    names = backend.available()
    rows = []
    for name in names:
        print(f"timing {name} ...", flush=True)
        rows.append(time_backend(name, args.quick, args.repeat))
        print(f"  open loop {1e3 * rows[-1]['openloop']['seconds_per_iteration']:.3g} ms/it, "
              f"MNIST {1e3 * rows[-1]['mnist']['seconds_per_iteration']:.3g} ms/it", flush=True)
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    result = {
        "machine": common.machine(" ".join(["python -m benchmarks.backends", *sys.argv[1:]])),
        "quick": args.quick, "repeat": args.repeat, "torch": torch_version,
        "not_available": [n for n in backend.BACKENDS if n not in names],
        "openloop": {**OPENLOOP, "reps": 5 if args.quick else OPENLOOP["reps"],
                     "variants": 3, "rule": "FA (none, WN, WN with B normalised), eta 0.001"},
        "mnist": {**MNIST, "rule": "FA, eta 0.0005, record_bp"},
        "rows": rows,
    }
    _write_json(RESULT, result)
    table = render(result)
    print(table)
    if not args.no_readme:
        write_readme(table)
    return 0


def _write_json(path: Path, result: dict) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
