"""A d-layer network over stacked repetitions, trained by BP or by FA (BP-TRW).

Shapes follow the paper's row-vector convention (Methods 4.1) with a leading
repetition axis ``R``:

- ``X = L_0``: ``R x n_b x n_0`` (or ``n_b x n_0``, shared by all repetitions),
- ``Z_l = L_{l-1} W_{l-1} (+ b_l)``, ``L_l = f(Z_l)``: ``R x n_b x n_l``, ``l = 1..d``,
- ``W_l``: ``R x n_l x n_{l+1}``, ``l = 0..d-1``,
- ``B_l``: ``R x n_{l+1} x n_l``, ``l = 1..d-1`` (``B[0]`` is ``None``: the
  error is never sent below layer 1).

Lists are indexed like the paper: ``W[l]``, ``B[l]``, ``Z[l]``, ``L[l]``,
``delta[l]`` (entries that do not exist are ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fa_lib import _checks, linalg
from fa_lib.activations import Activation, get

METHODS = ("bp", "fa")


@dataclass
class Network:
    """Weights of ``R`` stacked networks with the same layer sizes.

    Attributes
    ----------
    W : list of ndarray
        Forward weights ``W[l]``, ``R x n_l x n_{l+1}``.
    B : list of ndarray or None
        Feedback weights ``B[l]``, ``R x n_{l+1} x n_l``; ``B[0] is None``.
    activation : Activation
    b : list of ndarray or None
        Biases ``b[l]`` added to ``Z_l`` (``R x 1 x n_l``, ``b[0] is None``), or ``None``.
    """

    W: list[np.ndarray]
    B: list[np.ndarray | None]
    activation: Activation
    b: list[np.ndarray | None] | None = None

    def __post_init__(self) -> None:
        self.activation = get(self.activation)
        if len(self.W) < 1 or len(self.B) != len(self.W):
            raise ValueError(
                f"need d >= 1 weight matrices and as many B entries; got {len(self.W)} "
                f"and {len(self.B)}."
            )
        lead = np.shape(self.W[0])[:-2]
        for l, w in enumerate(self.W):
            _checks.ndim_at_least(f"W[{l}]", w, 3)
            if w.shape[:-2] != lead:
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
            if bl is None or bl.shape != linalg.transpose(w).shape:
                got = None if bl is None else bl.shape
                raise ValueError(
                    f"B[{l}] must have the shape of W[{l}]^T "
                    f"{linalg.transpose(w).shape}; got {got}."
                )
        if self.b is not None:
            if len(self.b) != len(self.W) + 1:
                raise ValueError(
                    f"b must list d + 1 = {len(self.W) + 1} entries (b[0] = None); "
                    f"got {len(self.b)}."
                )
            for l in range(1, len(self.W) + 1):
                expected = (*lead, 1, self.W[l - 1].shape[-1])
                got = None if self.b[l] is None else np.shape(self.b[l])
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
        """A deep copy (weights copied, activation shared)."""
        return Network(
            [w.copy() for w in self.W],
            [None if x is None else x.copy() for x in self.B],
            self.activation,
            None if self.b is None else [None if x is None else x.copy() for x in self.b],
        )


def init_network(
    rng: Sequence[np.random.Generator],
    sizes: Sequence[int],
    activation: str | Activation,
    *,
    sd: float = 1.0,
    biases: bool = False,
    bias_sd: float = 0.1,
    dtype: type = np.float64,
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
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list >= 2 positive layer widths; got {sizes}.")
    _checks.positive("sd", sd)
    if biases:
        _checks.positive("bias_sd", bias_sd)
    if isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a sequence of Generators, one per repetition (ensembles.streams)."
        )
    d = len(sizes) - 1
    per_rep = []
    for g in rng:
        w = [g.normal(0.0, sd, (sizes[l], sizes[l + 1])) for l in range(d)]
        b_fb = [g.normal(0.0, sd, (sizes[l + 1], sizes[l])) for l in range(1, d)]
        bias = [g.normal(0.0, bias_sd, (1, sizes[l])) for l in range(1, d + 1)] if biases else []
        per_rep.append((w, b_fb, bias))
    W = [np.stack([p[0][l] for p in per_rep]).astype(dtype) for l in range(d)]
    B: list[np.ndarray | None] = [None] + [
        np.stack([p[1][l - 1] for p in per_rep]).astype(dtype) for l in range(1, d)
    ]
    b = None
    if biases:
        b = [None] + [
            np.stack([p[2][l - 1] for p in per_rep]).astype(dtype) for l in range(1, d + 1)
        ]
    return Network(W, B, get(activation), b)


def forward(net: Network, x: np.ndarray) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """Forward pass: ``Z_l = L_{l-1} W_{l-1} (+ b_l)``, ``L_l = f(Z_l)``.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (R, n_b, n_0) or (n_b, n_0)

    Returns
    -------
    Z : list
        ``Z[0] is None``; ``Z[l]`` is ``R x n_b x n_l``.
    L : list
        ``L[0] = x``; ``L[l] = f(Z[l])``; ``L[d]`` is the output ``Y``.
    """
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
    x = x.astype(net.W[0].dtype, copy=False)
    f = net.activation.f
    Z: list[np.ndarray | None] = [None]
    L: list[np.ndarray] = [x]
    for l in range(net.depth):
        z = L[l] @ net.W[l]
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
    net: Network, Z: list[np.ndarray | None], e: np.ndarray, method: str,
    dfs: list[np.ndarray | None] | None = None,
) -> list[np.ndarray | None]:
    """Error signals of every layer (eqs. 15-18).

    ``delta_d = E * f'(Z_d)``; ``delta_l = delta_{l+1} M_l * f'(Z_l)`` for
    ``0 < l < d`` with ``M_l = W_l^T`` (BP, eq. 16) or ``M_l = B_l`` (FA, eq. 18).

    Returns
    -------
    list
        ``delta[0] is None``; ``delta[l]`` is ``R x n_b x n_l`` for ``l = 1..d``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    e = _checks.finite("E", _checks.ndim_at_least("E", e, 2))
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
    e = e.astype(zd.dtype, copy=False)
    if dfs is None:
        dfs = derivatives(net, Z)
    out: list[np.ndarray | None] = [None] * (d + 1)
    out[d] = e * dfs[d]
    for l in range(d - 1, 0, -1):
        back = linalg.transpose(net.W[l]) if method == "bp" else net.B[l]
        out[l] = (out[l + 1] @ back) * dfs[l]
    return out


def weight_updates(
    L: list[np.ndarray], delta: list[np.ndarray | None], eta: float
) -> list[np.ndarray]:
    """Update directions ``dW_l = eta L_l^T delta_{l+1}``, summed over the batch (eqs. 14, 19)."""
    eta = _checks.positive("eta", eta)
    return [eta * (linalg.transpose(L[l]) @ delta[l + 1]) for l in range(len(L) - 1)]


def bias_updates(delta: list[np.ndarray | None], eta: float) -> list[np.ndarray | None]:
    """Bias updates ``db_l = eta sum_batch delta_l`` (the bias as a weight from a constant 1)."""
    eta = _checks.positive("eta", eta)
    return [None] + [eta * dl.sum(axis=-2, keepdims=True) for dl in delta[1:]]


def normalise_columns(w: np.ndarray, gamma: float) -> np.ndarray:
    """Neuron-wise weight normalisation (eq. 32): every column of ``W`` rescaled to norm gamma.

    Column ``i`` of ``W_l`` holds the input weights of neuron ``i`` of layer ``l + 1``.
    """
    gamma = _checks.positive("gamma", gamma)
    norms = np.sqrt(np.einsum("...ij,...ij->...j", w, w))[..., None, :]
    if np.any(norms == 0):
        raise ValueError("cannot normalise a column of zeros to norm gamma.")
    return w * (gamma / norms)


def normalise_layer(w: np.ndarray, norm: float) -> np.ndarray:
    """Layer-wise normalisation ``W <- c W / |W|_F`` (Sec. 2.5; c = 7.07 = sqrt(50) there)."""
    norm = _checks.positive("norm", norm)
    return w * (norm / linalg.frobenius_norm(w))[..., None, None]


def match_norm(b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """B-norm matching ``B_l <- B_l |W_l|_F / |B_l|_F`` (Sec. 2.5)."""
    return b * (linalg.frobenius_norm(w) / linalg.frobenius_norm(b))[..., None, None]


@dataclass(frozen=True)
class Rule:
    """How a network learns: the method and the normalisations applied around each update.

    Attributes
    ----------
    method : {"fa", "bp"}
        FA / BP-TRW (eq. 18) or BP (eq. 16).
    eta : float
        Learning rate (> 0).
    wn_gamma : float or None
        Neuron-wise WN (eq. 32) after every update with this gamma, or ``None``.
    normalise_b : bool
        With WN: also rescale the columns of every ``B_l`` to gamma once at the start
        (Methods 4.4). The authors' code for Figs. 4, 8, S1, S3 does not.
    layer_norm : float or None
        Layer-wise normalisation ``W <- c W / |W|_F`` after every update, or ``None``.
    match_b : bool
        B-norm matching after every update.
    compare_bp : bool
        With FA: also compute the BP directions (for comparison only).
    """

    method: str = "fa"
    eta: float = 0.003
    wn_gamma: float | None = None
    normalise_b: bool = True
    layer_norm: float | None = None
    match_b: bool = False
    compare_bp: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}.")
        _checks.positive("eta", self.eta)
        if self.wn_gamma is not None:
            _checks.positive("gamma", self.wn_gamma)
        if self.layer_norm is not None:
            _checks.positive("layer_norm", self.layer_norm)
        if self.wn_gamma is not None and self.layer_norm is not None:
            raise ValueError(
                "choose neuron-wise WN (wn_gamma) or layer-wise normalisation, not both."
            )


def prepare(net: Network, rule: Rule) -> Network:
    """Apply the start-of-learning normalisations in place and return ``net``.

    With WN: columns of every ``W_l`` (and of every ``B_l`` if ``rule.normalise_b``)
    are rescaled to gamma (Methods 4.4). With B-norm matching: ``B_l`` takes ``|W_l|_F``.
    """
    if rule.wn_gamma is not None:
        net.W = [normalise_columns(w, rule.wn_gamma) for w in net.W]
        if rule.normalise_b:
            net.B = [None if x is None else normalise_columns(x, rule.wn_gamma) for x in net.B]
    if rule.layer_norm is not None:
        net.W = [normalise_layer(w, rule.layer_norm) for w in net.W]
    if rule.match_b:
        net.B = [None if x is None else match_norm(x, net.W[l]) for l, x in enumerate(net.B)]
    return net


@dataclass
class Step:
    """What one learning step computed (before the weights were changed).

    ``dW`` are the directions applied; ``dW_bp`` the BP directions computed for
    comparison (``None`` unless requested, or equal to ``dW`` for BP).
    """

    E: np.ndarray
    Z: list[np.ndarray | None]
    L: list[np.ndarray]
    delta: list[np.ndarray | None]
    dW: list[np.ndarray]
    dW_bp: list[np.ndarray] | None = None
    extra: dict = field(default_factory=dict)


def learn(net: Network, rule: Rule, Z: list, L: list, e: np.ndarray) -> Step:
    """One update of ``net`` in place, given the forward pass and the error ``E``.

    Computes the error signals by ``rule.method``, the directions (eqs. 14, 19),
    the BP comparison if requested (with the weights *before* the update, as in
    eqs. 14-16), then updates ``W`` (eq. 13) and applies the normalisations.
    """
    dfs = derivatives(net, Z, L)  # once, from L = f(Z): shared by FA and the BP comparison
    delta = deltas(net, Z, e, rule.method, dfs)
    dW = weight_updates(L, delta, rule.eta)
    dW_bp = None
    if rule.method == "bp":
        dW_bp = dW
    elif rule.compare_bp:
        dW_bp = weight_updates(L, deltas(net, Z, e, "bp", dfs), rule.eta)
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


def train_step(net: Network, rule: Rule, x: np.ndarray, target: np.ndarray) -> Step:
    """One supervised step: forward, ``E = Y* - Y``, then :func:`learn`.

    The loss is ``1/2 sum E^2`` summed over the batch (Methods 4.1).
    """
    Z, L = forward(net, x)
    if np.shape(target)[-2:] != L[-1].shape[-2:]:
        raise ValueError(
            f"targets have shape {np.shape(target)} but the output Y has shape {L[-1].shape}."
        )
    return learn(net, rule, Z, L, target - L[-1])


def ensure_finite(net: Network, iteration: int, eta: float) -> None:
    """Raise a clear error if any weight became NaN or Inf (a diverging run)."""
    for l, w in enumerate(net.W):
        if not np.all(np.isfinite(w)):
            raise FloatingPointError(
                f"the run diverged at iteration {iteration}: W[{l}] holds NaN or Inf "
                f"(eta = {eta}); lower the learning rate eta or use weight normalisation."
            )
