"""Tests of fa_lib.report, the reproduction report's gathering of the chapters' claims."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from fa_lib import catalogue, claims, report, sphinxext


def payload(chapter, scale, verdicts):
    return {
        "chapter": chapter,
        "scale": scale,
        "claims": [
            {"chapter": chapter, "statement": f"claim {i} <b>", "measured": f"m{i}",
             "holds": h, "criterion": f"c{i}"}
            for i, h in enumerate(verdicts)
        ],
    }


def test_totals_missing_and_other_scale():
    saved = {
        "a": payload("a", "quick", [True, False, True]),
        "b": payload("b", "paper", [True]),
        "z": payload("z", "quick", []),
    }
    when = {"a": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)}
    rep = report.build_report(saved, chapters=["a", "b", "c"], scale="quick", saved_at=when)
    assert rep.chapters == ("a", "b", "c", "z")
    assert (rep.n_checked, rep.n_reproduced, rep.n_not_reproduced, rep.n_run) == (4, 3, 1, 3)
    assert rep.missing == ("c",) and rep.other_scale == ("b",) and rep.not_in_toc == ("z",)
    t = rep.totals
    assert list(t.index) == ["a", "b", "c", "z", report.ALL]
    assert t.loc["a", "saved (UTC)"] == "2026-01-02 03:04"
    assert t.loc["c", "checked"] is pd.NA
    assert "not quick" in t.loc["b", "note"] and "table of contents" in t.loc["z", "note"]
    assert t.loc[report.ALL, ["checked", "reproduced", "not reproduced"]].tolist() == [4, 3, 1]
    assert t.loc[report.ALL, "scale"] == "paper, quick"
    assert rep.chapter_claims("a")["verdict"].tolist() == [
        "reproduced", "not reproduced", "reproduced"]
    html = report.style_claims(rep.chapter_claims("a")).to_html()
    assert "&lt;b&gt;" in html and "<b>" not in html  # claim text is escaped
    html = report.style_totals(rep.totals).to_html()
    assert ">scale<" in html and ">note<" in html  # the chapters differ: both columns shown
    # One scale and no notes: the two columns say nothing and are left out.
    same = report.build_report({"a": payload("a", "quick", [True])}, chapters=["a"],
                               scale="quick", saved_at=when)
    html = report.style_totals(same.totals).to_html()
    assert ">scale<" not in html and ">note<" not in html and ">saved (UTC)<" in html


def test_bad_input():
    with pytest.raises(ValueError, match="scale"):
        report.build_report({"a": {"scale": "huge", "claims": []}}, chapters=["a"], scale="quick")
    with pytest.raises(ValueError, match="holds"):
        bad = payload("a", "quick", [True])
        bad["claims"][0]["holds"] = "yes"
        report.build_report({"a": bad}, chapters=["a"], scale="quick")
    with pytest.raises(ValueError, match="repeat"):
        report.build_report({}, chapters=["a", "a"], scale="quick")
    with pytest.raises(ValueError, match="scale"):
        report.build_report({}, chapters=[], scale="medium")
    rep = report.build_report({}, chapters=["a"], scale="quick")
    with pytest.raises(ValueError, match="not a chapter"):
        rep.chapter_claims("b")


def test_reads_saved_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FA_SCALE", "quick")
    path = claims.save("ch_test", [claims.Claim("ch_test", "s", "m", True, "c")])
    assert json.loads(path.read_text())["scale"] == "quick"
    rep = report.build_report(chapters=["ch_test", "other"])
    assert rep.n_checked == 1 and rep.missing == ("other",)
    assert rep.totals.loc["ch_test", "saved (UTC)"]


def test_toc_chapters(tmp_path):
    (tmp_path / "book").mkdir()
    for name in ("b", "a", "report"):
        (tmp_path / "book" / f"{name}.ipynb").write_text("{}")
    toc = tmp_path / "_toc.yml"
    toc.write_text("root: book/intro\nchapters:\n- file: book/b\n- file: book/x\n"
                   "- file: book/report\n- file: book/a.ipynb\n")
    assert catalogue.notebooks(toc) == ["b", "a"]
    assert catalogue.notebooks(tmp_path / "missing.yml") == ["a", "b"]
    toc.write_text("- just a list\n")
    with pytest.raises(ValueError, match="mapping"):
        catalogue.notebooks(toc)


def test_chapter_title(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "# not a title"},
                    {"cell_type": "markdown", "source": ["intro\n", "# The title\n"]}]}
    (tmp_path / "ch.ipynb").write_text(json.dumps(nb))
    assert report.chapter_title("ch", tmp_path) == "The title"
    assert report.chapter_title("none", tmp_path) == "none"


def test_sphinx_hook_marks_report_outdated():
    class Env:
        found_docs = {"book/intro", report.REPORT_DOC}

    assert sphinxext.report_always_outdated(None, Env(), set(), set(), set()) == [report.REPORT_DOC]
    Env.found_docs = {"book/intro"}
    assert sphinxext.report_always_outdated(None, Env(), set(), set(), set()) == []


def test_claims_not_asserted_at_this_scale_have_their_own_verdict():
    c = claims.Claim("t_scale", "needs long runs", "m", holds=False, asserted=False)
    assert c.verdict == claims.NOT_CHECKED == "not checked at this scale"
    d = claims.Claim("t_scale", "x", "m", holds=True)
    assert d.verdict == claims.REPRODUCED
    assert claims.table([c, d])["verdict"].tolist() == [claims.NOT_CHECKED, claims.REPRODUCED]
    saved = {"a": payload("a", "quick", [True, False, True])}
    saved["a"]["claims"][1]["asserted"] = False
    saved["a"]["claims"][2]["asserted"] = False
    rep = report.build_report(saved, chapters=["a"], scale="quick", saved_at={})
    assert (rep.n_checked, rep.n_reproduced, rep.n_not_reproduced, rep.n_not_checked) == (
        3, 1, 0, 2)
    assert rep.totals.loc[report.ALL, ["reproduced", "not reproduced",
                                      "not checked at this scale"]].tolist() == [1, 0, 2]
    # files written before the field existed: every claim asserted
    old = report.build_report({"a": payload("a", "quick", [True, False])}, chapters=["a"],
                              scale="quick", saved_at={})
    assert old.claims["verdict"].tolist() == [claims.REPRODUCED, claims.NOT_REPRODUCED]
    html = report.style_totals(rep.totals).to_html()
    assert "font-weight: bold" in html and "not checked at this scale" in html
    with pytest.raises(ValueError, match="asserted"):
        saved["a"]["claims"][0]["asserted"] = "no"
        report.build_report(saved, chapters=["a"], scale="quick", saved_at={})


def test_hypotheses_are_counted_apart_from_the_claims():
    """The book's own hypotheses never pass for claims: their verdicts and counts are apart."""
    beyond = [claims.Claim("b", "A claim.", "m", True),
              claims.hypothesis("b", "H1.", "m", claims.SUPPORTED, "c"),
              claims.hypothesis("b", "H2.", "m", claims.REJECTED, "c"),
              claims.hypothesis("b", "H3.", "m", claims.UNDECIDED, "c", asserted=False)]
    saved = {"a": payload("a", "quick", [True, False]),
             "b": {"chapter": "b", "scale": "quick",
                   "claims": [dict(vars(c)) for c in beyond]}}
    rep = report.build_report(saved, chapters=["a", "b"], scale="quick", saved_at={})
    assert (rep.n_checked, rep.n_reproduced, rep.n_not_reproduced) == (3, 2, 1)
    assert rep.n_hypotheses == 3
    assert rep.totals.loc["b", ["checked", "reproduced"]].tolist() == [1, 1]
    h = rep.hypotheses
    assert list(h.index) == ["b", report.ALL]
    assert h.loc["b", ["tested", "supported", "rejected", "undecided",
                       claims.NOT_CHECKED]].tolist() == [3, 1, 1, 0, 1]
    found = rep.chapter_claims("b", "hypothesis")
    assert found["verdict"].tolist() == ["supported", "rejected", claims.NOT_CHECKED]
    assert rep.chapter_claims("b")["claim"].tolist() == ["A claim."]
    with pytest.raises(ValueError, match="kind"):
        rep.chapter_claims("b", "nonsense")


def test_a_hypothesis_is_decided_not_asserted():
    h = claims.hypothesis("c", "H.", "m", claims.REJECTED, "c")
    assert h.kind == claims.HYPOTHESIS and not h.holds and h.verdict == "rejected"
    claims.require([h])  # any outcome of a hypothesis is a result
    assert claims.table([h]).columns[0] == "hypothesis"
    with pytest.raises(ValueError, match="outcome"):
        claims.hypothesis("c", "H.", "m", "maybe", "c")
    with pytest.raises(ValueError, match="only a hypothesis"):
        claims.Claim("c", "C.", "m", True, outcome="supported")
    with pytest.raises(ValueError, match="holds when it is supported"):
        claims.Claim("c", "H.", "m", True, kind="hypothesis", outcome="rejected")
    bad = {"scale": "quick", "claims": [{**vars(h), "outcome": "perhaps"}]}
    with pytest.raises(ValueError, match="outcome"):
        claims.saved_claims("c", bad)
