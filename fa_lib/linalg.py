"""Matrix angles and the symmetric / skew-symmetric split.

All functions act on the last two axes and broadcast over any leading axes
(repetitions, draws), so one call handles a whole ensemble.
"""

from __future__ import annotations

import math

import numpy as np

from fa_lib import _checks
from fa_lib.backend import is_numpy, namespace


def frobenius_inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frobenius inner product ``<A, B>_F = sum_ij A_ij B_ij`` over the last two axes.

    Parameters
    ----------
    a, b : ndarray, shape (..., n, m)
        Matrices with broadcastable leading axes and equal last two axes.

    Returns
    -------
    ndarray, shape (...)
    """
    a = _checks.ndim_at_least("a", a, 2)
    b = _checks.ndim_at_least("b", b, 2)
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"matrices must have the same shape in their last two axes; got {a.shape} "
            f"and {b.shape}."
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the leading axes of the matrices do not broadcast; got shapes {a.shape} "
            f"and {b.shape}."
        ) from None
    xp = namespace(a, b)
    if is_numpy(xp):
        return np.einsum("...ij,...ij->...", a, b)
    return xp.sum(a * b, axis=(-2, -1))


def frobenius_norm(a: np.ndarray) -> np.ndarray:
    """Frobenius norm ``|A|_F`` over the last two axes."""
    a = _checks.ndim_at_least("a", a, 2)
    xp = namespace(a)
    if is_numpy(xp):
        return np.sqrt(np.einsum("...ij,...ij->...", a, a))
    return xp.sqrt(xp.sum(a * a, axis=(-2, -1)))


def column_norms(w: np.ndarray) -> np.ndarray:
    """The norm of every column of ``W`` (over the second-last axis): ``R x n`` of ``R x m x n``."""
    xp = namespace(w)
    if is_numpy(xp):
        return np.sqrt(np.einsum("...ij,...ij->...j", w, w))
    return xp.sqrt(xp.sum(w * w, axis=-2))


ZERO_POLICIES = ("raise", "nan")
"""What :func:`angle` does with a zero matrix, whose angle is undefined."""


def _real(name: str, x: np.ndarray) -> np.ndarray:
    """Return ``x`` as a float array (bool and integer matrices converted, not summed as bool)."""
    xp = namespace(x)
    if not is_numpy(xp):
        if xp.isdtype(x.dtype, ("bool", "integral")):
            return xp.astype(x, xp.float64)
        if not xp.isdtype(x.dtype, "real floating"):
            raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
        return x
    x = np.asarray(x)
    if x.dtype == bool or np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float64)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
    return x


def angle(a: np.ndarray, b: np.ndarray, *, zero: str = "raise") -> np.ndarray:
    """Angle between two matrices in degrees (eq. 33).

    ``A ∠ B = arccos(<A, B>_F / (|A|_F |B|_F))``, the angle between the
    vectorised matrices.

    Parameters
    ----------
    a, b : ndarray, shape (..., n, m)
        Finite real matrices (bool and integer ones are taken as numbers); leading axes
        broadcast.
    zero : {"raise", "nan"}
        For a pair where either matrix is zero (its angle is undefined): raise a
        ValueError, or give NaN. ``"nan"`` is what the recorders use: a network whose
        units are all silent for a batch has ``delta = 0`` and zero updates.

    Returns
    -------
    ndarray, shape (...)
        Angles in degrees, in [0, 180] (NaN for a zero matrix with ``zero="nan"``).

    Raises
    ------
    ValueError
        On mismatched shapes, NaN/Inf entries, an unknown ``zero`` policy, or a zero
        matrix with ``zero="raise"``.
    """
    if zero not in ZERO_POLICIES:
        raise ValueError(f"zero must be one of {ZERO_POLICIES}; got {zero!r}.")
    a = _checks.finite("a", _real("a", a))
    b = _checks.finite("b", _real("b", b))
    xp = namespace(a, b)
    inner = frobenius_inner(a, b)
    norms = frobenius_norm(a) * frobenius_norm(b)
    ok = norms > 0
    if not is_numpy(xp):
        if xp.all(ok):
            cos = xp.clip(inner / norms, -1.0, 1.0)
        elif zero == "raise":
            raise ValueError("angle is undefined for a zero matrix; got a matrix with |A|_F = 0.")
        else:
            safe = xp.where(ok, norms, xp.ones_like(norms))
            cos = xp.where(ok, xp.clip(inner / safe, -1.0, 1.0), xp.full_like(norms, xp.nan))
        return xp.acos(cos) * (180.0 / math.pi)
    if np.all(ok):
        cos = np.clip(inner / norms, -1.0, 1.0)
    elif zero == "raise":
        raise ValueError("angle is undefined for a zero matrix; got a matrix with |A|_F = 0.")
    else:
        cos = np.where(ok, np.clip(inner / np.where(ok, norms, 1.0), -1.0, 1.0), np.nan)
    return np.degrees(np.arccos(cos))


def sym_skew(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split square matrices into symmetric and skew-symmetric parts (eqs. 28-30).

    Parameters
    ----------
    m : ndarray, shape (..., n, n)

    Returns
    -------
    sym, skew : ndarray, shape (..., n, n)
        ``(M + M^T) / 2`` and ``(M - M^T) / 2``; ``sym + skew == m``.
    """
    m = _checks.ndim_at_least("m", m, 2)
    if m.shape[-1] != m.shape[-2]:
        raise ValueError(f"m must be square in its last two axes; got shape {m.shape}.")
    mt = transpose(m)
    return (m + mt) / 2, (m - mt) / 2


def transpose(a: np.ndarray) -> np.ndarray:
    """Transpose the last two axes (``A^T`` for every matrix of a stack)."""
    xp = namespace(a)
    if is_numpy(xp):
        return np.swapaxes(a, -1, -2)
    return xp.matrix_transpose(a)


def predicted_product_angle(angles: np.ndarray, axis: int = -1) -> np.ndarray:
    """Angle of a product of matrices predicted from its factors' angles (this book's).

    ``theta_prod ≈ arccos(prod_k cos theta_k)``: the depth chapter's large-matrix
    approximation ``cos theta_3 ≈ cos theta_1 cos theta_2`` (not in the paper), applied
    factor by factor (:func:`fa_lib.experiments.depth.predicted_theta3` explains it).

    Parameters
    ----------
    angles : array_like
        The factors' angles in degrees, along ``axis``.
    axis : int
        The axis of the factors.

    Returns
    -------
    ndarray
        The predicted angle of the product in degrees (``axis`` removed).
    """
    c = np.prod(np.cos(np.radians(np.asarray(angles, dtype=float))), axis=axis)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def shared_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w[r]`` for every repetition ``r`` as one matrix product, ``x`` shared.

    The stacked product ``x @ w`` of an ``n x k`` matrix with ``R`` matrices ``k x m``
    runs ``R`` small products; here ``w`` is laid side by side as one ``k x (R m)``
    matrix, so the same numbers come from one large product (each entry is the same
    dot product over ``k``), which runs nearer the machine's matrix-product peak.

    Parameters
    ----------
    x : ndarray, shape (n, k)
    w : ndarray, shape (..., k, m)
        One or more leading (repetition) axes.

    Returns
    -------
    ndarray, shape (..., n, m), C-contiguous
    """
    *lead, k, m = w.shape
    if x.ndim != 2 or x.shape[1] != k or not lead:
        raise ValueError(f"x must be n x {k} to multiply stacked w of shape {w.shape}; "
                         f"got {x.shape}.")
    if not is_numpy(namespace(x, w)):
        return x @ w
    r = int(np.prod(lead))
    wide = np.ascontiguousarray(w.reshape(r, k, m).transpose(1, 0, 2)).reshape(k, r * m)
    out = (x @ wide).reshape(len(x), r, m)
    return np.ascontiguousarray(out.transpose(1, 0, 2)).reshape(*lead, len(x), m)


def shared_tmatmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x^T @ y[r]`` for every repetition ``r`` as one matrix product, ``x`` shared.

    The transposed counterpart of :func:`shared_matmul`, for the updates of the first
    layer, ``X^T delta_1`` (eq. 14), when every repetition sees the same batch ``X``.

    Parameters
    ----------
    x : ndarray, shape (n, k)
    y : ndarray, shape (..., n, m)
        One or more leading (repetition) axes.

    Returns
    -------
    ndarray, shape (..., k, m), C-contiguous
    """
    *lead, n, m = y.shape
    if x.ndim != 2 or x.shape[0] != n or not lead:
        raise ValueError(f"x must have {n} rows to multiply stacked y of shape {y.shape}; "
                         f"got {x.shape}.")
    if not is_numpy(namespace(x, y)):
        return transpose(x) @ y
    r = int(np.prod(lead))
    wide = np.ascontiguousarray(y.reshape(r, n, m).transpose(1, 0, 2)).reshape(n, r * m)
    out = (transpose(x) @ wide).reshape(x.shape[1], r, m)
    return np.ascontiguousarray(out.transpose(1, 0, 2)).reshape(*lead, x.shape[1], m)
