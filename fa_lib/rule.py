"""A learning rule: the feedback pathway, the learning rate and the normalisations, in one object.

:class:`Rule` is what every engine (the open loop, :mod:`fa_lib.openloop`; MNIST
training, :mod:`fa_lib.training`) and every experiment describe learning with.
:func:`prepare` applies its start-of-learning normalisations and :func:`learn` makes
one update with it, for every pathway of :mod:`fa_lib.pathways`:

1. error signals through the pathway (eqs. 15-18, :func:`fa_lib.network.deltas`);
2. directions ``dW_l = eta L_l^T delta_{l+1}`` (eqs. 14, 19) and, when asked, the BP
   directions for comparison, with the weights before the update;
3. the update (eq. 13; Kolen-Pollack also updates ``B``) and the biases;
4. neuron-wise WN (eq. 32) or layer-wise normalisation of ``W``; B-norm matching
   (at the start also the rescaling of ``B``: by column, ``normalise_b``, or as a whole,
   ``scale_b``);
5. the pathway's own step on ``B`` (sign-symmetric feedback follows ``W``'s signs, the
   weight mirror runs its mirror phase).

Several rules that share the pathway and the learning rate but differ in their
normalisations can run stacked, each on its own block of repetitions
(:class:`RuleStack`): that is how the open-loop engine runs the variants of a figure
in one call.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fa_lib import _checks, pathways
from fa_lib.backend import is_numpy, namespace
from fa_lib.linalg import frobenius_norm
from fa_lib.network import (
    Network,
    bias_updates,
    deltas,
    derivatives,
    forward,
    match_norm,
    normalise_columns,
    normalise_layer,
    weight_updates,
)
from fa_lib.pathways import Pathway

__all__ = ["Rule", "RuleStack", "Step", "learn", "prepare", "train_step"]


@dataclass(frozen=True)
class Rule:
    """How a network learns: the feedback pathway, the learning rate and the normalisations.

    Attributes
    ----------
    pathway : str or Pathway
        The feedback pathway, by name (``"bp"``, ``"fa"``, ``"dfa"``, ``"usf"``,
        ``"frsf"``, ``"brsf"``, ``"kp"``, ``"wm"``, see :mod:`fa_lib.pathways`) or as an
        instance with its parameters; stored as the instance.
    eta : float
        Learning rate (> 0) of ``W`` (and of the biases).
    wn_gamma : float or None
        Neuron-wise WN (eq. 32): the columns of every ``W_l`` are rescaled to norm gamma at
        the start and after every update; ``None``: no WN.
    normalise_b : bool
        With WN: also rescale the columns of every ``B_l`` to gamma once at the start
        (Methods 4.4). The authors' code for Figs. 4, 8, S1, S3 does not. Only for a
        pathway whose ``B`` holds numbers of its own (not uSF, brSF).
    layer_norm : float or None
        Layer-wise normalisation ``W_l <- c W_l / |W_l|_F`` (Sec. 2.5) at the start and
        after every update, or ``None``.
    match_b : bool
        B-norm matching ``B_l <- B_l |W_l|_F / |B_l|_F`` (Sec. 2.5) at the start and after
        every update; only for a fixed ``B`` of ``W^T``'s shape (FA).
    scale_b : float or None
        A feedback-magnitude control: once at the start, every ``B_l`` is multiplied by
        one number per repetition so that its Frobenius norm is ``scale_b * sqrt(n)``
        (``n`` the number of columns of ``B_l``), the norm that ``B_l`` has after its
        columns were rescaled to norm ``scale_b`` (``normalise_b``). Unlike
        ``normalise_b`` it keeps the direction of ``B_l`` (every column is scaled by the
        same number) and it needs no WN. ``None``: ``B`` as drawn. Only for a pathway
        that reads ``B`` and keeps numbers of its own in it; not with ``normalise_b`` or
        ``match_b``, which set the norm of ``B`` otherwise. Left out of :meth:`as_dict`
        when ``None``, so that the cache keys of the rules without it stay as they were.

    Raises
    ------
    ValueError
        For an unknown pathway, a non-positive ``eta`` or gamma, both WN and layer-wise
        normalisation, or a normalisation that means nothing for the pathway (it says why).
    TypeError
        For a learning rate or gamma that is not a number, or a flag that is not a bool.
    """

    pathway: str | Pathway = "fa"
    eta: float = 0.003
    wn_gamma: float | None = None
    normalise_b: bool = False
    layer_norm: float | None = None
    match_b: bool = False
    scale_b: float | None = None

    def __post_init__(self) -> None:  # noqa: D105
        p = pathways.get(self.pathway)
        object.__setattr__(self, "pathway", p)
        object.__setattr__(self, "eta", _checks.real("eta", self.eta, low=0.0, strict=True))
        for name in ("wn_gamma", "layer_norm", "scale_b"):
            value = getattr(self, name)
            if value is not None:
                label = "gamma" if name == "wn_gamma" else name
                object.__setattr__(self, name, _checks.real(label, value, low=0.0, strict=True))
        for name in ("normalise_b", "match_b"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(f"{name} must be a bool; got {getattr(self, name)!r}.")
        if self.wn_gamma is not None and self.layer_norm is not None:
            raise ValueError(
                "choose neuron-wise WN (wn_gamma) or layer-wise normalisation, not both."
            )
        if self.normalise_b and self.wn_gamma is None:
            raise ValueError("normalise_b rescales B's columns to WN's gamma: it needs wn_gamma.")
        if self.normalise_b and not p.keeps_b:
            raise ValueError(
                f"normalise_b does not apply to the {p.name!r} pathway: its B is computed from "
                "W (and redrawn) at every step, so a normalisation at the start is lost."
            )
        if self.scale_b is not None:
            if self.normalise_b or self.match_b:
                raise ValueError(
                    "scale_b sets the norm of B at the start; choose it or "
                    + ("normalise_b (B's columns to gamma)" if self.normalise_b else
                       "match_b (B's norm to W's)") + ", not both."
                )
            if not (p.keeps_b and p.uses_b):
                raise ValueError(
                    f"scale_b does not apply to the {p.name!r} pathway: "
                    + ("its B is not used by the learning" if not p.uses_b else
                       "its B is computed from W (and redrawn) at every step, so a rescaling "
                       "at the start is lost") + "."
                )
        if (self.normalise_b or self.scale_b is not None) and \
                getattr(p, "uniform_from", None) is not None:
            raise ValueError("DFA's uniform_from sets D at the start, and so does "
                             + ("normalise_b" if self.normalise_b else "scale_b")
                             + ": choose one.")
        if self.match_b and not (p.fixed_b and p.layerwise):
            raise ValueError(
                f"match_b (B-norm matching) does not apply to the {p.name!r} pathway: it "
                "rescales a fixed B of W^T's shape to |W|_F, and this pathway's B "
                + ("is not used" if not p.uses_b else
                   "has another shape" if not p.layerwise else "changes on its own") + "."
            )

    @property
    def name(self) -> str:
        """The pathway's name."""
        return self.pathway.name

    def as_dict(self) -> dict[str, Any]:
        """Return the rule as plain types (the pathway as ``{"name": ..., **params}``).

        ``scale_b`` is left out when it is ``None`` (the cache keys of the rules without
        it are those written before it existed).
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["pathway"] = self.pathway.as_dict()
        if out["scale_b"] is None:
            del out["scale_b"]
        return out

    def replace(self, **changes: Any) -> Rule:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class RuleStack:
    """Rules that run stacked: ``rules[v]`` on repetitions ``v * reps .. (v + 1) * reps - 1``.

    They must share the pathway and the learning rate (one backward pass and one update
    serve the whole stack); their normalisations may differ.

    Parameters
    ----------
    rules : sequence of Rule
    reps : int
        Repetitions per rule.
    """

    def __init__(self, rules: Sequence[Rule], reps: int) -> None:
        rules = list(rules)
        if not rules or not all(isinstance(r, Rule) for r in rules):
            raise ValueError(f"a RuleStack needs one or more Rule objects; got {rules!r}.")
        first = rules[0]
        for r in rules[1:]:
            if r.pathway != first.pathway or r.eta != first.eta:
                raise ValueError(
                    "stacked rules must share the pathway and the learning rate; got "
                    f"{first.pathway.as_dict()} at eta {first.eta} and "
                    f"{r.pathway.as_dict()} at eta {r.eta}."
                )
        self.rules, self.reps = rules, int(reps)
        self.pathway, self.eta = first.pathway, first.eta
        # (repetitions, rule); one rule covers the whole stack
        self.blocks = [(slice(None), first)] if len(rules) == 1 else [
            (slice(v * self.reps, (v + 1) * self.reps), r) for v, r in enumerate(rules)]


def _stack(rule: Rule | RuleStack, net: Network) -> RuleStack:
    if isinstance(rule, RuleStack):
        if len(rule.rules) > 1 and len(rule.rules) * rule.reps != net.reps:
            raise ValueError(f"the RuleStack covers {len(rule.rules)} x {rule.reps} "
                             f"repetitions but the network has {net.reps}.")
        return rule
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a fa_lib.rule.Rule; got {type(rule).__name__}.")
    return RuleStack([rule], net.reps)


def _on(blocks: list, arrays: list, fn) -> None:
    """Apply ``fn(array, rule)`` to every array of the list, block by block (None skipped)."""
    for i, a in enumerate(arrays):
        if a is None:
            continue
        for at, r in blocks:
            if at == slice(None):
                arrays[i] = fn(a, r)
                a = arrays[i]
            else:
                a[at, ...] = fn(a[at, ...], r)


def _normalise(net: Network, stack: RuleStack, start: bool) -> None:
    wn = [(at, r) for at, r in stack.blocks if r.wn_gamma is not None]
    _on(wn, net.W, lambda w, r: normalise_columns(w, r.wn_gamma))
    if start:
        nb = [(at, r) for at, r in wn if r.normalise_b]
        _on(nb, net.B, lambda b, r: normalise_columns(b, r.wn_gamma))
        sb = [(at, r) for at, r in stack.blocks if r.scale_b is not None]
        _on(sb, net.B, lambda b, r: _scale_norm(b, r.scale_b * np.sqrt(b.shape[-1])))
    ln = [(at, r) for at, r in stack.blocks if r.layer_norm is not None]
    _on(ln, net.W, lambda w, r: normalise_layer(w, r.layer_norm))
    for at, r in stack.blocks:
        if r.match_b:
            for l in range(1, net.depth):
                if at == slice(None):
                    net.B[l] = match_norm(net.B[l], net.W[l])
                else:
                    net.B[l][at, ...] = match_norm(net.B[l][at, ...], net.W[l][at, ...])


def _scale_norm(b: np.ndarray, norm: float) -> np.ndarray:
    """``b`` scaled as a whole to Frobenius norm ``norm`` (over its last two axes).

    One factor per matrix (per repetition), so that the direction of ``b`` is kept.

    Parameters
    ----------
    b : ndarray, shape (..., m, n)
    norm : float
        The Frobenius norm wanted (> 0).

    Returns
    -------
    ndarray
        ``b * norm / |b|_F``, of ``b``'s shape and dtype.

    Raises
    ------
    ValueError
        If a matrix of ``b`` is all zeros (it has no direction to keep).
    """
    xp = namespace(b)
    f = frobenius_norm(b)
    if xp.any(f == 0):
        raise ValueError("cannot scale a matrix of zeros to a norm.")
    if is_numpy(xp):
        # norm may be a NumPy float64: then the factor is computed in float64
        return b * (norm / f)[..., None, None].astype(b.dtype, copy=False)
    return b * xp.astype((float(norm) / f)[..., None, None], b.dtype, copy=False)


def prepare(net: Network, rule: Rule | RuleStack,
            rng: Sequence[np.random.Generator] | None = None) -> Network:
    """Apply the start-of-learning normalisations in place, set up the pathway, return ``net``.

    With WN: the columns of every ``W_l`` (and of every ``B_l`` if ``normalise_b``) are
    rescaled to gamma (Methods 4.4); with ``scale_b`` every ``B_l`` is scaled as a whole
    to the Frobenius norm ``scale_b * sqrt(columns)``; with layer-wise normalisation
    ``W_l`` takes norm ``c``; with B-norm matching ``B_l`` takes ``|W_l|_F``. Then the
    pathway's :meth:`~fa_lib.pathways.Pathway.start` (e.g. sign-symmetric ``B`` from ``W``).

    Parameters
    ----------
    net : Network
    rule : Rule or RuleStack
    rng : sequence of Generator, optional
        One runtime stream per repetition, for pathways that draw at every step (brSF,
        weight mirror); kept in ``net.state["rng"]``.
    """
    stack = _stack(rule, net)
    stack.pathway.check(net)
    if rng is not None:
        rng = list(rng)
        if len(rng) != net.reps or not all(isinstance(g, np.random.Generator) for g in rng):
            raise ValueError(f"rng must list one numpy Generator per repetition ({net.reps}); "
                             f"got {len(rng)} item(s).")
        net.state["rng"] = rng
    _normalise(net, stack, start=True)
    stack.pathway.start(net)
    return net


@dataclass
class Step:
    """What one learning step computed (before the weights were changed).

    ``dW`` are the directions applied; ``dW_bp`` the BP directions computed for
    comparison (``None`` unless requested; equal to ``dW`` for BP).
    """

    E: np.ndarray
    Z: list[np.ndarray | None]
    L: list[np.ndarray]
    delta: list[np.ndarray | None]
    dW: list[np.ndarray]
    dW_bp: list[np.ndarray] | None = None
    extra: dict = field(default_factory=dict)


def learn(net: Network, rule: Rule | RuleStack, Z: list, L: list, e: np.ndarray, *,
          compare_bp: bool = False) -> Step:
    """One update of ``net`` in place, given the forward pass and the error ``E``.

    Computes the error signals through the rule's pathway, the directions (eqs. 14, 19),
    the BP comparison if ``compare_bp`` (with the weights *before* the update, as in
    eqs. 14-16), then updates ``W`` (eq. 13; the pathway's :meth:`apply`), the biases,
    applies the normalisations of each rule to its block of repetitions, and lets the
    pathway bring ``B`` up to date (:meth:`sync`).
    """
    stack = _stack(rule, net)
    p, eta = stack.pathway, stack.eta
    dfs = derivatives(net, Z, L)  # once, from L = f(Z): shared by the pathway and BP
    delta = deltas(net, Z, e, p, dfs)
    dW = weight_updates(L, delta, eta)
    dW_bp = None
    if isinstance(p, pathways.BP):
        dW_bp = dW
    elif compare_bp:
        dW_bp = weight_updates(L, deltas(net, Z, e, pathways.BP(), dfs), eta)
    p.apply(net, dW)
    if net.b is not None:
        db = bias_updates(delta, eta)
        net.b = [None if x is None else x + db[l] for l, x in enumerate(net.b)]
    _normalise(net, stack, start=False)
    p.sync(net, dW)
    return Step(e, Z, L, delta, dW, dW_bp)


def train_step(net: Network, rule: Rule | RuleStack, x: np.ndarray, target: np.ndarray, *,
               compare_bp: bool = False) -> Step:
    """One supervised step: forward, ``E = Y* - Y``, then :func:`learn`.

    The loss is ``1/2 sum E^2`` summed over the batch (Methods 4.1).
    """
    Z, L = forward(net, x)
    shape = tuple(target.shape) if hasattr(target, "shape") else np.shape(target)
    if shape[-2:] != tuple(L[-1].shape[-2:]):
        raise ValueError(
            f"targets have shape {shape} but the output Y has shape {tuple(L[-1].shape)}."
        )
    return learn(net, rule, Z, L, target - L[-1], compare_bp=compare_bp)


def runtime_streams(rng: Sequence[np.random.Generator], copies: int = 1
                    ) -> list[np.random.Generator]:
    """Return ``copies`` independent copies of each repetition's runtime stream, block by block.

    Stacked variants run the same repetitions; each variant draws from its own copy of a
    repetition's stream, so a variant's numbers are those of its run alone.
    """
    return [copy.deepcopy(g) for _ in range(int(copies)) for g in rng]
