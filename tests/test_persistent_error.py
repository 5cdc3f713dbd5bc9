"""Unit tests of fa_lib.experiments.persistent_error (Sec. 2.1, Fig. 1): a few seconds."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import linalg, terms
from fa_lib.experiments import persistent_error as pe
from fa_lib.openloop import run_openloop
from fa_lib.rule import Rule

T = linalg.transpose


def _exb(rng, lead, n_i, n_h, n_o, n_b):
    e = rng.normal(size=(*lead, n_b, n_o))
    x = rng.normal(size=(*lead, n_b, n_i))
    b = rng.normal(size=(*lead, n_o, n_h))
    return e, x, b


@pytest.mark.parametrize("n_i, n_b", [(7, 20), (40, 6)])  # both groupings of transform()
def test_transform_equals_eq27_and_is_psd(n_i, n_b):
    rng = np.random.default_rng(0)
    e, x, _ = _exb(rng, (3,), n_i, 5, 9, n_b)
    m = pe.transform(e, x)
    ref = terms.transform_matrix(e, x, x, e)
    np.testing.assert_allclose(m, ref, rtol=1e-10, atol=1e-8 * np.abs(ref).max())
    np.testing.assert_array_equal(m, T(m))
    assert np.linalg.eigvalsh(m).min() > -1e-8 * np.abs(m).max()


def test_w1_bt_angle_is_eq_s11_and_at_most_90():
    rng = np.random.default_rng(1)
    e, x, b = _exb(rng, (50,), 6, 8, 12, 5)  # n_o > n_i: many zero eigenvalues, still < 90
    m = pe.transform(e, x)
    naive = T(b) @ T(e) @ x @ T(x) @ e
    np.testing.assert_allclose(pe.w1_bt_angle(b, m), linalg.angle(T(b), naive), atol=1e-9)
    assert np.all(pe.w1_bt_angle(b, m) < 90)


def test_dw0_angle_gram_form_equals_direct_angle():
    rng = np.random.default_rng(2)
    for n_i, n_h, n_o, n_b in [(9, 4, 6, 11), (3, 7, 10, 8)]:
        e, x, b = _exb(rng, (20,), n_i, n_h, n_o, n_b)
        direct = linalg.angle(*pe.dw0_directions(x, e, b))
        np.testing.assert_allclose(pe.dw0_angle(b, pe.transform(e, x)), direct, atol=1e-6)
        assert np.all(direct <= 90)


def test_draw_condition_independent_of_chunk_and_matches_draw_one():
    dims = (12, 5, 8, 10)
    a = pe.draw_condition(3, dims, 37, checkpoints=(1, 5, 37), max_elements=10_000)
    b = pe.draw_condition(3, dims, 37, checkpoints=(1, 5, 37), max_elements=130)  # chunk 1
    for key in ("w1_bt", "dw0", "mc_err"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12)
    e, x, bb = pe.draw_one(3, dims)
    m = pe.transform(e, x)
    assert a["w1_bt"][0] == pytest.approx(float(pe.w1_bt_angle(bb, m)), abs=1e-10)
    assert a["dw0"][0] == pytest.approx(float(pe.dw0_angle(bb, m)), abs=1e-10)
    # checkpoint 1: the error of draw 0 alone
    expected = np.linalg.norm(m / (10 * 12) - np.eye(8)) / np.sqrt(8)
    assert a["mc_err"][0] == pytest.approx(expected, rel=1e-10)
    np.testing.assert_array_equal(a["mc_n"], [1, 5, 37])


def test_fixed_ex_keeps_m_and_redraws_b():
    r = pe.draw_condition(4, (6, 5, 4, 7), 30, fixed_ex=True)
    assert np.unique(np.round(r["w1_bt"], 12)).size == 30
    assert r["mc_n"].size == 0


def test_monte_carlo_mean_approaches_identity():
    r = pe.draw_condition(5, (10, 4, 5, 10), 2000, checkpoints=(20, 200, 2000))
    assert r["mc_err"][-1] < r["mc_err"][0] / 4  # ~ 1/sqrt(n): ratio sqrt(100) = 10
    assert -0.8 < pe.mc_slope(r["mc_n"], r["mc_err"]) < -0.25


def test_zero_eigenvalues_when_n_o_exceeds_n_i():
    dims = (4, 6, 10, 12)
    e, x, _ = pe.draw_one(0, dims)
    eig = pe.eigenvalues(pe.transform(e, x), dims)
    assert np.all(np.diff(eig) <= 1e-12)  # decreasing
    assert int(pe.zero_eigenvalues(eig)) == pe.expected_zero_eigenvalues(dims) == 6
    assert pe.expected_zero_eigenvalues((100, 100, 10, 100)) == 0


def test_spectral_angle_is_the_large_n_h_limit():
    rng = np.random.default_rng(5)
    e, x, b = _exb(rng, (), 15, 4000, 12, 9)  # n_o > n_b: 3 zero eigenvalues
    m = pe.transform(e, x)
    eig = np.linalg.eigvalsh(m)
    assert float(pe.spectral_angle(eig)) == pytest.approx(float(pe.w1_bt_angle(b, m)), abs=0.5)
    assert float(pe.spectral_angle(np.ones(5))) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="positive semidefinite"):
        pe.spectral_angle(np.array([1.0, -1.0]))


def test_random_transform_control_reproducible_and_near_90():
    a = pe.random_transform_angles(1, 60, size=30)
    np.testing.assert_array_equal(a, pe.random_transform_angles(1, 60, size=30))
    assert abs(a.mean() - 90) < 1.5  # SD ~ sqrt(2)/30 rad = 2.7 deg, SEM 0.35
    assert 1.5 < a.std(ddof=1) < 4.5


def test_openloop_linear_matches_run_openloop_and_converges():
    dims = (8, 6, 3, 10)
    sim = pe.openloop_linear(11, 3, 300, dims, 0.01)
    ref = run_openloop(11, 3, 300, dims[:3], dims[3], Rule(eta=0.01), activation="identity")
    np.testing.assert_allclose(sim["w1_bt"], ref["w1_bt"], atol=1e-9)
    np.testing.assert_allclose(sim["dw0"], ref["dw0"], atol=1e-9)
    assert np.all(sim["w1_limit"][-1] < sim["w1_limit"][29])
    assert np.all(sim["w0_limit"][-1] < sim["w0_limit"][29])
    assert np.all(np.abs(sim["w1_bt"][-1] - sim["asym_w1_bt"]) < 5)


def test_configs():
    assert pe.PAPER.n_draws == 10_000 and pe.PAPER.n_control == 1000
    assert max(pe.QUICK.checkpoints) <= pe.QUICK.n_draws
    assert set(pe.CONDITIONS) == {1, 2, 3, 4, 5, 6}


def test_config_follows_fa_scale(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "quick")
    assert pe.config() is pe.QUICK
    monkeypatch.setenv("FA_SCALE", "paper")
    assert pe.config() is pe.PAPER


def test_bad_inputs_raise_value_error():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="n_i, n_h, n_o, n_b"):
        pe.draw_condition(0, (1, 2, 3), 5)
    with pytest.raises(ValueError, match="n_draws must be a positive integer"):
        pe.draw_condition(0, (2, 2, 2, 2), 0)
    with pytest.raises(ValueError, match="same number of rows"):
        pe.transform(rng.normal(size=(4, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        pe.transform(np.full((4, 3), np.nan), rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="n_o x n_o"):
        pe.w1_limit(rng.normal(size=(3, 2)), rng.normal(size=(4, 4)))
    with pytest.raises(ValueError, match="cond must be one of"):
        pe.run_condition(7)
    with pytest.raises(ValueError, match="undefined"):
        pe.dw0_angle(np.zeros((3, 2)), np.eye(3))
