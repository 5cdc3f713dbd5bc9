"""The engine before and after sharing ``f'(Z)``, measured through the real loop.

:func:`fa_lib.network.learn` computes the derivatives ``f'(Z_l)`` once per iteration,
from ``L_l = f(Z_l)`` when the activation allows it (``tanh(ReLU)``: ``(Z > 0)(1 - L^2)``,
no second ``tanh``), and shares them between the FA error signals and the BP comparison
(:func:`fa_lib.network.derivatives`). Before that change every call of
:func:`fa_lib.network.deltas` evaluated ``f'(Z_l)`` from ``Z_l`` alone, i.e. ``tanh``
again, once for FA and once more for the BP comparison. The "before" engine is the
current one with ``derivatives`` disabled and ``deltas`` made to ignore precomputed
derivatives (``unittest.mock``; no file of ``fa_lib`` is touched), which is exactly the
old computation. Both runs go through :func:`fa_lib.training.run`; the records must be
the same bit for bit.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np

from benchmarks import common
from fa_lib import network, rule, training
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

_deltas = network.deltas
_derivatives = network.derivatives


def _before() -> contextlib.AbstractContextManager:
    """Patch the engine back to one ``f'(Z)`` evaluation, from ``Z``, per call of ``deltas``."""

    def not_shared(net, Z, L=None):
        # learn() passes L to share f'(Z); deltas() asks without L and gets f'(Z) from Z.
        return None if L is not None else _derivatives(net, Z)

    def deltas_from_z(net, Z, e, pathway, dfs=None):
        return _deltas(net, Z, e, pathway)

    # fa_lib.rule.learn calls them by the names it imported from fa_lib.network
    return mock.patch.multiple(rule, derivatives=not_shared, deltas=deltas_from_z)


def measure(dtype: str, record_bp: bool, n_batches: int = 20, reps: int = 10,
            repeat: int = 2) -> dict:
    """Run the engine as it was before and as it is; return both times and the difference.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    record_bp : bool
    n_batches : int
        Iterations (one epoch; 1000 test images).
    reps : int
    repeat : int
        Best of this many runs each.
    """
    cfg = TrainConfig(width=50, depth=5, rule=Rule("fa", eta=0.0005), epochs=1, reps=reps,
                      n_batches=n_batches, batch_size=1000, n_test=1000, dtype=dtype,
                      record_bp=record_bp)
    data = training.load_data(15, dtype)
    times, outs = {}, {}
    for label in ("before", "engine"):
        best = np.inf
        for _ in range(repeat):
            ctx = _before() if label == "before" else contextlib.nullcontext()
            with ctx:
                t0 = common.clock()
                outs[label] = training.run(cfg, data, progress=False)
                best = min(best, common.clock() - t0)
        times[label] = best
    keys = [k for k in outs["engine"] if k != "seconds"]
    diff = max(float(np.nanmax(np.abs(np.asarray(outs["engine"][k], float)
                                      - np.asarray(outs["before"][k], float)), initial=0.0))
               for k in keys)
    return {"dtype": dtype, "record_bp": record_bp, "iterations": n_batches, "reps": reps,
            "before_s": times["before"], "engine_s": times["engine"],
            "speedup": times["before"] / times["engine"], "max_abs_difference": diff}
