"""Tests of fa_lib.verdicts.autocorrelation: the chapter's claims and their criteria.

The first tests compute the claims at the quick scale from the results cache of the
environment (filling it where it lacks an entry, as the chapter's notebook would); the
others give the criteria hand-made statistics: one that holds, one that fails, a NaN.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fa_lib import claims, stats
from fa_lib.verdicts import autocorrelation as v

NAN = float("nan")


@pytest.fixture(scope="module")
def quick():
    """The chapter's results and claims at the quick scale (pytest runs at FA_SCALE=quick)."""
    res = v.results()
    return res, v.claims(res)


def test_claims_at_the_quick_scale(quick):
    _, chapter_claims = quick
    claims.require(chapter_claims)
    starts = ["Fig. 2, Cond. 1 ", "Fig. 2, Cond. 2 ", "Fig. 2, Cond. 3 ", "Fig. 2, Cond. 4 vs 3",
              "Cond. 3: E(", "The more E[k-o]", "Eq. 31", "Fig. 2D: ", "Fig. 2D (implied)",
              "Fig. 2E", "Fig. 2, Cond. 6", "ReLU: ", "ReLU-mask angle has SD",
              "Fig. 3, case 1", "Fig. 3, case 2 (E redrawn every iteration): no alignment of W1",
              "Fig. 3, case 2 (E redrawn every iteration): no alignment of dW0",
              "Fig. 3, case 3", "Fig. 3, case 4", "Fig. 3 at the text's eta"]
    assert len(chapter_claims) == len(starts)
    assert all(c.statement.startswith(s) for c, s in zip(chapter_claims, starts, strict=True))
    assert all(c.chapter == v.CHAPTER and c.asserted for c in chapter_claims)
    # The SD of the ReLU-mask angle is the one claim that does not reproduce: it is the
    # delta method's, below the 0.66 degree of the text.
    not_ok = [c for c in chapter_claims if c.verdict != "reproduced"]
    assert [c.statement for c in not_ok] == ["ReLU-mask angle has SD about 0.66° (100 x 100, "
                                            "n = 1000)"]
    assert not_ok[0].instead_holds


def test_every_number_of_the_text_is_computed(quick):
    res, chapter_claims = quick
    cells = json.loads((Path(__file__).parents[1] / "book" / "autocorrelation.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in cells["cells"] if c["cell_type"] == "markdown")
    quoted = set(re.findall(r"\{glue:text\}`ac_(\w+)", text))
    computed = v.values(res) | v.verdict_values(chapter_claims)
    assert quoted and quoted <= set(computed), sorted(quoted - set(computed))
    assert computed["n_claims"] == 19 and computed["n_not"] == 1


def ttest(mean: float, sd: float = 1.0, n: int = 400) -> stats.TTest:
    """A hand-made one-sample test of ``n`` values of mean ``mean`` and SD ``sd``."""
    half = 2.59 * sd / np.sqrt(n)
    return stats.TTest(mean, sd, n, NAN, NAN, (mean - half, mean + half))


def test_no_alignment():
    assert v.no_alignment(ttest(90.05), 0.5)
    assert not v.no_alignment(ttest(89.0), 0.5)
    assert not v.no_alignment(ttest(90.0, sd=10.0), 0.5)  # too wide to say
    assert not v.no_alignment(ttest(NAN), 0.5)
    assert v.no_alignment(ttest(45.1), 0.25, target=45.0)
    with pytest.raises(ValueError, match="margin"):
        v.no_alignment(ttest(90.0), 0.0)


def test_aligned():
    assert v.aligned(ttest(89.0))  # 20 SEMs below 90
    assert not v.aligned(ttest(89.7))  # 6 SEMs
    assert not v.aligned(ttest(NAN))
    assert not v.aligned(ttest(80.0, sd=NAN))


def test_no_evidence_of_alignment():
    assert v.no_evidence_of_alignment(ttest(91.0, sd=5.0, n=8), 5.0)
    assert not v.no_evidence_of_alignment(ttest(80.0, sd=5.0, n=8), 5.0)  # CI below 90
    assert not v.no_evidence_of_alignment(ttest(96.0, sd=30.0, n=8), 5.0)  # too far from 90
    assert not v.no_evidence_of_alignment(ttest(NAN, n=8), 5.0)
    with pytest.raises(ValueError, match="margin"):
        v.no_evidence_of_alignment(ttest(90.0), -1.0)


def test_two_sample_criteria():
    diff_below, diff_above = ttest(-2.0), ttest(2.0)
    assert v.aligned_more_holds(diff_below, ttest(70.0))
    assert not v.aligned_more_holds(diff_above, ttest(70.0))
    assert not v.aligned_more_holds(diff_below, ttest(90.0))  # Cond. 4 must align too
    assert not v.aligned_more_holds(ttest(NAN), ttest(70.0))
    assert v.weaker_alignment_holds(diff_above, ttest(80.0))
    assert not v.weaker_alignment_holds(diff_below, ttest(80.0))
    assert not v.weaker_alignment_holds(diff_above, ttest(NAN))


def test_semidefinite_and_sd_criteria():
    top = 20**2 * 100 * 50
    assert v.semidefinite_holds(np.array([top, 1e-7, -1e-7]), top)
    assert not v.semidefinite_holds(np.array([top, 1.0, 0.0]), top)
    assert not v.semidefinite_holds(np.array([top / 2, 0.0]), top)
    assert not v.semidefinite_holds(np.array([top, NAN]), top)
    assert v.sd_contains((0.3, 0.4), 0.35) and not v.sd_contains((0.3, 0.4), 0.66)
    assert not v.sd_contains((NAN, NAN), 0.35)
    assert v.relative_error(np.ones((2, 2)) * 1.01, np.ones((2, 2))) == pytest.approx(0.01)
    assert np.isnan(v.relative_error(np.full((2, 2), NAN), np.ones((2, 2))))


def _mask_results(angles: np.ndarray) -> v.Results:
    """Results with only the ReLU-mask angles (what :func:`v.mask_claims` reads)."""
    return v.Results(fig2={}, tests={}, mask=angles, fin={}, fin_text={}, dead={},
                     dead_text={}, extra={})


def test_mask_claims_on_hand_made_angles():
    rng = np.random.default_rng(1)
    size = 100  # delta-method SD: sqrt(3 / 40000) rad = 0.496 degree
    mean_claim, sd_claim = v.mask_claims(_mask_results(45 + 0.496 * rng.normal(size=1000)), size)
    assert mean_claim.holds and not sd_claim.holds and sd_claim.instead_holds
    _, paper = v.mask_claims(_mask_results(45 + 0.66 * rng.normal(size=1000)), size)
    assert paper.holds and not paper.instead_holds
    shifted, _ = v.mask_claims(_mask_results(46 + 0.496 * rng.normal(size=1000)), size)
    assert not shifted.holds
    # A NaN angle (B = 0) is left out, and the measurement says how many remain.
    angles = 45 + 0.496 * rng.normal(size=1000)
    angles[0] = NAN
    mean_claim, _ = v.mask_claims(_mask_results(angles), size)
    assert mean_claim.holds and "n = 999" in mean_claim.measured


def test_fig3_case2_criterion():
    ok = {"e_every_1": {"w1_bt": ttest(91.0, sd=5.0, n=8), "dw0": ttest(85.0, sd=10.0, n=8)}}
    assert v.case2_holds(ok) == (True, True)
    far = {"e_every_1": {"w1_bt": ttest(70.0, sd=5.0, n=8), "dw0": ttest(60.0, sd=10.0, n=8)}}
    assert v.case2_holds(far) == (False, False)
    nan = {"e_every_1": {"w1_bt": ttest(NAN, n=8), "dw0": ttest(NAN, n=8)}}
    assert v.case2_holds(nan) == (False, False)


def test_thresholds_are_the_criteria_numbers():
    assert v.THRESHOLDS["fig2_margin"] == 0.5 and v.THRESHOLDS["aligned_sems"] == 10.0
    assert v._sci(1e-6) == "1e-6" and v._sci(1e-9) == "1e-9"
    t = ttest(61.234, sd=2.0, n=100)
    assert v.mean_sem(t) == "61.2° ± 0.2°" and v.mean_sem(t, digits=2) == "61.23° ± 0.20°"
