"""Training stacked repetitions of a deep network on MNIST, with per-iteration recorders.

The setting of Sec. 2.5 and Methods 4.3, 4.9: the training set split into fixed
mini-batches that are visited in the same order every epoch (never reshuffled);
targets are mutually exclusive n-hot codes of the 10 classes; ``E = Y* - Y``
with the loss ``1/2 sum E^2`` summed over the batch; the network is that of
:mod:`fa_lib.network` and it learns by a :class:`fa_lib.rule.Rule` (any feedback
pathway of :mod:`fa_lib.pathways`, any normalisation), stacked over ``R``
repetitions (one independent random stream each).

A run is described by one :class:`TrainConfig`; :func:`run` trains it and
returns NumPy arrays filled in place, iteration by iteration:

==================  ===========================  ==============================================
key                 shape                        content
==================  ===========================  ==============================================
``w_bt``            ``n_iter x R x (d-1)``       ``W_l ∠ B_l^T`` (eq. 33), ``l = 1..d-1``, with
                                                 the weights used at iteration ``k`` (NaN for
                                                 DFA, whose ``D_l`` is not ``W_l^T``-shaped)
``norm_w``          ``n_iter x R x d``           ``|W_l|_F``, ``l = 0..d-1``, same weights
``loss``            ``n_iter x R``               ``1/2 sum E^2`` per sample (mean over the batch)
``active``          ``n_iter x R x d``           fraction of the ``Z_l`` entries of the batch that
                                                 are > 0 (units not silent), ``l = 1..d``
``dw_bp``           ``n_iter x R x d``           ``dW_l ∠ dW_l,BP`` (``record_bp``; 0 for BP)
``prod_bt``         ``n_iter x R x (d-1)``       ``B_{d-1}...B_l ∠ W_{d-1}^T...W_l^T``, the backward
                                                 products from the output to layer ``l``
                                                 (eqs. 10-11), ``l = 1..d-1``, same weights
                                                 (``record_products``)
``dw_bt``           ``n_iter x R x (d-1)``       ``dW_l ∠ B_l^T`` (``record_terms``)
``t{o}_aln``        ``n_iter x R x (d-1)``       ``T^o_l,aln ∠ B_l^T`` (eq. 21, ``record_terms``)
``t{o}_sup``        ``n_iter x R x (d-1)``       ``T^o_l,sup ∠ B_l^T`` (eq. 22, ``record_terms``)
``trace_L``         ``n_iter x R x d x n_tr``    chosen elements of ``L_l``, ``l = 1..d``
``trace_delta``     ``n_iter x R x d x n_tr``    the same elements of ``delta_l``
``test_acc``        ``(epochs + 1) x R``         test accuracy before training and after each
                                                 epoch
``val_acc``         ``(epochs + 1) x R``         instead of ``test_acc`` when ``holdout > 0``:
                                                 accuracy on the held-out training images
``codes``           ``R x 10 x width``           the n-hot code of every class
``codes_after``     ``R x 10 x width``           the new codes from ``relabel_epoch`` on; test
                                                 accuracy after each later epoch uses them
``acc_relabel``     ``R``                        test accuracy with the new codes at the change
``z_snapshot``      ``R x batch_size x width``   ``Z_d`` at the last iteration of ``snapshot_epoch``
``diverged_at``     ``()``                       first iteration with NaN/Inf weights, or -1
``final_w{l}``      ``R x n_l x n_{l+1}``        ``W_l`` after the last iteration, ``l = 0..d-1``,
                                                 in the run's dtype (``record_final``)
``final_b{l}``      ``R x 1 x n_l``              the bias ``b_l`` after the last iteration,
                                                 ``l = 1..d`` (``record_final`` with ``biases``)
==================  ===========================  ==============================================

Entries that were not computed (terms off the ``terms_every`` grid, iterations
before ``o``, iterations after a divergence, angles with a zero matrix) are NaN. A run
stopped on a divergence never reaches its end: its ``final_w{l}`` and ``final_b{l}``
are NaN in every repetition (like the last row of ``test_acc``), not the weights at
the stop.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from dataclasses import dataclass

import numpy as np

from fa_lib import _checks, cache, ensembles, linalg, mnist, terms
from fa_lib import backend as backends
from fa_lib.backend import Backend, is_numpy, namespace, to_numpy
from fa_lib.network import Network, ensure_finite, forward, init_network
from fa_lib.rule import Rule, Step, learn, prepare

N_CLASSES = 10
"""Number of MNIST classes."""

ACTIVATION = "tanh_relu"
"""The activation of every layer of the trained networks (:mod:`fa_lib.activations`)."""

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (also the key of its cache entry).

    Attributes
    ----------
    width : int
        Neurons in every hidden layer and in the output layer (50 or 100 in Sec. 2.5).
    depth : int
        Number of weight layers ``d`` (5: 225-50-50-50-50-50).
    n_hot : int or None
        Ones per class code (Methods 4.9); ``None`` means ``width // 10`` (5-hot for
        width 50, 10-hot for width 100).
    rule : Rule
        The learning rule (:class:`fa_lib.rule.Rule`): the feedback pathway (BP, FA,
        DFA, ...), the learning rate per batch and the normalisations (WN with ``B``
        normalised or as drawn, layer-wise, B-norm matching).
    epochs, reps, seed : int
        Epochs, stacked repetitions ``R``, and the seed of :func:`fa_lib.ensembles.streams`.
    n_batches : int
        How many of the fixed mini-batches (in their original order) make an epoch
        (60 = the whole training set; fewer at quick scale).
    batch_size : int
        Samples per mini-batch (1000).
    n_test : int or None
        Test accuracy on the first ``n_test`` test images (None: all 10,000).
    image_size : int
        Side of the resized images (15: 225 inputs).
    init_sd : float
        SD of the iid normal entries of every ``W_l`` and ``B_l`` (0.1).
    biases : bool
        Train biases (initial SD 0.1) as in the authors' later code; the paper: none.
    dtype : {"float32", "float64"}
        Precision of the whole computation (the authors' code: float32).
    record_bp : bool
        Record ``dW_l ∠ dW_l,BP`` (computes the BP directions for comparison only).
    record_terms : bool
        Record ``dW_l ∠ B_l^T`` and the angles with ``B_l^T`` of the alignment terms
        ``T^o_aln`` (eq. 21) for ``o`` in ``aln_orders`` and of ``T^o_sup`` (eq. 22) for
        ``o`` in ``sup_orders``, in every hidden layer, at every ``terms_every``-th iteration.
    aln_orders, sup_orders : tuple of int
        Orders of the recorded terms (Fig. 7: ``(1, 60)`` and ``(1,)``).
    terms_every : int
        Iteration step of the terms (they cost about as much as a training step);
        it must divide every order of ``aln_orders`` and ``sup_orders`` larger than 1.
    n_traces : int
        Number of elements of ``L_l`` and ``delta_l`` traced per layer (Fig. 7A, B).
    relabel_epoch : int or None
        Flexibility (Sec. 2.6, Methods 4.9): after this many epochs every repetition draws
        new mutually exclusive codes from its own code stream and trains on them; ``None``: never.
    label_smoothing : (float, float) or None
        Train on smoothed targets ``(low, high)``: zeros -> low, ones -> high (Supp. Note 4:
        (0.05, 0.95); the authors' code: (0.05, 1.0); :func:`fa_lib.mnist.label_smoothing`).
        Decoding still uses the 0/1 codes. ``None``: the 0/1 codes.
    snapshot_epoch : int or None
        Keep ``Z_d`` of the forward pass of the last iteration of this epoch (Fig. 8B).
    record_products : bool
        Record the angle between the backward products ``B_{d-1}...B_l`` and
        ``W_{d-1}^T...W_l^T`` (eqs. 10-11) at every iteration; needs a pathway with a
        ``B`` of ``W^T``'s shape.
    holdout : int
        Training images held out at the end of the training set as a validation set
        (0: none). The mini-batches are cut from the images before them, and accuracy is
        measured on the held-out images (``val_acc``) instead of the test set, which such
        a run never reads: for choosing learning rates.
    record_final : bool
        Keep the weights (and biases) of every repetition after the last iteration
        (``final_w{l}``, ``final_b{l}``), e.g. for the linear read-outs of
        :mod:`fa_lib.readout`. Left out of :meth:`as_dict` when False, so the cache keys
        of the runs without it are those written before it existed.
    """

    width: int = 50
    depth: int = 5
    n_hot: int | None = None
    rule: Rule = Rule("fa", eta=0.0005)
    epochs: int = 100
    reps: int = 10
    seed: int = 0
    n_batches: int = 60
    batch_size: int = 1000
    n_test: int | None = None
    image_size: int = 15
    init_sd: float = 0.1
    biases: bool = False
    dtype: str = "float32"
    record_bp: bool = False
    record_terms: bool = False
    aln_orders: tuple[int, ...] = (1, 60)
    sup_orders: tuple[int, ...] = (1,)
    terms_every: int = 1
    n_traces: int = 0
    relabel_epoch: int | None = None
    label_smoothing: tuple[float, float] | None = None
    snapshot_epoch: int | None = None
    record_products: bool = False
    holdout: int = 0
    record_final: bool = False

    def __post_init__(self) -> None:  # noqa: D105
        if not isinstance(self.rule, Rule):
            raise TypeError(f"rule must be a fa_lib.rule.Rule; got {self.rule!r}.")
        for name in ("width", "depth", "epochs", "reps", "n_batches", "batch_size",
                     "image_size", "terms_every"):
            _checks.whole(name, getattr(self, name), floats=False)
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 weight layers (FA needs a B); got {self.depth}.")
        _checks.whole("seed", self.seed, 0, floats=False)
        _checks.whole("n_traces", self.n_traces, 0, floats=False)
        _checks.whole("holdout", self.holdout, 0, floats=False)
        if not isinstance(self.record_final, bool | np.bool_):
            raise TypeError(f"record_final must be a bool; got {self.record_final!r}.")
        for name in ("n_test", "n_hot"):  # None: all test images; width // 10
            if getattr(self, name) is not None:
                _checks.whole(name, getattr(self, name), floats=False)
        if self.n_traces > min(self.batch_size, self.width):
            raise ValueError(f"n_traces must be <= batch_size and width; got {self.n_traces}.")
        if self.hot * N_CLASSES > self.width:
            raise ValueError(
                f"{N_CLASSES} mutually exclusive {self.hot}-hot codes need width >= "
                f"{self.hot * N_CLASSES}; got width {self.width}."
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}; got {self.dtype!r}.")
        _checks.real("init_sd", self.init_sd)
        p = self.rule.pathway
        if self.record_terms and not (p.layerwise and p.uses_b):
            raise ValueError(
                "record_terms follows the angles of the alignment terms with B^T: it needs a "
                f"pathway that uses a B of W^T's shape; got {p.name!r}."
            )
        if self.record_products and not (p.layerwise and p.uses_b):
            raise ValueError(
                "record_products compares the products of B with those of W^T: it needs a "
                f"pathway that uses a B of W^T's shape; got {p.name!r}."
            )
        for o in (*self.aln_orders, *self.sup_orders):
            if not isinstance(o, int | np.integer) or o < 1:
                raise ValueError(f"term orders must be positive integers; got {o!r}.")
            if o > 1 and o % self.terms_every:
                raise ValueError(
                    f"terms_every = {self.terms_every} must divide every term order > 1; got {o}."
                )
        for name, last in (("relabel_epoch", self.epochs - 1), ("snapshot_epoch", self.epochs)):
            value = getattr(self, name)
            ok = isinstance(value, int | np.integer) and 1 <= value <= last
            if value is not None and not ok:
                raise ValueError(
                    f"{name} must be an int in [1, {last}] (epochs = {self.epochs}) or None; "
                    f"got {value!r}."
                )
        if self.label_smoothing is not None:
            ls = self.label_smoothing
            if not (isinstance(ls, tuple | list) and len(ls) == 2 and float(ls[0]) < float(ls[1])):
                raise ValueError(f"label_smoothing must be None or (low, high) with low < high; "
                                 f"got {ls!r}.")

    @property
    def hot(self) -> int:
        """Ones per class code (``n_hot``, or ``width // 10``)."""
        return self.width // N_CLASSES if self.n_hot is None else int(self.n_hot)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_0, ..., n_d)``."""
        return (self.image_size**2, *([self.width] * self.depth))

    @property
    def n_iter(self) -> int:
        """Total number of iterations (``epochs * n_batches``)."""
        return self.epochs * self.n_batches

    def as_dict(self) -> dict:
        """Return the configuration as a plain dict (the cache key); the rule as a dict too.

        ``record_final`` is left out when it is False (the cache keys of the runs without
        it are those written before it existed).
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["rule"] = self.rule.as_dict()
        if not out["record_final"]:
            del out["record_final"]
        else:
            out["record_final"] = True
        return out

    def replace(self, **changes) -> TrainConfig:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=2)
def load_data(size: int = 15, dtype: str = "float32") -> mnist.MNIST:
    """MNIST preprocessed as in Methods 4.3 (pixels / 255, ``size x size``), read once per process.

    The data directory is found by :func:`fa_lib.mnist.load_mnist` (``FA_MNIST_DIR``).
    The returned arrays are read-only.
    """
    data = mnist.load_mnist(size=size, dtype=np.dtype(dtype))
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        a.flags.writeable = False
    return data


def encode(codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Targets ``Y*`` of stacked repetitions: row ``i`` is the code of ``labels[i]``.

    Parameters
    ----------
    codes : ndarray, shape (R, C, m)
        Each repetition's code matrix (row ``c`` = code of class ``c``).
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray, shape (R, n, m)
    """
    xp = namespace(codes, labels)
    if not is_numpy(xp):
        if codes.ndim != 3:
            raise ValueError(f"codes must be stacked (R, C, m); got shape {codes.shape}.")
        if not xp.isdtype(labels.dtype, "integral"):
            raise ValueError(f"labels must be integers; got dtype {labels.dtype}.")
        return xp.take(codes, labels, axis=1)
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes must be stacked (R, C, m); got shape {codes.shape}.")
    labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers; got dtype {labels.dtype}.")
    if labels.size and (labels.min() < 0 or labels.max() >= codes.shape[1]):
        bad = labels[(labels < 0) | (labels >= codes.shape[1])]
        raise ValueError(f"labels must be classes 0..{codes.shape[1] - 1}; got {bad[:5].tolist()}.")
    return np.take(codes, labels, axis=1)


def decode(outputs: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Predicted classes of stacked repetitions: the class whose code units sum highest.

    The stacked form of :func:`fa_lib.mnist.decode`: ``argmax_c sum_j Y_ij codes_cj``
    for every repetition.

    Parameters
    ----------
    outputs : ndarray, shape (R, n, m)
    codes : ndarray, shape (R, C, m)

    Returns
    -------
    ndarray of int64, shape (R, n)
    """
    xp = namespace(outputs, codes)
    if is_numpy(xp):
        outputs, codes = np.asarray(outputs), np.asarray(codes)
    if outputs.ndim != 3 or codes.ndim != 3 or outputs.shape[0] != codes.shape[0] \
            or outputs.shape[2] != codes.shape[2]:
        raise ValueError(
            f"outputs (R, n, m) and codes (R, C, m) must agree; got {outputs.shape} and "
            f"{codes.shape}."
        )
    if not is_numpy(xp):
        return xp.astype(xp.argmax(outputs @ linalg.transpose(codes), axis=-1), xp.int64)
    return np.argmax(outputs @ linalg.transpose(codes), axis=-1).astype(np.int64)


def accuracy(net: Network, codes: np.ndarray, x: np.ndarray, y: np.ndarray,
             chunk: int = 2500) -> np.ndarray:
    """Fraction of correctly classified samples, per repetition (Methods 4.9 decoding).

    Parameters
    ----------
    net : Network
        ``R`` stacked networks.
    codes : ndarray, shape (R, C, m)
    x : ndarray, shape (n, n_0)
        Inputs shared by all repetitions (evaluated in chunks of ``chunk`` rows).
    y : ndarray of int, shape (n,)
        ``codes``, ``x`` and ``y`` on the network's device.

    Returns
    -------
    ndarray, shape (R,)
    """
    n, n_y = x.shape[0], y.shape[0]
    if n != n_y or n == 0:
        raise ValueError(
            f"x and y need the same, non-zero number of samples; got {n} and {n_y}."
        )
    xp = namespace(net.W[0])
    correct = np.zeros(net.reps)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        _, L = forward(net, x[start:stop, ...])
        hits = decode(L[-1], codes) == y[start:stop]
        if is_numpy(xp):
            correct += np.sum(hits, axis=-1)
        else:
            correct += to_numpy(xp.sum(xp.astype(hits, xp.int64), axis=-1))
    return correct / n


def backward_product_angles(net: Network) -> np.ndarray:
    """Angles between the backward products of ``B`` and of ``W^T``, layer by layer.

    The error reaches layer ``l`` through ``B_{d-1} B_{d-2} ... B_l`` (eq. 10; the
    masks ``f'(Z)`` aside), where BP uses ``W_{d-1}^T ... W_l^T`` (eq. 11).

    Parameters
    ----------
    net : Network
        ``R`` stacked networks whose ``B_l`` have ``W_l^T``'s shape.

    Returns
    -------
    ndarray, shape (R, d - 1)
        Column ``l - 1``: ``B_{d-1}...B_l ∠ W_{d-1}^T...W_l^T`` in degrees (NaN where a
        product is zero).
    """
    d = net.depth
    out = np.full((net.reps, d - 1), np.nan)
    prod_b = prod_w = None
    for ell in range(d - 1, 0, -1):
        b, wt = net.B[ell], linalg.transpose(net.W[ell])
        prod_b = b if prod_b is None else prod_b @ b
        prod_w = wt if prod_w is None else prod_w @ wt
        out[:, ell - 1] = to_numpy(linalg.angle(prod_b, prod_w, zero="nan"))
    return out


class _Terms:
    """Ring buffer of past iterations and the alignment terms of Fig. 7 (eqs. 21-22).

    Keeps references (no copies: the engine allocates new arrays every iteration)
    to ``W_{l-1}``, ``L_{l-1}`` and ``delta_l`` of only those iterations that a
    later term looks back at: ``k - o`` for every order ``o`` and every ``k`` of
    the grid ``k % terms_every == 0``.
    """

    def __init__(self, cfg: TrainConfig, out: dict[str, np.ndarray]) -> None:
        self.cfg, self.out = cfg, out
        self.orders = sorted(set(cfg.aln_orders) | set(cfg.sup_orders))
        self.store: dict[int, tuple] = {}

    def keep(self, k: int, w_before: list[np.ndarray], step: Step) -> None:
        """Remember iteration ``k`` if a later term needs it; forget what none needs."""
        d = self.cfg.depth
        if any((k + o) % self.cfg.terms_every == 0 for o in self.orders):
            self.store[k] = (w_before[: d - 1], step.L[: d - 1], step.delta[:d])
        oldest = k + 1 - self.orders[-1]
        for j in [j for j in self.store if j < oldest]:
            del self.store[j]

    def record(self, k: int, net: Network, step: Step) -> None:
        """Angles with ``B_l^T`` of ``dW_l`` and, on the grid, of the terms at iteration ``k``."""
        cfg, out, d = self.cfg, self.out, net.depth
        eta, act = cfg.rule.eta, net.activation
        bt = [None] + [linalg.transpose(net.B[ell]) for ell in range(1, d)]
        for ell in range(1, d):
            out["dw_bt"][k, :, ell - 1] = to_numpy(linalg.angle(step.dW[ell], bt[ell], zero="nan"))
        if k % cfg.terms_every:
            return
        for o in cfg.aln_orders:
            if k - o in self.store:
                w_old, l_old, d_old = self.store[k - o]
                for ell in range(1, d):
                    t = terms.alignment_term(w_old[ell - 1], l_old[ell - 1], step.L[ell - 1],
                                             d_old[ell], step.delta[ell + 1], eta, act)
                    out[f"t{o}_aln"][k, :, ell - 1] = to_numpy(linalg.angle(t, bt[ell],
                                                                            zero="nan"))
        for o in cfg.sup_orders:
            if k - o in self.store:
                w_old = self.store[k - o][0]
                for ell in range(1, d):
                    t = terms.sup_alignment_term(w_old[ell - 1], step.L[ell - 1],
                                                 step.delta[ell + 1], eta, act)
                    out[f"t{o}_sup"][k, :, ell - 1] = to_numpy(linalg.angle(t, bt[ell],
                                                                            zero="nan"))


KINDS: dict[str, str] = {
    "w_bt": "angle", "prod_bt": "angle", "dw_bp": "angle", "dw_bt": "angle",
    "t*_aln": "angle", "t*_sup": "angle",
    "test_acc": "accuracy", "val_acc": "accuracy", "acc_relabel": "accuracy",
    "norm_w": "other", "loss": "other", "active": "other", "diverged_at": "other",
}
"""The kind of the numbers of each array of :func:`run` (see the module's table), which
sets how :mod:`fa_lib.record` compares them: ``angle`` (degrees), ``accuracy`` (a
fraction) or ``other``; ``t*_aln`` stands for every order (``t1_aln``, ``t60_aln``).
Traces, codes, the snapshot and the final weights (``final_w{l}``, ``final_b{l}``) have
no headline numbers (:data:`fa_lib.record.SKIPPED`)."""


def _allocate(cfg: TrainConfig) -> dict[str, np.ndarray]:
    n, r, d = cfg.n_iter, cfg.reps, cfg.depth
    out = {
        "w_bt": np.full((n, r, d - 1), np.nan),
        "norm_w": np.full((n, r, d), np.nan),
        "loss": np.full((n, r), np.nan),
        "active": np.full((n, r, d), np.nan),
        "val_acc" if cfg.holdout else "test_acc": np.full((cfg.epochs + 1, r), np.nan),
    }
    if cfg.record_products:
        out["prod_bt"] = np.full((n, r, d - 1), np.nan)
    if cfg.record_bp:
        out["dw_bp"] = np.full((n, r, d), np.nan)
    if cfg.record_terms:
        out["dw_bt"] = np.full((n, r, d - 1), np.nan)
        for o in cfg.aln_orders:
            out[f"t{o}_aln"] = np.full((n, r, d - 1), np.nan)
        for o in cfg.sup_orders:
            out[f"t{o}_sup"] = np.full((n, r, d - 1), np.nan)
    if cfg.n_traces:
        out["trace_L"] = np.full((n, r, d, cfg.n_traces), np.nan)
        out["trace_delta"] = np.full((n, r, d, cfg.n_traces), np.nan)
    return out


def _final_weights(net: Network, diverged: bool) -> dict[str, np.ndarray]:
    """``final_w{l}`` and ``final_b{l}`` (copies), all NaN when the run stopped on a divergence."""
    arrays = {f"final_w{ell}": to_numpy(w) for ell, w in enumerate(net.W)}
    if net.b is not None:
        arrays.update({f"final_b{ell}": to_numpy(b) for ell, b in enumerate(net.b)
                       if b is not None})
    if diverged:
        return {k: np.full_like(a, np.nan) for k, a in arrays.items()}
    return {k: a.copy() for k, a in arrays.items()}


def _progress(iterable: range, show: bool | None, desc: str):
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional (Pyodide): no bar
        return iterable
    return tqdm(iterable, desc=desc, mininterval=10.0, leave=False)


def _blas_limit(threads: int | None):
    """Limit the BLAS threads (small stacked products run best on one thread)."""
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def run(
    cfg: TrainConfig,
    data: mnist.MNIST | None = None,
    *,
    stop_on_divergence: bool = False,
    progress: bool | None = None,
    blas_threads: int | None = 1,
    backend: str | Backend | None = None,
) -> dict[str, np.ndarray]:
    """Train ``cfg.reps`` stacked networks on MNIST and record every iteration.

    Repetition ``r`` draws its weights, feedback matrices (iid ``N(0, init_sd^2)``),
    its class codes (Methods 4.9), its traced elements and the pathway's runtime draws
    (brSF, weight mirror) from its own stream (:func:`fa_lib.ensembles.streams`, split
    in four), so it is the same alone or stacked (in float32 up
    to rounding: the stacked products may sum in another order). Iteration
    ``k`` uses mini-batch ``k mod n_batches`` (fixed batches, fixed order). The test set
    is evaluated before training and after every epoch.

    Parameters
    ----------
    cfg : TrainConfig
    data : MNIST, optional
        Preprocessed MNIST; by default :func:`load_data` (``FA_MNIST_DIR``).
    stop_on_divergence : bool
        If False (default) a NaN/Inf weight raises FloatingPointError naming the
        iteration and eta. If True the run stops there and returns what it recorded,
        with ``diverged_at`` set to that iteration (the rest NaN).
    progress : bool, optional
        Show a tqdm bar (default: when stderr is a terminal).
    blas_threads : int or None
        BLAS threads during the run (1 by default: the stacked products are small and
        the machine may be shared); None leaves the setting alone.
    backend : str or Backend, optional
        Where the networks compute (:func:`fa_lib.backend.get`); default: the setting
        ``FA_DEVICE`` (NumPy unless it says ``cuda``). The data, the codes and every
        random number are made on the host, as with NumPy, and moved to the device; the
        results are NumPy arrays.

    Returns
    -------
    dict of ndarray
        See the module docstring; also ``seconds`` (wall time of the run).

    Raises
    ------
    FloatingPointError
        If the weights become NaN or Inf and ``stop_on_divergence`` is False.
    """
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig; got {type(cfg).__name__}.")
    t0 = time.perf_counter()
    dtype = np.dtype(cfg.dtype)
    if data is None:
        data = load_data(cfg.image_size, cfg.dtype)
    if data.x_train.shape[1] != cfg.sizes[0]:
        raise ValueError(
            f"data have {data.x_train.shape[1]} features; the config needs {cfg.sizes[0]}."
        )
    n_train = len(data.x_train) - cfg.holdout
    if n_train < cfg.batch_size:
        raise ValueError(f"holdout = {cfg.holdout} leaves {n_train} training images, fewer than "
                         f"one batch of {cfg.batch_size}.")
    xb, yb = mnist.minibatches(data.x_train[:n_train], data.y_train[:n_train], cfg.batch_size)
    if cfg.n_batches > len(xb):
        raise ValueError(f"n_batches = {cfg.n_batches} but the training set has only {len(xb)}"
                         + (f" after holding out {cfg.holdout} images." if cfg.holdout else "."))
    xb, yb = xb[: cfg.n_batches].astype(dtype, copy=False), yb[: cfg.n_batches]
    if cfg.holdout:  # validation: the held-out training images; the test set is never read
        x_test = data.x_train[n_train:][: cfg.n_test].astype(dtype, copy=False)
        y_test = data.y_train[n_train:][: cfg.n_test]
    else:
        x_test = data.x_test[: cfg.n_test].astype(dtype, copy=False)
        y_test = data.y_test[: cfg.n_test]
    acc_key = "val_acc" if cfg.holdout else "test_acc"
    bk = backends.get(backend)
    backends.note(bk)
    xp = bk.xp
    xb, yb = bk.asarray(xb), bk.asarray(yb)
    x_test, y_test = bk.asarray(x_test), bk.asarray(y_test)

    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = init_network([s[0] for s in subs], cfg.sizes, ACTIVATION, sd=cfg.init_sd,
                       biases=cfg.biases, dtype=dtype, pathway=cfg.rule.pathway, backend=bk)
    rule = cfg.rule
    prepare(net, rule, rng=[s[3] for s in subs])
    codes = np.stack([ensembles.n_hot_codes(s[1], N_CLASSES, cfg.width, cfg.hot) for s in subs])
    codes = codes.astype(dtype)
    out = _allocate(cfg)
    out["codes"] = codes
    d, reps = cfg.depth, cfg.reps
    ls = cfg.label_smoothing
    targets = bk.asarray(codes if ls is None else mnist.label_smoothing(codes, *ls).astype(dtype))
    codes_on = bk.asarray(codes)
    if cfg.relabel_epoch is not None:
        out["codes_after"] = np.full_like(codes, np.nan)
        out["acc_relabel"] = np.full(reps, np.nan)
    if cfg.snapshot_epoch is not None:
        out["z_snapshot"] = np.full((reps, cfg.batch_size, cfg.width), np.nan, dtype=dtype)
    if cfg.n_traces:
        rows = np.stack([s[2].choice(cfg.batch_size, (d, cfg.n_traces)) for s in subs])
        cols = np.stack([s[2].choice(cfg.width, (d, cfg.n_traces)) for s in subs])
        rep_idx = np.arange(reps)[:, None]
        if not bk.is_numpy:  # positions in the flattened n_b x width matrices
            flat_at = [bk.asarray(rows[:, ell] * cfg.width + cols[:, ell]) for ell in range(d)]
    term_rec = _Terms(cfg, out) if cfg.record_terms else None
    diverged_at = -1

    with _blas_limit(blas_threads):
        out[acc_key][0] = accuracy(net, codes_on, x_test, y_test)
        for k in _progress(range(cfg.n_iter), progress, f"MNIST {rule.name} eta={rule.eta}"):
            b = k % cfg.n_batches
            w_before = list(net.W)
            for ell in range(1, d) if rule.pathway.layerwise else ():
                out["w_bt"][k, :, ell - 1] = to_numpy(linalg.angle(
                    net.W[ell], linalg.transpose(net.B[ell]), zero="nan"))
            if cfg.record_products:
                out["prod_bt"][k] = backward_product_angles(net)
            out["norm_w"][k] = to_numpy(xp.stack([linalg.frobenius_norm(w) for w in net.W],
                                                 axis=-1))
            Z, L = forward(net, xb[b, ...])
            e = encode(targets, yb[b, ...]) - L[-1]
            if cfg.snapshot_epoch is not None and k == cfg.snapshot_epoch * cfg.n_batches - 1:
                out["z_snapshot"] = np.array(to_numpy(Z[d]), copy=True)
            if bk.is_numpy:
                out["loss"][k] = 0.5 * np.einsum("rij,rij->r", e, e) / cfg.batch_size
            else:
                out["loss"][k] = 0.5 * to_numpy(xp.sum(e * e, axis=(1, 2))) / cfg.batch_size
            for ell in range(1, d + 1):  # a count (exact) is faster than a mean of bools
                out["active"][k, :, ell - 1] = to_numpy(
                    xp.count_nonzero(Z[ell] > 0, axis=(-2, -1))) / (
                    Z[ell].shape[-2] * Z[ell].shape[-1])
            step = learn(net, rule, Z, L, e, compare_bp=cfg.record_bp)
            try:
                ensure_finite(net, k, rule.eta)
            except FloatingPointError:
                if not stop_on_divergence:
                    raise
                diverged_at = k
                break
            if cfg.record_bp:
                for ell in range(d):
                    out["dw_bp"][k, :, ell] = to_numpy(linalg.angle(step.dW[ell], step.dW_bp[ell],
                                                                    zero="nan"))
            if cfg.n_traces:
                for ell in range(1, d + 1):
                    if bk.is_numpy:
                        at = (rep_idx, rows[:, ell - 1], cols[:, ell - 1])
                        out["trace_L"][k, :, ell - 1] = L[ell][at]
                        out["trace_delta"][k, :, ell - 1] = step.delta[ell][at]
                        continue
                    for key, m in (("trace_L", L[ell]), ("trace_delta", step.delta[ell])):
                        flat = xp.reshape(m, (reps, -1))
                        out[key][k, :, ell - 1] = to_numpy(
                            xp.take_along_axis(flat, flat_at[ell - 1], axis=1))
            if term_rec is not None:
                term_rec.record(k, net, step)
                term_rec.keep(k, w_before, step)
            if (k + 1) % cfg.n_batches == 0:
                epoch = (k + 1) // cfg.n_batches
                out[acc_key][epoch] = accuracy(net, codes_on, x_test, y_test)
                if epoch == cfg.relabel_epoch:  # new codes (Methods 4.9), same stream
                    codes = np.stack([ensembles.n_hot_codes(s[1], N_CLASSES, cfg.width, cfg.hot)
                                      for s in subs]).astype(dtype)
                    targets = bk.asarray(codes if ls is None
                                         else mnist.label_smoothing(codes, *ls).astype(dtype))
                    codes_on = bk.asarray(codes)
                    out["codes_after"] = codes
                    out["acc_relabel"] = accuracy(net, codes_on, x_test, y_test)
    if cfg.record_final:
        out.update(_final_weights(net, diverged_at >= 0))
    out["diverged_at"] = np.array(diverged_at)
    out["seconds"] = np.array(time.perf_counter() - t0)
    return out


def cached_run(
    name: str,
    cfg: TrainConfig,
    *,
    stop_on_divergence: bool = False,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """:func:`run` through the results cache (:func:`fa_lib.cache.cached`), keyed by ``cfg``.

    Parameters
    ----------
    name : str
        The cache entry's name (letters, digits, ``_``, ``.``, ``-``).
    cfg : TrainConfig
    stop_on_divergence, progress
        Passed to :func:`run` (``stop_on_divergence`` is part of the key).
    """
    key = {**cfg.as_dict(), "stop_on_divergence": bool(stop_on_divergence)}
    return cache.cached(
        name, key, lambda: run(cfg, stop_on_divergence=stop_on_divergence, progress=progress)
    )


def named_run(chapter: str, configs: dict[str, TrainConfig], name: str, *,
              stop_on_divergence: bool, progress: bool | None = None) -> dict[str, np.ndarray]:
    """:func:`cached_run` of ``configs[name]``, filed as ``"<chapter>-<name>"``.

    Raises
    ------
    ValueError
        If ``name`` is not a key of ``configs``.
    """
    if name not in configs:
        raise ValueError(f"unknown run {name!r}; expected one of {sorted(configs)}.")
    return cached_run(f"{chapter}-{name}", configs[name], stop_on_divergence=stop_on_divergence,
                      progress=progress)
