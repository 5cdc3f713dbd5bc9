"""Tests of fa_lib.linalg: the matrix angle (eq. 33) and the symmetric / skew split (eqs. 28-31)."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import linalg


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


def _vector_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Reference: the angle between the vectorised matrices, in degrees."""
    u, v = np.ravel(a), np.ravel(b)
    return float(np.degrees(np.arccos(u @ v / np.sqrt((u @ u) * (v @ v)))))


# ---------------------------------------------------------------- angle (eq. 33)


def test_angle_matches_the_vectorised_angle(rng):
    a, b = rng.normal(size=(2, 7, 5))
    assert linalg.angle(a, b) == pytest.approx(_vector_angle(a, b), abs=1e-10)


def test_angle_of_equal_matrices_is_zero(rng):
    a = rng.normal(size=(20, 6, 4))
    # arccos is ill-conditioned at 1: |cos - 1| ~ 1e-16 gives ~1e-6 degrees at most.
    np.testing.assert_allclose(linalg.angle(a, a), 0.0, atol=1e-5)


def test_angle_of_opposite_matrices_is_180(rng):
    a = rng.normal(size=(20, 6, 4))
    np.testing.assert_allclose(linalg.angle(a, -a), 180.0, atol=1e-5)


def test_angle_of_orthogonal_matrices_is_90(rng):
    a = rng.normal(size=(20, 6, 4))
    b = rng.normal(size=(20, 6, 4))
    # Gram-Schmidt: remove from b its component along a.
    b = b - (linalg.frobenius_inner(a, b) / linalg.frobenius_inner(a, a))[:, None, None] * a
    np.testing.assert_allclose(linalg.angle(a, b), 90.0, atol=1e-10)
    # and a simple exact case: disjoint supports
    e1, e2 = np.zeros((3, 3)), np.zeros((3, 3))
    e1[0, 1], e2[2, 0] = 1.0, 5.0
    assert linalg.angle(e1, e2) == 90.0


def test_angle_is_scale_invariant(rng):
    a, b = rng.normal(size=(2, 10, 8, 3))
    ref = linalg.angle(a, b)
    np.testing.assert_allclose(linalg.angle(3.7 * a, 0.01 * b), ref, atol=1e-10)
    np.testing.assert_allclose(linalg.angle(1e6 * a, b), ref, atol=1e-10)
    # a negative factor reflects the angle
    np.testing.assert_allclose(linalg.angle(-2.0 * a, b), 180.0 - ref, atol=1e-10)


def test_angle_lies_in_0_180_and_is_symmetric(rng):
    a, b = rng.normal(size=(2, 500, 3, 2))
    ang = linalg.angle(a, b)
    assert np.all((ang >= 0) & (ang <= 180))
    np.testing.assert_array_equal(ang, linalg.angle(b, a))


def test_angle_broadcasts_over_leading_axes(rng):
    a = rng.normal(size=(4, 1, 3, 5))
    b = rng.normal(size=(6, 3, 5))
    ang = linalg.angle(a, b)
    assert ang.shape == (4, 6)
    for i in range(4):
        for j in range(6):
            assert ang[i, j] == pytest.approx(_vector_angle(a[i, 0], b[j]), abs=1e-10)
    # one matrix against a stack
    single = linalg.angle(b[2], b)
    assert single.shape == (6,)
    assert single[2] == pytest.approx(0.0, abs=1e-5)


def test_angle_rejects_mismatched_matrix_shapes(rng):
    with pytest.raises(ValueError, match="same shape in their last two axes"):
        linalg.angle(rng.normal(size=(3, 4)), rng.normal(size=(4, 3)))


def test_angle_rejects_non_broadcastable_leading_axes(rng):
    with pytest.raises(ValueError, match="leading axes"):
        linalg.angle(rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 3, 4)))


def test_angle_rejects_vectors():
    with pytest.raises(ValueError, match="at least 2 axes"):
        linalg.angle(np.ones(3), np.ones(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_angle_rejects_nan_and_inf(rng, bad):
    a = rng.normal(size=(3, 3))
    b = a.copy()
    b[1, 2] = bad
    with pytest.raises(ValueError, match="b contains 1 NaN or Inf"):
        linalg.angle(a, b)
    with pytest.raises(ValueError, match="a contains 1 NaN or Inf"):
        linalg.angle(b, a)


def test_angle_rejects_a_zero_matrix(rng):
    with pytest.raises(ValueError, match="zero matrix"):
        linalg.angle(np.zeros((3, 2)), rng.normal(size=(3, 2)))


# ---------------------------------------------------------------- norms and products


def test_frobenius_inner_and_norm(rng):
    a, b = rng.normal(size=(2, 5, 4, 3))
    np.testing.assert_allclose(
        linalg.frobenius_inner(a, b), [np.trace(x.T @ y) for x, y in zip(a, b, strict=True)]
    )
    np.testing.assert_allclose(linalg.frobenius_norm(a), [np.linalg.norm(x, "fro") for x in a])


def test_transpose_swaps_the_last_two_axes(rng):
    a = rng.normal(size=(2, 3, 4, 5))
    t = linalg.transpose(a)
    assert t.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(t[1, 2], a[1, 2].T)


# ---------------------------------------------------------------- sym / skew (eqs. 28-31)


def test_sym_plus_skew_is_m(rng):
    m = rng.normal(size=(10, 6, 6))
    sym, skew = linalg.sym_skew(m)
    np.testing.assert_allclose(sym + skew, m, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(sym, linalg.transpose(sym))
    np.testing.assert_array_equal(skew, -linalg.transpose(skew))


def test_sym_skew_rejects_non_square(rng):
    with pytest.raises(ValueError, match="square"):
        linalg.sym_skew(rng.normal(size=(3, 4)))


def test_skew_part_deflects_any_bt_by_exactly_90_degrees(rng):
    """Eq. 31: <B^T, B^T M_skew>_F = tr(B^T M_skew B) = 0 for any B and M."""
    n_draws, n_o, n_h = 200, 50, 100
    bt = linalg.transpose(rng.normal(size=(n_draws, n_o, n_h)))  # B^T: n_h x n_o
    m = rng.normal(loc=0.5, size=(n_draws, n_o, n_o))
    _, skew = linalg.sym_skew(m)
    np.testing.assert_allclose(linalg.angle(bt, bt @ skew), 90.0, rtol=0, atol=1e-9)
    # ... while the full M (not skew) does not give exactly 90 degrees
    assert np.max(np.abs(linalg.angle(bt, bt @ m) - 90.0)) > 1e-3


def test_angle_zero_policy_raise_or_nan():
    a = np.stack([np.eye(3), np.eye(3), np.zeros((3, 3))])
    b = np.stack([np.eye(3), np.zeros((3, 3)), np.eye(3)])
    with pytest.raises(ValueError, match="undefined for a zero matrix"):
        linalg.angle(a, b)
    got = linalg.angle(a, b, zero="nan")
    np.testing.assert_array_equal(np.isnan(got), [False, True, True])
    assert got[0] == pytest.approx(0.0, abs=1e-6)
    # where both are non-zero the NaN policy gives exactly the plain angle
    r = np.random.default_rng(3).normal(size=(4, 3, 2))
    np.testing.assert_array_equal(linalg.angle(r, r[::-1], zero="nan"), linalg.angle(r, r[::-1]))
    with pytest.raises(ValueError, match="zero must be one of"):
        linalg.angle(a, b, zero="ignore")


def test_angle_of_bool_and_integer_matrices_is_taken_as_numbers():
    got = linalg.angle(np.eye(2, dtype=bool), np.ones((2, 2), dtype=bool))
    assert got == pytest.approx(45.0)
    assert linalg.angle(np.eye(2, dtype=int), np.ones((2, 2), dtype=int)) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="real numbers"):
        linalg.angle(np.eye(2).astype(complex), np.eye(2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lead", [(1,), (7,), (2, 3)])
def test_shared_products_equal_the_stacked_ones(dtype, lead):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 9)).astype(dtype)
    w = rng.normal(size=(*lead, 9, 5)).astype(dtype)
    y = rng.normal(size=(*lead, 40, 5)).astype(dtype)
    # Sums of 9 or 40 products of N(0, 1) numbers: in float32 the order of the sum (which
    # BLAS kernel, how many threads) moves a sum that nearly cancels by ~1e-6 absolute.
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-12}
    got, want = linalg.shared_matmul(x, w), x @ w
    assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, **tol)
    got, want = linalg.shared_tmatmul(x, y), linalg.transpose(x) @ y
    assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, **tol)


def test_shared_products_reject_mismatched_shapes():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="must be n x 3"):
        linalg.shared_matmul(np.ones((4, 2)), np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="stacked"):
        linalg.shared_matmul(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match="must have 4 rows"):
        linalg.shared_tmatmul(np.ones((5, 3)), np.ones((2, 4, 5)))
