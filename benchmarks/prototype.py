"""A prototype of a faster training iteration (not used by the book; measured only).

The same maths and the same per-iteration records as :func:`fa_lib.training.run` for the
FA rule without normalisations (``w_bt``, ``norm_w``, ``loss``, ``active``, ``dw_bp``),
with four changes to the engine's iteration as it was first profiled (1 and 2 are now
in the engine, :func:`fa_lib.network.derivatives`; 3 and 4 are not):

1. ``f'(Z_l)`` of ``tanh(ReLU)`` is computed from ``L_l = f(Z_l)`` as
   ``(Z_l > 0) (1 - L_l^2)`` instead of evaluating ``tanh`` again;
2. ``f'(Z_l)`` is computed once per iteration and shared by the FA error signals and
   the BP comparison;
3. no ``isfinite`` scans of ``X`` and ``E`` in every call (one ``ensure_finite`` of the
   weights per iteration remains);
4. angles from ``einsum`` on the stacked arrays (no transposed copies).

:func:`compare` runs it next to the engine on the same initial network and batches and
reports the largest difference of the records and the speed ratio.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common
from fa_lib import ensembles, mnist, training
from fa_lib.network import init_network
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig


def _angle(inner: np.ndarray, na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(inner / (na * nb), -1.0, 1.0)))


def fast_run(cfg: TrainConfig, data: mnist.MNIST, record: bool = True) -> dict[str, np.ndarray]:
    """The prototype loop: ``cfg.n_iter`` FA iterations (``record_bp``: BP comparison).

    Only plain FA (no WN, layer norm, B matching, biases, terms, traces) is supported.
    With ``record=False`` the per-iteration records (and the BP comparison) are skipped:
    the cost of the pure learning step.
    """
    r = cfg.rule
    if r.name != "fa" or r.wn_gamma or r.layer_norm or r.match_b or cfg.biases:
        raise ValueError("the prototype covers plain FA only.")
    dt = np.dtype(cfg.dtype)
    xb, yb = mnist.minibatches(data.x_train, data.y_train, cfg.batch_size)
    xb, yb = xb[: cfg.n_batches].astype(dt), yb[: cfg.n_batches]
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = init_network([s[0] for s in subs], cfg.sizes, "tanh_relu", sd=cfg.init_sd, dtype=dt)
    codes = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    codes = codes.astype(dt)
    W, B, d, eta = net.W, net.B, cfg.depth, dt.type(cfg.rule.eta)
    n, r = cfg.n_iter, cfg.reps
    out = {"w_bt": np.full((n, r, d - 1), np.nan), "norm_w": np.full((n, r, d), np.nan),
           "loss": np.full((n, r), np.nan), "active": np.full((n, r, d), np.nan)}
    if cfg.record_bp:
        out["dw_bp"] = np.full((n, r, d), np.nan)
    for k in range(n):
        b = k % cfg.n_batches
        if not record:
            _bare_step(W, B, xb[b], np.take(codes, yb[b], axis=1), eta)
            continue
        nw = np.stack([np.sqrt(np.einsum("rij,rij->r", w, w)) for w in W], axis=-1)
        out["norm_w"][k] = nw
        for ell in range(1, d):
            inner = np.einsum("rij,rji->r", W[ell], B[ell])
            nb = np.sqrt(np.einsum("rij,rij->r", B[ell], B[ell]))
            out["w_bt"][k, :, ell - 1] = _angle(inner, nw[:, ell], nb)
        L = [xb[b]]
        pos = []
        for ell in range(d):
            z = L[ell] @ W[ell]
            p = z > 0
            np.maximum(z, 0, out=z)
            np.tanh(z, out=z)
            L.append(z)
            pos.append(p)
            out["active"][k, :, ell] = p.mean(axis=(-2, -1))
        e = np.take(codes, yb[b], axis=1) - L[d]
        out["loss"][k] = 0.5 * np.einsum("rij,rij->r", e, e) / cfg.batch_size
        df = [None] + [pos[ell - 1] * (1 - L[ell] * L[ell]) for ell in range(1, d + 1)]
        delta = [None] * (d + 1)
        delta[d] = e * df[d]
        for ell in range(d - 1, 0, -1):
            delta[ell] = (delta[ell + 1] @ B[ell]) * df[ell]
        dW = [eta * (np.swapaxes(L[ell], -1, -2) @ delta[ell + 1]) for ell in range(d)]
        if cfg.record_bp:
            dbp = [None] * (d + 1)
            dbp[d] = delta[d]
            for ell in range(d - 1, 0, -1):
                dbp[ell] = (dbp[ell + 1] @ np.swapaxes(W[ell], -1, -2)) * df[ell]
            for ell in range(d):
                bp = np.swapaxes(L[ell], -1, -2) @ dbp[ell + 1]
                inner = np.einsum("rij,rij->r", dW[ell], bp)
                na = np.sqrt(np.einsum("rij,rij->r", dW[ell], dW[ell]))
                nb = np.sqrt(np.einsum("rij,rij->r", bp, bp)) * eta
                out["dw_bp"][k, :, ell] = _angle(inner * eta, na, nb)
        for ell in range(d):
            W[ell] += dW[ell]
        if not all(np.isfinite(np.sum(w)) for w in W):
            raise FloatingPointError(f"diverged at iteration {k}")
    return out


def _bare_step(W: list, B: list, x: np.ndarray, target: np.ndarray, eta) -> None:
    """One FA step without any record: forward, error signals, ``W += eta L^T delta``."""
    d = len(W)
    L, pos = [x], []
    for ell in range(d):
        z = L[ell] @ W[ell]
        pos.append(z > 0)
        np.maximum(z, 0, out=z)
        np.tanh(z, out=z)
        L.append(z)
    delta = (target - L[d]) * pos[d - 1] * (1 - L[d] * L[d])
    for ell in range(d - 1, -1, -1):
        nxt = None if ell == 0 else (delta @ B[ell]) * pos[ell - 1] * (1 - L[ell] * L[ell])
        W[ell] += eta * (np.swapaxes(L[ell], -1, -2) @ delta)
        delta = nxt


def compare(dtype: str = "float64", record_bp: bool = True, n_batches: int = 20,
            reps: int = 10) -> dict:
    """Run the engine and the prototype on the same run; return the speeds and differences.

    The test-set evaluations are skipped in the engine's timing by differencing two
    lengths is not needed here: both loops are timed over the same iterations, and the
    engine's time includes two evaluations of ``n_test = 1000`` images (small).
    """
    cfg = TrainConfig(width=50, depth=5, rule=Rule("fa", eta=0.0005), epochs=1, reps=reps,
                      n_batches=n_batches, batch_size=1000, n_test=1000, dtype=dtype,
                      record_bp=record_bp)
    data = training.load_data(15, dtype)
    t0 = common.clock()
    ref = training.run(cfg, data, progress=False)
    t_engine = common.clock() - t0
    t_fast = np.inf
    for _ in range(2):
        t0 = common.clock()
        fast = fast_run(cfg, data)
        t_fast = min(t_fast, common.clock() - t0)
    t_bare = np.inf
    for _ in range(2):
        t0 = common.clock()
        fast_run(cfg, data, record=False)
        t_bare = min(t_bare, common.clock() - t0)
    keys = [k for k in fast if k in ref]
    diff = {k: float(np.nanmax(np.abs(np.asarray(fast[k]) - np.asarray(ref[k])))) for k in keys}
    flops = common.train_iteration_flops(cfg.sizes, cfg.batch_size, record_bp, reps) * cfg.n_iter
    return {
        "dtype": dtype, "record_bp": record_bp, "iterations": cfg.n_iter, "reps": reps,
        "engine_s": t_engine, "prototype_s": t_fast,
        "engine_gflops": flops / t_engine / 1e9, "prototype_gflops": flops / t_fast / 1e9,
        "speedup": t_engine / t_fast,
        "bare_step_s": t_bare,
        "bare_step_gflops": common.train_iteration_flops(cfg.sizes, cfg.batch_size, False, reps)
        * cfg.n_iter / t_bare / 1e9,
        "max_abs_diff_of_records": diff,
    }
