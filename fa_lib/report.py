"""The reproduction report: every chapter's checked claims, gathered in one overview.

Nothing of the paper is computed here. Each chapter's notebook computes its claims
(``fa_lib.verdicts.<chapter>.claims()``) and saves them with :func:`fa_lib.claims.save`
as JSON under ``<results cache>/claims/``. :func:`build_report` reads those files
and counts the verdicts per chapter and overall, against the chapters listed in
the book's table of contents (``_toc.yml``), so that a chapter that has not been
run with this results cache is reported as missing instead of silently left out,
and a chapter whose claims were measured at another scale than the current one
(``FA_SCALE``) is flagged. When the repository holds the paper-scale record
(``results/paper_record.json``, :mod:`fa_lib.record`) and this build is not at the
paper scale, each claim also shows the verdict recorded at the paper scale, labelled
with the record's commit and date.

Sphinx reads a page again only when its source file changed, but the report depends on
the claim files that the chapters write while the book is built: the book's extension
(:func:`fa_lib.sphinxext.report_always_outdated`) marks the report page as outdated on
every build, so it is always read (and, with its notebook metadata
``mystnb.execution_mode: force``, executed) after the chapters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from fa_lib import catalogue, claims, config, plotting, record, tables

__all__ = [
    "PAPER_DIFFERS",
    "PAPER_MEASURED",
    "PAPER_VERDICT",
    "REPORT_DOC",
    "Report",
    "build_report",
    "chapter_title",
    "claim_text",
    "paper_record",
    "saved_times",
    "style_claims",
    "style_totals",
]

ROOT = Path(__file__).resolve().parents[1]
"""The repository root (the parent of the ``fa_lib`` package)."""

REPORT_DOC = "book/report"
"""The Sphinx document name of the report page."""

REPRODUCED = claims.REPRODUCED
NOT_REPRODUCED = claims.NOT_REPRODUCED
NOT_CHECKED = claims.NOT_CHECKED
ALL = "all chapters"
"""Label of the row of overall totals in :attr:`Report.totals`."""

_FILLS = plotting.VERDICT_FILLS
_COLOURS = {REPRODUCED: _FILLS["reproduced"], NOT_REPRODUCED: _FILLS["not reproduced"],
            NOT_CHECKED: _FILLS["not checked"], claims.SUPPORTED: _FILLS["reproduced"],
            claims.REJECTED: _FILLS["not reproduced"], claims.UNDECIDED: _FILLS["not checked"]}
"""Cell backgrounds of the verdicts, beside their words: a neutral pair (blue and orange
tints, :data:`fa_lib.plotting.VERDICT_FILLS`), not green against red."""
_NOTE_COLOUR = "#fff3cd"

PAPER_VERDICT = "paper-scale verdict"
"""Column of a chapter's claims table with the verdict recorded at the paper scale
(:func:`fa_lib.verdict_box.claims_with_paper`)."""
PAPER_MEASURED = "paper-scale measured"
"""Column of a chapter's claims table with the value measured at the paper scale."""
PAPER_DIFFERS = "vs. paper scale"
"""Column of a chapter's claims table that marks a verdict differing from the record's."""


def chapter_title(chapter: str, book_dir: Path | str | None = None) -> str:
    """Return a chapter's title: the first level-1 heading of its notebook.

    Parameters
    ----------
    chapter
        The chapter's name (the stem of ``book/<chapter>.ipynb``).
    book_dir
        The directory of the notebooks; the default is ``book/`` in the repository root.

    Returns
    -------
    str
        The text of the first ``# `` heading in a markdown cell, or ``chapter``
        itself when the notebook or the heading is not found.
    """
    path = (ROOT / "book" if book_dir is None else Path(book_dir)) / f"{chapter}.ipynb"
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return chapter
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        for line in (source if isinstance(source, str) else "".join(source)).splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return chapter


def saved_times(directory: Path | str | None = None) -> dict[str, datetime]:
    """Return when each chapter's claims file was last written (UTC).

    Parameters
    ----------
    directory
        The claims directory; the default is :func:`fa_lib.claims.claims_dir`.

    Returns
    -------
    dict of str to datetime
        Chapter name to the modification time of ``<chapter>.json``.
    """
    d = claims.claims_dir() if directory is None else Path(directory)
    if not d.is_dir():
        return {}
    return {
        p.stem: datetime.fromtimestamp(p.stat().st_mtime, tz=timezone.utc)
        for p in sorted(d.glob("*.json"))
    }


def paper_record(path: Path | str | None = None) -> dict[str, Any] | None:
    """Return the committed paper-scale record, or None when there is none.

    Parameters
    ----------
    path
        The record file; the default is the committed record
        (:data:`fa_lib.record.PUBLISHED_DIR`, :data:`fa_lib.record.RECORD_PATH`).

    Returns
    -------
    dict or None
        The record (:func:`fa_lib.record.load_record`), or None when the file does not
        exist.

    Raises
    ------
    fa_lib.record.RecordError
        If the file exists but is not a record.
    """
    path = record.PUBLISHED_DIR / record.RECORD_PATH.name if path is None else Path(path)
    return record.load_record(path) if path.is_file() else None


def paper_column(recorded: Mapping[str, Any]) -> str:
    """Return the name of the claims table's column of recorded paper-scale verdicts."""
    return f"paper scale (recorded {record.describe(recorded)})"


@dataclass(frozen=True)
class Report:
    """Every chapter's claims and their totals, as read from the saved claim files.

    Attributes
    ----------
    scale : str
        The scale of this build (``FA_SCALE``), against which the saved scales are checked.
    chapters : tuple of str
        The chapters in the order shown: those of the table of contents, then any
        other chapter that saved claims.
    claims : pandas.DataFrame
        One row per claim or hypothesis: ``chapter``, ``claim``, ``measured``,
        ``criterion``, ``verdict``, ``kind`` (``"claim"`` or ``"hypothesis"``). The counts
        (:attr:`totals`, :attr:`n_checked`, ...) are of the claims; the book's own
        hypotheses are counted apart (:attr:`hypotheses`).
    totals : pandas.DataFrame
        One row per chapter and a last row :data:`ALL`, indexed by chapter, with
        the columns ``scale`` (at which the claims were measured), ``saved (UTC)``,
        ``checked``, ``reproduced``, ``not reproduced``, ``not checked at this
        scale`` (missing values for a chapter without a claims file) and ``note``.
    missing : tuple of str
        Chapters of the table of contents without a claims file.
    other_scale : tuple of str
        Chapters whose claims were measured at a scale other than :attr:`scale`.
    not_in_toc : tuple of str
        Chapters that saved claims but are not in the table of contents.
    paper_column : str or None
        The name of the column of :attr:`claims` that gives, beside each verdict, the
        verdict recorded at the paper scale (``"paper scale (recorded <commit>,
        <date>)"``; a dash where the record has no such claim), or None when there is
        no such column (no record, or this build is at the paper scale).
    paper_totals : pandas.DataFrame or None
        With :attr:`paper_column`: the record's verdicts counted per chapter of
        :attr:`chapters` and over them all (last row :data:`ALL`), indexed by chapter,
        with the columns ``checked``, ``reproduced``, ``not reproduced`` (missing values
        for a chapter the record lacks) and ``recorded at`` (the commit and date of the
        write that recorded the chapter, :func:`fa_lib.record.chapter_provenance`;
        ``"not recorded"``; in the last row, how many of the chapters the record
        holds). A record made chapter by chapter has no single commit.
    hypotheses : pandas.DataFrame or None
        The book's own hypotheses counted per chapter that tests any, and over them all
        (last row :data:`ALL`), indexed by chapter: ``tested``, ``supported``,
        ``rejected``, ``undecided`` and ``not checked at this scale``.
    """

    scale: str
    chapters: tuple[str, ...]
    claims: pd.DataFrame
    totals: pd.DataFrame
    missing: tuple[str, ...]
    other_scale: tuple[str, ...]
    not_in_toc: tuple[str, ...]
    paper_column: str | None = None
    paper_totals: pd.DataFrame | None = None
    hypotheses: pd.DataFrame | None = None

    @property
    def _claims_only(self) -> pd.DataFrame:
        return self.claims[self.claims["kind"] == claims.CLAIM]

    @property
    def n_checked(self) -> int:
        """The number of claims checked over all chapters (the book's hypotheses apart)."""
        return len(self._claims_only)

    @property
    def n_reproduced(self) -> int:
        """The number of claims that reproduced."""
        return int((self._claims_only["verdict"] == REPRODUCED).sum())

    @property
    def n_not_reproduced(self) -> int:
        """The number of claims that did not reproduce."""
        return int((self._claims_only["verdict"] == NOT_REPRODUCED).sum())

    @property
    def n_not_checked(self) -> int:
        """The number of claims measured but not asserted at their scale."""
        return int((self._claims_only["verdict"] == NOT_CHECKED).sum())

    @property
    def n_hypotheses(self) -> int:
        """The number of the book's own hypotheses tested over all chapters."""
        return int((self.claims["kind"] == claims.HYPOTHESIS).sum())

    @property
    def n_run(self) -> int:
        """The number of chapters with a claims file."""
        return len(self.chapters) - len(self.missing)

    def chapter_claims(self, chapter: str, kind: str = claims.CLAIM) -> pd.DataFrame:
        """Return the claims (or, with ``kind="hypothesis"``, the hypotheses) of one chapter.

        Columns: claim, measured, criterion, verdict (and the paper-scale column).
        """
        if chapter not in self.chapters:
            raise ValueError(f"{chapter!r} is not a chapter of this report: {self.chapters}.")
        if kind not in claims.KINDS:
            raise ValueError(f"kind must be one of {claims.KINDS}, not {kind!r}.")
        rows = self.claims[(self.claims["chapter"] == chapter) & (self.claims["kind"] == kind)]
        return rows.drop(columns=["chapter", "kind"]).reset_index(drop=True)


def build_report(
    saved: Mapping[str, Mapping[str, Any]] | None = None,
    chapters: Sequence[str] | None = None,
    scale: str | None = None,
    saved_at: Mapping[str, datetime] | None = None,
    paper: Mapping[str, Any] | Path | str | None = None,
) -> Report:
    """Gather the saved claims of every chapter into a :class:`Report`.

    Parameters
    ----------
    saved
        Chapter name to the content of its claims file, as returned by
        :func:`fa_lib.claims.load_all` (the default).
    chapters
        The chapters the book should have claims for; the default is
        :func:`fa_lib.catalogue.notebooks`.
    scale
        The scale of this build; the default is :func:`fa_lib.config.scale`.
    saved_at
        Chapter name to the time its claims were saved; the default is
        :func:`saved_times`.
    paper
        The paper-scale record (:mod:`fa_lib.record`), or the path of its file; the
        default is the committed record, :func:`paper_record`. When there is one and
        ``scale`` is not ``"paper"``, the claims table gains a column
        (:attr:`Report.paper_column`) with the recorded paper-scale verdict of each
        claim, matched by chapter and statement (a dash when the record has no such
        claim). A path that does not exist means no record.

    Returns
    -------
    Report
        The claims and the totals per chapter and overall.

    Raises
    ------
    ValueError
        If a claims file is malformed, a chapter name is repeated, or ``scale``
        is not a known scale (or the record is not a paper-scale record:
        :class:`fa_lib.record.RecordError`, a ValueError).
    """
    saved = claims.load_all() if saved is None else saved
    expected = list(catalogue.notebooks() if chapters is None else chapters)
    if len(set(expected)) != len(expected):
        raise ValueError(f"chapters must not repeat; got {expected}.")
    scale = config.scale() if scale is None else scale
    if scale not in config.SCALES:
        raise ValueError(f"scale {scale!r} is not one of {config.SCALES}.")
    saved_at = saved_times() if saved_at is None else saved_at

    extra = [name for name in sorted(saved) if name not in expected]
    order = [*expected, *extra]
    rows, totals, hypotheses = [], [], []
    for name in order:
        if name not in saved:
            totals.append((name, None, None, pd.NA, pd.NA, pd.NA, pd.NA,
                           "no claims file: not run with this results cache"))
            continue
        entries = claims.saved_claims(name, saved[name])
        kinds = [e.get("kind", claims.CLAIM) for e in entries]
        every = [claims.verdict(e["holds"], e.get("asserted", True), e.get("outcome", ""))
                 for e in entries]
        rows += [
            (name, e["statement"], e["measured"], e["criterion"], v, k)
            for e, v, k in zip(entries, every, kinds, strict=True)
        ]
        verdicts = [v for v, k in zip(every, kinds, strict=True) if k == claims.CLAIM]
        tested = [v for v, k in zip(every, kinds, strict=True) if k == claims.HYPOTHESIS]
        if tested:
            hypotheses.append((name, len(tested), *(tested.count(v) for v in (
                claims.SUPPORTED, claims.REJECTED, claims.UNDECIDED, NOT_CHECKED))))
        notes = []
        if saved[name]["scale"] != scale:
            notes.append(f"measured at the {saved[name]['scale']} scale, not {scale}")
        if name in extra:
            notes.append("not in the table of contents")
        if not verdicts:
            notes.append("no claims recorded" if not entries else
                         "no claims, only the book's own hypotheses")
        when = saved_at.get(name)
        totals.append(
            (
                name,
                saved[name]["scale"],
                None if when is None else when.strftime("%Y-%m-%d %H:%M"),
                len(verdicts),
                verdicts.count(REPRODUCED),
                verdicts.count(NOT_REPRODUCED),
                verdicts.count(NOT_CHECKED),
                "; ".join(notes),
            )
        )
    claim_table = pd.DataFrame(
        rows, columns=["chapter", "claim", "measured", "criterion", "verdict", "kind"]
    )
    hypothesis_totals = _hypothesis_totals(hypotheses)
    rows = [r for r in rows if r[5] == claims.CLAIM]
    counts = ["checked", REPRODUCED, NOT_REPRODUCED, NOT_CHECKED]
    columns = ["chapter", "scale", "saved (UTC)", *counts, "note"]
    total_table = pd.DataFrame(totals, columns=columns)
    total_table[counts] = total_table[counts].astype("Int64")
    scales = sorted({saved[n]["scale"] for n in order if n in saved})
    overall = pd.DataFrame(
        [
            (
                ALL,
                ", ".join(scales) or None,
                None,
                len(rows),
                sum(r[4] == REPRODUCED for r in rows),
                sum(r[4] == NOT_REPRODUCED for r in rows),
                sum(r[4] == NOT_CHECKED for r in rows),
                "",
            )
        ],
        columns=columns,
    )
    overall[counts] = overall[counts].astype("Int64")
    total_table = pd.concat([total_table, overall], ignore_index=True).set_index("chapter")
    recorded = paper_record(paper) if paper is None or isinstance(paper, str | Path) else paper
    column, paper_totals = None, None
    if recorded is not None and recorded.get("scale") != "paper":
        raise record.RecordError(
            f"the paper-scale record holds the results of the {recorded.get('scale')} "
            "scale; make it with `python -m fa_lib reproduce --scale paper --record "
            f"{record.RECORD_PATH}`.")
    if recorded is not None and scale != "paper":
        column = paper_column(recorded)
        verdicts_then = record.recorded_verdicts(recorded)
        claim_table[column] = [verdicts_then.get((c, s), "\u2014") for c, s in
                               zip(claim_table["chapter"], claim_table["claim"], strict=True)]
        paper_totals = _paper_totals(recorded, order)
    return Report(
        scale=scale,
        chapters=tuple(order),
        claims=claim_table,
        totals=total_table,
        missing=tuple(n for n in expected if n not in saved),
        other_scale=tuple(n for n in order if n in saved and saved[n]["scale"] != scale),
        not_in_toc=tuple(extra),
        paper_column=column,
        paper_totals=paper_totals,
        hypotheses=hypothesis_totals,
    )


HYPOTHESIS_COUNTS = ["tested", claims.SUPPORTED, claims.REJECTED, claims.UNDECIDED, NOT_CHECKED]
"""The columns of :attr:`Report.hypotheses`."""


def _hypothesis_totals(rows: Sequence[tuple]) -> pd.DataFrame:
    """:attr:`Report.hypotheses` from one ``(chapter, *counts)`` row per chapter."""
    rows = list(rows)
    if rows:
        rows.append((ALL, *(sum(r[i] for r in rows) for i in range(1, 6))))
    table = pd.DataFrame(rows, columns=["chapter", *HYPOTHESIS_COUNTS])
    table[HYPOTHESIS_COUNTS] = table[HYPOTHESIS_COUNTS].astype("Int64")
    return table.set_index("chapter")


def _paper_totals(recorded: Mapping[str, Any], order: Sequence[str]) -> pd.DataFrame:
    """:attr:`Report.paper_totals`: the record's verdicts per chapter of ``order``."""
    rows = []
    for name in order:
        if name not in recorded["chapters"]:
            rows.append((name, pd.NA, pd.NA, pd.NA, "not recorded"))
            continue
        verdicts = [c["verdict"] for c in recorded["chapters"][name]["claims"]
                    if c.get("kind", claims.CLAIM) == claims.CLAIM]
        k, bad = verdicts.count(REPRODUCED), verdicts.count(NOT_REPRODUCED)
        rows.append((name, k + bad, k, bad, record.chapter_provenance(recorded, name)))
    held = [r for r in rows if r[1] is not pd.NA]
    rows.append((ALL, *(sum(r[i] for r in held) for i in (1, 2, 3)),
                 "" if len(held) == len(order) else f"{len(held)} of {len(order)} chapters"))
    counts = ["checked", REPRODUCED, NOT_REPRODUCED]
    table = pd.DataFrame(rows, columns=["chapter", *counts, "recorded at"])
    table[counts] = table[counts].astype("Int64")
    return table.set_index("chapter")


def _verdict_colour(value: Any) -> str:
    colour = _COLOURS.get(value)
    return f"background-color: {colour}" if colour else ""


def _differs_colour(value: Any) -> str:
    return f"background-color: {_NOTE_COLOUR}" if value == "differs" else ""


_SENTINEL_TEXT = [
    ("first NaN/Inf at iteration -1 (-1: none)", "no NaN/Inf"),
    (" (-1: none)", ""),
]
"""What older builds wrote with a sentinel (kept so in the paper-scale record), in words."""


def claim_text(text: str) -> str:
    """A claim's text (statement, measured value, criterion) as a claims table shows it.

    The claims are plain text, kept as written (the statements are the keys of the
    paper-scale record): their ASCII math is shown in Unicode
    (:func:`fa_lib.tables.unicode_math`), and a sentinel that an older build wrote into the
    record ("first NaN/Inf at iteration -1 (-1: none)") in words ("no NaN/Inf").

    Examples
    --------
    >>> claim_text("W1 ∠ B^T within +-0.5 deg; first NaN/Inf at iteration -1 (-1: none)")
    'W₁ ∠ Bᵀ within ±0.5 deg; no NaN/Inf'
    """
    if not isinstance(text, str):
        return text
    for old, new in _SENTINEL_TEXT:
        text = text.replace(old, new)
    return tables.unicode_math(text)


def style_claims(table: pd.DataFrame, note: str | None = None) -> tables.Table:
    """Return a chapter's claims table for display: verdicts coloured, long text wrapped.

    The recorded paper-scale verdicts (:attr:`Report.paper_column`, :data:`PAPER_VERDICT`)
    are coloured too, the paper-scale measured values (:data:`PAPER_MEASURED`) wrap, and a
    "differs" mark (:data:`PAPER_DIFFERS`) is highlighted. The text of the claims is shown
    with :func:`claim_text`; ``note`` goes under the table.
    """
    text = [c for c in ("claim", "hypothesis", "measured", "criterion", PAPER_MEASURED)
            if c in table.columns]
    table = table.assign(**{c: table[c].map(claim_text) for c in text})
    styles = {c: _verdict_colour for c in table.columns
              if c in ("verdict", PAPER_VERDICT) or str(c).startswith("paper scale (recorded")}
    if PAPER_DIFFERS in table.columns:
        styles[PAPER_DIFFERS] = _differs_colour
    return tables.table(table, wrap=text, styles=styles, note=note)


def style_totals(totals: pd.DataFrame) -> tables.Table:
    """Return the totals table for display: missing values as a dash, the total row in bold.

    Columns that would say nothing are left out, so that the table fits the page: the
    ``scale`` when every chapter measured its claims at one scale (the page states it),
    the ``note`` when no chapter has one.
    """

    def bold_total(row: pd.Series) -> str:
        return "font-weight: bold" if row["chapter"] == ALL else ""

    def flag_note(value: Any) -> str:
        return f"background-color: {_NOTE_COLOUR}" if isinstance(value, str) and value else ""

    shown = totals.reset_index()
    shown.loc[shown["chapter"] == ALL, "saved (UTC)"] = ""  # a sum has no time: not missing
    chapters = shown[shown["chapter"] != ALL]
    if chapters["scale"].notna().all() and chapters["scale"].nunique() == 1:
        shown = shown.drop(columns="scale")
    if not (chapters["note"].fillna("") != "").any():
        shown = shown.drop(columns="note")
    notes = ["note"] if "note" in shown.columns else []
    return tables.table(
        shown,
        wrap=notes,
        styles=dict.fromkeys(notes, flag_note),
        row_style=bold_total,
        missing_note="no claims file for this chapter",
    )
