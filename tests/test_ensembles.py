"""Tests of fa_lib.ensembles: streams, random matrices, AR(1) processes (eqs. 6-7), n-hot codes."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import ensembles, linalg, stats

# ---------------------------------------------------------------- streams


def test_streams_are_reproducible_and_independent():
    a = [g.normal(size=4) for g in ensembles.streams(3, 5)]
    b = [g.normal(size=4) for g in ensembles.streams(3, 5)]
    np.testing.assert_array_equal(a, b)
    assert len({tuple(x) for x in a}) == 5  # five different streams
    c = [g.normal(size=4) for g in ensembles.streams(4, 5)]
    assert not np.array_equal(a, c)


def test_stream_r_does_not_depend_on_how_many_are_spawned():
    few = ensembles.streams(11, 2)
    many = ensembles.streams(11, 9)
    for r in range(2):
        np.testing.assert_array_equal(few[r].normal(size=6), many[r].normal(size=6))


def test_streams_rejects_zero():
    with pytest.raises(ValueError, match=r"number of streams\) must be a whole number >= 1"):
        ensembles.streams(0, 0)


# ---------------------------------------------------------------- stacked draws


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: ensembles.normal(rng, (4, 3), loc=0.5),
        lambda rng: ensembles.uniform(rng, (4, 3)),
        lambda rng: ensembles.unit_sphere(rng, (2, 4, 3)),
        lambda rng: np.stack(ensembles.angle_pairs(rng, (6, 4, 3)), axis=-3),
    ],
    ids=["normal", "uniform", "unit_sphere", "angle_pairs"],
)
def test_stacked_draw_equals_each_stream_alone(draw):
    stacked = draw(ensembles.streams(5, 3))
    assert stacked.shape[0] == 3
    for r in range(3):
        alone = draw(ensembles.streams(5, 3)[r])
        np.testing.assert_array_equal(stacked[r], alone)


def test_draws_reject_bad_input():
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        ensembles.normal(g, (2, 2), scale=0.0)
    with pytest.raises(ValueError, match="high > low"):
        ensembles.uniform(g, (2, 2), low=1.0, high=1.0)
    with pytest.raises(ValueError, match="shape needs >= 2 axes"):
        ensembles.unit_sphere(g, (3,))
    with pytest.raises(ValueError, match="non-empty sequence"):
        ensembles.normal([], (2, 2))


def test_normal_moments_and_dtype():
    x = ensembles.normal(np.random.default_rng(1), (400, 500), loc=0.5, scale=2.0, dtype=np.float32)
    assert x.dtype == np.float32
    assert np.mean(x) == pytest.approx(0.5, abs=0.02)
    assert np.std(x) == pytest.approx(2.0, abs=0.02)


def test_unit_sphere_has_unit_norm():
    a = ensembles.unit_sphere(np.random.default_rng(2), (50, 30, 15))
    np.testing.assert_allclose(linalg.frobenius_norm(a), 1.0, rtol=1e-12)


def test_angle_pairs_are_unit_and_uniform_in_angle():
    b, wt = ensembles.angle_pairs(np.random.default_rng(3), (20000, 3, 4))
    np.testing.assert_allclose(linalg.frobenius_norm(b), 1.0, rtol=1e-12)
    np.testing.assert_allclose(linalg.frobenius_norm(wt), 1.0, rtol=1e-12)
    ang = linalg.angle(b, wt)
    # uniform on [0, 180]: mean 90, SD 180/sqrt(12) = 51.96; each 30-degree bin holds 1/6
    assert np.mean(ang) == pytest.approx(90.0, abs=1.5)
    assert np.std(ang) == pytest.approx(180 / np.sqrt(12), abs=1.0)
    counts, _ = np.histogram(ang, bins=6, range=(0, 180))
    np.testing.assert_allclose(counts / ang.size, 1 / 6, atol=0.012)


# ---------------------------------------------------------------- AR(1) (eqs. 6-7)


def _normalised_acf(seq: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ACF (eq. 34) over the first axis, averaged over the others, divided by ACF(0)."""
    series = np.moveaxis(seq.reshape(seq.shape[0], -1), 0, -1)  # (n_series, N)
    lags, values = stats.acf(series, max_lag=max_lag)
    mean = values.mean(axis=0)
    return lags[max_lag:], mean[max_lag:] / mean[max_lag]


def test_ar1_sequence_has_the_theoretical_acf():
    beta, n_steps, burn, max_lag, tol = 0.8, 10000, 100, 12, 0.02
    seq = ensembles.ar1_sequence(np.random.default_rng(42), beta, n_steps, shape=(20,))
    assert seq.shape == (n_steps, 20)
    lags, shape = _normalised_acf(seq[burn:], max_lag)
    err = np.abs(shape - beta ** lags.astype(float))
    assert np.max(err) < tol, err
    # the tolerance is tight enough that a wrong coefficient would be caught
    for wrong in (0.75, 0.85):
        assert np.max(np.abs(shape - wrong ** lags.astype(float))) > 2 * tol
    # eq. 6 scales the innovation by (1 - beta): stationary variance (1 - beta) / (1 + beta)
    assert np.var(seq[burn:]) == pytest.approx((1 - beta) / (1 + beta), rel=0.05)


def test_ar1_beta_zero_is_white_and_beta_one_is_constant():
    g = np.random.default_rng(9)
    white = ensembles.ar1_sequence(g, 0.0, 4000, shape=(10,))
    lags, shape = _normalised_acf(white, 5)
    assert np.max(np.abs(shape[1:])) < 0.03
    const = ensembles.ar1_sequence(g, 1.0, 50, shape=(3, 4))
    np.testing.assert_array_equal(const, np.broadcast_to(const[0], const.shape))


def test_ar1_mean_converges_to_loc():
    seq = ensembles.ar1_sequence(np.random.default_rng(5), 0.5, 3000, shape=(10,), loc=0.5)
    assert np.mean(seq[100:]) == pytest.approx(0.5, abs=0.02)


def test_ar1_stacked_equals_alone_and_class_matches_sequence():
    stacked = ensembles.ar1_sequence(ensembles.streams(8, 3), 0.6, 30, shape=(2, 3))
    assert stacked.shape == (3, 30, 2, 3)
    for r in range(3):
        alone = ensembles.ar1_sequence(ensembles.streams(8, 3)[r], 0.6, 30, shape=(2, 3))
        np.testing.assert_array_equal(stacked[r], alone)
    proc = ensembles.AR1(ensembles.streams(8, 3)[0], 0.6, (2, 3))
    steps = [proc.value] + [proc.step() for _ in range(29)]
    np.testing.assert_array_equal(np.stack(steps), stacked[0])


@pytest.mark.parametrize("beta", [-0.1, 1.01, 2.0, np.nan])
def test_ar1_rejects_beta_outside_unit_interval(beta):
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        ensembles.AR1(g, beta, (2, 2))
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        ensembles.ar1_sequence(g, beta, 10)


def test_ar1_sequence_rejects_no_steps():
    with pytest.raises(ValueError, match="n_steps must be a whole number >= 1"):
        ensembles.ar1_sequence(np.random.default_rng(0), 0.5, 0)


# ---------------------------------------------------------------- n-hot codes (Methods 4.9)


@pytest.mark.parametrize(
    ("n_classes", "m", "n"), [(10, 50, 5), (10, 100, 10), (10, 50, 1), (5, 5, 1)]
)
def test_n_hot_codes_are_mutually_exclusive(n_classes, m, n):
    codes = ensembles.n_hot_codes(np.random.default_rng(1), n_classes, m, n)
    assert codes.shape == (n_classes, m)
    assert set(np.unique(codes)) <= {0.0, 1.0}
    np.testing.assert_array_equal(codes.sum(axis=1), n)  # exactly n ones each
    assert np.all(codes.sum(axis=0) <= 1)  # no unit shared by two classes
    overlap = codes @ codes.T
    np.testing.assert_array_equal(overlap, n * np.eye(n_classes))


def test_n_hot_codes_are_seed_reproducible():
    a = ensembles.n_hot_codes(np.random.default_rng(123), 10, 50, 5)
    b = ensembles.n_hot_codes(np.random.default_rng(123), 10, 50, 5)
    c = ensembles.n_hot_codes(np.random.default_rng(124), 10, 50, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_n_hot_codes_reject_too_many_ones():
    with pytest.raises(ValueError, match=r"n \* C = 55 <= m output units; got m = 50"):
        ensembles.n_hot_codes(np.random.default_rng(0), 11, 50, 5)
    with pytest.raises(ValueError, match="n must be a whole number >= 1; got 0"):
        ensembles.n_hot_codes(np.random.default_rng(0), 10, 50, 0)


# ------------------------------------------------------------------ bad inputs (issue 18, item 8)


def test_n_hot_codes_rejects_a_non_integer_size_instead_of_truncating():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^n must be a whole number >= 1; got 2\.7\.$"):
        ensembles.n_hot_codes(rng, 3, 20, 2.7)
    with pytest.raises(ValueError, match=r"^m must be a whole number >= 1; got 20\.5\.$"):
        ensembles.n_hot_codes(rng, 3, 20.5, 2)
    with pytest.raises(ValueError, match=r"^n_classes must be a whole number >= 1; got 0\.$"):
        ensembles.n_hot_codes(rng, 0, 20, 2)
    with pytest.raises(TypeError, match=r"n must be a whole number >= 1; got '2' \(str\)"):
        ensembles.n_hot_codes(rng, 3, 20, "2")
    # An integral float is a whole number: the same codes as the int.
    np.testing.assert_array_equal(ensembles.n_hot_codes(np.random.default_rng(1), 3, 20.0, 2.0),
                                  ensembles.n_hot_codes(np.random.default_rng(1), 3, 20, 2))


@pytest.mark.parametrize("rng", [[np.random.default_rng(0)], [], 42, None])
def test_n_hot_codes_rejects_anything_but_one_generator(rng):
    with pytest.raises(TypeError, match=r"^rng must be a numpy\.random\.Generator") as err:
        ensembles.n_hot_codes(rng, 3, 20, 2)
    assert f"got {type(rng).__name__}" in str(err.value)


@pytest.mark.parametrize("rng", [42, "seed", [np.random.default_rng(0), 7], (None,)])
def test_draws_reject_an_rng_that_is_not_generators(rng):
    with pytest.raises(TypeError, match=r"^rng must be a numpy\.random\.Generator or a sequence"
                       ) as err:
        ensembles.normal(rng, (2, 2))
    assert f"got {type(rng).__name__}" in str(err.value)


def test_sizes_are_not_truncated():
    with pytest.raises(ValueError, match=r"streams\) must be a whole number >= 1; got 2\.5"):
        ensembles.streams(0, 2.5)
    with pytest.raises(ValueError, match=r"n_steps must be a whole number >= 1; got 3\.5"):
        ensembles.ar1_sequence(np.random.default_rng(0), 0.5, 3.5)
    assert len(ensembles.streams(0, 3.0)) == 3
