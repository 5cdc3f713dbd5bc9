"""Statistics used by the chapters: ACF (eq. 34), moving average, SD, SEM and t-tests.

Every chapter takes its t-tests (one-sample, paired, Welch), SEMs and SD intervals from
here, so that one definition serves the whole book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from fa_lib import _checks


def acf(signal: np.ndarray, max_lag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation function of a signal, without mean removal (eq. 34).

    ``ACF(tau) = 1/(N - |tau|) sum_{k=1}^{N-|tau|} S[k] S[k + |tau|]``.

    Parameters
    ----------
    signal : ndarray, shape (..., N)
        Signals along the last axis; leading axes (e.g. repetitions) are kept.
    max_lag : int, optional
        Largest |tau| returned (default ``N - 1``).

    Returns
    -------
    lags : ndarray, shape (2 * max_lag + 1,)
        ``-max_lag .. max_lag``.
    values : ndarray, shape (..., 2 * max_lag + 1)
        The ACF at each lag (symmetric in tau).
    """
    s = _checks.finite("signal", _checks.ndim_at_least("signal", signal, 1))
    n = s.shape[-1]
    if n < 2:
        raise ValueError(f"signal must have at least 2 samples; got {n}.")
    max_lag = n - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < n:
        raise ValueError(
            f"max_lag must lie in [0, {n - 1}] for a signal of length {n}; got {max_lag}."
        )
    # Products summed by FFT (zero-padded to avoid wrap-around), then divided by N - |tau|.
    size = 1 << int(np.ceil(np.log2(2 * n - 1)))
    f = np.fft.rfft(s, size, axis=-1)
    raw = np.fft.irfft(f * np.conj(f), size, axis=-1)[..., : max_lag + 1]
    pos = raw / (n - np.arange(max_lag + 1))
    values = np.concatenate([pos[..., :0:-1], pos], axis=-1)
    return np.arange(-max_lag, max_lag + 1), values


def moving_average(x: np.ndarray, length: int = 60, axis: int = -1) -> np.ndarray:
    """Causal moving average of ``length`` samples along ``axis`` (Methods 4.7).

    Sample ``k`` is the mean of samples ``max(0, k - length + 1) .. k``: the first
    ``length - 1`` values average over the samples available so far, so the output
    has the input's length.

    Parameters
    ----------
    x : ndarray
        Traces (NaN or Inf not allowed).
    length : int
        Window length (the paper uses 60).
    axis : int
        Axis of the iterations.
    """
    x = _checks.finite("x", x)
    if isinstance(length, bool) or int(length) != length or int(length) < 1:
        raise ValueError(f"length must be a positive integer; got {length!r}.")
    length = int(length)
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    c = np.cumsum(x, axis=-1)
    out = c.copy()
    out[..., length:] = c[..., length:] - c[..., :-length]
    counts = np.minimum(np.arange(1, x.shape[-1] + 1), length)
    return np.moveaxis(out / counts, -1, axis)


def sem(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean along ``axis`` (sample SD with ddof = 1, over sqrt(n))."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"SEM needs at least 2 samples along axis {axis}; got {n}.")
    return np.std(x, axis=axis, ddof=1) / np.sqrt(n)


def nan_moving_average(traces: np.ndarray, length: int) -> np.ndarray:
    """Causal moving average along axis 0 that skips NaN samples.

    Like :func:`fa_lib.stats.moving_average` (Methods 4.7): sample ``k`` is the mean
    of the available (non-NaN) samples among ``k - length + 1 .. k``; NaN if none.
    """
    x = np.asarray(traces, dtype=float)
    if int(length) < 1:
        raise ValueError(f"length must be a positive integer; got {length!r}.")
    ok = ~np.isnan(x)
    c = np.cumsum(np.where(ok, x, 0.0), axis=0)
    n = np.cumsum(ok, axis=0).astype(float)
    c[length:] = c[length:] - c[:-length].copy()
    n[length:] = n[length:] - n[:-length].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, c / np.where(n > 0, n, 1.0), np.nan)


def mean_sem(
    traces: np.ndarray, smooth: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ± SEM over repetitions at each iteration, skipping NaN repetitions.

    Parameters
    ----------
    traces : ndarray, shape (n_iter, R)
    smooth : int, optional
        Moving-average length applied to each repetition first (:func:`nan_moving_average`).

    Returns
    -------
    mean, sem, n : ndarray, shape (n_iter,)
        ``sem`` is NaN where fewer than two repetitions have a value.
    """
    x = np.asarray(traces, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"traces must be n_iter x R; got shape {x.shape}.")
    if smooth:
        x = nan_moving_average(x, smooth)
    n = np.sum(~np.isnan(x), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(x, axis=1) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isnan(x), 0.0, x - mean[:, None])
        sd = np.sqrt(np.sum(dev**2, axis=1) / np.maximum(n - 1, 1))
        sem = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, sem, n


@dataclass(frozen=True)
class TTest:
    """Result of a t-test, with the descriptive numbers the chapters report."""

    mean: float
    sd: float
    n: int
    t: float
    p: float
    ci99: tuple[float, float]
    """99% confidence interval of the mean (one-sample) or of the difference (two-sample)."""

    def __str__(self) -> str:  # noqa: D105
        return (
            f"mean {self.mean:.3f}, SD {self.sd:.3f}, n = {self.n}, t = {self.t:.3f}, "
            f"p = {self.p:.3g}, 99% CI [{self.ci99[0]:.3f}, {self.ci99[1]:.3f}]"
        )

    @property
    def sem(self) -> float:
        """Standard error of the mean: ``sd / sqrt(n)``."""
        return float(self.sd / np.sqrt(self.n))

    def sems_below(self, target: float) -> float:
        """How many standard errors the mean lies below ``target`` (negative: above)."""
        return float((target - self.mean) / self.sem)


def ttest_1samp(x: np.ndarray, popmean: float, *, finite_only: bool = False) -> TTest:
    """One-sample two-sided t-test of ``mean(x) == popmean``.

    Parameters
    ----------
    x : array_like
        The samples (flattened).
    popmean : float
        The mean under the null hypothesis.
    finite_only : bool
        Test only the finite values of ``x`` (e.g. leave out dead nets, whose angle is
        NaN); by default NaN or Inf is a ValueError.

    Returns
    -------
    TTest
        The mean, SD, n, t, p and the 99% confidence interval of the mean.
    """
    if finite_only:
        x = np.asarray(x, dtype=float).ravel()
        x = x[np.isfinite(x)]
    x = _checks.finite("x", np.ravel(x)).astype(float)
    if x.size < 2:
        raise ValueError(f"a t-test needs at least 2 samples; got {x.size}.")
    res = _st.ttest_1samp(x, popmean)
    m, s = float(np.mean(x)), float(np.std(x, ddof=1))
    half = float(_st.t.ppf(0.995, x.size - 1)) * s / np.sqrt(x.size)
    return TTest(
        m,
        s,
        int(x.size),
        float(res.statistic),
        float(res.pvalue),
        (float(m - half), float(m + half)),
    )


def ttest_ind(x: np.ndarray, y: np.ndarray) -> TTest:
    """Two-sample two-sided Welch t-test of ``mean(x) == mean(y)``.

    ``mean`` is the difference ``mean(x) - mean(y)``, ``sd`` the pooled SD,
    ``n`` the total sample size, ``ci99`` the Welch 99% interval of the difference.
    """
    x = _checks.finite("x", np.ravel(x)).astype(float)
    y = _checks.finite("y", np.ravel(y)).astype(float)
    if x.size < 2 or y.size < 2:
        raise ValueError(f"a t-test needs at least 2 samples per group; got {x.size} and {y.size}.")
    res = _st.ttest_ind(x, y, equal_var=False)
    vx, vy = np.var(x, ddof=1) / x.size, np.var(y, ddof=1) / y.size
    se = np.sqrt(vx + vy)
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    d = float(np.mean(x) - np.mean(y))
    half = float(_st.t.ppf(0.995, dof) * se)
    pooled = float(np.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2))
    return TTest(
        d,
        pooled,
        int(x.size + y.size),
        float(res.statistic),
        float(res.pvalue),
        (float(d - half), float(d + half)),
    )


def paired(a: np.ndarray, b: np.ndarray, *, finite_only: bool = False) -> TTest:
    """One-sample t-test of the paired differences ``a - b`` against 0.

    Runs with the same seed and repetition share their initial weights and data, so the
    difference between two variants is taken run by run (``a[r] - b[r]``).

    Parameters
    ----------
    a, b : array_like
        Per-run values of the same shape.
    finite_only : bool
        Test only the pairs where both values are finite (e.g. leave out a network whose
        units all fell silent, so that its angle is undefined); by default NaN or Inf is
        a ValueError.

    Returns
    -------
    TTest
        ``mean`` is the mean difference, ``ci99`` its 99% confidence interval.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    _checks.same_shape(("a", "b"), a, b)
    return ttest_1samp(a - b, 0.0, finite_only=finite_only)


def sample_sd(x: np.ndarray) -> float:
    """Sample SD (ddof = 1) of the flattened ``x``; NaN for fewer than two values."""
    x = np.ravel(x)
    return float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")


def sd_ci99(x: np.ndarray) -> tuple[float, float]:
    """99% confidence interval of the SD of normal data (chi-square interval).

    Non-finite values of ``x`` are left out; at least two finite values are needed.
    """
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError(f"need at least 2 finite values; got {x.size}.")
    n, s = x.size, float(np.std(x, ddof=1))
    lo = s * np.sqrt((n - 1) / _st.chi2.ppf(0.995, n - 1))
    hi = s * np.sqrt((n - 1) / _st.chi2.ppf(0.005, n - 1))
    return float(lo), float(hi)


@dataclass(frozen=True)
class SDRatio:
    """Ratio of two sample SDs with its confidence interval."""

    ratio: float
    """``sd(x) / sd(y)``."""
    ci: tuple[float, float]
    """Confidence interval of the ratio (F distribution, normal samples)."""
    level: float


def sd_ratio(x: np.ndarray, y: np.ndarray, level: float = 0.99) -> SDRatio:
    """``sd(x) / sd(y)`` with the F-distribution confidence interval of the ratio.

    ``(s_x^2 / s_y^2) / (sigma_x^2 / sigma_y^2)`` is F(n_x - 1, n_y - 1) for normal
    samples; the interval is the square root of the variance-ratio interval.
    """
    x = _checks.finite("x", np.ravel(x)).astype(float)
    y = _checks.finite("y", np.ravel(y)).astype(float)
    if x.size < 2 or y.size < 2:
        raise ValueError(f"need >= 2 samples each; got {x.size} and {y.size}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level!r}.")
    vr = np.var(x, ddof=1) / np.var(y, ddof=1)
    a = (1 - level) / 2
    f_hi = _st.f.ppf(1 - a, x.size - 1, y.size - 1)
    f_lo = _st.f.ppf(a, x.size - 1, y.size - 1)
    ci = (float(np.sqrt(vr / f_hi)), float(np.sqrt(vr / f_lo)))
    return SDRatio(float(np.sqrt(vr)), ci, level)


def beyond(test: TTest, margin: float) -> str:
    """Decide "the mean exceeds ``margin``" from a test's 99% confidence interval.

    Returns
    -------
    str
        ``"supported"`` when the whole interval lies above ``margin``, ``"rejected"`` when
        it lies below, ``"undecided"`` when it contains ``margin``.
    """
    lo, hi = test.ci99
    return "supported" if lo > margin else "rejected" if hi < margin else "undecided"


def within(test: TTest, margin: float) -> str:
    """Decide "the mean lies within ``±margin``" from a test's 99% confidence interval.

    Returns
    -------
    str
        ``"supported"`` when the whole interval lies inside ``(-margin, margin)``,
        ``"rejected"`` when it lies wholly outside, ``"undecided"`` otherwise.
    """
    lo, hi = test.ci99
    if -margin < lo and hi < margin:
        return "supported"
    return "rejected" if lo > margin or hi < -margin else "undecided"
