"""Open-loop two-layer networks: ``X`` and ``E`` are imposed sequences, not computed from a loss.

The figures of Secs. 2.1-2.3 (Figs. 1, 3, 4 and S1) feed a two-layer net with
random inputs ``X[k]`` and a random error ``E[k]`` that the backward pass uses
as if it came from a loss (``delta_2 = E * f'(Z_2)``). The learning step is the
same code as for trained networks (:func:`fa_lib.network.learn`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fa_lib import _checks, ensembles, linalg, terms
from fa_lib.network import (
    Network,
    Rule,
    Step,
    ensure_finite,
    forward,
    init_network,
    learn,
    prepare,
)


@dataclass(frozen=True)
class Signal:
    """How an imposed matrix (``X`` or ``E``) evolves over iterations.

    Attributes
    ----------
    every : int or None
        Redraw iid every ``every`` iterations (``1``: every iteration); ``None``
        keeps the first draw for the whole run (constant).
    beta : float or sequence of float or None
        If given, a Gaussian AR(1) process (eqs. 6-7) with this coefficient
        instead of redraws; one value per repetition allowed (so runs that
        differ only in beta are stacked). ``beta = 1`` is constant.
    loc : float
        Mean of the iid ``N(loc, 1)`` entries (0.5 in Figs. 2-3, conditions "N(0.5, 1)").
    """

    every: int | None = None
    beta: float | Sequence[float] | None = None
    loc: float = 0.0

    def start(
        self, rng: Sequence[np.random.Generator], shape: tuple[int, ...]
    ) -> Callable[[int], np.ndarray]:
        """Return ``value(k)``, the stacked matrices ``R x *shape`` at iteration ``k``.

        ``value`` must be called with ``k = 0, 1, 2, ...`` in order.
        """
        reps = len(rng)
        state = {"v": ensembles.normal(rng, shape, loc=self.loc)}
        if self.beta is not None:
            beta = np.asarray(self.beta, dtype=float)
            if beta.ndim > 1 or beta.size not in (1, reps):
                raise ValueError(
                    f"beta must be one value or one per repetition ({reps}); got {self.beta!r}."
                )
            beta = np.broadcast_to(beta.ravel(), (reps,))
            for b in beta:
                _checks.probability("beta", b)
            beta = beta.reshape((reps,) + (1,) * len(shape))
            constant = bool(np.all(beta == 1.0))

            def ar1(k: int) -> np.ndarray:
                if k > 0 and not constant:
                    noise = ensembles.normal(rng, shape, loc=self.loc)
                    state["v"] = beta * state["v"] + (1.0 - beta) * noise
                return state["v"]

            return ar1
        if self.every is not None and int(self.every) < 1:
            raise ValueError(
                f"every must be a positive number of iterations or None; got {self.every!r}."
            )

        def redraw(k: int) -> np.ndarray:
            if k > 0 and self.every is not None and k % int(self.every) == 0:
                state["v"] = ensembles.normal(rng, shape, loc=self.loc)
            return state["v"]

        return redraw


CONSTANT = Signal()


def _angle_or_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`fa_lib.linalg.angle` per repetition, NaN where ``a`` or ``b`` is the zero matrix.

    A ReLU net whose output units are all silent for the whole batch has ``delta_2 = 0``
    and therefore zero updates, whose angle is undefined: recorded as NaN, not an error.
    """
    a, b = np.broadcast_arrays(a, b)
    zero = (linalg.frobenius_norm(a) == 0) | (linalg.frobenius_norm(b) == 0)
    if not np.any(zero):
        return linalg.angle(a, b)
    keep = ~zero[..., None, None]
    ang = linalg.angle(np.where(keep, a, 1.0), np.where(keep, b, 1.0))
    return np.where(zero, np.nan, ang)


def run_openloop(
    seed: int | np.random.SeedSequence,
    reps: int,
    n_iter: int,
    sizes: tuple[int, int, int],
    n_b: int,
    rule: Rule,
    x: Signal = CONSTANT,
    e: Signal = CONSTANT,
    activation: str = "relu",
    record_terms: bool = False,
    progress: bool = False,
    observe: Callable[[int, Network, Step], Mapping[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``reps`` stacked open-loop two-layer nets and record angles every iteration.

    Each repetition ``r`` has its own stream (``ensembles.streams(seed, reps)[r]``),
    split into three: weights (``W_0``, ``W_1``, ``B``, iid N(0, 1)), ``X`` and ``E``.

    Parameters
    ----------
    seed, reps, n_iter : int
    sizes : (n_i, n_h, n_o)
    n_b : int
        Rows of ``X`` and ``E`` (the batch).
    rule : Rule
        The learning rule (FA with the BP comparison is forced on).
    x, e : Signal
        How ``X[k]`` and ``E[k]`` evolve.
    activation : str
        ``relu`` (Figs. 3, 4, S1) or ``identity`` (Fig. 1).
    record_terms : bool
        Also record (Fig. S1) the angles with ``B^T`` of ``T^1_aln`` (eq. 25),
        ``T^1_sup`` (eq. 22), their running sums and ``dW_1``; NaN at ``k = 0``.
    progress : bool
        Show a progress bar.
    observe : callable, optional
        ``observe(k, net, step)`` is called after update ``k`` (``step`` holds
        ``X[k]`` as ``step.L[0]``, ``E[k]`` as ``step.E``, the deltas and the
        directions); each array of length ``reps`` it returns is recorded under its
        name, like the built-in traces.

    Returns
    -------
    dict of ndarray, each ``n_iter x reps``
        ``w1_bt``: ``W_1 ∠ B^T`` after update ``k``; ``dw0``: ``dW_0,FA ∠ dW_0,BP``;
        ``dw1``: ``dW_1 ∠ B^T``; ``norm_w0``, ``norm_w1``: Frobenius norms; ``dead``:
        1 where ``delta_2 = 0`` (every output unit silent for the whole batch: the
        net never changes again and its direction angles are NaN); with
        ``record_terms`` also ``t1_aln``, ``t1_sup``, ``sum_t1_aln``, ``sum_t1_sup``.
        An angle whose matrix is zero (a silent ReLU net, ``delta_2 = 0``) is NaN.
    """
    if int(n_iter) < 1 or int(reps) < 1 or int(n_b) < 1:
        raise ValueError(f"n_iter, reps and n_b must be >= 1; got {n_iter}, {reps}, {n_b}.")
    if len(sizes) != 3:
        raise ValueError(f"sizes must be (n_i, n_h, n_o) for a two-layer net; got {sizes}.")
    rule = Rule(**{**rule.__dict__, "compare_bp": True, "method": "fa"})
    subs = [g.spawn(3) for g in ensembles.streams(seed, int(reps))]
    net: Network = init_network([s[0] for s in subs], sizes, activation, sd=1.0)
    prepare(net, rule)
    x_at = x.start([s[1] for s in subs], (int(n_b), sizes[0]))
    e_at = e.start([s[2] for s in subs], (int(n_b), sizes[2]))
    names = ["w1_bt", "dw0", "dw1", "norm_w0", "norm_w1", "dead"]
    if record_terms:
        names += ["t1_aln", "t1_sup", "sum_t1_aln", "sum_t1_sup"]
    out = {n: np.full((int(n_iter), int(reps)), np.nan) for n in names}
    sums = None
    prev = None
    it = range(int(n_iter))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="open loop", leave=False)
    for k in it:
        xk, ek = x_at(k), e_at(k)
        w0_before = net.W[0]
        Z, L = forward(net, xk)
        step = learn(net, rule, Z, L, ek)
        ensure_finite(net, k, rule.eta)
        bt = linalg.transpose(net.B[1])
        out["w1_bt"][k] = _angle_or_nan(net.W[1], bt)
        out["dw0"][k] = _angle_or_nan(step.dW[0], step.dW_bp[0])
        out["dw1"][k] = _angle_or_nan(step.dW[1], bt)
        out["norm_w0"][k] = linalg.frobenius_norm(net.W[0])
        out["norm_w1"][k] = linalg.frobenius_norm(net.W[1])
        out["dead"][k] = ~np.any(step.delta[2] != 0, axis=(-2, -1))
        if observe is not None:
            for name, value in observe(k, net, step).items():
                if name not in out:
                    out[name] = np.full((int(n_iter), int(reps)), np.nan)
                out[name][k] = value
        if record_terms:
            if prev is not None:
                w0_old, x_old, d1_old = prev
                t_aln = terms.alignment_term(
                    w0_old, x_old, xk, d1_old, step.delta[2], rule.eta, activation
                )
                t_sup = terms.sup_alignment_term(w0_old, xk, step.delta[2], rule.eta, activation)
                sums = (t_aln, t_sup) if sums is None else (sums[0] + t_aln, sums[1] + t_sup)
                out["t1_aln"][k] = _angle_or_nan(t_aln, bt)
                out["t1_sup"][k] = _angle_or_nan(t_sup, bt)
                out["sum_t1_aln"][k] = _angle_or_nan(sums[0], bt)
                out["sum_t1_sup"][k] = _angle_or_nan(sums[1], bt)
            prev = (w0_before, xk, step.delta[1])
    return out
