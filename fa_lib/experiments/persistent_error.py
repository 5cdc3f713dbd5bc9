"""Persistent error: alignment in an open-loop linear net (Sec. 2.1, Fig. 1, Supp. Notes 2-3).

With constant input ``X`` (``n_b x n_i``), a constant imposed error ``E``
(``n_b x n_o``) and fixed feedback ``B`` (``n_o x n_h``), FA updates
``W_0`` by ``eta X^T E B`` (eq. 3 / S5) every iteration, so (Supp. Note 2)

- ``W_0[k]`` turns towards ``X^T E B`` (eq. S7), and
- ``W_1[k]`` turns towards ``B^T E^T X X^T E = B^T M`` (eq. 1 / S10),

so that at ``k >> 1`` the final angle ``W_1 ∠ B^T`` equals ``B^T ∠ B^T M``
(eq. S11) and ``dW_0,FA ∠ dW_0,BP`` equals ``X^T E B ∠ X^T E E^T X X^T E B``
(eqs. 2-3). ``M = E^T X X^T E`` is symmetric positive semidefinite, hence
both angles are at most 90 degrees (Supp. Note 3); its eigenvalues, set by the
dimensions ``(n_i, n_h, n_o, n_b)``, decide how much (Fig. 1B-D).

This module draws those angles for the six conditions of the authors' code
(Fig. 1B, C), the eigenvalues of ``M / (n_b n_i)`` (Fig. 1D), the Monte Carlo
check of ``E[E^T X X^T E] = n_b n_i I``, the random-transform control of Supp.
Note 3 (``AB ∠ A`` with ``A``, ``B`` iid N(0, 1)) and a simulation of the open
loop that shows the convergence of ``W_0`` and ``W_1`` to their limits.

Sampling: as in the authors' Figure1_2 notebook, every draw has its own
``E``, ``X`` and ``B`` (iid N(0, 1)); ``E`` and ``X`` are the same in both
factors of ``M``. The variant ``fixed_ex=True`` keeps one ``E`` and one ``X``
for all draws and redraws only ``B`` (one network, many feedback matrices).
Draw ``j`` of a condition comes from its own stream
(:func:`fa_lib.ensembles.streams`), so results do not depend on the chunk size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from fa_lib import _checks, ensembles, linalg
from fa_lib.backend import to_numpy
from fa_lib.cache import cached
from fa_lib.config import pick
from fa_lib.network import Network
from fa_lib.openloop import run_openloop
from fa_lib.rule import Rule, Step

CHAPTER = "persistent_error"

T = linalg.transpose

F = TypeVar("F", bound=Callable)


def _single_threaded(func: F) -> F:
    """Run ``func`` with one BLAS thread.

    The draws are many small stacked products; a multi-threaded BLAS spends more
    time synchronising than computing on them (4x slower on a busy 2-core machine).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Dims(NamedTuple):
    """Network dimensions of one condition of Fig. 1."""

    n_i: int
    """Input units (columns of ``X``)."""
    n_h: int
    """Hidden units (columns of ``B``)."""
    n_o: int
    """Output units (columns of ``E``, rows of ``B``)."""
    n_b: int
    """Batch size (rows of ``X`` and ``E``)."""


CONDITIONS: Mapping[int, Dims] = {
    1: Dims(100, 100, 10, 100),
    2: Dims(100, 100, 100, 100),
    3: Dims(100, 100, 100, 500),
    4: Dims(900, 100, 100, 100),
    5: Dims(100, 10, 100, 100),
    6: Dims(10, 100, 100, 100),
}
"""The six conditions ``(n_i, n_h, n_o, n_b)`` of the authors' Figure1_2 notebook."""


@dataclass(frozen=True)
class PersistentErrorConfig:
    """Sizes of the chapter's experiments (one place for the paper and quick scales).

    Attributes
    ----------
    n_draws : int
        Draws per condition for the histograms of Fig. 1B, C (10,000 in the authors' code).
    checkpoints : tuple of int
        Numbers of draws at which the Monte Carlo mean of ``M / (n_b n_i)`` is compared
        with the identity (those above ``n_draws`` are skipped).
    n_control : int
        Draws of the random-transform control ``AB ∠ A`` (Supp. Note 3: n = 1000).
    control_size : int
        ``A`` and ``B`` are ``control_size x control_size`` (100 in Supp. Note 3).
    sim_reps, sim_iter : int
        Repetitions and iterations of the open-loop simulation.
    sim_eta : float
        Its learning rate (0.002, as the authors' code for the open-loop Fig. 3).
    sim_dims : Dims
        Its dimensions (n_i = n_h = n_b = 100, n_o = 10: Cond. 1, the setting of Figs. 3-4).
    seed : int
        Base seed; every experiment and condition derives its own streams from it.
    max_elements : int
        Bound on the entries of the largest stacked array of a chunk (memory).
    """

    n_draws: int
    checkpoints: tuple[int, ...]
    n_control: int
    sim_reps: int
    sim_iter: int
    control_size: int = 100
    sim_eta: float = 0.002
    sim_dims: Dims = CONDITIONS[1]
    seed: int = 20240101
    max_elements: int = 2_000_000


PAPER = PersistentErrorConfig(
    n_draws=10_000,
    checkpoints=(10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000),
    n_control=1000,
    sim_reps=30,
    sim_iter=2000,
)
"""The authors' numbers of draws (10,000 per condition, 1000 for the control)."""

QUICK = PersistentErrorConfig(
    n_draws=500,
    checkpoints=(10, 20, 50, 100, 200, 500),
    n_control=1000,
    sim_reps=5,
    sim_iter=400,
)
"""Quick scale: every asserted effect still shows (differences are tens of SEMs)."""


def config() -> PersistentErrorConfig:
    """Return the configuration of the scale selected by ``FA_SCALE`` (read now)."""
    return pick(paper=PAPER, quick=QUICK)


def _dims(dims: Sequence[int]) -> Dims:
    if len(dims) != 4:
        raise ValueError(f"dims must be (n_i, n_h, n_o, n_b); got {tuple(dims)!r}.")
    d = Dims(*(int(v) for v in dims))
    if min(d) < 1:
        raise ValueError(f"all dimensions must be >= 1; got {d}.")
    return d


def _count(name: str, n: int) -> int:
    if int(n) != n or int(n) < 1:
        raise ValueError(f"{name} must be a positive integer; got {n!r}.")
    return int(n)


# --------------------------------------------------------------------------- the limits


def transform(e: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return the transformation matrix ``M = E^T X X^T E`` of eq. 1 / S10 (eq. 27, ``o = 0``).

    The product is grouped in whichever of two ways costs fewer operations:
    ``(X^T E)^T (X^T E)`` (thin when ``n_i <= n_b``) or ``E^T (X X^T) E``
    (thin when ``n_i > n_b``, e.g. Cond. 4 with ``n_i = 900``). Both equal
    :func:`fa_lib.terms.transform_matrix` ``(e, x, x, e)`` up to rounding.

    Parameters
    ----------
    e : ndarray, shape (..., n_b, n_o)
    x : ndarray, shape (..., n_b, n_i)
        Leading axes (draws) broadcast.

    Returns
    -------
    ndarray, shape (..., n_o, n_o)
        Symmetric positive semidefinite; symmetrised exactly.
    """
    e = _checks.finite("E", _checks.ndim_at_least("E", e, 2))
    x = _checks.finite("X", _checks.ndim_at_least("X", x, 2))
    if e.shape[-2] != x.shape[-2]:
        raise ValueError(
            f"E and X must have the same number of rows n_b; got E {e.shape} and X {x.shape}."
        )
    n_b, n_o, n_i = e.shape[-2], e.shape[-1], x.shape[-1]
    cost_p = n_b * n_i * n_o + n_i * n_o * n_o
    cost_g = n_b * n_b * n_i + n_b * n_b * n_o + n_b * n_o * n_o
    if cost_p <= cost_g:
        p = np.ascontiguousarray(T(x)) @ e
        m = np.ascontiguousarray(T(p)) @ p
    else:
        g = x @ np.ascontiguousarray(T(x))
        m = np.ascontiguousarray(T(e)) @ (g @ e)
    return (m + T(m)) / 2


def w1_limit(b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Direction of ``W_1[k >> 1]``: ``B^T E^T X X^T E = B^T M`` (eq. 1 / S10).

    Parameters
    ----------
    b : ndarray, shape (..., n_o, n_h)
    m : ndarray, shape (..., n_o, n_o)
        From :func:`transform`.
    """
    b = _checks.ndim_at_least("B", b, 2)
    m = _checks.ndim_at_least("M", m, 2)
    if m.shape[-1] != m.shape[-2] or m.shape[-1] != b.shape[-2]:
        raise ValueError(f"M must be n_o x n_o with n_o = rows of B; got M {m.shape}, B {b.shape}.")
    return T(b) @ m


def w0_limit(x: np.ndarray, e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Direction of ``W_0[k >> 1]`` and of ``dW_0,FA``: ``X^T E B`` (eqs. 3, S7)."""
    x = _checks.ndim_at_least("X", x, 2)
    e = _checks.ndim_at_least("E", e, 2)
    b = _checks.ndim_at_least("B", b, 2)
    if x.shape[-2] != e.shape[-2] or e.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"need X (n_b x n_i), E (n_b x n_o), B (n_o x n_h); "
            f"got {x.shape}, {e.shape}, {b.shape}."
        )
    return (np.ascontiguousarray(T(x)) @ e) @ b


def dw0_directions(x: np.ndarray, e: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dW_0,FA`` and ``dW_0,BP`` at ``k >> 1`` up to positive factors (eqs. 3 and 2).

    Returns
    -------
    fa, bp : ndarray, shape (..., n_i, n_h)
        ``X^T E B`` and ``X^T E E^T X X^T E B``.
    """
    p = np.ascontiguousarray(T(_checks.ndim_at_least("X", x, 2))) @ e
    fa = w0_limit(x, e, b)
    bp = p @ ((np.ascontiguousarray(T(p)) @ p) @ b)
    return fa, bp


def w1_bt_angle(b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Return the final ``W_1 ∠ B^T``, i.e. ``B^T ∠ B^T M``, in degrees (eq. S11, Fig. 1B)."""
    return linalg.angle(T(b), w1_limit(b, m))


def dw0_angle(b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Return the final ``dW_0,FA ∠ dW_0,BP`` in degrees from ``B`` and ``M`` (eqs. 2-3, Fig. 1C).

    With ``P = X^T E`` and ``M = P^T P`` the Frobenius products of ``P B`` and
    ``P M B`` reduce to ``n_o``-dimensional ones::

        <P B, P M B>_F = |M B|_F^2,  |P B|_F^2 = <B, M B>_F,  |P M B|_F^2 = <M B, M M B>_F,

    so the angle needs no ``n_i x n_h`` product (equal to
    ``linalg.angle(*dw0_directions(x, e, b))`` up to rounding).

    Parameters
    ----------
    b : ndarray, shape (..., n_o, n_h)
    m : ndarray, shape (..., n_o, n_o)
        Symmetric PSD, from :func:`transform`.
    """
    b = _checks.finite("B", _checks.ndim_at_least("B", b, 2))
    m = _checks.finite("M", _checks.ndim_at_least("M", m, 2))
    mb = m @ b
    inner = linalg.frobenius_inner(mb, mb)
    n_fa = linalg.frobenius_inner(b, mb)
    n_bp = linalg.frobenius_inner(mb, m @ mb)
    norms = np.sqrt(np.clip(n_fa, 0, None) * np.clip(n_bp, 0, None))
    if np.any(norms == 0):
        raise ValueError("dW_0 is zero for some draw (X^T E B = 0): its angle is undefined.")
    return np.degrees(np.arccos(np.clip(inner / norms, -1.0, 1.0)))


# --------------------------------------------------------------------------- Fig. 1B, C


def _seed(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), *(int(k) for k in key)])


@_single_threaded
def draw_condition(
    seed: int,
    dims: Sequence[int],
    n_draws: int,
    *,
    fixed_ex: bool = False,
    checkpoints: Sequence[int] = (),
    max_elements: int = 2_000_000,
) -> dict[str, np.ndarray]:
    """Draw the final angles of Fig. 1B, C for ``n_draws`` random draws of one condition.

    Draw ``j`` takes ``E`` (``n_b x n_o``), ``X`` (``n_b x n_i``) and ``B``
    (``n_o x n_h``), iid N(0, 1), in that order from stream ``j`` of
    ``streams(SeedSequence([seed, 0]), n_draws)``. With ``fixed_ex`` one ``E``
    and one ``X`` (stream ``SeedSequence([seed, 1])``) serve every draw and
    stream ``j`` draws only ``B``. Draws are computed in stacked chunks.

    Parameters
    ----------
    seed : int
    dims : (n_i, n_h, n_o, n_b)
    n_draws : int
    fixed_ex : bool
        Keep ``E`` and ``X`` fixed across draws (only ``B`` redrawn).
    checkpoints : sequence of int
        Draw counts ``n`` at which the relative error of the Monte Carlo mean,
        ``|mean_n(M) / (n_b n_i) - I|_F / |I|_F``, is recorded (those > ``n_draws``
        are skipped; meaningless with ``fixed_ex``).
    max_elements : int
        Bound on the entries of the largest stacked array of a chunk.

    Returns
    -------
    dict of ndarray
        ``w1_bt`` (``n_draws``): ``B^T ∠ B^T M``; ``dw0`` (``n_draws``):
        ``X^T E B ∠ X^T E E^T X X^T E B``; ``mc_n``, ``mc_err``: checkpoints and errors.
    """
    d = _dims(dims)
    n_draws = _count("n_draws", n_draws)
    _count("max_elements", max_elements)
    marks = sorted({int(c) for c in checkpoints if 1 <= int(c) <= n_draws})
    gens = ensembles.streams(_seed(seed, 0), n_draws)
    per_draw = max(d.n_b * d.n_i, d.n_b * d.n_o, d.n_o * d.n_h, d.n_b * d.n_b, d.n_o * d.n_o)
    chunk = max(1, min(n_draws, int(max_elements) // per_draw))
    scale = float(d.n_b * d.n_i)
    fixed_m = None
    if fixed_ex:
        g = np.random.default_rng(_seed(seed, 1))
        e0 = ensembles.normal(g, (d.n_b, d.n_o))
        x0 = ensembles.normal(g, (d.n_b, d.n_i))
        fixed_m = transform(e0, x0)
    w1_bt = np.empty(n_draws)
    dw0 = np.empty(n_draws)
    mc_err = []
    running = np.zeros((d.n_o, d.n_o))
    eye = np.eye(d.n_o)
    for start in range(0, n_draws, chunk):
        part = gens[start : start + chunk]
        if fixed_m is None:
            e = ensembles.normal(part, (d.n_b, d.n_o))
            x = ensembles.normal(part, (d.n_b, d.n_i))
            m = transform(e, x)
            del e, x
        else:
            m = fixed_m
        b = ensembles.normal(part, (d.n_o, d.n_h))
        stop = start + len(part)
        w1_bt[start:stop] = w1_bt_angle(b, m)
        dw0[start:stop] = dw0_angle(b, m)
        inside = [c for c in marks if start < c <= stop]
        if inside:
            mm = np.broadcast_to(m, (len(part), d.n_o, d.n_o)) / scale
            csum = running + np.cumsum(mm, axis=0)
            for c in inside:
                mean = csum[c - start - 1] / c
                mc_err.append(linalg.frobenius_norm(mean - eye) / np.sqrt(d.n_o))
        running = running + np.broadcast_to(m, (len(part), d.n_o, d.n_o)).sum(axis=0) / scale
    return {
        "w1_bt": w1_bt,
        "dw0": dw0,
        "mc_n": np.asarray(marks, dtype=int),
        "mc_err": np.asarray(mc_err, dtype=float),
    }


def draw_one(seed: int, dims: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``E``, ``X``, ``B`` of draw 0 of :func:`draw_condition` (same seed, same numbers)."""
    d = _dims(dims)
    g = ensembles.streams(_seed(seed, 0), 1)[0]
    e = ensembles.normal(g, (d.n_b, d.n_o))
    x = ensembles.normal(g, (d.n_b, d.n_i))
    b = ensembles.normal(g, (d.n_o, d.n_h))
    return e, x, b


# --------------------------------------------------------------------------- Fig. 1D


@_single_threaded
def eigenvalues(m: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Eigenvalues of ``M / (n_b n_i)`` in decreasing order (Fig. 1D).

    ``E[M] = n_b n_i I`` for iid N(0, 1) ``E`` and ``X``, so the scaled
    eigenvalues scatter around 1.
    """
    d = _dims(dims)
    m = _checks.finite("M", _checks.ndim_at_least("M", m, 2))
    if m.shape[-2:] != (d.n_o, d.n_o):
        raise ValueError(f"M must be n_o x n_o = {(d.n_o, d.n_o)}; got {m.shape}.")
    return np.linalg.eigvalsh(m / (d.n_b * d.n_i))[..., ::-1]


def zero_eigenvalues(eigs: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Count the eigenvalues below ``rtol`` times the largest (numerically zero).

    ``rank(M) <= min(n_o, n_i, n_b)``, so at least ``n_o - min(n_i, n_b)`` are zero.
    """
    eigs = _checks.ndim_at_least("eigs", eigs, 1)
    _checks.positive("rtol", rtol)
    top = np.max(np.abs(eigs), axis=-1, keepdims=True)
    return np.sum(np.abs(eigs) <= rtol * top, axis=-1)


def spectral_angle(eigs: np.ndarray) -> np.ndarray:
    """Return the large-``n_h`` limit of ``B^T ∠ B^T M`` from the eigenvalues of ``M``, in degrees.

    For ``B`` with iid N(0, 1) entries and many columns, ``tr(B^T M B) ~ n_h tr M``,
    ``|M B|_F^2 ~ n_h tr M^2`` and ``|B|_F^2 ~ n_h n_o``, so
    ``cos(B^T ∠ B^T M) -> tr M / sqrt(n_o tr M^2) = mean(lambda) / sqrt(mean(lambda^2))``:
    the more spread the spectrum (zero eigenvalues included), the larger the angle.

    Parameters
    ----------
    eigs : ndarray, shape (..., n_o)
        All ``n_o`` eigenvalues of ``M`` (any positive scale), zeros included.
    """
    eigs = _checks.finite("eigs", _checks.ndim_at_least("eigs", eigs, 1))
    if np.any(eigs < -1e-9 * np.max(np.abs(eigs))):
        raise ValueError("eigs must be the eigenvalues of a positive semidefinite matrix.")
    sq = np.sqrt(np.mean(eigs**2, axis=-1))
    if np.any(sq == 0):
        raise ValueError("eigs must not be all zero.")
    return np.degrees(np.arccos(np.clip(np.mean(eigs, axis=-1) / sq, -1.0, 1.0)))


def expected_zero_eigenvalues(dims: Sequence[int]) -> int:
    """``n_o - min(n_i, n_b, n_o)``: the zero eigenvalues that the rank of ``M`` forces."""
    d = _dims(dims)
    return d.n_o - min(d.n_i, d.n_b, d.n_o)


def mc_slope(n: np.ndarray, err: np.ndarray) -> float:
    """Least-squares slope of ``log err`` against ``log n`` (-1/2 for a 1/sqrt(n) law)."""
    n = np.asarray(n, dtype=float)
    err = _checks.finite("err", np.asarray(err, dtype=float))
    if n.size != err.size or n.size < 2:
        raise ValueError(f"need >= 2 matching points; got {n.size} and {err.size}.")
    if np.any(n <= 0) or np.any(err <= 0):
        raise ValueError("n and err must be positive for a log-log fit.")
    return float(np.polyfit(np.log(n), np.log(err), 1)[0])


# --------------------------------------------------------------------------- Supp. Note 3


@_single_threaded
def random_transform_angles(seed: int, n: int, size: int = 100) -> np.ndarray:
    """Control of Supp. Note 3: ``AB ∠ A`` for ``A``, ``B`` iid N(0, 1), ``size x size``.

    A transform that is not PSD has no reason to preserve direction: the angle
    is 90 degrees in expectation, with SD about ``sqrt(2 / size^2)`` rad (0.81
    degrees for 100 x 100). Draw ``j`` uses stream ``j`` (``A`` then ``B``).
    """
    n = _count("n", n)
    size = _count("size", size)
    gens = ensembles.streams(_seed(seed, 2), n)
    chunk = max(1, min(n, 2_000_000 // (size * size)))
    out = np.empty(n)
    for start in range(0, n, chunk):
        part = gens[start : start + chunk]
        a = ensembles.normal(part, (size, size))
        b = ensembles.normal(part, (size, size))
        out[start : start + len(part)] = linalg.angle(a @ b, a)
    return out


# --------------------------------------------------------------------------- the open loop


@_single_threaded
def openloop_linear(
    seed: int, reps: int, n_iter: int, dims: Sequence[int], eta: float
) -> dict[str, np.ndarray]:
    """Simulate the open-loop linear two-layer net of Fig. 1A with constant ``X`` and ``E``.

    The same net, streams and learning step as :func:`fa_lib.openloop.run_openloop`
    with ``activation="identity"`` and constant signals (so ``w1_bt`` and ``dw0``
    equal its traces for the same seed), recording in addition the angles of
    ``W_1[k]`` and ``W_0[k]`` with their limits ``B^T E^T X X^T E`` (eq. 1 / S10)
    and ``X^T E B`` (eq. S7), and the per-repetition asymptotes of Fig. 1B, C.

    Parameters
    ----------
    seed, reps, n_iter : int
    dims : (n_i, n_h, n_o, n_b)
    eta : float

    Returns
    -------
    dict of ndarray
        Traces ``n_iter x reps`` after update ``k``: ``w1_limit`` (``W_1 ∠ B^T M``),
        ``w0_limit`` (``W_0 ∠ X^T E B``), ``w1_bt`` (``W_1 ∠ B^T``), ``dw0``
        (``dW_0,FA ∠ dW_0,BP``); per repetition (``reps``): ``asym_w1_bt``
        (``B^T ∠ B^T M``) and ``asym_dw0`` (eqs. 2-3).
    """
    d = _dims(dims)
    reps, n_iter = _count("reps", reps), _count("n_iter", n_iter)
    fixed: dict[str, np.ndarray] = {}

    def limits(k: int, net: Network, step: Step) -> dict[str, np.ndarray]:
        # on the host: the limits use NumPy (the run may compute on a GPU, FA_DEVICE)
        if not fixed:  # X and E are constant: the limits are fixed by the first step
            x, e, b = to_numpy(step.L[0]), to_numpy(step.E), to_numpy(net.B[1])
            m = transform(e, x)
            fixed.update(b=b, m=m, lim1=w1_limit(b, m), lim0=w0_limit(x, e, b))
        return {"w1_limit": linalg.angle(to_numpy(net.W[1]), fixed["lim1"]),
                "w0_limit": linalg.angle(to_numpy(net.W[0]), fixed["lim0"])}

    run = run_openloop(seed, reps, n_iter, (d.n_i, d.n_h, d.n_o), d.n_b,
                       Rule("fa", eta=eta), activation="identity", observe=limits)
    out = {k: run[k] for k in ("w1_limit", "w0_limit", "w1_bt", "dw0")}
    out["asym_w1_bt"] = w1_bt_angle(fixed["b"], fixed["m"])
    out["asym_dw0"] = dw0_angle(fixed["b"], fixed["m"])
    return out


# --------------------------------------------------------------------------- cached runs


def run_condition(
    cond: int, cfg: PersistentErrorConfig | None = None, *, fixed_ex: bool = False
) -> dict[str, np.ndarray]:
    """Fig. 1B, C draws of condition ``cond`` (1-6), through the results cache."""
    if cond not in CONDITIONS:
        raise ValueError(f"cond must be one of {sorted(CONDITIONS)}; got {cond!r}.")
    cfg = config() if cfg is None else cfg
    dims = CONDITIONS[cond]
    key = {"cond": cond, "dims": list(dims), "n_draws": cfg.n_draws, "fixed_ex": fixed_ex,
           "checkpoints": list(cfg.checkpoints), "seed": cfg.seed, "max_elements": cfg.max_elements}
    return cached(
        f"{CHAPTER}_cond{cond}{'_fixedEX' if fixed_ex else ''}",
        key,
        lambda: draw_condition(cfg.seed + cond, dims, cfg.n_draws, fixed_ex=fixed_ex,
                               checkpoints=cfg.checkpoints, max_elements=cfg.max_elements),
    )


def run_eigenvalues(cfg: PersistentErrorConfig | None = None) -> dict[str, np.ndarray]:
    """Fig. 1D: eigenvalues of ``M / (n_b n_i)`` for draw 0 of every condition.

    Returns ``eig{c}`` (decreasing, length ``n_o``) and ``zeros`` (count per condition).
    """
    cfg = config() if cfg is None else cfg

    def compute() -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        zeros = []
        for c, dims in CONDITIONS.items():
            e, x, _ = draw_one(cfg.seed + c, dims)
            out[f"eig{c}"] = eigenvalues(transform(e, x), dims)
            zeros.append(int(zero_eigenvalues(out[f"eig{c}"])))
        out["zeros"] = np.asarray(zeros)
        return out

    return cached(f"{CHAPTER}_eigenvalues", {"seed": cfg.seed, "conditions": {
        str(c): list(d) for c, d in CONDITIONS.items()}}, compute)


def run_control(cfg: PersistentErrorConfig | None = None) -> dict[str, np.ndarray]:
    """Supp. Note 3 control ``AB ∠ A``, through the results cache (key ``angles``)."""
    cfg = config() if cfg is None else cfg
    return cached(
        f"{CHAPTER}_control",
        {"seed": cfg.seed, "n": cfg.n_control, "size": cfg.control_size},
        lambda: {"angles": random_transform_angles(cfg.seed, cfg.n_control, cfg.control_size)},
    )


def run_openloop_sim(cfg: PersistentErrorConfig | None = None) -> dict[str, np.ndarray]:
    """Run the open-loop simulation (:func:`openloop_linear`) through the results cache."""
    cfg = config() if cfg is None else cfg
    key = {"seed": cfg.seed, "reps": cfg.sim_reps, "n_iter": cfg.sim_iter,
           "dims": list(cfg.sim_dims), "eta": cfg.sim_eta}
    return cached(
        f"{CHAPTER}_openloop",
        key,
        lambda: openloop_linear(cfg.seed, cfg.sim_reps, cfg.sim_iter, cfg.sim_dims, cfg.sim_eta),
    )


def experiments() -> dict[str, Callable[[], dict[str, np.ndarray]]]:
    """The chapter's cached experiments, in the notebook's order: name -> the notebook's call.

    Each call runs at the scale of :func:`config` when called and returns the cached results.
    """
    return {
        "openloop_sim": lambda: run_openloop_sim(config()),
        **{f"cond{c}": (lambda c=c: run_condition(c, config())) for c in CONDITIONS},
        "eigenvalues": lambda: run_eigenvalues(config()),
        "control": lambda: run_control(config()),
        **{f"cond{c}_fixedEX": (lambda c=c: run_condition(c, config(), fixed_ex=True))
           for c in CONDITIONS},
    }


KINDS: dict[str, str] = {
    # draw_condition (Fig. 1B, C) and openloop_linear: angles in degrees
    "w1_bt": "angle", "dw0": "angle", "w1_limit": "angle", "w0_limit": "angle",
    "asym_w1_bt": "angle", "asym_dw0": "angle",
    "mc_n": "other", "mc_err": "other",  # draw_condition: Monte Carlo checkpoints, errors
    **{f"eig{c}": "other" for c in CONDITIONS}, "zeros": "other",  # run_eigenvalues
    "angles": "angle",  # run_control: AB angle A
}
"""The kind of the numbers of every array of the chapter's cache entries, which sets how
:mod:`fa_lib.record` compares them: ``angle`` (degrees), ``accuracy`` (a fraction) or
``other``."""
