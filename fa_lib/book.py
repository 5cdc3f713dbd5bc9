"""Glue helpers of the book's notebooks: numbers and text for the prose, p-values, t-tests.

The chapters put computed values into their text with MyST-NB's ``{glue:text}`` role;
these helpers glue them without displaying them, and format p-values and
:class:`fa_lib.stats.TTest` results the same way in every chapter. Presentation only:
nothing here changes a computed number (the results cache does not fingerprint it).
"""

from __future__ import annotations

from fa_lib.stats import TTest


def gnum(name: str, value: float) -> None:
    """Glue ``value`` as a Python float under ``name``, without displaying it.

    A float, so that a format spec in the text applies (``{glue:text}`name:.1f```).
    """
    from myst_nb import glue

    glue(name, float(value), display=False)


def gstr(name: str, text: object) -> None:
    """Glue ``str(text)`` under ``name``, without displaying it."""
    from myst_nb import glue

    glue(name, str(text), display=False)


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


def gmd(name: str, text: object) -> None:
    """Glue ``text`` as Markdown under ``name`` (for ``{glue:md}``), without displaying it."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, text if isinstance(text, Markdown) else Markdown(str(text)), display=False)


def ci_text(t: TTest, digits: int = 1) -> str:
    """A mean difference with its 99% confidence interval: ``"+4.2 [+1.0, +7.4]"``."""
    return f"{t.mean:+.{digits}f} [{t.ci99[0]:+.{digits}f}, {t.ci99[1]:+.{digits}f}]"
