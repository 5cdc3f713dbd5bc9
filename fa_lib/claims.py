"""A claim of the paper, what this book measured for it, and the verdict.

Each chapter's claims are code: ``fa_lib.verdicts.<chapter>.claims()`` computes them
from the chapter's cached results (:mod:`fa_lib.verdicts`) and returns a list of
:class:`Claim`. The notebook asserts them (:func:`require`: every asserted claim holds,
or what the chapter says is true instead holds), shows the "Reproduced?" table
(:func:`table`) and saves them for the report page (:func:`save`); the paper-scale
record computes them from the cache without a build (:mod:`fa_lib.record`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fa_lib import cache, config


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
    instead : str
        For a claim that does not reproduce: what the chapter finds true instead, in
        words (e.g. "the SD stays below 0.66 degree"); empty when there is nothing to
        assert instead.
    instead_holds : bool or None
        Whether ``instead`` holds; None when there is no ``instead``.
    kind : {"claim", "hypothesis"}
        A claim of the paper or a published statement (``"claim"``: reproduced or
        not), or one of the book's own pre-registered hypotheses (``"hypothesis"``:
        supported, rejected or undecided against its margin). The report counts the two
        apart.
    outcome : str
        For a hypothesis, its verdict: one of :data:`HYPOTHESIS_VERDICTS` (``holds`` is
        then ``outcome == "supported"``); empty for a claim.
    """

    chapter: str
    statement: str
    measured: str
    holds: bool
    criterion: str = ""
    asserted: bool = True
    instead: str = ""
    instead_holds: bool | None = None
    kind: str = "claim"
    outcome: str = ""

    def __post_init__(self) -> None:
        for name in ("chapter", "statement", "measured", "criterion", "instead", "outcome"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Claim.{name} must be a str, got {getattr(self, name)!r}.")
        for name in ("holds", "asserted"):
            object.__setattr__(self, name, _truth(getattr(self, name), name))
        if (self.instead == "") != (self.instead_holds is None):
            raise ValueError("Claim.instead and Claim.instead_holds go together: give both "
                             f"or neither (statement {self.statement!r}).")
        if self.instead_holds is not None:
            object.__setattr__(self, "instead_holds",
                               _truth(self.instead_holds, "instead_holds"))
        if self.kind not in KINDS:
            raise ValueError(f"Claim.kind must be one of {KINDS}, got {self.kind!r}.")
        if self.kind == HYPOTHESIS:
            if self.outcome not in HYPOTHESIS_VERDICTS:
                raise ValueError(f"a hypothesis needs an outcome of {HYPOTHESIS_VERDICTS}, "
                                 f"got {self.outcome!r} (statement {self.statement!r}).")
            if self.holds != (self.outcome == SUPPORTED):
                raise ValueError("a hypothesis holds when it is supported and only then "
                                 f"(statement {self.statement!r}).")
        elif self.outcome:
            raise ValueError("only a hypothesis has an outcome; a claim is reproduced or not "
                             f"(statement {self.statement!r}).")

    @property
    def verdict(self) -> str:
        """``"reproduced"``, ``"not reproduced"`` or ``"not checked at this scale"``.

        For a hypothesis: its outcome (``"supported"``, ``"rejected"``, ``"undecided"``),
        or ``"not checked at this scale"`` when it is not asserted.
        """
        return verdict(self.holds, self.asserted, self.outcome)


REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_CHECKED = "not checked at this scale"
CLAIM_VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_CHECKED)
"""The three verdicts of a claim."""
SUPPORTED = "supported"
REJECTED = "rejected"
UNDECIDED = "undecided"
HYPOTHESIS_VERDICTS = (SUPPORTED, REJECTED, UNDECIDED)
"""The verdicts of a hypothesis against its pre-registered margin (:func:`fa_lib.stats.beyond`)."""
VERDICTS = (*CLAIM_VERDICTS, *HYPOTHESIS_VERDICTS)
"""Every verdict a claim or a hypothesis can have."""
CLAIM = "claim"
HYPOTHESIS = "hypothesis"
KINDS = (CLAIM, HYPOTHESIS)
"""What a :class:`Claim` can be: a claim (of the paper or a published statement) or one of
the book's own hypotheses."""


def hypothesis(chapter: str, statement: str, measured: str, outcome: str, criterion: str,
               asserted: bool = True) -> Claim:
    """A pre-registered hypothesis with its verdict (``outcome``), as a :class:`Claim`.

    Parameters
    ----------
    chapter, statement, measured, criterion : str
        As for :class:`Claim`; ``criterion`` states the margin and the test.
    outcome : {"supported", "rejected", "undecided"}
        The test's verdict (:func:`fa_lib.stats.beyond`, :func:`fa_lib.stats.within`).
    asserted : bool
        False when the test needs values that are not defined (say every network of a
        run collapsed): the verdict is then "not checked at this scale".
    """
    return Claim(chapter, statement, measured, outcome == SUPPORTED, criterion,
                 asserted=asserted, kind=HYPOTHESIS, outcome=outcome)


def _truth(value: object, name: str) -> bool:
    """``value`` as a bool; a NaN-born comparison (numpy bool) is fine, None or NaN is not."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"Claim.{name} must be a bool (a comparison's result), got {value!r}.")


def verdict(holds: bool, asserted: bool = True, outcome: str = "") -> str:
    """The verdict of a claim: :data:`NOT_CHECKED` unless asserted, else whether it holds.

    A hypothesis (``outcome`` given) has its outcome as its verdict when asserted.
    """
    if not asserted:
        return NOT_CHECKED
    if outcome:
        return outcome
    return REPRODUCED if holds else NOT_REPRODUCED


def require(chapter_claims: Sequence[Claim]) -> None:
    """Assert a chapter's claims: each asserted claim holds, or its ``instead`` holds.

    Parameters
    ----------
    chapter_claims : sequence of Claim
        As returned by ``fa_lib.verdicts.<chapter>.claims()``.

    Raises
    ------
    AssertionError
        Naming every asserted claim that holds neither as stated nor as the chapter
        says instead, with what was measured.
    ValueError
        If two claims have the same statement.
    """
    statements = [c.statement for c in chapter_claims]
    twice = sorted({s for s in statements if statements.count(s) > 1})
    if twice:
        raise ValueError(f"claims stated twice: {twice}")
    # a hypothesis is asserted only to be decided: any of its outcomes is a result
    failed = [c for c in chapter_claims if c.kind == CLAIM and c.asserted and not c.holds
              and not c.instead_holds]
    if failed:
        raise AssertionError("\n".join(
            f"{c.chapter}: {c.statement!r} does not hold: {c.measured}"
            + (f" (and not instead: {c.instead})" if c.instead else "") for c in failed))


def table(chapter_claims: Sequence[Claim]) -> pd.DataFrame:
    """The "Reproduced?" table of a chapter's claims: claim, measured, criterion, verdict.

    The first column is headed "hypothesis" when every row is one of the book's
    hypotheses.

    Parameters
    ----------
    chapter_claims : sequence of Claim
    """
    rows = list(chapter_claims)
    first = "hypothesis" if rows and all(c.kind == HYPOTHESIS for c in rows) else "claim"
    return pd.DataFrame(
        [(c.statement, c.measured, c.criterion, c.verdict) for c in rows],
        columns=[first, "measured", "criterion", "verdict"],
    )


def claims_dir(scale: str | None = None) -> Path:
    """Where chapters save their claim tables for the report page.

    ``<cache>/claims/<scale>``: a quick-scale test run never overwrites the claims
    that a paper-scale build measured. ``scale`` defaults to :func:`fa_lib.config.scale`.
    """
    return Path(cache.cache_dir()) / "claims" / (config.scale() if scale is None else scale)


def save(chapter: str, chapter_claims: Sequence[Claim]) -> Path:
    """Write the chapter's claims (and the scale they were measured at) as JSON for the report.

    Parameters
    ----------
    chapter : str
    chapter_claims : sequence of Claim

    Returns
    -------
    pathlib.Path
    """
    path = claims_dir() / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(chapter_claims)
    payload = {
        "chapter": chapter,
        "scale": config.scale(),
        "claims": [asdict(c) for c in rows],
    }
    cache.write_json(path, payload)
    return path


def load_all(scale: str | None = None) -> dict[str, dict]:
    """Every chapter's claims saved at ``scale`` (default: this run's), keyed by chapter name."""
    d = claims_dir(scale)
    return (
        {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.exists() else {}
    )


def saved_claims(chapter: str, payload: Any) -> list[dict[str, Any]]:
    """Return the claims of one saved payload (:func:`save`), raising ValueError if malformed."""
    where = f"the claims file of chapter {chapter!r}"
    if not isinstance(payload, Mapping):
        raise ValueError(f"{where} does not hold a JSON object.")
    if payload.get("scale") not in config.SCALES:
        raise ValueError(
            f"{where} gives the scale {payload.get('scale')!r}; expected one of {config.SCALES}."
        )
    entries = payload.get("claims")
    if not isinstance(entries, list):
        raise ValueError(f"{where} has no list 'claims'.")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"claim {i} in {where} is not a JSON object.")
        for key in ("statement", "measured", "criterion"):
            if not isinstance(entry.get(key), str):
                raise ValueError(f"claim {i} in {where} has no text {key!r}.")
        if not isinstance(entry.get("holds"), bool):
            raise ValueError(f"claim {i} in {where} has no true/false 'holds'.")
        if not isinstance(entry.get("asserted", True), bool):
            raise ValueError(f"claim {i} in {where} has a non-boolean 'asserted'.")
        if entry.get("kind", CLAIM) not in KINDS:
            raise ValueError(f"claim {i} in {where} has the kind {entry.get('kind')!r}; "
                             f"expected one of {KINDS}.")
        if entry.get("kind", CLAIM) == HYPOTHESIS and entry.get("outcome") not in \
                HYPOTHESIS_VERDICTS:
            raise ValueError(f"hypothesis {i} in {where} has the outcome "
                             f"{entry.get('outcome')!r}; expected one of {HYPOTHESIS_VERDICTS}.")
    return list(entries)
