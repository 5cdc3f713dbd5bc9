"""What every "Try it" answer is made of: its result, its knobs, and their checks.

:class:`TryResult` and :class:`Knob`, and the checks of a knob's value (each with a
message that says what is allowed).

The answers themselves are in :mod:`fa_lib.try_it_openloop` (the open-loop chapters) and
:mod:`fa_lib.try_it_training` (the MNIST chapters); :mod:`fa_lib.try_it` shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fa_lib import _checks, plotting, stats

__all__ = ["Knob", "TryResult", "choice", "fraction", "mean_sem", "new_figure", "whole"]


@dataclass(frozen=True)
class TryResult:
    """One answer of a "Try it" section.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
        A small figure of the run (not attached to pyplot: it is shown only when displayed).
    numbers : dict of str to float
        The measured numbers, by name (degrees unless the name says otherwise).
    verdict : str
        One or two sentences of prose: the measurement against the chapter's claim and its
        criterion.
    size : str
        What was run, in words (draws, repetitions, iterations, widths).
    """

    figure: Figure
    numbers: dict[str, float]
    verdict: str
    size: str

    def markdown(self) -> str:
        """Return the verdict followed by the size, as Markdown."""
        return f"{self.verdict}\n\n*Size: {self.size}.*"

    def _ipython_display_(self) -> None:
        from IPython.display import Markdown, display

        display(self.figure)
        display(Markdown(self.markdown()))


@dataclass(frozen=True)
class Knob:
    """One control of a "Try it" section.

    Attributes
    ----------
    name : str
        The keyword argument of the chapter's function.
    label : str
        The control's description.
    default : object
        Its value in the default answer.
    options : sequence, optional
        The choices of a drop-down (``(label, value)`` pairs or values).
    low, high, step : float, optional
        The range of a slider (integers when ``default`` is an ``int``).
    """

    name: str
    label: str
    default: object
    options: Sequence[object] = field(default=())
    low: float | None = None
    high: float | None = None
    step: float | None = None


def new_figure(n_axes: int = 1, height: float = 3.2) -> tuple[Figure, list]:
    """A figure of ``n_axes`` panels in a row at the page's width, not attached to pyplot."""
    fig = Figure(figsize=(plotting.MAX_WIDTH * (0.55 if n_axes == 1 else 1.0), height),
                 layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, n_axes)))


def whole(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` as a whole number in ``[low, high]``, or a ValueError that says so."""
    v = _checks.whole(name, value, low, floats=False)
    if high is not None and v > high:
        raise ValueError(f"{name} must be at most {high} (the answer should take a few "
                         f"seconds); got {value!r}.")
    return v


def fraction(name: str, value: object) -> float:
    """``value`` as a number in [0, 1], or a ValueError that says so."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}.")
    return _checks.probability(name, float(value))


def choice(name: str, value: object, options: Sequence[object]) -> Any:
    """``value`` when it is one of ``options``, or a ValueError that lists them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}.")
    return value


def mean_sem(x: np.ndarray) -> str:
    """Angles ``x`` (degrees) as "mean ± SEM (n)", in words for a verdict."""
    return f"{np.mean(x):.1f}° ± {stats.sem(x):.1f}° (mean ± SEM, n = {x.size})"
