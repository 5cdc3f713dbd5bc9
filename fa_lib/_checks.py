"""Input checks shared by the engine: each raises a ValueError that says what was expected."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def finite(name: str, x: np.ndarray) -> np.ndarray:
    """Return ``x`` as an array, raising ValueError if it holds NaN or Inf."""
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(
            f"{name} contains {bad} NaN or Inf value(s); expected finite numbers "
            "(a diverging run? try a smaller learning rate eta)."
        )
    return x


def positive(name: str, value: float) -> float:
    """Return ``value`` as float, raising ValueError unless it is finite and > 0."""
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return v


def ndim_at_least(name: str, x: np.ndarray, n: int) -> np.ndarray:
    """Return ``x`` as an array, raising ValueError if it has fewer than ``n`` axes."""
    x = np.asarray(x)
    if x.ndim < n:
        raise ValueError(f"{name} must have at least {n} axes; got shape {x.shape}.")
    return x


def same_shape(names: Sequence[str], *arrays: np.ndarray) -> None:
    """Raise ValueError unless all arrays have the same shape."""
    shapes = [np.shape(a) for a in arrays]
    if any(s != shapes[0] for s in shapes[1:]):
        listing = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"shapes must be equal; got {listing}.")


def probability(name: str, value: float) -> float:
    """Return ``value`` as float, raising ValueError unless it lies in [0, 1]."""
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1]; got {value!r}.")
    return v
