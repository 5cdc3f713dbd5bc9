"""A claim of the paper, what this book measured for it, and the verdict.

A chapter calls :func:`check` for each claim; the returned :class:`Claim` is
asserted in the notebook (``assert c.holds``, or for a claim that does not
reproduce, an assertion of what is true instead) and recorded so that the
chapter's "Reproduced?" table and the book's report are generated, not typed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from fa_lib import config


@dataclass(frozen=True)
class Claim:
    """One checked claim.

    Attributes
    ----------
    chapter : str
        The chapter's name (e.g. ``"autocorrelation"``).
    statement : str
        The paper's claim, in words.
    measured : str
        What this book measured (numbers with n, SD or SEM, p where relevant).
    holds : bool
        Whether the measurement supports the claim.
    criterion : str
        The test that decided ``holds`` (e.g. "99% CI of the mean contains 90").
    asserted : bool
        Whether the chapter asserts the claim at this scale. A claim whose effect
        needs the paper's sizes (say thousands of training iterations) is measured
        and recorded at the quick scale but not asserted, and its verdict is
        "not checked at this scale" whatever ``holds`` says.
    """

    chapter: str
    statement: str
    measured: str
    holds: bool
    criterion: str = ""
    asserted: bool = True

    @property
    def verdict(self) -> str:
        """``"reproduced"``, ``"not reproduced"`` or ``"not checked at this scale"``."""
        return verdict(self.holds, self.asserted)


REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_CHECKED = "not checked at this scale"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_CHECKED)
"""The three verdicts of a claim."""


def verdict(holds: bool, asserted: bool = True) -> str:
    """The verdict of a claim: :data:`NOT_CHECKED` unless asserted, else whether it holds."""
    if not asserted:
        return NOT_CHECKED
    return REPRODUCED if holds else NOT_REPRODUCED


_RECORDED: dict[str, list[Claim]] = {}


def check(
    chapter: str,
    statement: str,
    measured: str,
    holds: bool,
    criterion: str = "",
    asserted: bool = True,
) -> Claim:
    """Record a claim with its measurement and verdict, and return it.

    Re-checking the same statement (re-running a cell) replaces the old entry.
    ``asserted=False`` records a claim that this scale does not assert (see
    :class:`Claim`).
    """
    claim = Claim(chapter, statement, measured, bool(holds), criterion, bool(asserted))
    entries = [c for c in _RECORDED.setdefault(chapter, []) if c.statement != statement]
    _RECORDED[chapter] = [*entries, claim]
    return claim


def table(chapter: str) -> pd.DataFrame:
    """The chapter's "Reproduced?" table: claim, measured, criterion, verdict."""
    rows = _RECORDED.get(chapter, [])
    return pd.DataFrame(
        [(c.statement, c.measured, c.criterion, c.verdict) for c in rows],
        columns=["claim", "measured", "criterion", "verdict"],
    )


def claims_dir(scale: str | None = None) -> Path:
    """Where chapters save their claim tables for the report page.

    ``<cache>/claims/<scale>``: a quick-scale test run never overwrites the claims
    that a paper-scale build measured. ``scale`` defaults to :func:`fa_lib.config.scale`.
    """
    from fa_lib import cache

    return Path(cache.cache_dir()) / "claims" / (config.scale() if scale is None else scale)


def save(chapter: str) -> Path:
    """Write the chapter's claims (and the scale they were measured at) as JSON; return the path."""
    path = claims_dir() / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "chapter": chapter,
        "scale": config.scale(),
        "claims": [asdict(c) for c in _RECORDED.get(chapter, [])],
    }
    from fa_lib import cache

    cache.write_json(path, payload)
    return path


def load_all(scale: str | None = None) -> dict[str, dict]:
    """Every chapter's claims saved at ``scale`` (default: this run's), keyed by chapter name."""
    d = claims_dir(scale)
    return (
        {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.exists() else {}
    )
