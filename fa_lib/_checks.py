"""Input checks shared by the engine: each raises a ValueError that says what was expected."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fa_lib.backend import namespace


def finite(name: str, x: np.ndarray) -> np.ndarray:
    """Return ``x`` as an array, raising ValueError if it holds NaN or Inf.

    An array of another array-API library (:mod:`fa_lib.backend`) is checked in its own
    namespace, on its device.
    """
    xp = namespace(x)
    if xp is not np:
        if not bool(xp.all(xp.isfinite(x))):
            bad = int(xp.count_nonzero(xp.logical_not(xp.isfinite(x))))
            raise ValueError(
                f"{name} contains {bad} NaN or Inf value(s); expected finite numbers "
                "(a diverging run? try a smaller learning rate eta)."
            )
        return x
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


def whole(name: str, value: object, minimum: int = 1, *, floats: bool = True) -> int:
    """Return ``value`` as int, raising unless it is a whole number >= ``minimum``.

    An integral float (``3.0``) is accepted unless ``floats=False`` (for values that key
    the results cache, where ``3.0`` and ``3`` must not be two keys); ``2.7`` is a
    ValueError (never truncated), and a non-number (``"3"``, ``None``, ``True``) is a
    TypeError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"{name} must be a whole number >= {minimum}; got {value!r} "
            f"({type(value).__name__})."
        )
    if not floats and not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if not np.isfinite(value) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {value!r}.")
    return int(value)


def real(name: str, value: object, *, low: float = 0.0, strict: bool = True) -> float:
    """Return ``value`` as float, raising unless it is a finite number > ``low`` (>= if not strict).

    A non-number (``"0.1"``, ``None``, ``True``) is a TypeError, so that it never reaches a
    computation or a cache key; a number out of range is a ValueError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__}).")
    v = float(value)
    if not np.isfinite(v) or (v <= low if strict else v < low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}; "
                         f"got {value!r}.")
    return v


def generator(name: str, rng: object) -> np.random.Generator:
    """Return ``rng``, raising TypeError unless it is one ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)); "
            f"got {type(rng).__name__} {_short(rng)}."
        )
    return rng


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ndim_at_least(name: str, x: np.ndarray, n: int) -> np.ndarray:
    """Return ``x`` as an array, raising ValueError if it has fewer than ``n`` axes."""
    if namespace(x) is np:
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
