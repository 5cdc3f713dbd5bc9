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
    settings : str
        The values of the section's controls, in words ("" when not known:
        :func:`fa_lib.try_it.answer` fills it in).
    seconds : float or None
        The wall-clock time the answer took (None when not measured:
        :func:`fa_lib.try_it.answer` measures it).
    """

    figure: Figure
    numbers: dict[str, float]
    verdict: str
    size: str
    settings: str = ""
    seconds: float | None = None

    def markdown(self) -> str:
        """Return the verdict, then the settings, the size and the time, as Markdown."""
        about = [f"Settings: {self.settings}." if self.settings else "",
                 f"Size: {self.size}.",
                 "" if self.seconds is None else
                 f"Computed in {self.seconds:.1f} s."]
        return f"{self.verdict}\n\n*{' '.join(a for a in about if a)}*"

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

    def describe(self, value: object) -> str:
        """Return "label = value" in words, a drop-down's value by its option's label."""
        for option in self.options:
            if isinstance(option, tuple) and option[1] == value:
                return f"{self.label} = {option[0]}"
        if isinstance(value, bool):
            value = "on" if value else "off"
        return f"{self.label} = {value:g}" if isinstance(value, float) else \
            f"{self.label} = {value}"


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
