"""Unit tests of fa_lib.experiments.autocorrelation (small sizes, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import stats, terms
from fa_lib.experiments import autocorrelation as ac
from fa_lib.openloop import Signal, run_openloop
from fa_lib.rule import Rule

SMALL = ac.Fig2Config(n_i=12, n_h=9, n_o=6, n_b=5, draws=40, chunk=16, seed=3)


def test_config_switches_with_fa_scale(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "quick")
    assert ac.config() is ac.QUICK
    monkeypatch.setenv("FA_SCALE", "paper")
    assert ac.config() is ac.PAPER
    assert ac.PAPER["fig2"] == ac.Fig2Config(100, 100, 50, 20, 10_000, 1_000, 2021)
    f3 = ac.PAPER["fig3"]
    assert (f3.reps, f3.n_iter, f3.eta, f3.eta_text) == (30, 2000, 0.002, 0.003)


def test_masked_term_with_unit_masks_is_the_linear_term():
    rng = np.random.default_rng(0)
    n_i, n_h, n_o, n_b = 7, 6, 4, 5
    b = rng.normal(size=(n_o, n_h))
    e0, e1 = rng.normal(size=(2, n_b, n_o))
    x0, x1 = rng.normal(size=(2, n_b, n_i))
    f2, f1, gate = np.ones((n_b, n_o)), np.ones((n_b, n_h)), np.ones((n_h, n_b))
    t_nl = ac.masked_alignment_term(b, e0, x0, x1, e1, f2, f2, f1, gate, 0.3)
    t_lin = terms.linear_alignment_term(b, terms.transform_matrix(e0, x0, x1, e1), 0.3)
    np.testing.assert_allclose(t_nl, t_lin, rtol=1e-12)


def test_masked_term_matches_eq25_written_out():
    rng = np.random.default_rng(1)
    n_i, n_h, n_o, n_b = 5, 4, 3, 6
    b = rng.normal(size=(n_o, n_h))
    e0, e1 = rng.normal(size=(2, n_b, n_o))
    x0, x1 = rng.normal(size=(2, n_b, n_i))
    f2o, f2n = rng.integers(0, 2, size=(2, n_b, n_o)).astype(float)
    f1o = rng.integers(0, 2, size=(n_b, n_h)).astype(float)
    gate = rng.integers(0, 2, size=(n_h, n_b)).astype(float)
    d2o, d2n = e0 * f2o, e1 * f2n
    expected = 0.5 * ((gate * (0.5 * ((d2o @ b) * f1o).T @ x0 @ x1.T)) @ d2n)
    got = ac.masked_alignment_term(b, e0, x0, x1, e1, f2o, f2n, f1o, gate, 0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_masked_term_rejects_bad_gate_and_eta():
    z = np.zeros
    with pytest.raises(ValueError, match="gate"):
        ac.masked_alignment_term(z((2, 3)), z((4, 2)), z((4, 5)), z((4, 5)), z((4, 2)),
                                 z((4, 2)), z((4, 2)), z((4, 3)), z((4, 3)))
    with pytest.raises(ValueError, match="eta"):
        ac.masked_alignment_term(z((2, 3)), z((4, 2)), z((4, 5)), z((4, 5)), z((4, 2)),
                                 z((4, 2)), z((4, 2)), z((4, 3)), z((3, 4)), eta=0)


def test_fig2_condition_shapes_and_chunk_independence():
    a = ac.fig2_condition(3, SMALL)
    b = ac.fig2_condition(3, ac.Fig2Config(**{**SMALL.__dict__, "chunk": SMALL.draws}))
    for key in ("linear", "sym", "skew", "ratio", "nonlinear", "nonlinear_shared"):
        assert a[key].shape == (SMALL.draws,)
        np.testing.assert_allclose(a[key], b[key])
    assert a["mean_m"].shape == (SMALL.n_o, SMALL.n_o)
    assert a["eig"].shape == (SMALL.n_o,) and np.all(np.diff(a["eig"]) <= 0)


def test_skew_part_is_orthogonal_exactly_eq31():
    out = ac.fig2_condition(1, SMALL)
    np.testing.assert_allclose(out["skew"], 90.0, atol=1e-9)


def test_condition2_repeats_e_and_condition6_gives_all_ones_m():
    out6 = ac.fig2_condition(6, SMALL)
    assert np.all(np.isnan(out6["skew"])) and np.all(out6["ratio"] == 0)
    np.testing.assert_allclose(out6["sym"], out6["linear"])
    n = SMALL
    np.testing.assert_allclose(out6["mean_m"], n.n_b**2 * n.n_i * np.ones((n.n_o, n.n_o)))
    top = n.n_b**2 * n.n_i * n.n_o
    np.testing.assert_allclose(out6["eig"][0], top)
    assert np.all(np.abs(out6["eig"][1:]) < 1e-9 * top)
    # Cond. 2 (E[1] = E[0]) differs from Cond. 1 only in that repetition.
    lin1, lin2 = (ac.fig2_condition(c, SMALL)["linear"] for c in (1, 2))
    assert not np.allclose(lin1, lin2)


def test_condition_lookup_and_dist_validation():
    assert ac.condition(4).b == ac.Dist("normal", 0.5)
    with pytest.raises(ValueError, match="1-6"):
        ac.condition(7)
    with pytest.raises(ValueError, match="kind"):
        ac.Dist("laplace")
    means = [ac.Dist("normal", 0.5).mean, ac.Dist("uniform").mean, ac.Dist("ones").mean]
    assert means == [0.5, 0.5, 1]


def test_expected_transform_matrix_value():
    m = ac.expected_transform_matrix(0.5, 0.5, 100, 20, 3)
    np.testing.assert_allclose(m, 0.0625 * 100 * 20**2 * np.ones((3, 3)))
    with pytest.raises(ValueError):
        ac.expected_transform_matrix(0.5, 0.5, 0, 20, 3)


def test_relu_mask_angles_near_45_and_theory():
    ang = ac.relu_mask_angles(ac.MaskConfig(size=40, draws=60, chunk=25, seed=1))
    mean, sd = ac.relu_mask_theory(40 * 40)
    assert mean == pytest.approx(45.0)
    assert sd == pytest.approx(np.degrees(np.sqrt(3 / (4 * 1600))))
    assert abs(ang.mean() - 45) < 4 * sd / np.sqrt(ang.size) + 0.05
    with pytest.raises(ValueError):
        ac.relu_mask_theory(10, p=1.0)


def test_openloop_traces_match_run_openloop():
    args = (5, 3, 40, (12, 9, 4), 8)
    mine = ac.openloop_traces(*args, 0.01, Signal(), Signal(every=2))
    ref = run_openloop(*args, Rule(eta=0.01), x=Signal(), e=Signal(every=2))
    for key in ("w1_bt", "dw0", "norm_w1"):
        np.testing.assert_allclose(mine[key], ref[key])
    assert not mine["dead"].any()


def test_openloop_traces_dead_net_gives_nan_not_error():
    # E = -100 on every entry: every output unit goes silent, delta_2 = 0 from then on.
    class Negative(Signal):
        def start(self, rng, shape):
            return lambda k: -100.0 * np.ones((len(rng), *shape))

    out = ac.openloop_traces(0, 2, 30, (6, 5, 3), 4, 0.5, Signal(), Negative())
    assert out["dead"][-1].all() and np.isnan(out["dw0"][-1]).all()
    assert np.all(np.isfinite(out["w1_bt"]))


def test_band_and_final_angles():
    tr = np.array([[1.0, 3.0], [np.nan, 5.0], [3.0, np.nan]])
    mean, sem, n = ac.band(tr)
    np.testing.assert_allclose(mean, [2.0, 5.0, 3.0])
    assert np.isnan(sem[1]) and list(n) == [2, 1, 1]
    sm = ac.nan_moving_average(tr, 2)
    np.testing.assert_allclose(sm, [[1.0, 3.0], [1.0, 4.0], [3.0, 5.0]])
    np.testing.assert_allclose(ac.nan_moving_average(np.arange(5.0)[:, None], 60)[:, 0],
                               stats.moving_average(np.arange(5.0), 60))
    fin = ac.final_angles({"w1_bt": tr, "dw0": tr}, 2)
    np.testing.assert_allclose(fin["dw0"], [3.0, 5.0])
    with pytest.raises(ValueError):
        ac.band(np.zeros(3))

