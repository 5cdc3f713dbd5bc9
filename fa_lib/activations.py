"""Activation functions with their element-wise derivatives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fa_lib.backend import is_numpy, namespace


@dataclass(frozen=True)
class Activation:
    """An element-wise activation ``f`` and its derivative ``df``."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    df_from_f: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    """``f'(z)`` computed from ``z`` and ``f(z)`` (cheaper than ``df`` when ``f`` is), or None."""

    def derivative(self, z: np.ndarray, fz: np.ndarray | None = None) -> np.ndarray:
        """Return ``f'(z)``, from ``fz = f(z)`` when given and :attr:`df_from_f` exists."""
        if fz is None or self.df_from_f is None:
            return self.df(z)
        return self.df_from_f(z, fz)


def _relu(z: np.ndarray) -> np.ndarray:
    xp = namespace(z)
    if is_numpy(xp):
        return np.maximum(z, 0)
    return xp.where(z > 0, z, xp.zeros_like(z))


def _relu_df(z: np.ndarray) -> np.ndarray:
    # f'(0) = 1 by the paper's convention (Methods 4.3).
    xp = namespace(z)
    if is_numpy(xp):
        return (z >= 0).astype(z.dtype)
    return xp.astype(z >= 0, z.dtype)


def _tanh_relu(z: np.ndarray) -> np.ndarray:
    return namespace(z).tanh(_relu(z))


def _tanh_relu_df(z: np.ndarray) -> np.ndarray:
    # d/dx tanh(ReLU(x)) = (x > 0) sech^2(x) = (x > 0) (1 - tanh^2 x): f'(0) = 0 here.
    xp = namespace(z)
    t = xp.tanh(z)
    if is_numpy(xp):
        return (z > 0) * (1 - t * t)
    return xp.astype(z > 0, z.dtype) * (1 - t * t)


def _tanh_relu_df_from_f(z: np.ndarray, fz: np.ndarray) -> np.ndarray:
    # (z > 0) (1 - f^2), computed in one new array (the same numbers, fewer passes).
    xp = namespace(z, fz)
    if not is_numpy(xp):
        return (1 - fz * fz) * xp.astype(z > 0, fz.dtype)
    out = np.multiply(fz, fz)
    np.subtract(1, out, out=out)
    np.multiply(out, z > 0, out=out)
    return out


def _ones_like(z: np.ndarray) -> np.ndarray:
    return namespace(z).ones_like(z)


IDENTITY = Activation("identity", lambda z: z, _ones_like)
RELU = Activation("relu", _relu, _relu_df)
TANH_RELU = Activation("tanh_relu", _tanh_relu, _tanh_relu_df, _tanh_relu_df_from_f)

_BY_NAME = {a.name: a for a in (IDENTITY, RELU, TANH_RELU)}


def get(name: str | Activation) -> Activation:
    """Return the activation called ``name`` (``identity``, ``relu`` or ``tanh_relu``)."""
    if isinstance(name, Activation):
        return name
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(_BY_NAME)}."
        ) from None
