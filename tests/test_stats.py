"""Tests of fa_lib.stats: ACF (eq. 34), moving average (Methods 4.7), SD, SEM and t-tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from fa_lib import stats


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _acf_loop(s: np.ndarray, tau: int) -> float:
    """Eq. 34 written out: 1/(N - |tau|) sum_{k=1}^{N-|tau|} S[k] S[k + |tau|]."""
    n, t = len(s), abs(tau)
    total = 0.0
    for k in range(n - t):
        total += s[k] * s[k + t]
    return total / (n - t)


# ---------------------------------------------------------------- ACF (eq. 34)


@pytest.mark.parametrize("n", [2, 3, 17, 64, 100])
def test_acf_matches_a_direct_loop(rng, n):
    s = rng.normal(loc=0.3, size=n)  # a non-zero mean: eq. 34 does not remove it
    lags, values = stats.acf(s)
    np.testing.assert_array_equal(lags, np.arange(-(n - 1), n))
    expected = [_acf_loop(s, int(t)) for t in lags]
    np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-12)


def test_acf_with_max_lag_and_leading_axes(rng):
    s = rng.normal(size=(3, 4, 40))
    lags, values = stats.acf(s, max_lag=8)
    np.testing.assert_array_equal(lags, np.arange(-8, 9))
    assert values.shape == (3, 4, 17)
    for i in range(3):
        for j in range(4):
            expected = [_acf_loop(s[i, j], int(t)) for t in lags]
            np.testing.assert_allclose(values[i, j], expected, rtol=1e-10, atol=1e-12)


def test_acf_is_symmetric_in_tau(rng):
    _, values = stats.acf(rng.normal(size=(5, 33)))
    np.testing.assert_array_equal(values, values[..., ::-1])


def test_acf_at_lag_zero_is_the_mean_square(rng):
    s = rng.normal(size=50)
    lags, values = stats.acf(s, max_lag=3)
    assert values[lags == 0][0] == pytest.approx(np.mean(s * s), rel=1e-12)


def test_acf_of_a_constant_is_flat():
    _, values = stats.acf(np.full(20, 2.0))
    np.testing.assert_allclose(values, 4.0, rtol=1e-12)


def test_acf_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.acf(np.ones(1))
    with pytest.raises(ValueError, match="max_lag must lie in"):
        stats.acf(np.ones(5), max_lag=5)
    with pytest.raises(ValueError, match="max_lag must lie in"):
        stats.acf(np.ones(5), max_lag=-1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.acf(np.array([1.0, np.nan, 2.0]))


# ---------------------------------------------------------------- moving average


def _moving_average_loop(x: np.ndarray, length: int) -> np.ndarray:
    out = np.empty(len(x))
    for k in range(len(x)):
        out[k] = np.mean(x[max(0, k - length + 1) : k + 1])
    return out


@pytest.mark.parametrize("length", [1, 2, 5, 60, 200])
def test_moving_average_matches_a_direct_loop(rng, length):
    x = rng.normal(size=150)
    np.testing.assert_allclose(
        stats.moving_average(x, length), _moving_average_loop(x, length), rtol=1e-10, atol=1e-12
    )


def test_moving_average_default_length_is_60(rng):
    x = rng.normal(size=100)
    np.testing.assert_allclose(stats.moving_average(x), _moving_average_loop(x, 60), atol=1e-12)


def test_moving_average_along_an_axis(rng):
    x = rng.normal(size=(80, 3))  # iterations x repetitions, as run_openloop returns
    out = stats.moving_average(x, 7, axis=0)
    assert out.shape == x.shape
    for r in range(3):
        np.testing.assert_allclose(out[:, r], _moving_average_loop(x[:, r], 7), atol=1e-12)


def test_moving_average_accepts_an_integral_float_length(rng):
    x = rng.normal(size=30)
    np.testing.assert_allclose(stats.moving_average(x, 5.0), stats.moving_average(x, 5))


def test_moving_average_rejects_bad_input():
    with pytest.raises(ValueError, match="length must be a positive integer"):
        stats.moving_average(np.ones(5), 0)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        stats.moving_average(np.ones(5), 2.5)
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.moving_average(np.array([1.0, np.inf]), 2)


# ---------------------------------------------------------------- SEM and t-tests


def test_sem_matches_scipy(rng):
    x = rng.normal(size=(30, 4))
    np.testing.assert_allclose(stats.sem(x), st.sem(x, axis=0))
    np.testing.assert_allclose(stats.sem(x, axis=1), st.sem(x, axis=1))
    assert stats.sem(np.array([1.0, 3.0])) == pytest.approx(1.0)  # SD sqrt(2) over sqrt(2)


def test_sem_rejects_a_single_sample():
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.sem(np.ones((1, 3)))


def test_ttest_1samp_matches_scipy(rng):
    x = rng.normal(loc=89.8, scale=1.3, size=400)
    res = stats.ttest_1samp(x, 90.0)
    ref = st.ttest_1samp(x, 90.0)
    assert res.t == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.mean == pytest.approx(np.mean(x))
    assert res.sd == pytest.approx(np.std(x, ddof=1))
    assert res.n == 400
    ci = ref.confidence_interval(0.99)
    assert res.ci99 == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert "n = 400" in str(res)


def test_ttest_ind_matches_scipy_welch(rng):
    x = rng.normal(loc=1.0, scale=1.0, size=50)
    y = rng.normal(loc=0.6, scale=2.0, size=80)
    res = stats.ttest_ind(x, y)
    ref = st.ttest_ind(x, y, equal_var=False)
    assert res.t == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.mean == pytest.approx(np.mean(x) - np.mean(y))
    assert res.n == 130
    ci = ref.confidence_interval(0.99)
    assert res.ci99 == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_ttests_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.ttest_1samp(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="at least 2 samples per group"):
        stats.ttest_ind(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.ttest_1samp(np.array([1.0, np.nan, 2.0]), 0.0)


def test_ttest_1samp_finite_only_leaves_out_nan_and_inf(rng):
    x = rng.normal(loc=89.0, size=50)
    with_bad = np.concatenate([x[:20], [np.nan, np.inf], x[20:], [-np.inf]])
    res = stats.ttest_1samp(with_bad, 90.0, finite_only=True)
    ref = stats.ttest_1samp(x, 90.0)
    assert res == ref and res.n == 50
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.ttest_1samp(np.array([1.0, np.nan]), 0.0, finite_only=True)


def test_ttest_sem_and_sems_below():
    x = np.array([86.0, 88.0, 90.0, 92.0])  # mean 89, SD sqrt(20/3)
    res = stats.ttest_1samp(x, 90.0)
    sem = np.sqrt(20.0 / 3.0) / 2.0
    assert res.sem == pytest.approx(sem, rel=1e-12)
    assert res.sem == pytest.approx(st.sem(x), rel=1e-12)
    assert res.sems_below(90.0) == pytest.approx(1.0 / sem, rel=1e-12)
    assert res.sems_below(88.0) == pytest.approx(-1.0 / sem, rel=1e-12)
    assert res.t == pytest.approx(-res.sems_below(90.0), rel=1e-12)


def test_paired_is_the_one_sample_test_of_the_differences(rng):
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.5, 2.0, 3.5])
    res = stats.paired(a, b)
    assert res.n == 4 and res.mean == pytest.approx(0.75)
    ref = st.ttest_rel(a, b)
    assert res.t == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-10)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert stats.paired(x, y) == stats.ttest_1samp(x - y, 0.0)
    with pytest.raises(ValueError, match="shapes"):
        stats.paired(a, b[:3])


def test_sample_sd():
    assert stats.sample_sd(np.array([1.0, 3.0])) == pytest.approx(np.sqrt(2.0))
    assert stats.sample_sd([[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert np.isnan(stats.sample_sd(np.array([5.0])))
    assert np.isnan(stats.sample_sd(np.array([])))


def test_sd_ci99_covers_the_sample_sd_and_matches_the_chi_square_interval(rng):
    x = rng.normal(0.0, 2.0, 400)
    lo, hi = stats.sd_ci99(np.append(x, np.nan))
    s, n = np.std(x, ddof=1), 400
    assert lo == pytest.approx(s * np.sqrt((n - 1) / st.chi2.ppf(0.995, n - 1)), rel=1e-12)
    assert hi == pytest.approx(s * np.sqrt((n - 1) / st.chi2.ppf(0.005, n - 1)), rel=1e-12)
    assert lo < s < hi and lo < 2.0 < hi
    with pytest.raises(ValueError, match="at least 2 finite values"):
        stats.sd_ci99(np.array([1.0, np.nan]))


def test_sd_ratio():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 2, 4000), rng.normal(0, 1, 4000)
    r = stats.sd_ratio(x, y)
    assert r.ci[0] < r.ratio < r.ci[1]
    assert r.ci[0] < 2 < r.ci[1]
    assert r.ratio == pytest.approx(x.std(ddof=1) / y.std(ddof=1))
    assert r.level == 0.99


def test_sd_ratio_rejects_bad_input():
    with pytest.raises(ValueError, match="level"):
        stats.sd_ratio([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], level=1.5)
    with pytest.raises(ValueError, match=">= 2 samples"):
        stats.sd_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.sd_ratio([1.0, np.nan], [1.0, 2.0])
