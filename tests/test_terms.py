"""Tests of fa_lib.terms: alignment terms and transformation matrices (Methods 4.2, eqs. 20-27).

The central check is the exact expansion of a linear two-layer FA net (eq. 23 with eq. 26):
``dW1[k] = eta W0[0]^T X[k]^T E[k] + sum_{o=1}^{k} eta^2 B^T E[k-o]^T X[k-o] X[k]^T E[k]``.
(Eq. 23 as printed drops the factor eta of the initial term; eq. 20 and Sec. 2.2 carry it.)
"""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import ensembles, linalg, terms
from fa_lib.network import forward, init_network
from fa_lib.rule import Rule, learn

SIZES = (6, 5, 4)  # (n_i, n_h, n_o)
N_B = 8


def _run_two_layer(activation, eta, n_iter, seed=0, reps=2, loc=0.0):
    """Train an open-loop two-layer FA net on fresh X[k], E[k]; keep everything per iteration."""
    net = init_network(ensembles.streams(seed, reps), SIZES, activation)
    data = ensembles.streams(seed + 1000, reps)
    hist = {"W0": [], "W1": [], "X": [], "E": [], "d1": [], "d2": [], "dW0": [], "dW1": []}
    for _ in range(n_iter):
        x = ensembles.normal(data, (N_B, SIZES[0]), loc=loc)
        e = ensembles.normal(data, (N_B, SIZES[2]), loc=loc)
        hist["W0"].append(net.W[0])
        hist["W1"].append(net.W[1])
        Z, L = forward(net, x)
        step = learn(net, Rule("fa", eta=eta), Z, L, e)
        hist["X"].append(x)
        hist["E"].append(e)
        hist["d1"].append(step.delta[1])
        hist["d2"].append(step.delta[2])
        hist["dW0"].append(step.dW[0])
        hist["dW1"].append(step.dW[1])
    return net, hist


def _linear_terms(b, hist, k, eta, orders):
    """sum over ``orders`` of T^o[k] (eq. 26) built from terms.transform_matrix (eq. 27)."""
    X, E = hist["X"], hist["E"]
    total = 0.0
    for o in orders:
        m = terms.transform_matrix(E[k - o], X[k - o], X[k], E[k])
        total = total + terms.linear_alignment_term(b, m, eta)
    return total


# ---------------------------------------------------------------- eq. 23 / 26 (linear, exact)


@pytest.mark.parametrize("loc", [0.0, 0.5])
def test_linear_expansion_of_dw1_is_exact(loc):
    eta, n_iter = 0.05, 6
    net, hist = _run_two_layer("identity", eta, n_iter, loc=loc)
    b, w0_init = net.B[1], hist["W0"][0]
    X, E, dW1 = hist["X"], hist["E"], hist["dW1"]
    for k in range(n_iter):
        initial = eta * linalg.transpose(w0_init) @ linalg.transpose(X[k]) @ E[k]
        aln = _linear_terms(b, hist, k, eta, range(1, k + 1))
        np.testing.assert_allclose(dW1[k], initial + aln, rtol=1e-10, atol=1e-12, err_msg=f"k={k}")
        if k >= 1:  # the alignment terms are a sizeable part of dW1: the check is not vacuous
            assert np.all(linalg.frobenius_norm(aln) > 0.1 * linalg.frobenius_norm(dW1[k]))


def test_sup_alignment_term_is_the_tail_of_the_linear_expansion():
    """Eq. 22 (exact for a linear net): T^o_sup[k] = T^{o+1}[k] + ... + T^k[k] + initial term."""
    eta, n_iter = 0.05, 5
    net, hist = _run_two_layer("identity", eta, n_iter, seed=3)
    b, X, E = net.B[1], hist["X"], hist["E"]
    k = n_iter - 1
    for o in range(1, k + 1):
        sup = terms.sup_alignment_term(hist["W0"][k - o], X[k], E[k], eta, "identity")
        initial = eta * linalg.transpose(hist["W0"][0]) @ linalg.transpose(X[k]) @ E[k]
        tail = _linear_terms(b, hist, k, eta, range(o + 1, k + 1))
        np.testing.assert_allclose(sup, initial + tail, rtol=1e-10, atol=1e-12, err_msg=f"o={o}")
        # and dW1[k] = T^1 + ... + T^o + T^o_sup
        head = _linear_terms(b, hist, k, eta, range(1, o + 1))
        np.testing.assert_allclose(hist["dW1"][k], head + sup, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_alignment_term_with_identity_equals_the_linear_term(order):
    """Eq. 21/25 with f = identity reduces to eq. 26 in a two-layer net."""
    eta, n_iter = 0.05, 4
    net, hist = _run_two_layer("identity", eta, n_iter, seed=4)
    k = n_iter - 1
    X, E = hist["X"], hist["E"]
    general = terms.alignment_term(
        hist["W0"][k - order],
        X[k - order],
        X[k],
        hist["d1"][k - order],
        hist["d2"][k],
        eta,
        "identity",
    )
    linear = terms.linear_alignment_term(
        net.B[1], terms.transform_matrix(E[k - order], X[k - order], X[k], E[k]), eta
    )
    assert general.shape == net.W[1].shape
    np.testing.assert_allclose(general, linear, rtol=1e-12, atol=1e-14)


def test_alignment_term_of_relu_net_is_exact_without_sign_flips():
    """ReLU is piecewise linear: the Taylor step of eq. 20 is exact if no hidden unit changes sign.

    Then ``dW1[k] = T^1_aln[k] + T^1_sup[k]`` exactly (eqs. 20-22, with eq. 25 for T^1_aln).
    """
    eta, n_iter = 1e-3, 3
    _, hist = _run_two_layer("relu", eta, n_iter, seed=5)
    for k in range(1, n_iter):
        x = hist["X"][k]
        z_old, z_new = x @ hist["W0"][k - 1], x @ hist["W0"][k]
        assert np.array_equal(z_old >= 0, z_new >= 0), (
            "a hidden unit flipped sign: pick another seed"
        )
        aln = terms.alignment_term(
            hist["W0"][k - 1], hist["X"][k - 1], x, hist["d1"][k - 1], hist["d2"][k], eta, "relu"
        )
        sup = terms.sup_alignment_term(hist["W0"][k - 1], x, hist["d2"][k], eta, "relu")
        np.testing.assert_allclose(hist["dW1"][k], aln + sup, rtol=1e-9, atol=1e-14)
        assert np.all(linalg.frobenius_norm(aln) > 1e-4 * linalg.frobenius_norm(hist["dW1"][k]))


def test_alignment_term_masks_with_the_derivative():
    """With an all-zero gate (every pre-activation negative), the ReLU alignment term vanishes."""
    g = np.random.default_rng(0)
    x_now = np.abs(g.normal(size=(N_B, 6)))
    w_old = -np.abs(g.normal(size=(6, 5)))  # W^T X^T < 0 everywhere
    out = terms.alignment_term(
        w_old,
        g.normal(size=(N_B, 6)),
        x_now,
        g.normal(size=(N_B, 5)),
        g.normal(size=(N_B, 4)),
        0.1,
        "relu",
    )
    np.testing.assert_array_equal(out, 0.0)


# ---------------------------------------------------------------- transformation matrix (eq. 27)


def test_transform_matrix_matches_the_formula_and_is_psd_at_order_zero():
    g = np.random.default_rng(1)
    e_old, e_now = g.normal(size=(2, 3, 20, 10))
    x_old, x_now = g.normal(size=(2, 3, 20, 30))
    m = terms.transform_matrix(e_old, x_old, x_now, e_now)
    assert m.shape == (3, 10, 10)
    np.testing.assert_allclose(m[1], e_old[1].T @ x_old[1] @ x_now[1].T @ e_now[1], rtol=1e-12)
    # o = 0 and constant E, X: E^T X X^T E is symmetric positive semidefinite (eq. 1)
    m0 = terms.transform_matrix(e_now, x_now, x_now, e_now)
    np.testing.assert_allclose(m0, linalg.transpose(m0), rtol=1e-12)
    assert np.min(np.linalg.eigvalsh(m0)) > -1e-9 * np.max(np.abs(m0))


def test_linear_alignment_term_formula():
    g = np.random.default_rng(2)
    b, m = g.normal(size=(4, 5)), g.normal(size=(4, 4))
    np.testing.assert_allclose(terms.linear_alignment_term(b, m, 0.3), 0.09 * b.T @ m, rtol=1e-14)


@pytest.mark.parametrize("eta", [0.0, -1.0])
def test_terms_reject_non_positive_eta(eta):
    g = np.random.default_rng(3)
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        terms.linear_alignment_term(g.normal(size=(4, 5)), g.normal(size=(4, 4)), eta)
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        terms.sup_alignment_term(np.ones((3, 2)), np.ones((4, 3)), np.ones((4, 2)), eta, "relu")
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        terms.alignment_term(
            np.ones((3, 2)),
            np.ones((4, 3)),
            np.ones((4, 3)),
            np.ones((4, 2)),
            np.ones((4, 2)),
            eta,
            "relu",
        )


def test_terms_reject_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        terms.sup_alignment_term(np.ones((3, 2)), np.ones((4, 3)), np.ones((4, 2)), 0.1, "elu")
