"""Tests of fa_lib.verdict_box (the paper-scale verdict of each chapter, from the record),
of its columns in the claims table, and of the ``{paper-count}`` role of the book's extension."""

from __future__ import annotations

import copy
import json
import os
import re
import textwrap
import time
from pathlib import Path

import pytest

from fa_lib import catalogue, claims, record, report, sphinxext, verdict_box

ROOT = Path(__file__).resolve().parents[1]
PROVENANCE = {"commit": "0123456789abcdef" * 2, "uncommitted_changes": False,
              "date": "2026-11-30T12:00:00+00:00",
              "machine": {"cpu": "a CPU", "cores": 2, "platform": "Linux"}}


def _entry(statement, verdict, kind=claims.CLAIM, measured="m paper"):
    holds = verdict in (claims.REPRODUCED, claims.SUPPORTED)
    return {"statement": statement, "measured": measured, "criterion": "c", "holds": holds,
            "asserted": verdict != claims.NOT_CHECKED, "verdict": verdict, "kind": kind}


def fake_record(chapters: dict[str, list[dict]], complete: bool = True) -> dict:
    """A record of the layout that build_record writes (load_record accepts it)."""
    return {
        "format": record.FORMAT, "scale": "paper", **PROVENANCE, "compute_seconds": 1.0,
        "tolerances": copy.deepcopy(record.TOLERANCES), "complete": complete,
        "missing_chapters": [], "entry_seconds": {},
        "chapters": {name: {"claims": entries, "experiments": {},
                            "recorded": {**PROVENANCE, "compute_seconds": 1.0}}
                     for name, entries in chapters.items()},
        "entries": {},
    }


TEN = [_entry(f"claim {i}", claims.REPRODUCED) for i in range(10)]


def test_counts_of_a_chapter_in_the_record():
    rec = fake_record({"a": TEN})
    text = verdict_box.paper_verdict("a", rec, scale="quick")
    assert text.startswith("At the paper's scale: **10 of 10** claims reproduced; recorded "
                           "at 0123456, 2026-11-30.")
    assert "this build's (quick scale)" in text and "hypothes" not in text
    assert verdict_box.paper_count("a", rec) == "10 of 10 reproduced"
    mixed = fake_record({"a": [_entry("x", claims.REPRODUCED),
                               _entry("y", claims.NOT_REPRODUCED),
                               _entry("z", claims.NOT_CHECKED)]})
    assert verdict_box.paper_verdict("a", mixed, scale="quick").startswith(
        "At the paper's scale: **1 of 2** claims reproduced (1 more measured but not checked "
        "at that scale); recorded at 0123456, 2026-11-30.")
    # a chapter recorded in a later write of its own, with uncommitted changes
    mixed["chapters"]["a"]["recorded"] = {**PROVENANCE, "commit": "f" * 40,
                                          "date": "2026-12-01T09:00",
                                          "uncommitted_changes": True}
    assert "recorded at fffffff, 2026-12-01 (with uncommitted changes)." in \
        verdict_box.paper_verdict("a", mixed, scale="quick")


def test_hypotheses_are_counted_apart():
    rec = fake_record({"b": [
        _entry("claim", claims.REPRODUCED),
        _entry("H1", claims.SUPPORTED, claims.HYPOTHESIS),
        _entry("H2", claims.SUPPORTED, claims.HYPOTHESIS),
        _entry("H3", claims.REJECTED, claims.HYPOTHESIS),
        _entry("H4", claims.UNDECIDED, claims.HYPOTHESIS)],
        "only": [_entry("H", claims.REJECTED, claims.HYPOTHESIS)]})
    counts = verdict_box.paper_counts("b", rec)
    assert (counts.checked, counts.reproduced) == (1, 1)  # hypotheses never pass for claims
    assert verdict_box.paper_verdict("b", rec, scale="quick").startswith(
        "At the paper's scale: **1 of 1** claims reproduced, and of its **4** own "
        "hypotheses, 2 were supported, 1 rejected and 1 undecided; recorded at 0123456")
    assert verdict_box.paper_count("b", rec) == (
        "1 of 1 reproduced; hypotheses: 2 supported, 1 rejected, 1 undecided")
    assert verdict_box.paper_verdict("only", rec, scale="quick").startswith(
        "At the paper's scale: of its **1** own hypotheses, 0 were supported, 1 rejected and "
        "0 undecided; recorded")
    headline = verdict_box.paper_headline(["b", "only"], rec, scale="quick")
    assert headline.startswith("At the paper's scale, **1 of 1** claims")
    assert "of the book's **5** own hypotheses, 2 were supported, 2 rejected" in headline


def test_a_chapter_the_record_lacks_and_no_record_at_all(tmp_path):
    rec = fake_record({"a": TEN}, complete=False)
    text = verdict_box.paper_verdict("new", rec, scale="quick")
    assert text.startswith("Not in the paper-scale record yet: this chapter's claims")
    assert text.endswith("the verdicts below are this build's (quick scale).")
    assert verdict_box.paper_counts("new", rec) is None
    assert verdict_box.paper_count("new", rec) == "not recorded yet"
    headline = verdict_box.paper_headline(["a", "new"], rec, scale="quick")
    assert "**10 of 10**" in headline and "in the 1 of the 2 chapters" in headline
    assert "recorded 0123456, 2026-11-30)" in headline  # not "not complete": named below
    assert "Not in the record yet: *new*" in headline
    claim = claims.Claim("new", "claim 0", "m now", False)
    assert list(verdict_box.claims_with_paper([claim], "new", rec, scale="quick").columns) \
        == list(claims.table([claim]).columns)

    nothing = tmp_path / "no_record.json"  # a path that does not exist: no record
    text = verdict_box.paper_verdict("a", nothing, scale="quick")
    assert text.startswith("No paper-scale record in this repository")
    assert "this build's (quick scale)" in text
    assert "in the table at the end" in verdict_box.paper_verdict("a", nothing, scale="paper")
    assert verdict_box.paper_count("a", nothing) == "no record"
    assert verdict_box.paper_counts("a", nothing) is None
    assert verdict_box.paper_headline(["a"], nothing, scale="quick").startswith(
        "The repository holds no paper-scale record yet")
    assert list(verdict_box.claims_with_paper([claim], "a", nothing, scale="quick").columns) \
        == ["claim", "measured", "criterion", "verdict"]
    # a file that is a record is read; one of another scale is refused
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(rec))
    assert verdict_box.paper_count("a", path) == "10 of 10 reproduced"
    with pytest.raises(record.RecordError, match="quick scale"):
        verdict_box.paper_verdict("a", {**rec, "scale": "quick"})


def test_at_the_paper_scale_the_box_reports_the_record_and_the_table_is_the_builds():
    rec = fake_record({"a": TEN})
    text = verdict_box.paper_verdict("a", rec, scale="paper")
    assert text.startswith("At the paper's scale: **10 of 10** claims reproduced")
    assert text.endswith("This page is built at the paper scale: its own verdicts are in the "
                         "table at the end.")
    now = [claims.Claim("a", "claim 0", "m", False)]
    table = verdict_box.claims_with_paper(now, "a", rec, scale="paper")
    assert table.equals(claims.table(now))


def test_the_claims_table_shows_the_paper_verdict_and_marks_differences():
    rec = fake_record({"a": [_entry("same", claims.REPRODUCED, measured="5 of 5"),
                             _entry("other", claims.REPRODUCED, measured="90.1 <b>"),
                             _entry("unchecked then", claims.NOT_CHECKED),
                             _entry("unchecked now", claims.NOT_REPRODUCED),
                             _entry("H", claims.SUPPORTED, claims.HYPOTHESIS)]})
    now = [claims.Claim("a", "same", "4 of 5", True),
           claims.Claim("a", "other", "80", False),
           claims.Claim("a", "unchecked then", "m", True),
           claims.Claim("a", "unchecked now", "m", True, asserted=False),
           claims.Claim("a", "new claim", "m", True),
           claims.hypothesis("a", "H", "m", claims.REJECTED, "c")]
    table = verdict_box.claims_with_paper(now, "a", rec, scale="quick")
    assert list(table.columns) == ["claim", "measured", "criterion", "verdict",
                                   report.PAPER_VERDICT, report.PAPER_MEASURED,
                                   report.PAPER_DIFFERS]
    assert table[report.PAPER_VERDICT].tolist() == [
        claims.REPRODUCED, claims.REPRODUCED, claims.NOT_CHECKED, claims.NOT_REPRODUCED,
        verdict_box.NO_CLAIM, claims.SUPPORTED]
    assert table[report.PAPER_MEASURED].tolist()[:2] == ["5 of 5", "90.1 <b>"]
    assert table[report.PAPER_DIFFERS].tolist() == [
        "", "differs", "", "", verdict_box.NO_CLAIM, "differs"]
    html = report.style_claims(table).to_html()
    assert "&lt;b&gt;" in html and "<b>" not in html  # the record's text is escaped
    # not reproduced, its recorded twin, rejected
    assert html.count(report._COLOURS[claims.NOT_REPRODUCED]) == 3
    assert html.count(report._NOTE_COLOUR) == 2  # the two "differs" marks
    cells = re.findall(r'<td class="([^"]+)"[^>]*>([^<]*)</td>', html)
    assert ("txt wrap", "5 of 5") in cells  # the paper-scale measured texts wrap


def test_the_committed_record_gives_every_recorded_chapter_its_box():
    rec = report.paper_record()
    if rec is None:
        pytest.skip("no committed paper-scale record")
    for chapter in catalogue.notebooks():
        text = verdict_box.paper_verdict(chapter, scale="quick")
        if chapter in rec["chapters"]:
            counts = verdict_box.paper_counts(chapter)
            assert text.startswith(f"At the paper's scale: **{counts.reproduced} of "
                                   f"{counts.checked}** claims reproduced"), chapter
        else:
            assert text.startswith("Not in the paper-scale record yet"), chapter


# ---------------------------------------------------------------------- the Sphinx role


def test_intro_gives_every_chapter_its_paper_scale_count():
    """The map of the book in intro.md names every chapter with the role, not a number."""
    intro = (ROOT / "book" / "intro.md").read_text()
    for chapter in catalogue.notebooks():
        assert f"{{paper-count}}`{chapter}`" in intro, chapter
    assert not re.search(r"\d+ of \d+ reproduced", intro)  # nothing typed by hand


def _sphinx_build(src: Path, out: Path) -> str:
    from sphinx.cmd.build import build_main

    assert build_main(["-q", "-b", "text", "-w", str(out / "warnings.txt"),
                       "-d", str(out / "doctrees"), str(src), str(out)]) == 0
    return (out / "index.txt").read_text()


def test_the_paper_count_role_in_a_markdown_table_follows_the_record(tmp_path):
    pytest.importorskip("myst_parser")
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "conf.py").write_text(textwrap.dedent("""\
        extensions = ["myst_parser", "fa_lib.sphinxext"]
        fa_compute_first = False
        fa_paper_record = "rec.json"
        """))
    (src / "index.md").write_text(textwrap.dedent("""\
        # Book

        | Chapter | At the paper's scale |
        | --- | --- |
        | depth | {paper-count}`depth` |
        | flexibility | {paper-count}`flexibility` |
        | typo | {paper-count}`dpeth` |
        """))
    rec = fake_record({"depth": [_entry("x", claims.REPRODUCED),
                                 _entry("y", claims.NOT_REPRODUCED)]})
    (src / "rec.json").write_text(json.dumps(rec))
    text = _sphinx_build(src, out)
    assert re.search(r"depth\s+\|\s+1 of 2 reproduced", text), text
    assert re.search(r"flexibility\s+\|\s+not recorded yet", text), text
    warnings = (out / "warnings.txt").read_text()
    assert "{paper-count}: 'dpeth' is not a chapter of the book" in warnings

    # the record changes: the page is read again (the record is its dependency)
    rec["chapters"]["flexibility"] = {"claims": [_entry("z", claims.REPRODUCED)],
                                      "experiments": {}}
    (src / "rec.json").write_text(json.dumps(rec))
    later = time.time() + 5  # newer than the page's last reading, whatever the clock's grain
    os.utime(src / "rec.json", (later, later))
    text = _sphinx_build(src, out)
    assert re.search(r"flexibility\s+\|\s+1 of 1 reproduced", text), text
    (src / "rec.json").unlink()  # no record: said, not an error
    text = _sphinx_build(src, out)
    assert re.search(r"depth\s+\|\s+no record", text), text


def test_the_role_reports_a_malformed_record_as_a_build_error(tmp_path):
    from types import SimpleNamespace

    messages = []
    path = tmp_path / "rec.json"
    path.write_text(json.dumps({"format": record.FORMAT}))
    env = SimpleNamespace(config=SimpleNamespace(fa_paper_record="rec.json"), srcdir=tmp_path,
                          note_dependency=messages.append)
    inliner = SimpleNamespace(
        document=SimpleNamespace(settings=SimpleNamespace(env=env)),
        reporter=SimpleNamespace(error=lambda text, line: text),
        problematic=lambda raw, text, msg: ("problem", raw))
    nodes, errors = sphinxext.paper_count_role("paper-count", "{paper-count}`depth`", "depth",
                                               3, inliner)
    assert messages == [str(path.resolve())]
    assert nodes == [("problem", "{paper-count}`depth`")]
    assert "is not a record" in errors[0]
