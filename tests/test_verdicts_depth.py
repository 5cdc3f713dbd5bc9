"""Tests of fa_lib.verdicts.depth: the chapter's claims, on its ensembles and by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from claim_checks import assert_fail, assert_hold, assert_not_computed, failing

from fa_lib import claims, config, record
from fa_lib.experiments import depth
from fa_lib.verdicts import depth as verdicts

ROOT = Path(__file__).resolve().parents[1]


def test_claims_hold_at_the_quick_scale_with_the_recorded_statements():
    # The results cache of the environment (computed if missing, reused by the notebook).
    assert config.scale() == "quick"
    chapter_claims = verdicts.claims()
    claims.require(chapter_claims)
    recorded = record.load_record(ROOT / record.RECORD_PATH)["chapters"][verdicts.CHAPTER]
    assert [(c.statement, c.criterion) for c in chapter_claims] == [
        (c["statement"], c["criterion"]) for c in recorded["claims"]]
    text85 = chapter_claims[-2]
    assert text85.instead_holds and "80 deg" in text85.instead


def test_values_for_the_text_at_the_quick_scale():
    cfg = depth.config()
    heat, hist = verdicts.results(cfg)
    values = {**verdicts.setup_values(cfg), **verdicts.heatmap_values(heat, cfg.bin_width),
              **verdicts.spread_values(heat, cfg.bin_width), **verdicts.slice_values(heat),
              **verdicts.order_values(hist, heat), **verdicts.band_values(hist)}
    assert values["scale"] == "quick" and values["n_bands"] == len(depth.BANDS)
    assert values["frac_above"] + values["frac_between"] + values["frac_below"] == (
        pytest.approx(100))
    assert values["sd_pooled_ratio"] == pytest.approx(
        values["sd_pooled_non"] / values["sd_pooled_lin"])


def _grid(upper: float, repeat: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of a grid of 180 angles on [0, upper], each pair ``repeat`` times."""
    step = upper / 180
    t = np.arange(180) * step + step / 2
    t1, t2 = (np.repeat(a.ravel(), repeat) for a in np.meshgrid(t, t, indexing="ij"))
    return t1, t2


def _results() -> verdicts.Results:
    """Hand-made ensembles for which every claim holds.

    The heat map follows ``arccos(cos theta_1 cos theta_2)`` exactly; in the histograms
    ``theta_3`` lies 5 degrees above both factor angles but for eight draws below both
    (both angles above 89) and two between. The nonlinear ``theta_3`` adds 2.5 degrees to
    one draw of a pair and takes them from the other: the same mean, a wider spread.
    """
    t1, t2 = _grid(180.0, 2)
    t3 = depth.predicted_theta3(t1, t2)
    pm = np.resize([2.5, -2.5], t1.size)
    heat = {"theta1": t1, "theta2": t2, "theta3": t3, "theta3_nonlin": t3 + pm}
    h1, h2 = _grid(90.0, 2)
    h3 = np.maximum(h1, h2) + 5
    below = (h1 > 89) & (h2 > 89)
    h3[below] = np.minimum(h1, h2)[below] - 1
    between = (h1 == 30.25) & (h2 == 60.25)
    h3[between] = 45.0
    hist = {"theta1": h1, "theta2": h2, "theta3": h3, "theta3_nonlin": h3 + pm}
    return verdicts.Results(heat, hist)


def test_hand_made_ensembles_that_hold():
    by_key = assert_hold(verdicts, _results())
    # no draw of the heat map beats both factors: its lowest is NaN, and said so
    assert by_key["below"].measured == (
        "8 of 64800 draws (0.0123%); lowest min(theta_1, theta_2) among them 89.25 deg "
        "(heat-map ensemble, signed fold: 0 of 64800, lowest nan deg)")
    assert by_key["order"].measured == (
        "theta_3 above both: 99.98%, between: 0.00%, below both: 0.0123% of n = 64800 draws "
        "(theta_1, theta_2 on 0-90)")


def _events_at(r: verdicts.Results, angle: float) -> None:
    """Move the draws that beat both factors to factor angles near ``angle``."""
    hist = r.histograms
    near = (np.abs(hist["theta1"] - angle) < 0.3) & (np.abs(hist["theta2"] - angle) < 0.3)
    hist["theta3"][near] = angle - 1
    hist["theta3"][(hist["theta1"] > 89) & (hist["theta2"] > 89)] = 95.0


def test_below_85_fails_the_text_but_holds_instead_above_80():
    r = _results()
    _events_at(r, 82.0)
    chapter_claims = verdicts.claims_from(r)
    text85 = chapter_claims[list(verdicts.STATEMENTS).index("text85")]
    assert not text85.holds and text85.instead_holds
    assert failing(verdicts, r) == {"text85"}
    claims.require(chapter_claims)  # what the chapter asserts instead holds


def test_below_80_fails_the_text_and_what_holds_instead():
    r = _results()
    _events_at(r, 70.0)
    assert failing(verdicts, r) == {"below", "text85"}
    with pytest.raises(AssertionError, match="and not instead"):
        claims.require(verdicts.claims_from(r))


def _edge_off(r):
    heat = r.heatmap
    near_0 = heat["theta1"] < 5
    heat["theta3"][near_0] = 180 - heat["theta3"][near_0]


def _middle_off(r):
    heat = r.heatmap
    heat["theta3"][np.abs(heat["theta1"] - 90) < 5] += 1.0


def _edge_offset(r):
    heat = r.heatmap
    near_0 = heat["theta1"] < 5  # perfectly correlated, but 4 degrees further from 90
    heat["theta3"][near_0] += np.where(heat["theta2"][near_0] < 90, 4.0, -4.0)


def _never_between(r):
    hist = r.histograms
    between = (hist["theta1"] == 30.25) & (hist["theta2"] == 60.25)
    hist["theta3"][between] = 65.25


def _always_above(r):
    hist = r.histograms
    hist["theta3"] = np.maximum(hist["theta1"], hist["theta2"]) + 5


def _nonlinear_shifts_the_mean(r):
    r.histograms["theta3_nonlin"] += 1.0


def _nonlinear_same_spread(r):
    r.heatmap["theta3_nonlin"] = r.heatmap["theta3"] + 0.01


@pytest.mark.parametrize("change, fails", [
    (_edge_off, {"edge"}), (_edge_offset, {"edge"}), (_middle_off, {"middle"}),
    (_never_between, {"order"}), (_always_above, {"order", "below", "text85"}),
    (_nonlinear_shifts_the_mean, {"nonlin"}), (_nonlinear_same_spread, {"nonlin"}),
])
def test_hand_made_ensembles_that_fail(change, fails):
    assert_fail(verdicts, _results(), change, fails)


def _nan(r):
    r.histograms["theta3"][10] = np.nan  # order_fractions would count it as "between"


def test_a_nan_in_the_ensembles_fails_every_claim_and_says_where():
    assert_not_computed(verdicts, _results(), _nan, "histograms theta3: 1 of 64800")
