"""The proposed engine patch (``benchmarks/engine_patch.diff``), measured through the real loop.

The patch changes one thing in :func:`fa_lib.network.learn`: the derivatives
``f'(Z_l)`` are computed once per iteration, from ``L_l = f(Z_l)`` when the activation
allows it (``tanh(ReLU)``: ``(Z > 0)(1 - L^2)``, no second ``tanh``), and shared by the
FA error signals and the BP comparison. Here the patched ``learn`` is substituted for
the engine's inside :func:`fa_lib.training.run` (``unittest.mock``; no file of
``fa_lib`` is touched), and the run is compared with the unpatched one: same records
bit for bit, and the speed-up.
"""

from __future__ import annotations

from unittest import mock

import numpy as np

from benchmarks import common
from fa_lib import training
from fa_lib.activations import TANH_RELU
from fa_lib.network import (
    Network,
    Rule,
    Step,
    bias_updates,
    match_norm,
    normalise_columns,
    normalise_layer,
    weight_updates,
)
from fa_lib.training import TrainConfig


def derivatives(net: Network, Z: list, L: list) -> list:
    """``f'(Z_l)`` for ``l = 1..d`` (index 0 is None), from ``L_l`` for ``tanh(ReLU)``."""
    if net.activation.name == TANH_RELU.name:
        return [None] + [(Z[l] > 0) * (1 - L[l] * L[l]) for l in range(1, len(Z))]
    return [None] + [net.activation.df(Z[l]) for l in range(1, len(Z))]


def deltas_from(net: Network, dfs: list, e: np.ndarray, method: str) -> list:
    """The error signals of :func:`fa_lib.network.deltas` with precomputed derivatives."""
    d = net.depth
    out: list = [None] * (d + 1)
    out[d] = e.astype(dfs[d].dtype, copy=False) * dfs[d]
    for l in range(d - 1, 0, -1):
        back = np.swapaxes(net.W[l], -1, -2) if method == "bp" else net.B[l]
        out[l] = (out[l + 1] @ back) * dfs[l]
    return out


def learn(net: Network, rule: Rule, Z: list, L: list, e: np.ndarray) -> Step:
    """:func:`fa_lib.network.learn` with the derivatives computed once (the patch)."""
    dfs = derivatives(net, Z, L)
    delta = deltas_from(net, dfs, e, rule.method)
    dW = weight_updates(L, delta, rule.eta)
    dW_bp = None
    if rule.method == "bp":
        dW_bp = dW
    elif rule.compare_bp:
        dW_bp = weight_updates(L, deltas_from(net, dfs, e, "bp"), rule.eta)
    for l in range(net.depth):
        net.W[l] = net.W[l] + dW[l]
    if net.b is not None:
        db = bias_updates(delta, rule.eta)
        net.b = [None if x is None else x + db[l] for l, x in enumerate(net.b)]
    if rule.wn_gamma is not None:
        net.W = [normalise_columns(w, rule.wn_gamma) for w in net.W]
    if rule.layer_norm is not None:
        net.W = [normalise_layer(w, rule.layer_norm) for w in net.W]
    if rule.match_b:
        net.B = [None if x is None else match_norm(x, net.W[l]) for l, x in enumerate(net.B)]
    return Step(e, Z, L, delta, dW, dW_bp)


def measure(dtype: str, record_bp: bool, n_batches: int = 20, reps: int = 10,
            repeat: int = 2) -> dict:
    """Run the engine with and without the patch; return both times and the largest difference.

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
    cfg = TrainConfig(width=50, depth=5, method="fa", eta=0.0005, epochs=1, reps=reps,
                      n_batches=n_batches, batch_size=1000, n_test=1000, dtype=dtype,
                      record_bp=record_bp)
    data = training.load_data(15, dtype)
    times, outs = {}, {}
    for label in ("engine", "patched"):
        best = np.inf
        for _ in range(repeat):
            ctx = mock.patch.object(training, "learn", learn) if label == "patched" else \
                mock.patch.object(training, "learn", training.learn)
            with ctx:
                t0 = common.clock()
                outs[label] = training.run(cfg, data, progress=False)
                best = min(best, common.clock() - t0)
        times[label] = best
    keys = [k for k in outs["engine"] if k != "seconds"]
    diff = max(float(np.nanmax(np.abs(np.asarray(outs["engine"][k], float)
                                      - np.asarray(outs["patched"][k], float)), initial=0.0))
               for k in keys)
    return {"dtype": dtype, "record_bp": record_bp, "iterations": n_batches, "reps": reps,
            "engine_s": times["engine"], "patched_s": times["patched"],
            "speedup": times["engine"] / times["patched"], "max_abs_difference": diff}
