"""Alignment terms and their transformation matrices (Methods 4.2)."""

from __future__ import annotations

import numpy as np

from fa_lib import _checks, linalg
from fa_lib.activations import Activation, get

T = linalg.transpose


def transform_matrix(
    e_old: np.ndarray, x_old: np.ndarray, x_now: np.ndarray, e_now: np.ndarray
) -> np.ndarray:
    """Transformation matrix ``M^o[k] = E[k-o]^T X[k-o] X[k]^T E[k]`` (eq. 27).

    With ``o = 0`` and constant ``E``, ``X`` this is the PSD matrix
    ``E^T X X^T E`` of eq. 1. Leading axes broadcast.

    Returns
    -------
    ndarray, shape (..., n_o, n_o)
    """
    # Grouped as (E_old^T X_old)(X_now^T E_now): two thin products instead of n_b x n_b.
    return (T(e_old) @ x_old) @ (T(x_now) @ e_now)


def linear_alignment_term(b: np.ndarray, m: np.ndarray, eta: float) -> np.ndarray:
    """Alignment term of a two-layer linear net ``T^o = eta^2 B^T M^o`` (eq. 26)."""
    eta = _checks.positive("eta", eta)
    return eta**2 * (T(b) @ m)


def alignment_term(
    w_prev_old: np.ndarray,
    l_prev_old: np.ndarray,
    l_prev_now: np.ndarray,
    delta_old: np.ndarray,
    delta_next_now: np.ndarray,
    eta: float,
    activation: str | Activation,
) -> np.ndarray:
    """Alignment term of order ``o`` in layer ``l`` (eq. 21).

    ``T^o_aln[k] = eta {f'(W_{l-1}[k-o]^T L_{l-1}[k]^T) * eta delta_l[k-o]^T
    L_{l-1}[k-o] L_{l-1}[k]^T} delta_{l+1}[k]``; with FA
    ``delta_l = delta_{l+1} B_l * f'(Z_l)``, so it carries ``B_l^T``.

    Parameters
    ----------
    w_prev_old : ``W_{l-1}[k-o]``, ``(..., n_{l-1}, n_l)``
    l_prev_old : ``L_{l-1}[k-o]``, ``(..., n_b, n_{l-1})``
    l_prev_now : ``L_{l-1}[k]``, ``(..., n_b, n_{l-1})``
    delta_old : ``delta_l[k-o]``, ``(..., n_b, n_l)``
    delta_next_now : ``delta_{l+1}[k]``, ``(..., n_b, n_{l+1})``
    eta : float
    activation : the network's ``f``

    Returns
    -------
    ndarray, shape (..., n_l, n_{l+1}), comparable with ``W_l`` and ``B_l^T``.
    """
    eta = _checks.positive("eta", eta)
    act = get(activation)
    gate = act.df(T(w_prev_old) @ T(l_prev_now))  # n_l x n_b
    carried = (T(delta_old) @ l_prev_old) @ T(l_prev_now)  # n_l x n_b
    return eta * ((gate * (eta * carried)) @ delta_next_now)


def sup_alignment_term(
    w_prev_old: np.ndarray,
    l_prev_now: np.ndarray,
    delta_next_now: np.ndarray,
    eta: float,
    activation: str | Activation,
) -> np.ndarray:
    """Sup-alignment term of order ``o`` (eq. 22).

    ``T^o_sup[k] = eta f(W_{l-1}[k-o]^T L_{l-1}[k]^T) delta_{l+1}[k]``: the part of
    ``dW_l`` that the weights of ``o`` iterations ago would give; it contains the
    alignment terms of order ``o + 1`` and higher.
    """
    eta = _checks.positive("eta", eta)
    act = get(activation)
    return eta * (act.f(T(w_prev_old) @ T(l_prev_now)) @ delta_next_now)
