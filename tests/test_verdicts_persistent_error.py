"""Tests of fa_lib.verdicts.persistent_error: the chapter's claims, on its results and by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from claim_checks import assert_fail, assert_hold, assert_not_computed

from fa_lib import claims, config, record
from fa_lib.experiments import persistent_error as pe
from fa_lib.verdicts import persistent_error as verdicts

ROOT = Path(__file__).resolve().parents[1]


def test_claims_hold_at_the_quick_scale_with_the_recorded_statements():
    # The results cache of the environment (computed if missing, reused by the notebook).
    assert config.scale() == "quick"
    chapter_claims = verdicts.claims()
    claims.require(chapter_claims)
    assert all(c.holds and c.asserted for c in chapter_claims)
    recorded = record.load_record(ROOT / record.RECORD_PATH)["chapters"][verdicts.CHAPTER]
    assert [(c.statement, c.criterion) for c in chapter_claims] == [
        (c["statement"], c["criterion"]) for c in recorded["claims"]]


def test_values_for_the_text_at_the_quick_scale():
    cfg = pe.config()
    r = verdicts.results(cfg)
    values = {**verdicts.setup_values(cfg), **verdicts.openloop_values(r.sim),
              **verdicts.condition_values(r.conditions),
              **verdicts.spectral_values(r.eigenvalues, r.conditions),
              **verdicts.contrast_values(r.conditions), **verdicts.mc_values(r.conditions),
              **verdicts.control_values(r.control)}
    assert values["zeros_6"] == values["expected_6"] == 90
    assert values["max_angle"] < 90 and values["th_min_t"] == verdicts.THRESHOLDS["min_t"]
    assert values["sdr_lo"] < values["sdr"] < values["sdr_hi"]


def _standard(n: int, seed: int) -> np.ndarray:
    """``n`` values of mean 0 and SD 1 exactly."""
    z = np.random.default_rng(seed).standard_normal(n)
    return (z - z.mean()) / z.std(ddof=1)


def _results() -> verdicts.Results:
    """Hand-made results for which every claim holds."""
    k = np.arange(1, 101, dtype=float)[:, None]
    sim = {"w1_limit": 100 / k * np.ones(3), "w0_limit": 150 / k * np.ones(3),
           "w1_bt": np.full((100, 3), 30.0), "dw0": np.full((100, 3), 20.0),
           "asym_w1_bt": np.full(3, 30.1), "asym_dw0": np.full(3, 20.0)}
    z = _standard(200, 0)
    mean = {1: 25.0, 2: 55.0, 3: 48.0, 4: 47.0, 5: 55.0, 6: 73.0}
    n = np.array([10, 100, 1000])
    conditions = {c: {"w1_bt": m + (1.0 if c == 5 else 0.5) * z, "dw0": 20 + z,
                      "mc_n": n, "mc_err": 1 / np.sqrt(n)} for c, m in mean.items()}
    eigenvalues = {"eig6": np.r_[np.ones(10), np.zeros(90)], "zeros": np.array([0] * 5 + [90])}
    return verdicts.Results(sim, conditions, eigenvalues, 90 + 0.8 * _standard(1000, 1))


def test_hand_made_results_that_hold():
    by_key = assert_hold(verdicts, _results())
    assert by_key["w1"].measured == (
        "after 100 iterations W1 ∠ B^T E^T X X^T E = 1.000 deg (max 1.000, n = 3 repetitions); "
        "angle(K/2)/angle(K) = 2.00-2.00; |W1 ∠ B^T - B^T ∠ B^T M| <= 0.100 deg")
    assert by_key["control"].measured.startswith("mean 90.000, SD 0.800, n = 1000")


def _no_1_over_k(r):
    r.sim["w1_limit"][:] = 1.0  # converged at once: not a 1/k approach


def _above_90(r):
    r.conditions[3]["dw0"][7] = 90.5


def _too_few_zeros(r):
    r.eigenvalues["zeros"][-1] = 80


def _more_outputs_better(r):
    r.conditions[6]["w1_bt"] -= 60


def _means_differ(r):
    r.conditions[5]["w1_bt"] += 1.0


def _same_width(r):
    r.conditions[5]["w1_bt"] = r.conditions[2]["w1_bt"].copy()


def _slow_mean(r):
    r.conditions[4]["mc_err"] = 1 / np.array([10, 100, 1000]) ** 0.25


def _control_off(r):
    r.control[:] = r.control + 1.0


@pytest.mark.parametrize("change, fails", [
    (_no_1_over_k, {"w1"}), (_above_90, {"below_90"}), (_too_few_zeros, {"zeros"}),
    (_more_outputs_better, {"n_o"}), (_means_differ, {"n_h_mean"}), (_same_width, {"n_h_sd"}),
    (_slow_mean, {"mc"}), (_control_off, {"control"}),
])
def test_hand_made_results_that_fail(change, fails):
    assert_fail(verdicts, _results(), change, fails)


def _nan(r):
    r.conditions[2]["w1_bt"][3] = np.nan


def test_a_nan_in_the_results_fails_every_claim_and_says_where():
    assert_not_computed(verdicts, _results(), _nan, "cond2 w1_bt: 1 of 200")
