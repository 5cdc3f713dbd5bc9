"""What several chapters' verdicts modules share: criteria on t-tests, text helpers.

One definition each of "the mean lies below (or above) a target by more than ``n``
standard errors", of "mean ± SD" over repetitions, of the completeness criterion of a
design, of Markdown for ``{glue:md}``, and of a count with its noun ("1 setting").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fa_lib import stats

__all__ = ["above", "below", "complete", "count", "markdown", "mean_sd"]


def below(t: stats.TTest, target: float, n_sem: float) -> bool:
    """The mean lies below ``target`` by more than ``n_sem`` SEMs; NaN gives False."""
    return bool(t.mean + n_sem * t.sem < target)


def above(t: stats.TTest, target: float, n_sem: float) -> bool:
    """The mean lies above ``target`` by more than ``n_sem`` SEMs; NaN gives False."""
    return bool(t.mean - n_sem * t.sem > target)


def complete(missing: Sequence[str], undefined: Sequence[str]) -> bool:
    """The whole design was computed: no run missing, no value undefined."""
    return not missing and not undefined


def mean_sd(x: np.ndarray, unit: str = "", digits: int = 1) -> str:
    """``"mean ± SD"`` over the repetitions (sample SD), NaN left out."""
    x = np.asarray(x, dtype=float)
    return f"{np.nanmean(x):.{digits}f} ± {np.nanstd(x, ddof=1):.{digits}f}{unit}"


def markdown(text: str) -> object:
    """``text`` for ``{glue:md}`` (IPython's ``Markdown``; the book's kernel has IPython)."""
    from IPython.display import Markdown

    return Markdown(text)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``"1 setting"``, ``"3 settings"``.

    Examples
    --------
    >>> count(1, "setting"), count(3, "setting"), count(2, "repetition"), count(0, "axis", "axes")
    ('1 setting', '3 settings', '2 repetitions', '0 axes')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
