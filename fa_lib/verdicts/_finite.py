"""The verdicts modules' one policy for results that hold NaN or infinite values.

A claim computed from such results does not hold, and its ``measured`` says which results
are not finite: a statistic would otherwise raise (:mod:`fa_lib.stats` refuses NaN) or
pass over the values in silence (every comparison with NaN is false, so a NaN is neither
"above" nor "below" anything), and neither is a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["nonfinite", "not_computed"]


def nonfinite(arrays: Mapping[str, ArrayLike]) -> str:
    """Say which of ``arrays`` hold NaN or infinite values.

    Parameters
    ----------
    arrays : mapping of str to array_like
        Name -> the values (of any shape) that a chapter's claims use.

    Returns
    -------
    str
        ``""`` when every value is finite, else, for each array that is not, its name
        and how many of its values are not finite (``"cond2 w1_bt: 1 of 500"``),
        separated by semicolons.
    """
    said = []
    for name, values in arrays.items():
        values = np.asarray(values, dtype=float)
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            said.append(f"{name}: {bad} of {values.size}")
    return "; ".join(said)


def not_computed(which: str) -> str:
    """The ``measured`` of a claim whose results are not finite (``which``: :func:`nonfinite`)."""
    return f"not computed: NaN or infinite values in the results ({which})"
