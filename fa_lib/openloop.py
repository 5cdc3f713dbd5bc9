"""Open-loop two-layer networks: ``X`` and ``E`` are imposed sequences, not computed from a loss.

The figures of Secs. 2.1-2.3 (Figs. 1, 3, 4 and S1) feed a two-layer net with
random inputs ``X[k]`` and a random error ``E[k]`` that the backward pass uses
as if it came from a loss (``delta_2 = E * f'(Z_2)``). The learning step is the
same code as for trained networks (:func:`fa_lib.rule.learn`), for every rule and
pathway; :func:`run_openloop` runs one rule, or the variants of a figure stacked in
one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fa_lib import _checks, ensembles, linalg, terms
from fa_lib import backend as backends
from fa_lib.backend import Backend, to_numpy
from fa_lib.network import Network, ensure_finite, forward, init_network
from fa_lib.rule import Rule, RuleStack, Step, learn, prepare, runtime_streams


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


def run_openloop(
    seed: int | np.random.SeedSequence,
    reps: int,
    n_iter: int,
    sizes: tuple[int, int, int],
    n_b: int,
    rule: Rule | Sequence[Rule],
    x: Signal = CONSTANT,
    e: Signal = CONSTANT,
    activation: str = "relu",
    record_terms: bool = False,
    progress: bool = False,
    observe: Callable[[int, Network, Step], Mapping[str, np.ndarray]] | None = None,
    dtype: str = "float64",
    backend: str | Backend | None = None,
) -> dict[str, np.ndarray]:
    """Run ``reps`` stacked open-loop two-layer nets, for one rule or several, and record angles.

    Each repetition ``r`` has its own stream (``ensembles.streams(seed, reps)[r]``),
    split into four: weights (``W_0``, ``W_1``, ``B``, iid N(0, 1)), ``X``, ``E``, and the
    pathway's runtime draws (brSF, weight mirror).

    With a sequence of rules (variants), every variant runs the same ``reps``
    repetitions: they start from the same weights and share the draws of ``X`` and ``E``
    (made once per iteration), so variant ``v`` equals the run of ``rule[v]`` alone and
    two variants can be compared run by run. The variants are stacked along the
    repetition axis; they must share the pathway and the learning rate
    (:class:`fa_lib.rule.RuleStack`) and may differ in their normalisations.

    Each iteration ``k``: forward pass, the update of :func:`fa_lib.rule.learn` (eqs.
    13-19, with the BP direction computed for comparison, then the normalisations).

    Parameters
    ----------
    seed, reps, n_iter : int
    sizes : (n_i, n_h, n_o)
    n_b : int
        Rows of ``X`` and ``E`` (the batch).
    rule : Rule or sequence of Rule
        The learning rule, or the variants.
    x, e : Signal
        How ``X[k]`` and ``E[k]`` evolve (one AR(1) coefficient per repetition allowed).
    activation : str
        ``relu`` (Figs. 3, 4, S1) or ``identity`` (Fig. 1).
    record_terms : bool
        Also record (Fig. S1) the angles with ``B^T`` of ``T^1_aln`` (eq. 25),
        ``T^1_sup`` (eq. 22) and their running sums; NaN at ``k = 0``. Needs a pathway
        whose ``B`` has ``W^T``'s shape.
    progress : bool
        Show a progress bar.
    observe : callable, optional
        ``observe(k, net, step)`` is called after update ``k`` (``step`` holds
        ``X[k]`` as ``step.L[0]``, ``E[k]`` as ``step.E``, the deltas and the
        directions; ``net`` stacks every variant); each array of length
        ``n_variants * reps`` it returns is recorded under its name, like the built-in
        traces.
    dtype : {"float64", "float32"}
        Precision of the weights, ``X`` and ``E`` (the draws are made in float64 and
        rounded). The authors' code runs in float32, which is three times faster here.
    backend : str or Backend, optional
        Where the networks compute (:func:`fa_lib.backend.get`); default: the setting
        ``FA_DEVICE`` (NumPy unless it says ``cuda``). ``X``, ``E`` and every random number
        are drawn on the host, as with NumPy, and moved to the device; the results are
        NumPy arrays.

    Returns
    -------
    dict of ndarray, each ``n_iter x reps`` (one rule) or ``n_iter x n_variants x reps``
        ``w1_bt``: ``W_1 ∠ B^T`` after update ``k`` (NaN for a pathway without a ``B`` of
        ``W_1^T``'s shape); ``dw0``: ``dW_0 ∠ dW_0,BP``; ``dw1``: ``dW_1 ∠ B^T``;
        ``norm_w0``, ``norm_w1``: Frobenius norms; ``dead``: 1 where ``delta_2 = 0``
        (every output unit silent for the whole batch: the net never changes again and
        its direction angles are NaN); with ``record_terms`` also ``t1_aln``, ``t1_sup``,
        ``sum_t1_aln``, ``sum_t1_sup``. An angle whose matrix is zero is NaN.
    """
    rules = [rule] if isinstance(rule, Rule) else list(rule) if isinstance(rule, Sequence) \
        else None
    if not rules or not all(isinstance(r, Rule) for r in rules):
        raise ValueError(f"rule must be a fa_lib.rule.Rule or a non-empty sequence of them; "
                         f"got {rule!r}.")
    n_iter, reps, n_b = (_checks.whole(k, v) for k, v in
                         (("n_iter", n_iter), ("reps", reps), ("n_b", n_b)))
    if len(sizes) != 3:
        raise ValueError(f"sizes must be (n_i, n_h, n_o) for a two-layer net; got {sizes}.")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}.")
    reps, n_iter, n_v = int(reps), int(n_iter), len(rules)
    stack = RuleStack(rules, reps)
    layerwise = stack.pathway.layerwise
    if record_terms and not (layerwise and stack.pathway.uses_b):
        raise ValueError(f"record_terms follows the angles with B^T of the alignment terms; the "
                         f"{stack.pathway.name!r} pathway has no B of W^T's shape that it uses.")
    dt = np.dtype(dtype)
    bk = backends.get(backend)
    backends.note(bk)
    xp = bk.xp
    subs = [g.spawn(4) for g in ensembles.streams(seed, reps)]
    base = init_network([s[0] for s in subs], sizes, activation, sd=1.0, dtype=dt.type,
                        pathway=stack.pathway, backend=bk)
    net = base if n_v == 1 else Network(
        [xp.tile(w, (n_v, 1, 1)) for w in base.W],
        [None if b is None else xp.tile(b, (n_v, 1, 1)) for b in base.B], base.activation)
    prepare(net, stack, rng=runtime_streams([s[3] for s in subs], n_v))
    x_at = x.start([s[1] for s in subs], (int(n_b), sizes[0]))
    e_at = e.start([s[2] for s in subs], (int(n_b), sizes[2]))
    names = ["w1_bt", "dw0", "dw1", "norm_w0", "norm_w1", "dead"]
    if record_terms:
        names += ["t1_aln", "t1_sup", "sum_t1_aln", "sum_t1_sup"]
    out = {n: np.full((n_iter, n_v * reps), np.nan) for n in names}
    sums = prev = None
    it = range(n_iter)
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional (Pyodide): no bar
            tqdm = None
        if tqdm is not None:
            it = tqdm(it, desc="open loop", leave=False)

    def stacked(a: np.ndarray) -> np.ndarray:
        a = a.astype(dt, copy=False)
        return bk.asarray(a if n_v == 1 else np.tile(a, (n_v, 1, 1)))

    for k in it:
        xk, ek = stacked(x_at(k)), stacked(e_at(k))
        w0_before = net.W[0]
        Z, L = forward(net, xk)
        step = learn(net, stack, Z, L, ek, compare_bp=True)
        ensure_finite(net, k, stack.eta)
        bt = linalg.transpose(net.B[1]) if layerwise else None
        if layerwise:
            out["w1_bt"][k] = to_numpy(linalg.angle(net.W[1], bt, zero="nan"))
            out["dw1"][k] = to_numpy(linalg.angle(step.dW[1], bt, zero="nan"))
        out["dw0"][k] = to_numpy(linalg.angle(step.dW[0], step.dW_bp[0], zero="nan"))
        out["norm_w0"][k] = to_numpy(linalg.frobenius_norm(net.W[0]))
        out["norm_w1"][k] = to_numpy(linalg.frobenius_norm(net.W[1]))
        out["dead"][k] = to_numpy(~xp.any(step.delta[2] != 0, axis=(-2, -1)))
        if observe is not None:
            for name, value in observe(k, net, step).items():
                if name not in out:
                    out[name] = np.full((n_iter, n_v * reps), np.nan)
                out[name][k] = to_numpy(value)
        if record_terms:
            # The same X in a transposed memory layout: the terms multiply by X^T, and NumPy's
            # stacked matmul is ten times slower when its right operand is a transposed view.
            xk_f = (linalg.transpose(np.ascontiguousarray(linalg.transpose(xk))) if bk.is_numpy
                    else xk)
            if prev is not None:
                w0_old, x_old, d1_old = prev
                t_aln = terms.alignment_term(w0_old, x_old, xk_f, d1_old, step.delta[2],
                                             stack.eta, activation)
                t_sup = terms.sup_alignment_term(w0_old, xk_f, step.delta[2], stack.eta,
                                                 activation)
                sums = (t_aln, t_sup) if sums is None else (sums[0] + t_aln, sums[1] + t_sup)
                out["t1_aln"][k] = to_numpy(linalg.angle(t_aln, bt, zero="nan"))
                out["t1_sup"][k] = to_numpy(linalg.angle(t_sup, bt, zero="nan"))
                out["sum_t1_aln"][k] = to_numpy(linalg.angle(sums[0], bt, zero="nan"))
                out["sum_t1_sup"][k] = to_numpy(linalg.angle(sums[1], bt, zero="nan"))
            prev = (w0_before, xk_f, step.delta[1])
    if isinstance(rule, Rule):
        return out
    return {n: a.reshape(n_iter, n_v, reps) for n, a in out.items()}
