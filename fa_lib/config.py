"""The one place where the book's scale, worker count and device settings are read.

``FA_SCALE``, ``FA_JOBS`` and ``FA_DEVICE`` (:func:`device`).

``FA_SCALE=paper`` (the default) runs every experiment at the paper's size
(repetitions, iterations, epochs, draws); ``FA_SCALE=quick`` runs a reduced
version that still shows every effect the chapters assert.

The scale is read when an experiment is called, never when a module is imported:
:func:`scale_context` sets it for a block of code without touching the environment.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

SCALES = ("paper", "quick")

_SCALE: contextvars.ContextVar[str | None] = contextvars.ContextVar("fa_lib_scale", default=None)
"""The scale set by :func:`scale_context` (None: the environment's)."""


def scale() -> str:
    """Return the scale: the one of an enclosing :func:`scale_context`, else ``FA_SCALE``.

    Returns
    -------
    str
        ``"paper"`` (the default, when the variable is unset or empty) or ``"quick"``.

    Raises
    ------
    ValueError
        If ``FA_SCALE`` holds anything other than ``paper`` or ``quick``.
    """
    chosen = _SCALE.get()
    if chosen is not None:
        return chosen
    return environment_choice("FA_SCALE", SCALES, "scale")


@contextlib.contextmanager
def scale_context(value: str) -> Iterator[str]:
    """Run a block of code at scale ``value``, whatever ``FA_SCALE`` says.

    Every :func:`scale` (so every experiment's run list and sizes) inside the block
    returns ``value``; the environment is left alone. Blocks nest, and each thread or
    :mod:`contextvars` context has its own.

    Parameters
    ----------
    value : str
        ``"paper"`` or ``"quick"`` (case and surrounding blanks ignored).

    Yields
    ------
    str
        The scale in force.

    Raises
    ------
    ValueError
        If ``value`` is not a known scale.
    """
    chosen = str(value).strip().lower()
    if chosen not in SCALES:
        raise ValueError(f"scale {value!r} is not a known scale; expected one of {SCALES}.")
    with bound(_SCALE, chosen):
        yield chosen


@contextlib.contextmanager
def bound(variable: contextvars.ContextVar[T], value: T) -> Iterator[T]:
    """Set a context variable to ``value`` for a block; restore it after, even on an error.

    Parameters
    ----------
    variable : contextvars.ContextVar
    value
        Its value inside the block.

    Yields
    ------
    The value.
    """
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


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


DEVICES = ("cpu", "cuda")
"""The values of ``FA_DEVICE``: ``cpu`` (NumPy) or ``cuda`` (PyTorch, else CuPy, on a GPU)."""


def device() -> str:
    """Return the device the engine's runs compute on, from ``FA_DEVICE``.

    ``cpu`` (the default, when the variable is unset or empty) runs the engine with
    NumPy; ``cuda`` with PyTorch on the GPU, or CuPy when PyTorch is not installed
    (:func:`fa_lib.backend.from_config`). The results cache's keys do not depend on it.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        If ``FA_DEVICE`` holds anything else.
    """
    return environment_choice("FA_DEVICE", DEVICES, "device")


def environment_choice(name: str, choices: tuple[str, ...], what: str) -> str:
    """Return the environment variable ``name`` as one of ``choices`` (the first by default).

    Parameters
    ----------
    name : str
        The variable, e.g. ``"FA_SCALE"``.
    choices : tuple of str
        The values it may hold, lower case; the first is the value when it is unset or
        empty. Case and surrounding blanks are ignored.
    what : str
        What the variable chooses, for the error message (``"scale"``).

    Returns
    -------
    str
        The chosen value.

    Raises
    ------
    ValueError
        If the variable holds anything else, naming it and the values it may hold.
    """
    value = os.environ.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not a known {what}; expected one of {choices} "
            f"(unset means {choices[0]!r})."
        )
    return value
