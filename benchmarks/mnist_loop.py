"""Benchmarks 1-2: the MNIST training loop through the engine, against the matmul peak.

- :func:`matmul_peak`: the practical peak, i.e. exactly the stacked products of one
  training iteration (same shapes, same dtype, one BLAS thread) with preallocated
  outputs, timed back to back;
- :func:`engine_rate`: iterations per second of :func:`fa_lib.training.run` (recorders
  included), measured as the difference of two runs of different lengths so that the
  set-up and the test-set evaluations cancel;
- :func:`looped_rate`: the same maths as ``R`` one-repetition runs one after another;
- :func:`profile`: cProfile of a short engine run, grouped by where the time goes;
- :func:`precision_check`: float32 against float64 on a short run.
"""

from __future__ import annotations

import cProfile
import pstats

import numpy as np

from benchmarks import common
from fa_lib import training
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

SIZES = (225, 50, 50, 50, 50, 50)
BATCH = 1000
REPS = 10


def base_config(dtype: str, record_bp: bool, reps: int = REPS, n_batches: int = 10,
                n_test: int = 1000) -> TrainConfig:
    """The benchmark's training run: 225-50-50-50-50-50, batch 1000, FA (eta 0.0005)."""
    return TrainConfig(width=50, depth=5, rule=Rule("fa", eta=0.0005), epochs=1, reps=reps,
                       n_batches=n_batches, batch_size=BATCH, n_test=n_test, dtype=dtype,
                       record_bp=record_bp)


def matmul_peak(dtype: str, compare_bp: bool, reps: int = REPS, seconds: float = 1.0,
                sizes: tuple[int, ...] = SIZES, batch: int = BATCH) -> dict:
    """GFLOP/s of the stacked products of one iteration, with preallocated arrays.

    Two layouts are timed: ``engine`` (the update's ``L_l^T`` is a transposed view, as in
    :func:`fa_lib.network.weight_updates`) and ``contiguous`` (``L_l^T`` stored
    contiguously); the peak is the faster of the two. The first layer's products are
    one wide product for all repetitions, as in the engine (``fwd_shared``,
    ``upd_shared`` of :func:`benchmarks.common.train_products`).

    Parameters
    ----------
    dtype : {"float32", "float64"}
    compare_bp : bool
        Include the BP comparison's products.
    reps : int
        Stacked repetitions.
    seconds : float
        Approximate time spent per layout.
    sizes, batch
        The network.
    """
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)
    prods = common.train_products(sizes, batch, compare_bp)
    flops = common.train_iteration_flops(sizes, batch, compare_bp, reps)
    out = {"flops_per_iteration": flops}
    for layout in ("engine", "contiguous"):
        ops = []
        for kind, n, k, m in prods:
            if kind.endswith("_shared"):  # one wide product for all repetitions
                a = rng.standard_normal((n, k)).astype(dt)
                if kind == "upd_shared" and layout == "engine":
                    a = np.ascontiguousarray(a.T).T  # X^T: a transposed view of X
                b = rng.standard_normal((k, reps * m)).astype(dt)
                c = np.empty((n, reps * m), dt)
            else:
                if kind == "upd" and layout == "engine":
                    a = np.swapaxes(rng.standard_normal((reps, k, n)).astype(dt), -1, -2)
                else:
                    a = rng.standard_normal((reps, n, k)).astype(dt)
                b = rng.standard_normal((reps, k, m)).astype(dt)
                c = np.empty((reps, n, m), dt)
            ops.append((a, b, c))

        def one_iteration(ops=ops) -> None:
            for a, b, c in ops:
                np.matmul(a, b, out=c)

        number = common.calls_for(one_iteration, seconds / 3)
        t = common.best_time(one_iteration, repeat=3, number=number)
        out[layout] = {"seconds_per_iteration": t, "gflops": flops / t / 1e9}
    out["peak_gflops"] = max(out["engine"]["gflops"], out["contiguous"]["gflops"])
    return out


def square_peak(dtype: str, n: int = 1000, seconds: float = 1.0) -> float:
    """GFLOP/s of one large ``n x n`` product (the machine's one-core GEMM peak)."""
    dt = np.dtype(dtype)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt)
    c = np.empty((n, n), dt)

    def f() -> None:
        np.matmul(a, b, out=c)

    number = common.calls_for(f, seconds / 3)
    return common.mm(n, n, n) / common.best_time(f, repeat=3, number=number) / 1e9


def _run_seconds(cfg: TrainConfig) -> float:
    t0 = common.clock()
    training.run(cfg, progress=False)
    return common.clock() - t0


def engine_rate(dtype: str, record_bp: bool, reps: int = REPS, short: int = 4,
                long: int = 24, repeat: int = 2) -> dict:
    """Iterations per second of :func:`fa_lib.training.run` (all its recorders on).

    ``(t(long) - t(short)) / (long - short)`` per iteration, best of ``repeat``; runs of
    one epoch of ``short`` and ``long`` mini-batches (so set-up and test evaluation cancel).
    """
    training.load_data(15, dtype)  # read once, outside the timings
    best = np.inf
    for _ in range(repeat):
        t_short = _run_seconds(base_config(dtype, record_bp, reps, short))
        t_long = _run_seconds(base_config(dtype, record_bp, reps, long))
        best = min(best, (t_long - t_short) / (long - short))
    flops = common.train_iteration_flops(SIZES, BATCH, record_bp, reps)
    return {"seconds_per_iteration": best, "iterations_per_s": 1.0 / best,
            "gflops": flops / best / 1e9, "flops_per_iteration": flops}


def looped_rate(dtype: str, record_bp: bool, reps: int = REPS, short: int = 4, long: int = 24,
                repeat: int = 2) -> dict:
    """The same iterations as ``reps`` separate one-repetition runs, one after another.

    Returns the time of one iteration of all ``reps`` repetitions (``reps`` times the
    per-iteration time of a one-repetition run).
    """
    one = engine_rate(dtype, record_bp, 1, short, long, repeat)
    t = one["seconds_per_iteration"] * reps
    flops = common.train_iteration_flops(SIZES, BATCH, record_bp, reps)
    return {"seconds_per_iteration": t, "iterations_per_s": 1.0 / t, "gflops": flops / t / 1e9}


# --------------------------------------------------------------------------- profile

_GROUPS = {
    "matmul + activation (forward)": ("network.py", "forward"),
    "matmul + activation derivative (deltas)": ("network.py", "deltas"),
    "matmul (weight_updates, in its list comprehension)": ("network.py", "<listcomp>"),
    "learn (W += dW, rule)": ("rule.py", "learn"),
    "angle recorders (linalg.angle)": ("linalg.py", "angle"),
    "first layer, forward (linalg.shared_matmul)": ("linalg.py", "shared_matmul"),
    "first layer, updates (linalg.shared_tmatmul)": ("linalg.py", "shared_tmatmul"),
    "frobenius norms / inner products": ("linalg.py", None),
    "input checks (_checks: isfinite scans)": ("_checks.py", None),
    "ensure_finite": ("network.py", "ensure_finite"),
    "tanh / relu derivative (activations)": ("activations.py", None),
    "training.run body (loss, active, encode, stack)": ("training.py", "run"),
    "test accuracy": ("training.py", "accuracy"),
}


def profile(dtype: str = "float64", record_bp: bool = True, n_batches: int = 20) -> dict:
    """Profile a short engine run (cProfile): own time of every function group, and the top list.

    The ``@`` products run inside the Python function that contains them, so their time
    is that function's own time (``forward``, ``deltas``, ``weight_updates``).
    """
    cfg = base_config(dtype, record_bp, REPS, n_batches, n_test=1000)
    training.load_data(15, dtype)
    prof = cProfile.Profile()
    t0 = common.clock()
    prof.runcall(training.run, cfg, progress=False)
    wall = common.clock() - t0
    st = pstats.Stats(prof)
    groups = dict.fromkeys(_GROUPS, 0.0)
    other = 0.0
    rows = []
    for (file, _line, func), (_cc, _nc, tt, ct, _callers) in st.stats.items():
        rows.append((tt, ct, f"{file.rsplit('/', 1)[-1]}:{func}"))
        for name, (f, fn) in _GROUPS.items():
            if file.endswith(f) and (fn is None or fn == func):
                groups[name] += tt
                break
        else:
            other += tt
    groups["other (numpy internals, Python)"] = other
    rows.sort(reverse=True)
    total = sum(groups.values())
    return {
        "config": {"dtype": dtype, "record_bp": record_bp, "reps": REPS, "iterations": n_batches},
        "wall_s": wall,
        "groups_s": {k: round(v, 4) for k, v in groups.items()},
        "groups_fraction": {k: round(v / total, 4) for k, v in groups.items()},
        "top_own_time": [{"function": r[2], "own_s": round(r[0], 4), "cum_s": round(r[1], 4)}
                         for r in rows[:15]],
    }


# --------------------------------------------------------------------------- float32


def precision_check(epochs: int = 2, n_batches: int = 30, reps: int = 3,
                    tol_acc_pp: float = 0.5, tol_angle_deg: float = 0.5) -> dict:
    """Train the same short run in float32 and float64 and compare the reported numbers.

    Compared: final test accuracy per repetition (percentage points), and the last-epoch
    mean angles ``dW_l,FA ∠ dW_l,BP`` and ``W_l ∠ B_l^T`` per repetition and layer (degrees).
    """
    res = {}
    for dt in ("float64", "float32"):
        cfg = TrainConfig(width=50, depth=5, rule=Rule("fa", eta=0.0005), epochs=epochs, reps=reps,
                          n_batches=n_batches, batch_size=BATCH, n_test=2000, dtype=dt,
                          record_bp=True)
        res[dt] = training.run(cfg, progress=False)

    def last(r: dict, key: str) -> np.ndarray:
        return np.nanmean(np.asarray(r[key], float)[-n_batches:], axis=0)

    acc32, acc64 = res["float32"]["test_acc"][-1], res["float64"]["test_acc"][-1]
    d_acc = np.max(np.abs(100 * acc32 - 100 * acc64))
    d_dw = np.max(np.abs(last(res["float32"], "dw_bp") - last(res["float64"], "dw_bp")))
    d_wbt = np.max(np.abs(last(res["float32"], "w_bt") - last(res["float64"], "w_bt")))
    return {
        "run": {"epochs": epochs, "n_batches": n_batches, "reps": reps, "n_test": 2000},
        "final_accuracy_float64_pct": [round(float(a), 3)
                                       for a in 100 * res["float64"]["test_acc"][-1]],
        "max_abs_diff_accuracy_pp": float(d_acc),
        "max_abs_diff_dw_fa_bp_deg": float(d_dw),
        "max_abs_diff_w_bt_deg": float(d_wbt),
        "tolerance_accuracy_pp": tol_acc_pp,
        "tolerance_angle_deg": tol_angle_deg,
        "within_tolerance": bool(d_acc <= tol_acc_pp and d_dw <= tol_angle_deg
                                 and d_wbt <= tol_angle_deg),
    }
