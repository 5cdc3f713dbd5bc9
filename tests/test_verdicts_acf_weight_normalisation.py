"""fa_lib.verdicts.acf_weight_normalisation: its claims at the quick scale (from the results
cache of the environment) and its criteria on hand-made statistics (hold, fail, NaN)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fa_lib import claims, stats
from fa_lib.experiments import acf_weight_normalisation as m
from fa_lib.verdicts import acf_weight_normalisation as v


@pytest.fixture(scope="module")
def quick() -> tuple[v.Results, list[claims.Claim]]:
    """Results and claims at the quick scale: pytest runs at FA_SCALE=quick."""
    return (results := v.results()), v.claims(results)


def test_claims_at_the_quick_scale(quick):
    res, chapter_claims = quick
    claims.require(chapter_claims)
    starts = ["Eqs. 6-7", "More autocorrelation of the error", "More autocorrelation of the input",
              "An error without autocorrelation", "WN (gamma = 1, B as drawn) improves alignment "
              "for 0 < beta <", "WN (gamma = 1, B as drawn) improves alignment for 0 < beta_X",
              "WN does not improve", "WN improves alignment for 0 < beta, beta_X < 1 with B",
              "Case 1 (E redrawn", "Case 1: the sum", *v.S1_CLAIMS[1:], "With B normalised"]
    assert len(chapter_claims) == len(starts)
    assert all(c.statement.startswith(s) for c, s in zip(chapter_claims, starts, strict=True))
    assert all(c.chapter == v.CHAPTER and c.asserted for c in chapter_claims)
    # What the chapter says instead holds at every scale: the gain of WN at beta = beta_X = 1
    # is small, and with B normalised WN aligns less than with B as drawn, gamma dropping out.
    assert all(c.instead_holds for c in chapter_claims if c.instead)
    assert v.gamma_difference(res.s1) < v.THRESHOLDS["gamma_same"]


def test_every_number_of_the_text_is_computed(quick):
    res, chapter_claims = quick
    path = Path(__file__).parents[1] / "book" / "acf_weight_normalisation.ipynb"
    cells = json.loads(path.read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    quoted = set(re.findall(r"\{glue:text\}`acfwn_(\w+)", text))
    computed = v.values(res) | v.verdict_values(chapter_claims)
    assert quoted and quoted <= set(computed), sorted(quoted - set(computed))
    assert computed["n_claims"] == len(chapter_claims) == 15


NAN = float("nan")


def ttest(mean: float, sd: float = 1.0, n: int = 10) -> stats.TTest:
    """A hand-made test of ``n`` values (or differences) of mean ``mean`` and SD ``sd``."""
    half = 3.25 * sd / np.sqrt(n)
    return stats.TTest(mean, sd, n, NAN, NAN, (mean - half, mean + half))


def test_sem_criteria():
    assert v.below0(ttest(-2.0)) and not v.below0(ttest(-0.5)) and not v.below0(ttest(NAN))
    assert v.above0(ttest(2.0)) and not v.above0(ttest(0.5)) and not v.above0(ttest(NAN))
    assert v.not_below(ttest(89.5)) and not v.not_below(ttest(88.0))
    assert not v.not_below(ttest(NAN)) and not v.not_below(ttest(90.0, sd=NAN))
    assert v.below(ttest(88.0)) and not v.below(ttest(89.5)) and not v.below(ttest(NAN))
    assert v.below(ttest(-2.0), 0.0) and not v.below(ttest(-0.5), 0.0)


def test_trend_criterion():
    rng = np.random.default_rng(0)
    betas = [0.0, 0.5, 1.0]
    falling = np.array([90.0, 80.0, 70.0])[:, None] + rng.normal(0, 0.5, (3, 10))
    assert v.trend_holds(m.trend(falling, betas))
    assert not v.trend_holds(m.trend(falling[::-1], betas))
    # A strong falling trend with one clear rise (the last step) does not count.
    bump = np.array([90.0, 80.0, 70.0, 60.0, 50.0, 55.0])[:, None] + rng.normal(0, 0.5, (6, 10))
    t_bump = m.trend(bump, np.linspace(0.0, 1.0, 6))
    assert t_bump.rho < v.THRESHOLDS["rho"] and not v.trend_holds(t_bump)
    t = m.trend(falling, betas)
    assert not v.trend_holds(m.Trend(t.means, t.sems, t.steps, t.step_sems, NAN, NAN))


def test_s1_case1_criteria():
    t_rep = ttest(70.0, sd=3.0, n=5)
    near = np.array([89.0, 90.5, 91.0, 89.5, 90.0])
    assert v.repeated_error_holds(t_rep, near, near)
    assert not v.repeated_error_holds(ttest(85.0, n=5), near, near)
    assert not v.repeated_error_holds(t_rep, near - 5, near)
    assert not v.repeated_error_holds(t_rep, np.append(near, NAN), near)
    sum_aln, dw1, w1 = np.array([50.0, 51, 49, 50, 52]), near - 2, near - 30
    assert v.sums_holds(ttest(90.5, n=5), sum_aln, t_rep, dw1, w1)
    assert not v.sums_holds(ttest(80.0, n=5), sum_aln, t_rep, dw1, w1)  # ΣT_sup aligns
    assert not v.sums_holds(ttest(90.5, n=5), sum_aln + 25, t_rep, dw1, w1)
    assert not v.sums_holds(ttest(90.5, n=5), sum_aln, t_rep, dw1 - 20, w1)
    assert not v.sums_holds(ttest(90.5, n=5), sum_aln, t_rep, dw1, np.append(w1, NAN))


def _acf_results(acf: dict) -> v.Results:
    """Results with only the Fig. 4E correlograms (what :func:`v.fig4e_claim` reads)."""
    return v.Results(acf=acf, final={}, silent={}, final_text={}, silent_text={}, trends={},
                     diffs={}, dw0_diffs={}, s1={}, st={})


def test_fig4e_claim_on_hand_made_correlograms():
    cfg = m.CorrelogramConfig(betas=(0.0, 0.5, 1.0), n_steps=100, reps=2, max_lag=2, seed=0)
    lags = np.arange(-2, 3)
    shape = np.array(cfg.betas)[:, None] ** np.abs(lags)
    acf = np.repeat(shape[:, None, :], cfg.reps, axis=1) * 0.7  # any ACF(0) scales out
    claim = v.fig4e_claim(_acf_results({"acf": acf, "shape": shape}), cfg)
    assert claim.holds and "= 0.000 over beta in {0, 0.5, 1}" in claim.measured
    wide = acf.copy()
    wide[1] = 0.7  # beta = 0.5 with a flat ACF: too wide
    assert not v.fig4e_claim(_acf_results({"acf": wide, "shape": shape}), cfg).holds
    acf[1, 0, 0] = NAN
    claim = v.fig4e_claim(_acf_results({"acf": acf, "shape": shape}), cfg)
    assert not claim.holds and "nan" in claim.measured


def test_finals_and_paired_differences():
    n_iter, n_betas, reps = 4, 3, 4
    shape = (n_iter, len(m.VARIANTS), n_betas, reps)
    runs = {sw: {"w1_bt": np.full(shape, 80.0), "dw0": np.full(shape, 70.0)} for sw in m.SWEEPS}
    for key in ("w1_bt", "dw0"):  # WN (B as drawn) aligns more, run by run
        runs["beta"][key][:, 1] -= np.arange(reps)
    runs["beta"]["dw0"][-1, 1, 0, 0] = NAN  # one WN net went silent
    final, silent = v.finals(runs, 2)
    assert final["beta", "w1_bt", "wn"].shape == (n_betas, reps) and silent["beta", "wn"][0] == 1
    d = v.paired_wn(final, "beta", "wn", 0)
    assert d.n == reps and d.mean == pytest.approx(-1.5)
    assert v.paired_wn(final, "beta", "wn", 0, "dw0").n == reps - 1  # the silent net is left out


def test_verdict_values():
    ok = claims.Claim(v.CHAPTER, "Case 1: x", "m", True)
    not_ok = claims.Claim(v.CHAPTER, "A smaller gamma: y", "m", False)
    other = claims.Claim(v.CHAPTER, "Eqs. 6-7: z", "m", False)
    assert v.verdict_values([ok])["s1_verdict"] == "holds, case by case"
    out = v.verdict_values([ok, not_ok, other])
    assert out["s1_verdict"] == "holds only in part (see the table)"
    assert (out["s1_n_checked"], out["n_claims"], out["n_reproduced"]) == (2, 3, 1)
    assert out["not_reproduced"] == "“A smaller gamma: y”; “Eqs. 6-7: z”"
    assert v.verdict_values([ok])["not_reproduced"] == "none"
