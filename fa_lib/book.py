"""Glue helpers of the book's notebooks: numbers and text for the prose, p-values, t-tests.

The chapters put computed values into their text with MyST-NB's ``{glue:text}`` role;
:func:`glue` and :func:`glue_all` glue them without displaying them (the one style
the chapters use; without MyST-NB installed, outside a book build, they do nothing),
and the others format p-values and :class:`fa_lib.stats.TTest` results the same way in
every chapter. Presentation only:
nothing here changes a computed number (the results cache does not fingerprint it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from fa_lib.stats import TTest

_RECORDED: list[dict[str, object]] = []
"""The open :func:`recording_figures` blocks, innermost last."""


@contextlib.contextmanager
def recording_figures() -> Iterator[dict[str, object]]:
    """Record every figure that :func:`glue` glues in this block, by its glue name.

    For the tests of the book's figures (``tests/test_figures.py``), which run a chapter's
    cells in one process and check the Figure objects the chapter shows; the figures
    are glued as usual as well.

    Yields
    ------
    dict
        Glue name -> matplotlib Figure, filled as the block runs.
    """
    recorded: dict[str, object] = {}
    _RECORDED.append(recorded)
    try:
        yield recorded
    finally:
        _RECORDED.remove(recorded)


def glue(name: str, value: object) -> None:
    """Glue ``value`` under ``name`` for the chapter's text, without displaying it.

    The one way the chapters put computed values into their prose: a whole number is
    glued as a Python ``int`` and any other real number as a ``float`` (NumPy's too), so
    that a format spec in the text applies (``{glue:text}`name:.1f```); an
    :class:`IPython.display.Markdown` is glued for ``{glue:md}``; a figure or a table
    (anything with a rich display) as it is, for ``{glue:figure}``; anything else as
    ``str(value)``.

    Parameters
    ----------
    name : str
        The glue key, prefixed by the chapter's short name (``pe_n_draws``).
    value : object
    """
    import numbers

    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # outside a book build (Colab, a bare Jupyter): no glue to keep
        myst_glue = _glue_without_myst_nb

    if isinstance(value, bool | np.bool_):
        value = str(bool(value))
    elif isinstance(value, numbers.Integral):
        value = int(value)
    elif isinstance(value, numbers.Real):
        value = float(value)
    elif not (hasattr(value, "_repr_markdown_") or hasattr(value, "_repr_html_")
              or hasattr(value, "savefig") or hasattr(value, "_repr_png_")):
        value = str(value)
    if hasattr(value, "savefig") and _RECORDED:
        _RECORDED[-1][name] = value
    myst_glue(name, value, display=False)


def _glue_without_myst_nb(name: str, value: object, display: bool = True) -> None:
    """Stand-in for ``myst_nb.glue`` when MyST-NB is not installed: display, or nothing.

    Nothing reads glued values outside a book build, so only ``display=True`` does
    anything: it displays ``value`` as ``myst_nb.glue`` would.
    """
    if display:
        from IPython.display import display as ipython_display

        ipython_display(value)


def glue_all(values: dict[str, object], prefix: str = "") -> None:
    """:func:`glue` every ``prefix + name: value`` of ``values``.

    Parameters
    ----------
    values : dict
        Name -> value, e.g. what a chapter's ``fa_lib.verdicts`` module computes for the
        text.
    prefix : str
        Put before every name (the chapter's short name and an underscore).
    """
    for name, value in values.items():
        glue(prefix + name, value)


def pstr(p: float) -> str:
    """Format a p-value: ``"p = 0.012"`` (two significant digits), ``"p < 1e-300"`` below 1e-300."""
    return "p < 1e-300" if p < 1e-300 else f"p = {p:.2g}"


def describe(t: TTest, unit: str = "°", ci99: bool = True) -> str:
    """Describe a t-test: ``"mean ± SD SD (n, t, p, 99% CI)"``, two decimals.

    Parameters
    ----------
    t : TTest
        The test (:func:`fa_lib.stats.ttest_1samp`, :func:`fa_lib.stats.paired`, ...).
    unit : str
        Appended to the mean, the SD and the interval's ends.
    ci99 : bool
        Include the 99% confidence interval of the mean.

    Returns
    -------
    str
        For example ``"89.98° ± 1.02° SD (n = 400, t = -0.4, p = 0.69, 99% CI [89.85, 90.11]°)"``.
    """
    text = f"{t.mean:.2f}{unit} ± {t.sd:.2f}{unit} SD (n = {t.n}, t = {t.t:.1f}, {pstr(t.p)}"
    if ci99:
        text += f", 99% CI [{t.ci99[0]:.2f}, {t.ci99[1]:.2f}]{unit}"
    return text + ")"


def ci_text(t: TTest, digits: int = 1) -> str:
    """A mean difference with its 99% confidence interval: ``"+4.2 [+1.0, +7.4]"``."""
    return f"{t.mean:+.{digits}f} [{t.ci99[0]:+.{digits}f}, {t.ci99[1]:+.{digits}f}]"
