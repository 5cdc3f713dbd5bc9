"""Shared helpers of the benchmarks: timing, machine description, analytic flop counts.

Times are CPU times of this (single-threaded) process, see :func:`clock`. Flop counts are
those of the matrix products only (a product of an ``n x k`` by a
``k x m`` matrix counts ``2 n k m``); element-wise work (activations, norms, angles,
normalisations) is not counted, so a GFLOP/s figure is a lower bound of the work done.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

# --------------------------------------------------------------------------- timing


def clock() -> float:
    """The benchmarks' clock: CPU time of this process (``time.process_time``), in seconds.

    Every computation timed runs on one thread (one BLAS thread), so its CPU time is its
    wall time on an unshared core, and stays so when another process shares the core
    (the machine is shared): the timings do not depend on what else runs. The chapter
    notebooks (other processes) are timed by wall clock instead.
    """
    return time.process_time()


def best_time(func: Callable[[], object], repeat: int = 3, number: int = 1) -> float:
    """Best of ``repeat`` times (:func:`clock`) of ``number`` calls of ``func``, per call (s).

    Parameters
    ----------
    func : callable
        Called without arguments.
    repeat, number : int
        Rounds, and calls per round (both >= 1).
    """
    if repeat < 1 or number < 1:
        raise ValueError(f"repeat and number must be >= 1; got {repeat} and {number}.")
    best = np.inf
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            func()
        best = min(best, (clock() - t0) / number)
    return float(best)


def calls_for(func: Callable[[], object], seconds: float) -> int:
    """Number of calls of ``func`` that take about ``seconds`` (from one timed call)."""
    t0 = clock()
    func()
    once = max(clock() - t0, 1e-7)
    return max(1, int(seconds / once))


# --------------------------------------------------------------------------- machine


def blas_info() -> dict:
    """BLAS libraries loaded by NumPy and their thread counts (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return {}
    return [
        {k: lib.get(k) for k in ("internal_api", "version", "num_threads", "architecture",
                                 "threading_layer")}
        for lib in threadpool_info() if lib.get("user_api") == "blas"
    ]


def machine(command: str) -> dict:
    """Describe the machine, the software and the run (stored with every result).

    Parameters
    ----------
    command : str
        The command line that produced the results.
    """
    from fa_lib.record import cpu_model

    model = cpu_model()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    import scipy

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "affinity": affinity,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": blas_info(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                               "MKL_NUM_THREADS", "FA_SCALE")},
    }


# --------------------------------------------------------------------------- flop counts


def mm(n: int, k: int, m: int) -> int:
    """Flops of an ``n x k`` by ``k x m`` product (``2 n k m``)."""
    return 2 * int(n) * int(k) * int(m)


def train_products(sizes: Sequence[int], batch: int, compare_bp: bool) -> list[tuple]:
    """The matrix products of one training iteration of :func:`fa_lib.network.learn`.

    Returns ``(kind, n, k, m)`` for every product of one repetition, in the engine's order:
    the forward pass ``L_l W_l``, the error signals ``delta_{l+1} M_l`` (``l = d-1..1``),
    the directions ``L_l^T delta_{l+1}`` and, with ``compare_bp``, the BP error signals
    and directions again. The products of the first layer, whose input batch ``X`` all
    repetitions share, are of kind ``fwd_shared`` and ``upd_shared``: the engine computes
    them for all repetitions at once, as one ``n x k`` by ``k x (R m)`` product
    (:func:`fa_lib.linalg.shared_matmul`, :func:`fa_lib.linalg.shared_tmatmul`).

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, ..., n_d)``.
    batch : int
    compare_bp : bool
    """
    d = len(sizes) - 1
    fwd = [("fwd_shared" if l == 0 else "fwd", batch, sizes[l], sizes[l + 1])
           for l in range(d)]
    back = [("back", batch, sizes[l + 1], sizes[l]) for l in range(d - 1, 0, -1)]
    upd = [("upd_shared" if l == 0 else "upd", sizes[l], batch, sizes[l + 1])
           for l in range(d)]
    out = fwd + back + upd
    if compare_bp:
        out += back + upd
    return out


def train_iteration_flops(sizes: Sequence[int], batch: int, compare_bp: bool,
                          reps: int = 1) -> int:
    """Flops of the matrix products of one training iteration of ``reps`` stacked nets."""
    return reps * sum(mm(n, k, m) for _, n, k, m in train_products(sizes, batch, compare_bp))


def forward_flops(sizes: Sequence[int], samples: int, n_classes: int = 10) -> int:
    """Flops of a forward pass of ``samples`` rows plus the decoding product ``Y codes^T``."""
    d = len(sizes) - 1
    return sum(mm(samples, sizes[l], sizes[l + 1]) for l in range(d)) + mm(
        samples, sizes[-1], n_classes)


def terms_flops(sizes: Sequence[int], batch: int, n_aln: int, n_sup: int) -> int:
    """Flops of the alignment terms of all hidden layers at one iteration, one repetition.

    ``T^o_aln`` (:func:`fa_lib.terms.alignment_term`) costs ``6 b n_l n_{l-1} + 2 b n_l n_{l+1}``
    and ``T^o_sup`` ``2 b n_l n_{l-1} + 2 b n_l n_{l+1}`` per layer ``l = 1..d-1``.
    """
    d = len(sizes) - 1
    total = 0
    for l in range(1, d):
        a = 3 * mm(sizes[l], sizes[l - 1], batch) + mm(sizes[l], batch, sizes[l + 1])
        s = mm(sizes[l], sizes[l - 1], batch) + mm(sizes[l], batch, sizes[l + 1])
        total += n_aln * a + n_sup * s
    return total


def training_run_flops(cfg) -> dict:
    """Flops of a whole :func:`fa_lib.training.run` of ``cfg`` (a ``TrainConfig``).

    Returns
    -------
    dict
        ``train`` (all iterations), ``terms`` (the recorded alignment terms), ``test``
        (test-set evaluations: before training, after every epoch, and at the relabelling)
        and ``total``.
    """
    sizes = cfg.sizes
    compare = cfg.rule.name != "bp" and cfg.record_bp
    train = cfg.n_iter * train_iteration_flops(sizes, cfg.batch_size, compare, cfg.reps)
    terms = 0
    if cfg.record_terms:
        grid = range(0, cfg.n_iter, cfg.terms_every)
        for o in cfg.aln_orders:
            terms += sum(1 for k in grid if k >= o) * terms_flops(sizes, cfg.batch_size, 1, 0)
        for o in cfg.sup_orders:
            terms += sum(1 for k in grid if k >= o) * terms_flops(sizes, cfg.batch_size, 0, 1)
        terms *= cfg.reps
    n_test = 10_000 if cfg.n_test is None else cfg.n_test
    evals = cfg.epochs + 1 + (cfg.relabel_epoch is not None)
    test = evals * cfg.reps * forward_flops(sizes, n_test)
    return {"train": train, "terms": terms, "test": test, "total": train + terms + test}


def openloop_iteration_flops(n_i: int, n_h: int, n_o: int, n_b: int,
                             record_terms: bool = False) -> int:
    """Flops of one iteration of one open-loop two-layer net (:func:`fa_lib.openloop.run_openloop`).

    FA with the BP comparison: the forward pass, both error signals, both sets of
    directions; with ``record_terms`` also ``T^1_aln`` and ``T^1_sup`` of the hidden layer.
    """
    sizes = (n_i, n_h, n_o)
    out = train_iteration_flops(sizes, n_b, True)
    if record_terms:
        out += terms_flops(sizes, n_b, 1, 1)
    return out
