"""Tests of fa_lib.verdicts.mnist_alignment: the chapter's claims and the criteria behind them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fa_lib import claims, record, stats
from fa_lib.experiments import mnist_alignment as m
from fa_lib.verdicts import mnist_alignment as v

ROOT = Path(__file__).resolve().parents[1]
NAN = np.nan


def angles(mean: float, n: int = 5) -> stats.TTest:
    """A t-test against 90° of ``n`` angles around ``mean`` (SD about 0.8)."""
    return stats.ttest_1samp(mean + np.linspace(-1.0, 1.0, n), 90.0)


def pairs(a: list[float], b: list[float]) -> m.Comparison:
    """A comparison of two runs, made by hand (``m.compare`` refuses a NaN)."""
    return m.Comparison(np.array(a), np.array(b), angles(85.0))


NAN_TEST = stats.TTest(NAN, NAN, 5, NAN, NAN, (NAN, NAN))
"""A t-test of angles without a value (``stats.ttest_1samp`` refuses a NaN)."""


# ------------------------------------------------------------------- the quick-scale claims


@pytest.fixture(scope="module")
def quick():
    """The chapter's runs and claims at the quick scale (the environment's results cache)."""
    runs = v.load()
    return runs, v.claims(runs)


def test_quick_claims_hold_and_are_the_recorded_ones(quick):
    _, chapter_claims = quick
    claims.require(chapter_claims)
    recorded = record.load_record(ROOT / record.RECORD_PATH)["chapters"][v.CHAPTER]["claims"]
    assert [c.statement for c in chapter_claims] == [c["statement"] for c in recorded]
    assert {c.chapter for c in chapter_claims} == {v.CHAPTER}
    assert all(c.measured and c.criterion for c in chapter_claims)
    unchecked = [c for c in chapter_claims if c.verdict == claims.NOT_CHECKED]
    assert len(unchecked) == 7 and not any(c.asserted for c in unchecked)
    # the text's eta and T^1_aln with WN do not reproduce; what the chapter says instead holds
    instead = [c for c in chapter_claims if c.asserted and not c.holds]
    assert len(instead) == 2 and instead[0].statement.startswith("The network of Figs. 6-7")
    assert instead[1].statement.startswith("With WN too, T^1_aln aligns")
    assert all(c.instead and c.instead_holds for c in instead)


def test_values_glue_every_name_of_the_text(quick):
    runs, chapter_claims = quick
    values = v.values(chapter_claims, runs)
    text = "\n".join("".join(c["source"]) for c in json.loads(
        (ROOT / "book" / "mnist_alignment.ipynb").read_text())["cells"]
        if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:\w+\}`([^`:]+)", text) + re.findall(r"\{glue:\w+\} (\S+)", text))
    # glued by the notebook itself: the record's verdict, and the reach of the long-order
    # term of the Fig. 7C-D run it plots (read from that run's recorded orders)
    numbers = {n for n in used if n.startswith("mn_")} - {"mn_paper_verdict", "mn_long_note"}
    assert numbers and numbers <= {"mn_" + k for k in values}
    assert values["n_claims"] == len(chapter_claims) == 21
    fails = [f"- {c.statement}" for c in chapter_claims if c.verdict == claims.NOT_REPRODUCED]
    assert values["list_fails"].data.splitlines() == fails
    assert values["n_holds"] + values["n_unchecked"] + len(fails) == 21
    assert "*WN raises the test error of BP (Fig. 6H, text)*" in values["scale_note"].data
    assert all(np.isfinite(x) for x in values.values() if isinstance(x, float))


# ------------------------------------------------------------------------------ the criteria


def test_layers_ordered_towards_the_input():
    assert v.ordered_towards_input(np.array([[60.0, 55, 50, 40], [61, 54, 52, 30]]))
    assert not v.ordered_towards_input(np.array([[60.0, 55, 50, 40], [61, 54, 54, 30]]))
    assert not v.ordered_towards_input(np.array([[60.0, NAN, 50, 40]]))


def test_norms_grow_the_last_most():
    assert v.norms_grow_last_most(np.array([[1.1, 1.2, 1.9], [1.01, 1.5, 4.0]]))
    assert not v.norms_grow_last_most(np.array([[1.1, 2.2, 1.9]]))  # last not the largest
    assert not v.norms_grow_last_most(np.array([[0.9, 1.2, 1.9]]))  # one shrinks
    assert not v.norms_grow_last_most(np.array([[1.1, NAN, 1.9]]))


def test_no_consistent_effect_needs_both_directions_and_finite_values():
    assert v.no_consistent_effect(pairs([1.0, 3.0], [2.0, 2.0]))
    assert v.no_consistent_effect(pairs([2.0, 3.0], [2.0, 2.0]))  # a tie counts as neither
    assert not v.no_consistent_effect(pairs([1.0, 1.5], [2.0, 2.0]))
    assert not v.no_consistent_effect(pairs([3.0, 2.5], [2.0, 2.0]))
    assert not v.no_consistent_effect(pairs([1.0, NAN, 3.0], [2.0, 2.0, 2.0]))


def test_lowest_and_best():
    assert v.lowest({"bp": 90.0, "fa": 91.0, "fa_wn": 95.0}, "bp")
    assert not v.lowest({"bp": 92.0, "fa": 91.0, "fa_wn": 95.0}, "bp")
    assert not v.lowest({"bp": NAN, "fa": 91.0}, "bp") and not v.lowest({"bp": 9, "fa": NAN}, "bp")
    assert v.best_is_bp({"bp": 97.0, "bp_wn": 95.0, "fa": 92.0, "fa_wn": 96.0})
    assert v.best_is_bp({"bp": 90.0, "bp_wn": 97.0, "fa": 92.0, "fa_wn": 96.0})
    assert not v.best_is_bp({"bp": 90.0, "bp_wn": 95.0, "fa": 92.0, "fa_wn": 96.0})
    assert not v.best_is_bp({"bp": 97.0, "bp_wn": 95.0, "fa": NAN, "fa_wn": 96.0})


def test_learns_or_gets_stuck():
    silent = np.array([[0.5, 0.95], [0.4, 1.0]])  # R x layers, the output last
    assert v.learns(np.array([90.0, 60.0]))
    assert not v.learns(np.array([90.0, 40.0])) and not v.learns(np.array([90.0, NAN]))
    assert v.stuck(np.array([10.0, 30.0]), silent)
    assert not v.stuck(np.array([10.0, 60.0]), silent)
    assert not v.stuck(np.array([10.0, 30.0]), silent[:, ::-1])  # outputs not silent
    assert not v.stuck(np.array([10.0, NAN]), silent)
    assert not v.stuck(np.array([10.0, 30.0]), np.array([[0.5, NAN], [0.4, 1.0]]))


def test_periodic_autocorrelation():
    assert v.periodic(np.array([0.7, 0.8]), np.array([0.01, -0.1]))
    assert not v.periodic(np.array([0.7, 0.4]), np.array([0.01, 0.0]))  # a peak too low
    assert not v.periodic(np.array([0.7, 0.8]), np.array([0.01, -0.3]))  # large elsewhere
    assert not v.periodic(np.array([0.7, NAN]), np.array([0.01, 0.0]))
    assert not v.periodic(np.array([0.7, 0.8]), np.array([NAN, 0.0]))


def test_alignment_criteria():
    assert v.aligned(angles(85.0)) and not v.aligned(angles(89.5))
    assert v.aligned_early_only(angles(85.0), angles(89.0))
    assert not v.aligned_early_only(angles(85.0), angles(87.0))  # still aligned late
    assert not v.aligned_early_only(angles(89.5), angles(89.0))  # not aligned early
    assert v.aligned_all_along(angles(85.0), angles(80.0))
    assert not v.aligned_all_along(angles(85.0), angles(89.5))
    assert not v.aligned_all_along(angles(89.5), angles(85.0))
    nan = NAN_TEST
    assert not v.aligned(nan)
    assert not v.aligned_early_only(angles(85.0), nan) and not v.aligned_early_only(nan, nan)
    assert not v.aligned_all_along(angles(85.0), nan) and not v.aligned_all_along(nan, angles(80))


def test_severely_reduced_and_may_not_converge():
    reference = np.array([95.0, 94.0, 96.0])
    assert v.severely_reduced(np.array([40.0, 60.0]), reference)
    assert not v.severely_reduced(np.array([90.0, 88.0]), reference)  # lower, not by much
    assert not v.severely_reduced(np.array([40.0, 97.0]), reference)  # not in every repetition
    with pytest.raises(ValueError, match="NaN"):  # a diverged run: said, not hidden
        v.severely_reduced(np.array([40.0, NAN]), reference)
    assert v.may_not_converge([np.array([93.0, 94.0]), np.array([10.0, 12.0])])
    assert not v.may_not_converge([np.array([93.0, 94.0]), np.array([10.0, 62.0])])
    # a repetition without a final accuracy (NaN) is no evidence that the run fails
    assert not v.may_not_converge([np.array([93.0, 94.0]), np.array([10.0, NAN])])
    assert not v.may_not_converge([])


def test_the_thresholds_decide_the_claims(quick, monkeypatch):
    runs, chapter_claims = quick
    severe = "With small gamma the performance is severely reduced (Supp. Note 4, Fig. S2)."
    assert next(c for c in chapter_claims if c.statement == severe).holds
    monkeypatch.setitem(v.THRESHOLDS, "severe_drop", 1000.0)
    stricter = v.claims(runs)
    assert not next(c for c in stricter if c.statement == severe).holds
    with pytest.raises(AssertionError, match="severely reduced"):
        claims.require(stricter)
