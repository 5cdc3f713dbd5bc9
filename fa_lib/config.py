"""The one place where the book's scale (``FA_SCALE``) and worker count (``FA_JOBS``) are read.

``FA_SCALE=paper`` (the default) runs every experiment at the paper's size
(repetitions, iterations, epochs, draws); ``FA_SCALE=quick`` runs a reduced
version that still shows every effect the chapters assert.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

SCALES = ("paper", "quick")


def scale() -> str:
    """Return the scale chosen by the environment variable ``FA_SCALE``.

    Returns
    -------
    str
        ``"paper"`` (the default, when the variable is unset or empty) or ``"quick"``.

    Raises
    ------
    ValueError
        If ``FA_SCALE`` holds anything other than ``paper`` or ``quick``.
    """
    value = os.environ.get("FA_SCALE", "").strip().lower() or "paper"
    if value not in SCALES:
        raise ValueError(
            f"FA_SCALE={value!r} is not a known scale; expected one of {SCALES} "
            "(unset means 'paper')."
        )
    return value


def is_quick() -> bool:
    """Return True when the quick (test) scale is selected."""
    return scale() == "quick"


def pick(paper: T, quick: T) -> T:
    """Return ``paper`` or ``quick`` according to :func:`scale`.

    Parameters
    ----------
    paper, quick
        The value used at paper scale and at quick scale.
    """
    return quick if is_quick() else paper


def jobs(default: int = 1) -> int:
    """Return the number of worker processes chosen by the environment variable ``FA_JOBS``.

    It is the default of ``python -m fa_lib reproduce --jobs`` (``default`` 1) and the
    number of experiments a book build computes at a time (``default`` the number of
    cores, :mod:`fa_lib.build_plan`).

    Parameters
    ----------
    default : int
        The value when the variable is unset or empty (an int >= 1).

    Returns
    -------
    int
        ``FA_JOBS`` as an integer >= 1; ``default`` when the variable is unset or empty.

    Raises
    ------
    ValueError
        If ``FA_JOBS`` is not a whole number >= 1.
    """
    raw = os.environ.get("FA_JOBS", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"FA_JOBS={raw!r} is not a whole number; expected an integer >= 1 "
            "(unset or empty means the default)."
        ) from None
    if value < 1:
        raise ValueError(f"FA_JOBS={raw!r} must be >= 1 (unset or empty means the default).")
    return value
