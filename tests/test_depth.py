"""Unit tests of fa_lib.experiments.depth (Sec. 2.4, Fig. 5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fa_lib import ensembles, linalg
from fa_lib.experiments import depth


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def test_acute_pairs_reflects_only_obtuse_pairs(rng):
    b, wt = ensembles.angle_pairs(rng, (500, 6, 4))
    before = linalg.angle(b, wt)
    folded = depth.acute_pairs(b, wt)
    after = linalg.angle(b, folded)
    np.testing.assert_allclose(linalg.frobenius_norm(folded), 1.0, atol=1e-12)
    np.testing.assert_allclose(after, np.minimum(before, 180.0 - before), atol=1e-6)
    # The component orthogonal to B is unchanged.
    def orth(w):
        return w - linalg.frobenius_inner(w, b)[:, None, None] * b

    np.testing.assert_allclose(orth(folded), orth(wt), atol=1e-12)


def test_theta3_linear_limits(rng):
    b2 = ensembles.unit_sphere(rng, (3, 5, 4))
    b1 = ensembles.unit_sphere(rng, (3, 4, 6))
    np.testing.assert_allclose(depth.theta3_linear(b2, b2, b1, b1), 0.0, atol=1e-5)
    np.testing.assert_allclose(depth.theta3_linear(b2, b2, b1, -b1), 180.0, atol=1e-5)
    expected = linalg.angle(b2 @ b1, b2 @ (b1 + 0.3))
    np.testing.assert_allclose(depth.theta3_linear(b2, b2, b1, b1 + 0.3), expected)


def test_theta3_nonlinear_with_unit_masks_is_linear(rng):
    b2, w2t = ensembles.angle_pairs(rng, (4, 5, 3))
    b1, w1t = ensembles.angle_pairs(rng, (4, 3, 7))
    ones2, ones1 = np.ones((4, 5, 3)), np.ones((4, 5, 7))
    np.testing.assert_allclose(
        depth.theta3_nonlinear(b2, w2t, b1, w1t, ones2, ones1),
        depth.theta3_linear(b2, w2t, b1, w1t),
    )


def test_theta3_nonlinear_masks_enter_as_in_eq12(rng):
    b2, w2t = ensembles.angle_pairs(rng, (2, 5, 3))
    b1, w1t = ensembles.angle_pairs(rng, (2, 3, 7))
    d2 = (rng.standard_normal((2, 5, 3)) >= 0).astype(float)
    d1 = (rng.standard_normal((2, 5, 7)) >= 0).astype(float)
    for k in range(2):
        lhs = ((b2[k] * d2[k]) @ b1[k]) * d1[k]
        rhs = ((w2t[k] * d2[k]) @ w1t[k]) * d1[k]
        want = np.degrees(np.arccos(np.sum(lhs * rhs) / np.linalg.norm(lhs) / np.linalg.norm(rhs)))
        got = depth.theta3_nonlinear(b2[k], w2t[k], b1[k], w1t[k], d2[k], d1[k])
        assert got == pytest.approx(want, abs=1e-6)


def test_bad_shapes_raise(rng):
    b2 = np.ones((5, 3))
    b1 = np.ones((4, 6))
    with pytest.raises(ValueError, match="undefined"):
        depth.theta3_linear(b2, b2, b1, b1)
    b1 = np.ones((3, 6))
    with pytest.raises(ValueError, match="d1"):
        depth.theta3_nonlinear(b2, b2, b1, b1, np.ones((5, 3)), np.ones((3, 6)))
    with pytest.raises(ValueError, match="d2"):
        depth.theta3_nonlinear(b2, b2, b1, b1, np.ones((3, 5)), np.ones((5, 6)))
    with pytest.raises(ValueError):
        depth.draw_angles(rng, 0)
    with pytest.raises(ValueError, match="chainable"):
        depth.draw_angles(rng, 3, (5, 3), (4, 6))
    with pytest.raises(ValueError):
        depth.sample(10, 0, chunk=0)


def test_predicted_theta3_special_cases():
    t2 = np.linspace(0, 180, 7)
    np.testing.assert_allclose(depth.predicted_theta3(0.0, t2), t2, atol=1e-6)
    np.testing.assert_allclose(depth.predicted_theta3(180.0, t2), 180.0 - t2, atol=1e-6)
    np.testing.assert_allclose(depth.predicted_theta3(90.0, t2), 90.0, atol=1e-6)


def test_draw_angles_ranges_and_prediction(rng):
    full = depth.draw_angles(rng, 3000)
    acute = depth.draw_angles(rng, 3000, acute=True)
    for key in ("theta1", "theta2"):
        assert full[key].min() >= 0 and full[key].max() <= 180
        assert abs(full[key].mean() - 90) < 4  # uniform on [0, 180]: SE about 0.95
        assert acute[key].max() <= 90 + 1e-9
        assert abs(acute[key].mean() - 45) < 2  # uniform on [0, 90]: SE about 0.47
    resid = full["theta3"] - depth.predicted_theta3(full["theta1"], full["theta2"])
    assert abs(resid.mean()) < 0.2 and resid.std() < 2.5


def test_sample_is_reproducible_and_chunked():
    a = depth.sample(1234, seed=7, chunk=500, shape_b2=(6, 4), shape_b1=(4, 5))
    b = depth.sample(1234, seed=7, chunk=500, shape_b2=(6, 4), shape_b1=(4, 5))
    c = depth.sample(1234, seed=8, chunk=500, shape_b2=(6, 4), shape_b1=(4, 5))
    assert set(a) == {"theta1", "theta2", "theta3", "theta3_nonlin"}
    assert all(a[k].shape == (1234,) for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["theta3"], c["theta3"])


def test_binned_stats_known_values():
    t1 = np.array([1.0, 2.0, 6.0, 179.9, 180.0])
    t2 = np.array([1.0, 3.0, 1.0, 180.0, 180.0])
    v = np.array([10.0, 20.0, 5.0, 1.0, 3.0])
    out = depth.binned_stats(t1, t2, v, width=5.0)
    assert out["mean"].shape == (36, 36) and out["edges"].shape == (37,)
    assert out["count"][0, 0] == 2 and out["mean"][0, 0] == 15.0
    assert out["sd"][0, 0] == pytest.approx(np.std([10.0, 20.0], ddof=1))
    assert out["mean"][1, 0] == 5.0 and np.isnan(out["sd"][1, 0])
    assert out["mean"][35, 35] == 2.0  # 180 falls in the last bin
    assert np.isnan(out["mean"][10, 10])
    assert depth.pooled_sd(out) == pytest.approx(np.sqrt((50.0 + 2.0) / 2.0))
    with pytest.raises(ValueError):
        depth.binned_stats(t1, t2, v, width=7.0)


def test_bands_follow_the_authors_groups():
    t1 = np.array([3.0, 50.0, 8.0, 15.0, 82.0, 75.0, 86.0])
    t2 = np.array([60.0, 88.0, 9.0, 5.0, 89.0, 84.0, 40.0])
    b = depth.BANDS
    np.testing.assert_array_equal(b["one < 5"].mask(t1, t2), [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(b["one > 85"].mask(t1, t2), [0, 1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(b["both < 10"].mask(t1, t2), [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(b["both 10-20"].mask(t1, t2), [0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(b["both 80-90"].mask(t1, t2), [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(b["both 70-80"].mask(t1, t2), [0, 0, 0, 0, 0, 1, 0])
    assert set(depth.FIGURE_BANDS) <= set(b)


def test_claim_helpers_on_synthetic_angles():
    t1 = np.array([1.0, 2.0, 178.0, 179.0, 88.0, 89.0, 91.0, 87.0])
    t2 = np.array([30.0, 60.0, 30.0, 60.0, 89.0, 10.0, 170.0, 88.0])
    t3 = np.array([31.0, 59.0, 151.0, 119.0, 86.0, 90.5, 89.5, 90.0])
    bb = depth.below_both(t1, t2, t3)
    assert bb["events"] == 1 and bb["lowest"] == 88.0 and bb["fraction_above_85"] == 1.0
    edge = depth.edge_slice(t1, t2, t3)
    assert edge["near 0"]["n"] == 2 and edge["near 0"]["rms"] == pytest.approx(1.0)
    assert edge["near 180"]["mean"] == pytest.approx(0.0)
    mid = depth.middle_slice(t1, t2, t3)
    assert mid["max_bin_dev"] == pytest.approx(2.0)  # bin 85-90: (86 + 90) / 2
    with pytest.raises(ValueError):
        depth.edge_slice(t1[4:], t2[4:], t3[4:])


def test_band_table_columns(rng):
    hist = depth.draw_angles(rng, 4000, (6, 4), (4, 5), acute=True)
    tab = depth.band_table(hist, {k: depth.BANDS[k] for k in ("one < 5", "one > 85")})
    assert list(tab.index) == ["one < 5", "one > 85"]
    assert {"n", "mean diff", "CI99 lo", "CI99 hi", "p Welch", "SD ratio"} <= set(tab.columns)


def test_run_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FA_CACHE", raising=False)
    cfg = dataclasses.replace(depth.QUICK, n_heatmap=300, n_hist=200, chunk=128,
                              shape_b2=(6, 4), shape_b1=(4, 5))
    first = depth.run_heatmap(cfg)
    assert len(list(tmp_path.glob("depth_heatmap-*.npz"))) == 1
    again = depth.run_heatmap(cfg)
    np.testing.assert_array_equal(first["theta3"], again["theta3"])
    hist = depth.run_histograms(cfg)
    assert hist["theta1"].shape == (200,) and hist["theta1"].max() <= 90.0 + 1e-4


def test_config_scales(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "quick")
    assert depth.config() == depth.QUICK
    monkeypatch.setenv("FA_SCALE", "paper")
    cfg = depth.config()
    assert (cfg.n_heatmap, cfg.n_hist) == (500_000, 1_000_000)
    assert cfg.shape_b2 == (30, 15) and cfg.shape_b1 == (15, 40)


def test_signed_fold_maps_to_the_acute_configuration():
    t1, t2, t3 = depth.signed_fold(np.array([100.0, 30.0, 170.0]), np.array([30.0, 60.0, 120.0]),
                                   np.array([120.0, 70.0, 40.0]))
    np.testing.assert_allclose(t1, [80.0, 30.0, 10.0])
    np.testing.assert_allclose(t2, [30.0, 60.0, 60.0])
    np.testing.assert_allclose(t3, [60.0, 70.0, 40.0])  # flipped only when one factor is obtuse
    fr = depth.order_fractions(t1, t2, t3)
    assert fr["below both"] == 0.0
    assert fr["between"] == pytest.approx(2 / 3) and fr["above both"] == pytest.approx(1 / 3)
