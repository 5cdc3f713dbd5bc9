"""Unit tests of fa_lib.experiments.acf_weight_normalisation (seconds, cache off)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fa_lib import ensembles, stats
from fa_lib.experiments import acf_weight_normalisation as m
from fa_lib.openloop import run_openloop

TINY4 = m.Fig4Config(
    sizes=(6, 5, 3), n_b=4, reps=3, betas=(0.0, 0.5, 1.0), gamma=1.0, final_window=3, seed=7,
    beta_sweep=m.SweepConfig("beta", fixed=1.0, eta=0.01, n_iter=8),
    beta_x_sweep=m.SweepConfig("beta_x", fixed=0.8, eta=0.01, n_iter=8), dtype="float64",
    text_reps=2,
)
TINY_S1 = m.FigS1Config(sizes=(6, 5, 3), n_b=4, reps=2, n_iter=9, eta=0.01, final_window=3,
                        seed=3)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("FA_CACHE", "off")


def test_configs_follow_the_authors_code():
    f = m.PAPER.fig4
    assert f.sizes == (100, 100, 10) and f.n_b == 100 and f.reps == 30
    assert f.betas == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) and f.gamma == 1.0
    assert (f.beta_sweep.eta, f.beta_sweep.n_iter, f.beta_sweep.fixed) == (0.001, 4000, 1.0)
    assert (f.beta_x_sweep.eta, f.beta_x_sweep.n_iter, f.beta_x_sweep.fixed) == (0.002, 7000, 0.8)
    s = m.PAPER.s1
    assert (s.n_iter, s.eta, s.reps) == (1500, 0.002, 10)
    assert [(c.every, c.gamma) for c in s.cases] == [(2, None), (3, None), (3, 1.0), (2, 1.0),
                                                     (2, 0.7)]
    assert m.PAPER.correlogram.max_lag == 8


def test_config_follows_fa_scale(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "quick")
    assert m.config() is m.QUICK
    monkeypatch.setenv("FA_SCALE", "paper")
    assert m.config() is m.PAPER


def test_variants():
    assert m.variant("none", 0.1).wn_gamma is None
    wn, wn_b = m.variant("wn", 0.1, 0.7), m.variant("wn_b", 0.1, 0.7)
    assert wn.wn_gamma == 0.7 and not wn.normalise_b and wn.name == "fa" and wn.eta == 0.1
    assert wn_b.wn_gamma == 0.7 and wn_b.normalise_b
    with pytest.raises(ValueError, match="variant"):
        m.variant("bn", 0.1)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="swept"):
        m.SweepConfig("gamma", 1.0, 0.1, 10)
    with pytest.raises(ValueError, match="fixed"):
        m.SweepConfig("beta", 1.5, 0.1, 10)
    with pytest.raises(ValueError, match="sweep"):
        TINY4.sweep("x")


def test_text_eta_config():
    t = m.text_eta_config(m.PAPER.fig4)
    assert t.reps == m.PAPER.fig4.text_reps
    assert t.beta_sweep.eta == t.beta_x_sweep.eta == 0.003
    assert t.beta_sweep.n_iter == 4000 and t.beta_x_sweep.n_iter == 7000
    out = m.fig4_text_eta(TINY4)
    assert out["beta"]["w1_bt"].shape == (8, 3, 3, 2)


def test_run_sweep_shapes_and_wn():
    out = m.run_sweep(TINY4, "beta")
    assert out["w1_bt"].shape == (8, 3, 3, 3) and out["dw0"].shape == (8, 3, 3, 3)
    assert out["norm_w1"].shape == (3, 3, 3)
    assert np.all((out["w1_bt"] >= 0) & (out["w1_bt"] <= 180))
    # Under WN every column has norm gamma: |W_1|_F = gamma sqrt(n_o), |W_0|_F = gamma sqrt(n_h).
    np.testing.assert_allclose(out["norm_w1"][1:], np.sqrt(3.0), rtol=1e-9)
    np.testing.assert_allclose(out["norm_w0"][1:], np.sqrt(5.0), rtol=1e-9)
    assert np.all(out["norm_w1"][0] != np.sqrt(3.0))
    # Variants share W, B and X: at k = 0 the update of "none" and "wn" sees the same E.
    x_sweep = m.run_sweep(TINY4, "beta_x")
    assert x_sweep["w1_bt"].shape == (8, 3, 3, 3)


def test_stacking_order_is_value_major():
    # Repetition r of the i-th coefficient is stacked repetition i * reps + r.
    stacked = m.run_sweep(TINY4, "beta")
    lone = run_openloop(TINY4.seed, 9, 8, TINY4.sizes, TINY4.n_b, m.variant("none", 0.01),
                        e=m.Signal(beta=np.repeat([0.0, 0.5, 1.0], 3)), dtype=TINY4.dtype)
    np.testing.assert_allclose(stacked["w1_bt"][:, 0, 2], lone["w1_bt"][:, 6:9], rtol=1e-5)


def test_final_mean():
    t = np.arange(10.0)[:, None] * np.ones((1, 2))
    np.testing.assert_allclose(m.final_mean(t, 4), [7.5, 7.5])
    with pytest.raises(ValueError, match="window"):
        m.final_mean(t, 11)


def test_trend_detects_a_decrease():
    rng = np.random.default_rng(0)
    final = np.array([90.0, 80.0, 70.0])[:, None] + rng.normal(0, 0.5, (3, 10))
    tr = m.trend(final, [0.0, 0.5, 1.0])
    assert tr.decreasing(z=5) and tr.rho < -0.8 and tr.p < 1e-6
    assert tr.no_increase() and tr.sems.shape == (3,)
    assert not m.trend(final[::-1], [0.0, 0.5, 1.0]).decreasing()
    assert not m.trend(final[::-1], [0.0, 0.5, 1.0]).no_increase()
    final[1, :5] = np.nan  # undefined runs are left out
    assert m.trend(final, [0.0, 0.5, 1.0]).decreasing(z=5)
    with pytest.raises(ValueError, match="n_betas"):
        m.trend(final, [0.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        m.trend(np.full((3, 3), np.nan), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.8, 1.0])
def test_expected_acf_matches_simulation(beta):
    n, lag = 200, 4
    seqs = ensembles.ar1_sequence(ensembles.streams(11, 300), beta, n)
    _, values = stats.acf(seqs, lag)
    expected = m.ar1_expected_acf(beta, n, lag)
    assert expected.shape == (2 * lag + 1,)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    assert np.all(np.abs(values.mean(axis=0) - expected) < 5 * se + 1e-12)


def test_expected_acf_limits():
    np.testing.assert_allclose(m.ar1_expected_acf(1.0, 50, 3), 1.0)
    e0 = m.ar1_expected_acf(0.0, 50, 3)
    np.testing.assert_allclose(e0, [0, 0, 0, 1, 0, 0, 0])
    # Long sequences: the stationary variance (1 - b) / (1 + b) times b^|tau|.
    b = 0.6
    np.testing.assert_allclose(m.ar1_expected_acf(b, 10**6, 2),
                               (1 - b) / (1 + b) * b ** np.abs(np.arange(-2, 3)), rtol=1e-4)
    with pytest.raises(ValueError, match="max_lag"):
        m.ar1_expected_acf(0.5, 5, 5)
    with pytest.raises(ValueError, match="beta"):
        m.ar1_expected_acf(1.5, 50, 3)


def test_correlograms_shapes():
    cfg = m.CorrelogramConfig(betas=(0.0, 0.5, 1.0), n_steps=50, reps=3, max_lag=2, seed=1)
    out = m.correlograms(cfg)
    assert out["acf"].shape == (3, 3, 5) and out["expected"].shape == (3, 5)
    np.testing.assert_allclose(out["shape"][1], 0.5 ** np.abs(np.arange(-2, 3)))
    with pytest.raises(ValueError, match="reps"):
        m.correlograms(dataclasses.replace(cfg, reps=1))


def test_s1_runs_and_masks():
    out = m.s1_runs(TINY_S1)
    assert list(out) == ["case1", "case2", "case3", "case3_b", "case4", "case4_b", "case5",
                         "case5_b"]
    for v in out.values():
        assert set(v) == set(m.S1_KEYS)
        assert v["t1_aln"].shape == (9, 2) and np.all(np.isnan(v["t1_aln"][0]))
    # gamma = 0.7 in case 5: |W_0|_F = 0.7 sqrt(n_h).
    np.testing.assert_allclose(out["case5"]["norm_w0"], 0.7 * np.sqrt(5.0), rtol=1e-9)
    # Cases 1 and 2 share everything up to the first redraw of E (k = 2).
    np.testing.assert_allclose(out["case1"]["w1_bt"][:2], out["case2"]["w1_bt"][:2])
    groups = m.s1_variants(TINY_S1)
    assert sorted(groups) == [2, 3] and len(groups[2]) == 5 and len(groups[3]) == 3
    mask = m.repeated_error_mask(7, 3)
    np.testing.assert_array_equal(mask, [False, True, True, False, True, True, False])
    with pytest.raises(ValueError, match="every"):
        m.repeated_error_mask(7, 0)


def test_fig4_final_marks_silent_nets():
    run = {"w1_bt": np.full((4, 2, 1, 3), 80.0), "dw0": np.full((4, 2, 1, 3), 70.0)}
    run["dw0"][1, 1, 0, 2] = np.nan
    out = m.fig4_final(run, 2)
    assert out["w1_bt"].shape == (2, 1, 3) and np.all(out["w1_bt"] == 80.0)
    assert np.isnan(out["dw0"][1, 0, 2]) and np.sum(np.isnan(out["dw0"])) == 1
    np.testing.assert_array_equal(out["silent"], [[0], [1]])


def test_grows_steadily():
    n = np.stack([np.arange(1.0, 10.0), np.r_[np.arange(1.0, 9.0), 5.0]], axis=1)
    np.testing.assert_array_equal(m.grows_steadily(n), [True, False])
    with pytest.raises(ValueError, match="checkpoints"):
        m.grows_steadily(n, 9)


def test_s1_stats():
    out = m.s1_stats(m.s1_runs(TINY_S1), TINY_S1)
    assert set(out) == {"case1", "case2", "case3", "case3_b", "case4", "case4_b", "case5",
                        "case5_b"}
    for v in out.values():
        assert all(np.shape(a) == (2,) for a in v.values())
    np.testing.assert_allclose(out["case5"]["growth_w0"], 1.0)
    assert not np.any(out["case4"]["grows"])
