"""How long a "Try it" answer takes: each function of :mod:`fa_lib.try_it` on one core.

Every answer of a chapter's "Try it" section should come in about 5 s at most on one core.
This module times each chapter's default answer (its stated size) and the slowest setting
of its controls, on one BLAS thread, by CPU time (:func:`benchmarks.common.clock`, so a
shared core does not inflate it) and by wall time::

    taskset -c 1 python -m benchmarks.try_it [--repeat N]

and writes ``results/try_it.json`` (with the machine). Not run by ``python -m benchmarks``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - the BLAS threads are set before NumPy is imported
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks import common  # noqa: E402
from fa_lib import try_it, try_it_openloop  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "try_it.json"

LIMIT_S = 5.0
"""The longest an answer should take on one core."""

CASES: dict[str, tuple[str, dict]] = {
    "persistent_error, default (Cond. 1)": ("persistent_error", {}),
    "persistent_error, largest (n_i 1000, n_o 100, n_b 500)": (
        "persistent_error", dict(try_it_openloop.PE_LIMITS)),
    "autocorrelation, default (beta = beta_X = 1, ReLU)": ("autocorrelation", {}),
    "autocorrelation, beta = beta_X = 0.5, identity": (
        "autocorrelation", {"beta": 0.5, "beta_x": 0.5, "activation": "identity"}),
    "acf_weight_normalisation, default (beta 0.6, WN)": ("acf_weight_normalisation", {}),
    "acf_weight_normalisation, WN with B normalised": (
        "acf_weight_normalisation", {"variant": "wn_b"}),
    "depth, default (30, 60 degrees)": ("depth", {}),
    "mnist_alignment, default (FA with and without WN)": ("mnist_alignment", {}),
    "flexibility, default": ("flexibility", {}),
    "flexibility, label smoothing, gamma 2.5": (
        "flexibility", {"gamma": 2.5, "label_smoothing": True}),
    "feedback_rules, default": ("feedback_rules", {}),
    "feedback_rules, weight mirror": ("feedback_rules", {"rule": "wm"}),
    "deep_networks, default": ("deep_networks", {}),
    "deep_networks, 8 hidden layers": ("deep_networks", {"hidden": 8}),
}
"""Name -> (chapter, the controls' values that differ from the defaults)."""


def time_case(chapter: str, values: dict, repeat: int) -> dict:
    """Best CPU and wall seconds of ``repeat`` answers (figure drawn to PNG included)."""
    import io

    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = common.clock(), time.perf_counter()
        res = try_it.answer(chapter, **values)
        res.figure.savefig(io.BytesIO(), format="png")  # what displaying it costs
        cpu.append(common.clock() - c0)
        wall.append(time.perf_counter() - w0)
    return {"chapter": chapter, "size": res.size, "cpu_s": round(min(cpu), 3),
            "wall_s": round(min(wall), 3), "within_limit": min(cpu) <= LIMIT_S}


def main(argv: list[str] | None = None) -> int:
    """Time every case, print a table, write ``results/try_it.json``; 1 if one is too slow."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="answers per case (best kept)")
    args = parser.parse_args(argv)
    rows = {name: time_case(ch, values, args.repeat) for name, (ch, values) in CASES.items()}
    out = {"machine": common.machine("python -m benchmarks.try_it " + " ".join(argv or [])),
           "limit_s": LIMIT_S, "cases": rows}
    RESULT.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    width = max(map(len, rows))
    for name, row in rows.items():
        print(f"{name:<{width}}  cpu {row['cpu_s']:6.2f} s  wall {row['wall_s']:6.2f} s  "
              f"({row['size']})")
    return 0 if all(r["within_limit"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
