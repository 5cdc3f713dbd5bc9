"""Feedback pathways: how the output error travels down to the hidden layers.

A pathway is one class. It says which matrix carries the error from layer
``l + 1`` (or, for DFA, from the output) to layer ``l`` (:meth:`Pathway.backward`)
and, where the feedback weights learn or follow ``W``, how they change after each
update (:meth:`Pathway.apply`, :meth:`Pathway.sync`). Everything else (the forward
pass, ``f'(Z)``, the updates ``dW_l = eta L_l^T delta_{l+1}`` of eqs. 14 and 19,
the normalisations of :class:`fa_lib.rule.Rule`, the recorders) is shared by every
pathway.

Shapes follow :mod:`fa_lib.network`: ``delta_l`` is ``R x n_b x n_l``; the feedback
matrices are kept in ``net.B[l]`` (``l = 1..d-1``): ``R x n_{l+1} x n_l`` (the shape
of ``W_l^T``) for the layer-wise pathways, ``R x n_d x n_l`` for DFA. Every pathway
draws them at the start as FA does (iid ``N(0, sd^2)``, from the weights' stream,
right after ``W``), so that runs of different pathways with one seed start from the
same ``W`` and, where the pathway keeps magnitudes or a learning ``B``, from the same
``B``. Runtime randomness (brSF's magnitudes, the weight mirror's noise) comes from
a stream of its own per repetition, kept in ``net.state["rng"]``.

==========  ===============================================================  ====================
name        backward matrix ``M_l`` in ``delta_l = (delta M_l) * f'(Z_l)``   feedback weights
==========  ===============================================================  ====================
``bp``      ``W_l^T`` (eq. 16)                                               drawn, unused
``fa``      ``B_l`` (eq. 18, BP-TRW)                                         fixed
``dfa``     ``D_l``, applied to ``delta_d`` (Nøkland 2016)                   fixed
``usf``     ``s_l sign(W_l^T)``                                              follow ``W``
``frsf``    ``|R_l| * sign(W_l^T)``, ``R_l`` fixed                           follow ``W``'s signs
``brsf``    ``|R_l[k]| * sign(W_l^T)``, ``R_l[k]`` redrawn every batch       follow ``W``'s signs
``kp``      ``B_l``, which receives ``dW_l^T`` and decays (Kolen-Pollack)    learn
``wm``      ``B_l``, learned in a mirror phase from noise (weight mirror)    learn
==========  ===============================================================  ====================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import special

from fa_lib import _checks, linalg
from fa_lib.backend import asarray_like, is_numpy, namespace, to_numpy

if TYPE_CHECKING:  # pragma: no cover
    from fa_lib.network import Network

__all__ = [
    "BP",
    "DFA",
    "FA",
    "PATHWAYS",
    "BatchRandomSignSymmetric",
    "FixedRandomSignSymmetric",
    "KolenPollack",
    "Pathway",
    "UniformSignSymmetric",
    "WeightMirror",
    "get",
    "register",
]


@dataclass(frozen=True)
class Pathway:
    """Base class of a feedback pathway (subclass it, set ``name`` and override what differs).

    The base class is FA's behaviour: ``M_l = B_l``, ``B`` fixed. A subclass that
    only changes the backward matrix overrides :meth:`backward`; one whose ``B``
    learns overrides :meth:`apply` or :meth:`sync`.

    Class attributes
    ----------------
    name : str
        The name by which :func:`get` finds the pathway.
    layerwise : bool
        ``B_l`` carries ``delta_{l+1}`` and has the shape of ``W_l^T`` (False for DFA:
        then ``W_l ∠ B_l^T`` and the alignment terms are undefined and not recorded).
    keeps_b : bool
        ``B`` holds numbers of its own between steps (drawn, fixed or learned), so that
        normalising its columns at the start (``Rule.normalise_b``) means something.
    fixed_b : bool
        ``B`` never changes on its own, so that B-norm matching (``Rule.match_b``)
        means something.
    uses_b : bool
        The backward pass reads ``B`` (False for BP).
    """

    name: ClassVar[str] = ""
    layerwise: ClassVar[bool] = True
    keeps_b: ClassVar[bool] = True
    fixed_b: ClassVar[bool] = True
    uses_b: ClassVar[bool] = True

    # ------------------------------------------------------------------ description

    def params(self) -> dict[str, Any]:
        """Return the pathway's parameters (its dataclass fields) as a plain dict."""
        return dataclasses.asdict(self)

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., **params}``: the pathway in a cache key."""
        return {"name": self.name, **self.params()}

    def feedback_shape(self, sizes: Sequence[int], l: int) -> tuple[int, int]:
        """Shape (without the repetition axis) of ``B_l`` for layer widths ``sizes``."""
        return (sizes[l + 1], sizes[l])

    def check(self, net: Network) -> None:
        """Raise ValueError unless ``net.B`` has the shapes this pathway needs (BP needs none)."""
        for l in range(1, net.depth) if self.uses_b else ():
            want = (*net.W[l].shape[:-2], *self.feedback_shape(net.sizes, l))
            got = None if net.B[l] is None else tuple(net.B[l].shape)
            if got != want:
                raise ValueError(
                    f"the {self.name!r} pathway needs B[{l}] of shape {want}; got {got} "
                    f"(draw the network with init_network(..., pathway={self.name!r}))."
                )

    # ------------------------------------------------------------------ learning

    def start(self, net: Network) -> None:
        """Set up ``net.B`` (and ``net.state``) before the first step; the default: nothing."""

    def backward(self, net: Network, l: int, delta: list[np.ndarray | None]) -> np.ndarray:
        """Return ``delta_{l+1} M_l`` (before the product with ``f'(Z_l)``): FA's ``delta B_l``."""
        return delta[l + 1] @ net.B[l]

    def apply(self, net: Network, dW: list[np.ndarray]) -> None:
        """Apply the directions: ``W_l <- W_l + dW_l`` (eq. 13), in new arrays."""
        net.W = [w + dw for w, dw in zip(net.W, dW, strict=True)]

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """After the update and the normalisations, make ``net.B`` what the next step uses."""


@dataclass(frozen=True)
class BP(Pathway):
    """Backpropagation (eq. 16): ``delta_l = (delta_{l+1} W_l^T) * f'(Z_l)``.

    ``B`` is drawn as for FA and not used by the learning; it is kept so that BP and FA
    runs of one seed start from the same weights, and ``W_l ∠ B_l^T`` of a BP run shows
    how a random ``B`` relates to BP's weights.
    """

    name: ClassVar[str] = "bp"
    fixed_b: ClassVar[bool] = False
    uses_b: ClassVar[bool] = False

    def backward(self, net: Network, l: int, delta: list[np.ndarray | None]) -> np.ndarray:
        """Return ``delta_{l+1} W_l^T``."""
        return delta[l + 1] @ linalg.transpose(net.W[l])


@dataclass(frozen=True)
class FA(Pathway):
    """Feedback alignment, BP-TRW (eq. 18; :cite:`lillicrap2016random`).

    ``delta_l = (delta_{l+1} B_l) * f'(Z_l)`` with fixed random ``B_l`` of the shape of
    ``W_l^T``.
    """

    name: ClassVar[str] = "fa"


@dataclass(frozen=True)
class DFA(Pathway):
    """Direct feedback alignment (:cite:`nokland2016direct`).

    Each hidden layer receives the output error through its own fixed random matrix:
    ``delta_l = (delta_d D_l) * f'(Z_l)``, ``D_l`` of shape ``n_d x n_l`` (kept in
    ``net.B[l]``). With one hidden layer (``d = 2``) ``D_1`` has the shape of ``B_1``,
    is drawn from the same numbers, and DFA is FA.
    """

    name: ClassVar[str] = "dfa"
    layerwise: ClassVar[bool] = False
    uniform_from: float | None = None

    def __post_init__(self) -> None:  # noqa: D105
        if self.uniform_from is not None:
            object.__setattr__(self, "uniform_from", _checks.real(
                "uniform_from (the SD D was drawn with)", self.uniform_from, low=0.0,
                strict=True))

    def params(self) -> dict[str, Any]:
        """The parameters; ``uniform_from`` only when set (the cache keys of plain DFA stay)."""
        return {} if self.uniform_from is None else {"uniform_from": self.uniform_from}

    def feedback_shape(self, sizes: Sequence[int], l: int) -> tuple[int, int]:
        """``D_l``: ``n_d x n_l``."""
        return (sizes[-1], sizes[l])

    def start(self, net: Network) -> None:
        """With ``uniform_from``: Nøkland's scale, ``D_l`` uniform on ``±1/sqrt(n_l)``.

        Each number drawn ``N(0, uniform_from^2)`` goes through the normal CDF to a uniform
        number (``2 Phi(x / sd) - 1``, one to one), so the run keeps its draw and its seed.
        """
        if self.uniform_from is None:
            return
        for l in range(1, net.depth):
            b = net.B[l]
            # on the host (scipy's ndtr), once at the start
            u = 2.0 * special.ndtr(to_numpy(b).astype(np.float64) / self.uniform_from) - 1.0
            net.B[l] = asarray_like(u / np.sqrt(b.shape[-1]), b)

    def backward(self, net: Network, l: int, delta: list[np.ndarray | None]) -> np.ndarray:
        """Return ``delta_d D_l``."""
        return delta[-1] @ net.B[l]


def _column_norms(w: np.ndarray) -> np.ndarray:
    """The norm of every column of ``W`` (``R x n_{l+1}``): what WN (eq. 32) rescales to gamma."""
    return linalg.column_norms(w)


def _signs(net: Network, l: int) -> np.ndarray:
    """``sign(W_l^T)`` in ``W``'s precision."""
    w = net.W[l]
    return namespace(w).sign(linalg.transpose(w))


def _astype(x: np.ndarray, dtype: object) -> np.ndarray:
    xp = namespace(x)
    return x.astype(dtype) if is_numpy(xp) else xp.astype(x, dtype)


@dataclass(frozen=True)
class UniformSignSymmetric(Pathway):
    """Uniform sign-concordant feedback, uSF (:cite:`liao2016important`; biotorch's name).

    ``B_l = s_l sign(W_l^T)``, recomputed from the current ``W_l`` after every update.
    The scale is ``s_l = |W_l|_F / sqrt(n_l n_{l+1})``, the root mean square of
    ``W_l``'s entries, per repetition: ``B_l`` then has ``W_l^T``'s Frobenius norm, the
    size of BP's feedback (biotorch scales ``sign(W)`` by the Xavier SD
    ``sqrt(2 / (fan_in + fan_out))`` instead; here the weights start at the book's own
    SD and grow, and a fixed scale would let the error signal drift from BP's size).
    """

    name: ClassVar[str] = "usf"
    keeps_b: ClassVar[bool] = False
    fixed_b: ClassVar[bool] = False

    def _refresh(self, net: Network) -> None:
        for l in range(1, net.depth):
            w = net.W[l]
            size = w.shape[-2] * w.shape[-1]
            # NumPy: a float64 scalar, so that a float32 W's scale is computed in float64
            s = linalg.frobenius_norm(w) / (np.sqrt(size) if is_numpy(namespace(w))
                                            else math.sqrt(size))
            net.B[l] = _astype(s[..., None, None], w.dtype) * _signs(net, l)

    def start(self, net: Network) -> None:
        """``B_l = s_l sign(W_l^T)`` of the starting weights."""
        self._refresh(net)

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """``B_l = s_l sign(W_l^T)`` of the updated weights."""
        self._refresh(net)


@dataclass(frozen=True)
class FixedRandomSignSymmetric(Pathway):
    """Fixed random-magnitude sign-concordant feedback, frSF (:cite:`liao2016important`).

    ``B_l = |R_l| * sign(W_l^T)`` (element-wise), with ``R_l`` the matrix drawn at the
    start as FA's ``B_l`` (so frSF's magnitudes are FA's) and fixed; the signs follow
    the current ``W_l``.
    """

    name: ClassVar[str] = "frsf"
    fixed_b: ClassVar[bool] = False

    def start(self, net: Network) -> None:
        """Keep ``|R_l|`` (the drawn ``B_l``, normalised if the rule says so) in ``net.state``."""
        net.state["magnitudes"] = [None if b is None else namespace(b).abs(b) for b in net.B]
        self.sync(net, [])

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """``B_l = |R_l| * sign(W_l^T)`` of the current weights."""
        mags = net.state["magnitudes"]
        for l in range(1, net.depth):
            net.B[l] = mags[l] * _signs(net, l)


@dataclass(frozen=True)
class BatchRandomSignSymmetric(Pathway):
    """Batchwise random-magnitude sign-concordant feedback, brSF (:cite:`liao2016important`).

    ``B_l = |R_l[k]| * sign(W_l^T)`` with ``R_l[k]`` iid ``N(0, sd^2)`` redrawn for every
    batch from each repetition's own runtime stream (``net.state["rng"]``).

    Attributes
    ----------
    sd : float
        SD of the redrawn ``R_l[k]`` (default 0.1, the SD of the initial weights on MNIST;
        the angle of ``B_l`` with ``W_l^T`` does not depend on it).
    """

    name: ClassVar[str] = "brsf"
    keeps_b: ClassVar[bool] = False
    fixed_b: ClassVar[bool] = False
    sd: float = 0.1

    def __post_init__(self) -> None:  # noqa: D105
        object.__setattr__(self, "sd", _checks.real("brsf sd", self.sd, low=0.0, strict=True))

    def start(self, net: Network) -> None:
        """Draw the first magnitudes."""
        self.sync(net, [])

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """Redraw ``R_l`` for the next batch and set ``B_l = |R_l| * sign(W_l^T)``."""
        rng = _runtime_rng(net, self.name)
        for l in range(1, net.depth):
            shape = tuple(net.B[l].shape[1:])
            mags = np.stack([np.abs(g.normal(0.0, self.sd, shape)) for g in rng])
            net.B[l] = asarray_like(mags, net.W[l]) * _signs(net, l)


@dataclass(frozen=True)
class KolenPollack(Pathway):
    """Kolen-Pollack learning of ``B`` (:cite:`akrout2019deep`).

    ``B_l`` receives the transpose of ``W_l``'s update, and both decay:
    ``W_l <- (1 - lambda) W_l + dW_l``, ``B_l <- (1 - lambda) B_l + dW_l^T``, so that
    ``W_l^T - B_l`` shrinks by the factor ``(1 - lambda)`` at every step (exactly, without
    a normalisation of ``W``; with WN the columns of ``W`` are rescaled after this step
    and ``B`` is not, so the difference no longer shrinks by exactly that factor).

    Attributes
    ----------
    decay : float
        ``lambda`` in ``[0, 1)``, per step.
    """

    name: ClassVar[str] = "kp"
    fixed_b: ClassVar[bool] = False
    decay: float = 1e-3
    follow_wn: bool = False

    def __post_init__(self) -> None:  # noqa: D105
        lam = _checks.real("Kolen-Pollack decay (lambda)", self.decay, low=0.0, strict=False)
        if lam >= 1.0:
            raise ValueError(f"Kolen-Pollack decay (lambda) must be < 1; got {self.decay!r}.")
        object.__setattr__(self, "decay", lam)
        if not isinstance(self.follow_wn, bool | np.bool_):
            raise TypeError(f"follow_wn must be a bool; got {self.follow_wn!r}.")
        object.__setattr__(self, "follow_wn", bool(self.follow_wn))

    def params(self) -> dict[str, Any]:
        """The parameters; ``follow_wn`` only when set (the cache keys of plain KP stay)."""
        return {"decay": self.decay, **({"follow_wn": True} if self.follow_wn else {})}

    def apply(self, net: Network, dW: list[np.ndarray]) -> None:
        """``W <- (1 - lambda) W + dW``, ``B_l <- (1 - lambda) B_l + dW_l^T``."""
        keep = 1.0 - self.decay
        net.W = [keep * w + dw for w, dw in zip(net.W, dW, strict=True)]
        net.B = [None if b is None else keep * b + linalg.transpose(dW[l])
                 for l, b in enumerate(net.B)]
        if self.follow_wn:
            net.state["kp_norms"] = [_column_norms(w) for w in net.W]

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """With ``follow_wn``: row ``j`` of ``B_l`` takes WN's factor of column ``j`` of ``W_l``.

        WN (eq. 32) rescales the columns of ``W`` after :meth:`apply`; ``B`` receives the
        same rescaling, so that ``W_l^T - B_l`` keeps shrinking by ``(1 - lambda)`` times
        WN's factors at every step. Without a normalisation the factors are 1.
        """
        if not self.follow_wn:
            return
        before = net.state.pop("kp_norms")
        for l in range(1, net.depth):
            factor = _column_norms(net.W[l]) / before[l]
            net.B[l] = net.B[l] * _astype(factor[..., :, None], net.B[l].dtype)


@dataclass(frozen=True)
class WeightMirror(Pathway):
    """Weight mirror (:cite:`akrout2019deep`): ``B`` learns from noise sent through ``W``.

    After every learning step (and its normalisations), a mirror phase: for each
    ``l = 1..d-1`` noise ``xi_l`` (``batch x n_l``, iid ``N(0, noise_sd^2)``, from each
    repetition's runtime stream) is driven into layer ``l``, the next layer receives
    ``y = xi_l W_l`` (linearly), and
    ``B_l <- B_l + eta_b y^T xi_l - decay_b B_l``. Since
    ``E[y^T xi_l] = batch noise_sd^2 W_l^T``, ``B_l`` tends to
    ``(eta_b batch noise_sd^2 / decay_b) W_l^T``; the defaults make that factor 1.

    Attributes
    ----------
    eta_b : float
        Learning rate of the mirror (> 0).
    decay_b : float
        Decay ``lambda_B`` of ``B`` per mirror step (>= 0).
    noise_sd : float
        SD of the noise (> 0).
    batch : int
        Rows of noise per mirror step.
    """

    name: ClassVar[str] = "wm"
    fixed_b: ClassVar[bool] = False
    eta_b: float = 2e-4
    decay_b: float = 0.01
    noise_sd: float = 1.0
    batch: int = 50

    def __post_init__(self) -> None:  # noqa: D105
        object.__setattr__(self, "eta_b", _checks.real("weight-mirror eta_b", self.eta_b, low=0.0,
                                                  strict=True))
        object.__setattr__(self, "decay_b", _checks.real("weight-mirror decay_b", self.decay_b,
                                                    low=0.0, strict=False))
        object.__setattr__(self, "noise_sd", _checks.real("weight-mirror noise_sd", self.noise_sd,
                                                      low=0.0, strict=True))
        object.__setattr__(self, "batch", _checks.whole("weight-mirror batch", self.batch))

    def sync(self, net: Network, dW: list[np.ndarray]) -> None:
        """One mirror step on every ``B_l``."""
        rng = _runtime_rng(net, self.name)
        keep = 1.0 - self.decay_b
        for l in range(1, net.depth):
            n_l = net.W[l].shape[-2]
            xi = np.stack([g.normal(0.0, self.noise_sd, (self.batch, n_l)) for g in rng])
            xi = asarray_like(xi, net.W[l])
            y = xi @ net.W[l]
            net.B[l] = keep * net.B[l] + self.eta_b * (linalg.transpose(y) @ xi)


def _runtime_rng(net: Network, name: str) -> list[np.random.Generator]:
    rng = net.state.get("rng")
    if rng is None or len(rng) != net.reps:
        got = None if rng is None else len(rng)
        raise ValueError(
            f"the {name} pathway draws at every step: net.state['rng'] must hold one Generator "
            f"per repetition ({net.reps}); got {got}. The engines (training.run, "
            "openloop.run_openloop) set it; elsewhere pass rng= to fa_lib.rule.prepare."
        )
    return rng


PATHWAYS: dict[str, type[Pathway]] = {}
"""Every pathway class by name (:func:`register` adds one)."""


def register(cls: type[Pathway]) -> type[Pathway]:
    """Make a :class:`Pathway` subclass selectable by its ``name`` (usable as a decorator).

    Raises
    ------
    ValueError
        If the class has no name, or the name is taken by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Pathway)) or not cls.name:
        raise ValueError(f"register needs a Pathway subclass with a name; got {cls!r}.")
    if PATHWAYS.get(cls.name, cls) is not cls:
        raise ValueError(f"a pathway named {cls.name!r} is already registered "
                         f"({PATHWAYS[cls.name].__qualname__}).")
    PATHWAYS[cls.name] = cls
    return cls


for _cls in (BP, FA, DFA, UniformSignSymmetric, FixedRandomSignSymmetric,
             BatchRandomSignSymmetric, KolenPollack, WeightMirror):
    register(_cls)


def get(pathway: str | Pathway, **params: Any) -> Pathway:
    """Return a pathway instance from its name (with parameters) or the instance itself.

    Parameters
    ----------
    pathway : str or Pathway
        A name of :data:`PATHWAYS` (``"bp"``, ``"fa"``, ``"dfa"``, ``"usf"``, ``"frsf"``,
        ``"brsf"``, ``"kp"``, ``"wm"``) or an instance.
    **params
        The pathway's parameters (e.g. ``decay`` for ``"kp"``); only with a name.

    Raises
    ------
    ValueError
        For an unknown name, or parameters the pathway does not have.
    """
    if isinstance(pathway, Pathway):
        if params:
            raise ValueError("give parameters with a pathway's name, not with an instance.")
        return pathway
    if not isinstance(pathway, str) or pathway not in PATHWAYS:
        raise ValueError(
            f"unknown feedback pathway {pathway!r}; expected one of {sorted(PATHWAYS)} "
            "or a fa_lib.pathways.Pathway instance."
        )
    cls = PATHWAYS[pathway]
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(params) - names)
    if extra:
        raise ValueError(f"pathway {pathway!r} has no parameter(s) {extra}; "
                         f"it has {sorted(names) or 'none'}.")
    return cls(**params)
