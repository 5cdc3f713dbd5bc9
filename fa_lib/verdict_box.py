"""The paper-scale verdict of each chapter, read from the paper-scale record, for its page.

A paper-scale build takes hours, so the book is often built at another scale (the quick
scale of the tests and of Binder), whose verdicts can differ from the paper-scale ones.
The paper-scale verdicts are kept in the repository's record
(``results/paper_record.json``, :mod:`fa_lib.record`); this module puts them first,
wherever the book shows verdicts, all generated from the record (nothing typed by hand):

- :func:`paper_verdict`: the sentence of the box at the top of each chapter, "At the
  paper's scale: **13 of 15** claims reproduced; recorded at 711d037, 2026-12-05."
  The book's own hypotheses (:func:`fa_lib.claims.hypothesis`) are counted apart. A
  chapter the record does not hold, and a repository without a record, say so.
- :func:`claims_with_paper`: the chapter's "Reproduced?" table
  (:func:`fa_lib.claims.table`) with the recorded paper-scale verdict and measured value
  of each claim beside this build's, matched by statement, and a mark where the two
  verdicts differ; shown with :func:`fa_lib.report.style_claims`.
- :func:`paper_count`: the short count of the map of chapters in ``book/intro.md``,
  through the Sphinx role ``{paper-count}`` (:func:`fa_lib.sphinxext.paper_count_role`).
- :func:`paper_headline`: the first sentence of the reproduction report.

At the paper scale (``FA_SCALE=paper``) the box still reports the record, since the
record is what the repository keeps, and it says that the page's own verdicts are in the
table at the end; that table then has no paper-scale columns: the build's verdicts are
paper-scale verdicts, and whether they match the record, number by number within its
tolerances, is what ``python -m fa_lib reproduce --check-record`` checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fa_lib import claims, config, report
from fa_lib import record as rec

__all__ = [
    "NO_CLAIM",
    "PaperCounts",
    "claims_with_paper",
    "paper_count",
    "paper_counts",
    "paper_headline",
    "paper_verdict",
]

NO_CLAIM = "\u2014"
"""What the paper-scale columns show for a claim the record does not hold."""

RecordLike = Mapping[str, Any] | Path | str | None
"""A record (as :func:`fa_lib.record.load_record` returns it), the path of its file (a path
that does not exist: no record) or None (the committed record,
:func:`fa_lib.report.paper_record`)."""


@dataclass(frozen=True)
class PaperCounts:
    """A chapter's verdicts in the paper-scale record, counted.

    Attributes
    ----------
    claims : collections.Counter
        Verdict -> number, over the claims (kind ``"claim"``): ``"reproduced"``, ``"not
        reproduced"``, ``"not checked at this scale"``.
    hypotheses : collections.Counter
        Verdict -> number, over the book's own hypotheses: ``"supported"``,
        ``"rejected"``, ``"undecided"``, ``"not checked at this scale"``.
    provenance : str
        ``"<commit[:7]>, <date>"`` of the write that recorded the chapter
        (:func:`fa_lib.record.chapter_provenance`), and ``" (with uncommitted changes)"``
        when the tree differed from that commit.
    """

    claims: Counter
    hypotheses: Counter
    provenance: str

    @property
    def checked(self) -> int:
        """The claims decided at the paper scale: reproduced or not."""
        return self.claims[claims.REPRODUCED] + self.claims[claims.NOT_REPRODUCED]

    @property
    def reproduced(self) -> int:
        """The claims that reproduced at the paper scale."""
        return self.claims[claims.REPRODUCED]


def _load(record: RecordLike) -> Mapping[str, Any] | None:
    """The record ``record`` stands for, or None when there is none.

    Raises
    ------
    fa_lib.record.RecordError
        If the file is not a record, or the record is not of the paper scale.
    """
    recorded = record
    if recorded is None or isinstance(recorded, str | Path):
        recorded = report.paper_record(recorded)
    if recorded is not None and recorded.get("scale") != "paper":
        raise rec.RecordError(
            f"the paper-scale record holds the results of the {recorded.get('scale')} scale.")
    return recorded


def paper_counts(chapter: str, record: RecordLike = None) -> PaperCounts | None:
    """Count one chapter's verdicts in the paper-scale record.

    Parameters
    ----------
    chapter
        The chapter's name (``"depth"``).
    record
        The record, its path, or None for the committed record (see :data:`RecordLike`).

    Returns
    -------
    PaperCounts or None
        None when there is no record or it does not hold the chapter.
    """
    recorded = _load(record)
    if recorded is None or chapter not in recorded["chapters"]:
        return None
    entries = recorded["chapters"][chapter]["claims"]
    kind = [e.get("kind", claims.CLAIM) for e in entries]
    provenance = rec.chapter_provenance(recorded, chapter)
    own = recorded["chapters"][chapter].get("recorded")
    if (own if isinstance(own, Mapping) else recorded).get("uncommitted_changes"):
        provenance += " (with uncommitted changes)"
    return PaperCounts(
        claims=Counter(e["verdict"] for e, k in zip(entries, kind, strict=True)
                       if k == claims.CLAIM),
        hypotheses=Counter(e["verdict"] for e, k in zip(entries, kind, strict=True)
                           if k == claims.HYPOTHESIS),
        provenance=provenance,
    )


def _claims_text(counts: PaperCounts) -> str:
    """``"**k of n** claims reproduced"``, with the claims not checked, if any."""
    unchecked = counts.claims[claims.NOT_CHECKED]
    text = f"**{counts.reproduced} of {counts.checked}** claims reproduced"
    if unchecked:
        text += f" ({unchecked} more measured but not checked at that scale)"
    return text


def _hypotheses_text(counts: PaperCounts) -> str:
    """``"of its 5 own hypotheses, 2 were supported, 2 rejected and 1 undecided"``."""
    h = counts.hypotheses
    n = sum(h.values())
    parts = [f"{h[claims.SUPPORTED]} were supported", f"{h[claims.REJECTED]} rejected",
             f"{h[claims.UNDECIDED]} undecided"]
    if h[claims.NOT_CHECKED]:
        parts.append(f"{h[claims.NOT_CHECKED]} not checked")
    return (f"of its **{n}** own hypotheses, " + ", ".join(parts[:-1])
            + f" and {parts[-1]}")


def paper_verdict(chapter: str, record: RecordLike = None, scale: str | None = None) -> str:
    """Return the Markdown of the box at the top of a chapter: its paper-scale verdict.

    Parameters
    ----------
    chapter
        The chapter's name (``"depth"``).
    record
        The record, its path, or None for the committed record (see :data:`RecordLike`).
    scale
        The scale this page is built at; default :func:`fa_lib.config.scale`.

    Returns
    -------
    str
        For a chapter the record holds: "At the paper's scale: **13 of 15** claims
        reproduced; recorded at 711d037, 2026-12-05." (the book's own hypotheses counted
        apart: "..., and of its **5** own hypotheses, 2 were supported, 2 rejected and 1
        undecided; ..."), followed by where this page's own verdicts are. For a chapter
        the record lacks, that it is not in the record yet; for a repository without a
        record, that there is none.

    Raises
    ------
    fa_lib.record.RecordError
        If the record file is not a record, or not of the paper scale.
    """
    scale = config.scale() if scale is None else scale
    recorded = _load(record)
    own = ("This page is built at the paper scale: its own verdicts are in the table at "
           "the end." if scale == "paper" else
           f"The verdicts below are this build's ({scale} scale); the table at the end "
           "gives the paper-scale verdict of each claim beside them.")
    if recorded is None:
        return (f"No paper-scale record in this repository (`{rec.RECORD_PATH}`) yet: "
                + (f"the verdicts below are this build's ({scale} scale)." if scale != "paper"
                   else "this page's own verdicts, at the paper scale, are in the table at "
                   "the end."))
    counts = paper_counts(chapter, recorded)
    if counts is None:
        return ("Not in the paper-scale record yet: this chapter's claims are new or changed "
                "since the last paper-scale run; the verdicts below are this build's "
                f"({scale} scale).")
    parts = []
    if sum(counts.claims.values()):
        parts.append(_claims_text(counts))
    if sum(counts.hypotheses.values()):
        parts.append(_hypotheses_text(counts))
    said = ", and ".join(parts) if parts else "no claims recorded"
    return f"At the paper's scale: {said}; recorded at {counts.provenance}. {own}"


def paper_count(chapter: str, record: RecordLike = None) -> str:
    """Return a chapter's paper-scale count in a few words, for the map of the book.

    Parameters
    ----------
    chapter
        The chapter's name.
    record
        The record, its path, or None for the committed record (see :data:`RecordLike`).

    Returns
    -------
    str
        ``"13 of 15 reproduced"``, with ``"; hypotheses: 2 supported, 2 rejected, 1
        undecided"`` when the chapter tests hypotheses of its own; ``"not recorded yet"``
        for a chapter the record lacks; ``"no record"`` without a record.
    """
    recorded = _load(record)
    if recorded is None:
        return "no record"
    counts = paper_counts(chapter, recorded)
    if counts is None:
        return "not recorded yet"
    parts = []
    if sum(counts.claims.values()):
        parts.append(f"{counts.reproduced} of {counts.checked} reproduced")
    if sum(counts.hypotheses.values()):
        h = counts.hypotheses
        parts.append(f"hypotheses: {h[claims.SUPPORTED]} supported, {h[claims.REJECTED]} "
                     f"rejected, {h[claims.UNDECIDED]} undecided")
    return "; ".join(parts) or "no claims recorded"


def claims_with_paper(chapter_claims: Sequence[claims.Claim], chapter: str,
                      record: RecordLike = None, scale: str | None = None) -> pd.DataFrame:
    """Return a chapter's "Reproduced?" table with the paper-scale verdict beside each claim.

    Parameters
    ----------
    chapter_claims
        The chapter's claims, as ``fa_lib.verdicts.<chapter>.claims()`` returns them.
    chapter
        The chapter's name, as in the record.
    record
        The record, its path, or None for the committed record (see :data:`RecordLike`).
    scale
        The scale of this build; default :func:`fa_lib.config.scale`.

    Returns
    -------
    pandas.DataFrame
        :func:`fa_lib.claims.table` of the claims, and, when the record holds the chapter
        and this build is not at the paper scale, three more columns:
        :data:`fa_lib.report.PAPER_VERDICT` and :data:`fa_lib.report.PAPER_MEASURED`
        (the record's verdict and measured value of the claim with the same statement;
        :data:`NO_CLAIM` where the record has no such claim) and
        :data:`fa_lib.report.PAPER_DIFFERS`: ``"differs"`` where both this build and the
        record decided the claim (neither says "not checked at this scale") and their
        verdicts differ, ``""`` where they agree or this build did not decide it,
        :data:`NO_CLAIM` where the record has no such claim. At the paper scale the table
        is :func:`fa_lib.claims.table` alone: the build's verdicts are paper-scale ones.
    """
    table = claims.table(chapter_claims)
    scale = config.scale() if scale is None else scale
    recorded = _load(record)
    if scale == "paper" or recorded is None or chapter not in recorded["chapters"]:
        return table
    then = {c["statement"]: c for c in recorded["chapters"][chapter]["claims"]}
    rows = [then.get(c.statement) for c in chapter_claims]

    def mark(now: str, was: Mapping[str, Any] | None) -> str:
        if was is None:
            return NO_CLAIM
        decided = claims.NOT_CHECKED not in (now, was["verdict"])
        return "differs" if decided and now != was["verdict"] else ""

    table[report.PAPER_VERDICT] = [NO_CLAIM if r is None else r["verdict"] for r in rows]
    table[report.PAPER_MEASURED] = [NO_CLAIM if r is None else r["measured"] for r in rows]
    table[report.PAPER_DIFFERS] = [mark(v, r) for v, r in zip(table["verdict"], rows,
                                                                  strict=True)]
    return table


def paper_headline(chapters: Sequence[str], record: RecordLike = None,
                   scale: str | None = None) -> str:
    """Return the first sentence of the reproduction report: the paper-scale counts.

    Parameters
    ----------
    chapters
        The book's chapters (:func:`fa_lib.catalogue.notebooks`).
    record
        The record, its path, or None for the committed record (see :data:`RecordLike`).
    scale
        The scale of this build; default :func:`fa_lib.config.scale`.

    Returns
    -------
    str
        Markdown: "At the paper's scale, **57 of 70** claims of the paper and the
        literature reproduced, in the 6 of the 8 chapters that the paper-scale record
        holds (recorded per chapter, ...)", the hypotheses counted apart, and the
        chapters the record lacks named; or that there is no record.
    """
    scale = config.scale() if scale is None else scale
    recorded = _load(record)
    if recorded is None:
        return ("The repository holds no paper-scale record yet (`"
                f"{rec.RECORD_PATH}`): the counts below are this build's, at the "
                f"{scale} scale.")
    counted = {c: paper_counts(c, recorded) for c in chapters}
    held = [c for c in chapters if counted[c] is not None]
    total = PaperCounts(sum((counted[c].claims for c in held), Counter()),
                        sum((counted[c].hypotheses for c in held), Counter()), "")
    lacking = [c for c in chapters if counted[c] is None]
    when = rec.describe({**rec.restrict(recorded, held), "complete": True})
    text = (f"At the paper's scale, **{total.reproduced} of {total.checked}** claims of the "
            f"paper and the literature reproduced, in the {len(held)} of the {len(chapters)} "
            "chapters that the paper-scale record holds (recorded "
            f"{when})")
    if sum(total.hypotheses.values()):
        text += "; " + _hypotheses_text(total).replace("of its", "of the book's", 1)
    text += "."
    if lacking:
        names = ", ".join(f"*{report.chapter_title(c)}*" for c in lacking)
        text += (f" Not in the record yet: {names} (claims new or changed since the last "
                 "paper-scale run).")
    return text
