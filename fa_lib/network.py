"""A d-layer network over stacked repetitions: forward pass, error signals, updates, normalisations.

The learning rule that drives it (feedback pathway, learning rate, normalisations) is
:class:`fa_lib.rule.Rule`; the pathways (BP, FA, DFA, sign-symmetric, Kolen-Pollack,
weight mirror) are in :mod:`fa_lib.pathways`.

Shapes follow the paper's row-vector convention (Methods 4.1) with a leading
repetition axis ``R``:

- ``X = L_0``: ``R x n_b x n_0`` (or ``n_b x n_0``, shared by all repetitions),
- ``Z_l = L_{l-1} W_{l-1} (+ b_l)``, ``L_l = f(Z_l)``: ``R x n_b x n_l``, ``l = 1..d``,
- ``W_l``: ``R x n_l x n_{l+1}``, ``l = 0..d-1``,
- ``B_l``: ``R x n_{l+1} x n_l``, ``l = 1..d-1`` (``R x n_d x n_l`` for DFA; ``B[0]``
  is ``None``: the error is never sent below layer 1).

Lists are indexed like the paper: ``W[l]``, ``B[l]``, ``Z[l]``, ``L[l]``,
``delta[l]`` (entries that do not exist are ``None``).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fa_lib import _checks, linalg, pathways
from fa_lib import backend as backends
from fa_lib.activations import Activation, get
from fa_lib.backend import Backend, is_numpy, namespace


@dataclass
class Network:
    """Weights of ``R`` stacked networks with the same layer sizes.

    Attributes
    ----------
    W : list of ndarray
        Forward weights ``W[l]``, ``R x n_l x n_{l+1}``.
    B : list of ndarray or None
        Feedback weights ``B[l]``, ``R x n_{l+1} x n_l`` (the shape of ``W_l^T``) or
        ``R x n_d x n_l`` (DFA's direct matrices); ``B[0] is None``.
    activation : Activation
    b : list of ndarray or None
        Biases ``b[l]`` added to ``Z_l`` (``R x 1 x n_l``, ``b[0] is None``), or ``None``.
    state : dict
        What a pathway keeps between steps besides ``B`` (runtime streams ``"rng"``,
        frSF's ``"magnitudes"``); see :mod:`fa_lib.pathways`.
    """

    W: list[np.ndarray]
    B: list[np.ndarray | None]
    activation: Activation
    b: list[np.ndarray | None] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.activation = get(self.activation)
        if len(self.W) < 1 or len(self.B) != len(self.W):
            raise ValueError(
                f"need d >= 1 weight matrices and as many B entries; got {len(self.W)} "
                f"and {len(self.B)}."
            )
        lead = _shape(self.W[0])[:-2]
        for l, w in enumerate(self.W):
            _checks.ndim_at_least(f"W[{l}]", w, 3)
            if _shape(w)[:-2] != lead:
                raise ValueError(
                    f"W[{l}] has leading (repetition) axes {w.shape[:-2]} but W[0] has {lead}; "
                    "all layers must stack the same R repetitions."
                )
            if l > 0 and w.shape[-2] != self.W[l - 1].shape[-1]:
                raise ValueError(
                    f"W[{l}] has {w.shape[-2]} rows but W[{l - 1}] has {self.W[l - 1].shape[-1]} "
                    "columns; consecutive layers must match."
                )
            bl = self.B[l]
            if l == 0:
                continue
            n_d = self.W[-1].shape[-1]
            layerwise = (*lead, w.shape[-1], w.shape[-2])
            direct = (*lead, n_d, w.shape[-2])
            if bl is None or _shape(bl) not in (layerwise, direct):
                got = None if bl is None else _shape(bl)
                raise ValueError(
                    f"B[{l}] must have the shape of W[{l}]^T {layerwise} (or, for DFA, "
                    f"{direct}); got {got}."
                )
        if self.b is not None:
            if len(self.b) != len(self.W) + 1:
                raise ValueError(
                    f"b must list d + 1 = {len(self.W) + 1} entries (b[0] = None); "
                    f"got {len(self.b)}."
                )
            for l in range(1, len(self.W) + 1):
                expected = (*lead, 1, self.W[l - 1].shape[-1])
                got = None if self.b[l] is None else _shape(self.b[l])
                if got != expected:
                    raise ValueError(f"b[{l}] must have shape {expected}; got {got}.")

    @property
    def depth(self) -> int:
        """Number of weight layers ``d``."""
        return len(self.W)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_0, ..., n_d)``."""
        return (self.W[0].shape[-2], *(w.shape[-1] for w in self.W))

    @property
    def reps(self) -> int:
        """Number of stacked repetitions ``R``."""
        return self.W[0].shape[0]

    def copy(self) -> Network:
        """A deep copy (weights, state and streams copied, activation shared)."""
        cp = backends.copy
        return Network(
            [cp(w) for w in self.W],
            [None if x is None else cp(x) for x in self.B],
            self.activation,
            None if self.b is None else [None if x is None else cp(x) for x in self.b],
            copy.deepcopy(self.state),
        )


def _shape(x: Any) -> tuple[int, ...]:
    """The shape of an array of any namespace (a list's through NumPy)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def init_network(
    rng: Sequence[np.random.Generator],
    sizes: Sequence[int],
    activation: str | Activation,
    *,
    sd: float = 1.0,
    biases: bool = False,
    bias_sd: float = 0.1,
    dtype: type = np.float64,
    pathway: str | pathways.Pathway = "fa",
    backend: str | Backend | None = None,
) -> Network:
    """Draw ``R = len(rng)`` networks with iid ``N(0, sd^2)`` weights and feedback matrices.

    Each repetition draws from its own stream, in the order ``W_0 .. W_{d-1}``,
    ``B_1 .. B_{d-1}``, then biases, so a repetition is the same alone or stacked.

    Parameters
    ----------
    rng : sequence of Generator
        One stream per repetition (see :func:`fa_lib.ensembles.streams`).
    sizes : sequence of int
        ``(n_0, ..., n_d)``.
    activation : str or Activation
    sd : float
        Standard deviation of the weights (1 in the open-loop figures, 0.1 on MNIST).
    biases : bool
        Whether to add trained biases (the paper: no).
    bias_sd : float
        Standard deviation of the initial biases.
    dtype : type
        Precision of the arrays (the draws are made in float64 and rounded).
    pathway : str or Pathway
        The feedback pathway the network will learn with; it sets the shapes of ``B``
        (``W_l^T``'s, or ``n_d x n_l`` for DFA, :mod:`fa_lib.pathways`).
    backend : str or Backend, optional
        Where the arrays live (:func:`fa_lib.backend.get`; default NumPy). The numbers
        are drawn on the host whatever the backend, then moved to its device.

    Raises
    ------
    ValueError
        For sizes that are not positive integers, a non-positive ``sd``, or ``rng`` that is
        not a non-empty sequence of Generators.
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise ValueError(f"sizes must be a sequence of layer widths; got {sizes!r}.")
    if len(sizes) < 2 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise ValueError(
            f"sizes must list >= 2 layer widths, each a positive integer; got {list(sizes)}."
        )
    sizes = [int(s) for s in sizes]
    _checks.positive("sd", sd)
    if biases:
        _checks.positive("bias_sd", bias_sd)
    if isinstance(rng, np.random.Generator) or not isinstance(rng, Sequence) or not rng \
            or not all(isinstance(g, np.random.Generator) for g in rng):
        raise ValueError(
            "rng must be a non-empty sequence of numpy Generators, one per repetition "
            f"(fa_lib.ensembles.streams(seed, reps)); got {rng!r}."
        )
    path = pathways.get(pathway)
    d = len(sizes) - 1
    per_rep = []
    for g in rng:
        w = [g.normal(0.0, sd, (sizes[l], sizes[l + 1])) for l in range(d)]
        b_fb = [g.normal(0.0, sd, path.feedback_shape(sizes, l)) for l in range(1, d)]
        bias = [g.normal(0.0, bias_sd, (1, sizes[l])) for l in range(1, d + 1)] if biases else []
        per_rep.append((w, b_fb, bias))
    put = Backend().asarray if backend is None else backends.get(backend).asarray
    W = [put(np.stack([p[0][l] for p in per_rep]).astype(dtype)) for l in range(d)]
    B: list[np.ndarray | None] = [None] + [
        put(np.stack([p[1][l - 1] for p in per_rep]).astype(dtype)) for l in range(1, d)
    ]
    b = None
    if biases:
        b = [None] + [
            put(np.stack([p[2][l - 1] for p in per_rep]).astype(dtype)) for l in range(1, d + 1)
        ]
    return Network(W, B, get(activation), b)


def forward(net: Network, x: np.ndarray) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """Forward pass: ``Z_l = L_{l-1} W_{l-1} (+ b_l)``, ``L_l = f(Z_l)``.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (R, n_b, n_0) or (n_b, n_0)
        NumPy numbers for a network of another backend are moved to its device.

    Returns
    -------
    Z : list
        ``Z[0] is None``; ``Z[l]`` is ``R x n_b x n_l``.
    L : list
        ``L[0] = x``; ``L[l] = f(Z[l])``; ``L[d]`` is the output ``Y``.
    """
    x = _on_device(x, net.W[0])
    x = _checks.finite("X", _checks.ndim_at_least("X", x, 2))
    if x.shape[-1] != net.sizes[0]:
        raise ValueError(
            f"X has {x.shape[-1]} columns but the network has n_0 = {net.sizes[0]} inputs."
        )
    if x.ndim > 3 or (x.ndim == 3 and x.shape[0] not in (1, net.reps)):
        raise ValueError(
            f"X has {x.shape[0]} repetitions but the network has R = {net.reps}; "
            "expected X of shape "
            f"(R, n_b, n_0) or (n_b, n_0), got {x.shape}."
        )
    # Computed in the network's precision (a float32 network stays float32).
    x = _astype(x, net.W[0].dtype)
    f = net.activation.f
    Z: list[np.ndarray | None] = [None]
    L: list[np.ndarray] = [x]
    for l in range(net.depth):
        # a batch shared by all repetitions: one wide product for the first layer
        z = linalg.shared_matmul(x, net.W[0]) if l == 0 and x.ndim == 2 else L[l] @ net.W[l]
        if net.b is not None:
            z = z + net.b[l + 1]
        Z.append(z)
        L.append(f(z))
    return Z, L


def derivatives(
    net: Network, Z: list[np.ndarray | None], L: list[np.ndarray] | None = None
) -> list[np.ndarray | None]:
    """``f'(Z_l)`` for ``l = 1..d`` (``[0]`` is None), from ``L_l = f(Z_l)`` when given."""
    act = net.activation
    return [None] + [act.derivative(Z[l], None if L is None else L[l]) for l in range(1, len(Z))]


def deltas(
    net: Network, Z: list[np.ndarray | None], e: np.ndarray,
    pathway: str | pathways.Pathway,
    dfs: list[np.ndarray | None] | None = None,
) -> list[np.ndarray | None]:
    """Error signals of every layer (eqs. 15-18), through a feedback pathway.

    ``delta_d = E * f'(Z_d)``; ``delta_l = (delta M_l) * f'(Z_l)`` for ``0 < l < d``, with
    ``delta M_l`` given by the pathway (:meth:`fa_lib.pathways.Pathway.backward`):
    ``delta_{l+1} W_l^T`` for BP (eq. 16), ``delta_{l+1} B_l`` for FA (eq. 18),
    ``delta_d D_l`` for DFA, and so on.

    Parameters
    ----------
    net : Network
    Z : list
        The internal states of :func:`forward`.
    e : ndarray
        The error ``E`` at the output, ``R x n_b x n_d`` (or ``n_b x n_d``).
    pathway : str or Pathway
        A name of :data:`fa_lib.pathways.PATHWAYS` or an instance.
    dfs : list, optional
        ``f'(Z_l)`` from :func:`derivatives` (computed here when not given).

    Returns
    -------
    list
        ``delta[0] is None``; ``delta[l]`` is ``R x n_b x n_l`` for ``l = 1..d``.
    """
    path = pathways.get(pathway)
    e = _checks.finite("E", _checks.ndim_at_least("E", _on_device(e, Z[-1]), 2))
    d = net.depth
    if len(Z) != d + 1:
        raise ValueError(
            f"Z must list the d + 1 = {d + 1} internal states from forward() (Z[0] = None); "
            f"got {len(Z)}."
        )
    if e.shape[-1] != net.sizes[-1]:
        raise ValueError(
            f"E has {e.shape[-1]} columns but the network has n_d = {net.sizes[-1]} outputs."
        )
    zd = Z[d]
    if e.shape[-2:] != zd.shape[-2:] or e.shape[:-2] not in ((), (1,), zd.shape[:-2]):
        raise ValueError(
            f"E has shape {e.shape} but the output Z_d has shape {zd.shape}; E needs one row per "
            "sample of the batch (and the same repetitions)."
        )
    path.check(net)
    e = _astype(e, zd.dtype)
    if dfs is None:
        dfs = derivatives(net, Z)
    out: list[np.ndarray | None] = [None] * (d + 1)
    out[d] = e * dfs[d]
    for l in range(d - 1, 0, -1):
        out[l] = path.backward(net, l, out) * dfs[l]
    return out


def weight_updates(
    L: list[np.ndarray], delta: list[np.ndarray | None], eta: float
) -> list[np.ndarray]:
    """Update directions ``dW_l = eta L_l^T delta_{l+1}``, summed over the batch (eqs. 14, 19)."""
    eta = _checks.positive("eta", eta)
    return [eta * (linalg.shared_tmatmul(L[l], delta[l + 1]) if L[l].ndim == 2
                   and delta[l + 1].ndim > 2 else linalg.transpose(L[l]) @ delta[l + 1])
            for l in range(len(L) - 1)]


def bias_updates(delta: list[np.ndarray | None], eta: float) -> list[np.ndarray | None]:
    """Bias updates ``db_l = eta sum_batch delta_l`` (the bias as a weight from a constant 1)."""
    eta = _checks.positive("eta", eta)
    return [None] + [eta * namespace(dl).sum(dl, axis=-2, keepdims=True) for dl in delta[1:]]


def normalise_columns(w: np.ndarray, gamma: float) -> np.ndarray:
    """Neuron-wise weight normalisation (eq. 32): every column of ``W`` rescaled to norm gamma.

    Column ``i`` of ``W_l`` holds the input weights of neuron ``i`` of layer ``l + 1``.
    """
    gamma = _checks.positive("gamma", gamma)
    norms = linalg.column_norms(w)[..., None, :]
    if namespace(w).any(norms == 0):
        raise ValueError("cannot normalise a column of zeros to norm gamma.")
    return w * (gamma / norms)


def normalise_layer(w: np.ndarray, norm: float) -> np.ndarray:
    """Layer-wise normalisation ``W <- c W / |W|_F`` (Sec. 2.5; c = 7.07 = sqrt(50) there)."""
    norm = _checks.positive("norm", norm)
    return w * (norm / linalg.frobenius_norm(w))[..., None, None]


def match_norm(b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """B-norm matching ``B_l <- B_l |W_l|_F / |B_l|_F`` (Sec. 2.5)."""
    return b * (linalg.frobenius_norm(w) / linalg.frobenius_norm(b))[..., None, None]


def ensure_finite(net: Network, iteration: int, eta: float) -> None:
    """Raise a clear error if any weight (``W``, or a learning ``B``) became NaN or Inf."""
    for name, mats in (("W", net.W), ("B", net.B)):
        for l, w in enumerate(mats):
            if w is not None and not _all_finite(w):
                raise FloatingPointError(
                    f"the run diverged at iteration {iteration}: {name}[{l}] holds NaN or Inf "
                    f"(eta = {eta}); lower the learning rate eta or use weight normalisation."
                )


def _all_finite(w: np.ndarray) -> bool:
    xp = namespace(w)
    return bool(xp.all(xp.isfinite(w)))


def _on_device(x: Any, like: Any) -> Any:
    """``x`` on ``like``'s device when ``x`` is NumPy's and ``like`` another library's."""
    if like is None or is_numpy(namespace(like)) or not is_numpy(namespace(x)):
        return x
    return backends.asarray_like(x, like)


def _astype(x: Any, dtype: Any) -> Any:
    """``x`` in ``dtype`` (no copy when it already is)."""
    xp = namespace(x)
    if is_numpy(xp):
        return x.astype(dtype, copy=False)
    return xp.astype(x, dtype, copy=False)
