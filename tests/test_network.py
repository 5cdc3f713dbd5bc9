"""Tests of fa_lib.network (Methods 4.1, 4.4) and fa_lib.activations."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import activations, ensembles, linalg
from fa_lib.network import (
    Network,
    deltas,
    ensure_finite,
    forward,
    init_network,
    normalise_columns,
    normalise_layer,
    weight_updates,
)
from fa_lib.rule import Rule, learn, prepare, train_step

SIZES = (4, 6, 5, 3)  # a 3-layer net: W_0 4x6, W_1 6x5, W_2 5x3
N_B = 7
ACTIVATIONS = ["identity", "relu", "tanh_relu"]


def _net(seed=0, reps=2, sizes=SIZES, activation="tanh_relu", **kw):
    return init_network(ensembles.streams(seed, reps), sizes, activation, **kw)


def _data(seed=100, reps=2, sizes=SIZES, n_b=N_B):
    g = ensembles.streams(seed, reps)
    return ensembles.normal(g, (n_b, sizes[0])), ensembles.normal(g, (n_b, sizes[-1]), loc=0.3)


# ---------------------------------------------------------------- activations


def test_activation_derivatives_and_the_conventions_at_zero():
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    relu, tr = activations.get("relu"), activations.get("tanh_relu")
    np.testing.assert_array_equal(relu.f(z), [0, 0, 0, 0.5, 2.0])
    np.testing.assert_array_equal(relu.df(z), [0, 0, 1, 1, 1])  # f'(0) = 1 (Methods 4.3)
    np.testing.assert_allclose(tr.f(z), np.tanh(np.maximum(z, 0)))
    assert tr.df(np.array([0.0]))[0] == 0.0  # authors' code: (x > 0) sech^2(x)
    # away from the kink, df is the derivative of f
    zz = np.array([-1.3, -0.2, 0.3, 1.1, 2.5])
    h = 1e-6
    for name in ACTIVATIONS:
        a = activations.get(name)
        fd = (a.f(zz + h) - a.f(zz - h)) / (2 * h)
        np.testing.assert_allclose(a.df(zz), fd, rtol=1e-7, atol=1e-9)


def test_unknown_activation_raises():
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        activations.get("sigmoid")
    with pytest.raises(ValueError, match="unknown activation"):
        _net(activation="softplus")


# ---------------------------------------------------------------- BP is the gradient (eq. 14)


def _loss(net: Network, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """L = 1/2 sum E^2 over the batch, one value per repetition."""
    _, L = forward(net, x)
    return 0.5 * np.sum((target - L[-1]) ** 2, axis=(-2, -1))


def _central_difference(net, x, target, arrays, h=1e-6):
    """dL/dA for every array A in ``arrays`` (entries of net, perturbed in place)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape[1:]):  # all repetitions at once
            orig = a[(slice(None), *idx)].copy()
            a[(slice(None), *idx)] = orig + h
            up = _loss(net, x, target)
            a[(slice(None), *idx)] = orig - h
            down = _loss(net, x, target)
            a[(slice(None), *idx)] = orig
            g[(slice(None), *idx)] = (up - down) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("biases", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bp_updates_are_minus_eta_times_the_gradient(activation, biases):
    eta, h = 0.37, 1e-6
    net = _net(seed=1, activation=activation, biases=biases, bias_sd=0.5)
    x, target = _data(seed=2)
    Z, _ = forward(net, x)
    # kinks of relu / tanh_relu at 0: make sure no pre-activation is within reach of +-h
    margin = min(float(np.min(np.abs(z))) for z in Z[1:])
    assert margin > 1e-3, f"a pre-activation lies at a kink (|Z| = {margin}); pick another seed"
    before = net.copy()
    step = train_step(net, Rule("bp", eta=eta), x, target)
    grads = _central_difference(before, x, target, before.W, h)
    for i, (dw, g) in enumerate(zip(step.dW, grads, strict=True)):
        np.testing.assert_allclose(dw, -eta * g, rtol=1e-6, atol=1e-8, err_msg=f"W[{i}]")
        # ... and W was updated by exactly dW (eq. 13)
        np.testing.assert_allclose(net.W[i], before.W[i] + dw, rtol=1e-14, atol=0)
    if biases:
        bias_grads = _central_difference(before, x, target, before.b[1:], h)
        for i, g in enumerate(bias_grads, start=1):
            np.testing.assert_allclose(
                net.b[i] - before.b[i], -eta * g, rtol=1e-6, atol=1e-8, err_msg=f"b[{i}]"
            )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fa_with_b_equal_to_w_transpose_is_bp(activation):
    net = _net(seed=3, activation=activation)
    net.B = [None] + [linalg.transpose(w).copy() for w in net.W[1:]]
    x, target = _data(seed=4)
    Z, L = forward(net, x)
    e = target - L[-1]
    d_fa, d_bp = deltas(net, Z, e, "fa"), deltas(net, Z, e, "bp")
    for i in range(1, net.depth + 1):
        np.testing.assert_allclose(d_fa[i], d_bp[i], rtol=1e-13, atol=1e-15)
    fa_net, bp_net = net.copy(), net.copy()
    s_fa = train_step(fa_net, Rule("fa", eta=0.1), x, target, compare_bp=True)
    s_bp = train_step(bp_net, Rule("bp", eta=0.1), x, target)
    for i in range(net.depth):
        np.testing.assert_allclose(s_fa.dW[i], s_bp.dW[i], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(s_fa.dW_bp[i], s_bp.dW[i], rtol=1e-13, atol=1e-15)


def test_fa_uses_b_and_its_bp_comparison_uses_the_weights_before_the_update():
    net = _net(seed=5, activation="relu")
    x, target = _data(seed=6)
    before = net.copy()
    step = train_step(net, Rule("fa", eta=0.2), x, target, compare_bp=True)
    Z, L = forward(before, x)
    e = target - L[-1]
    expected_fa = weight_updates(L, deltas(before, Z, e, "fa"), 0.2)
    expected_bp = weight_updates(L, deltas(before, Z, e, "bp"), 0.2)
    for i in range(net.depth):
        np.testing.assert_array_equal(step.dW[i], expected_fa[i])
        np.testing.assert_array_equal(step.dW_bp[i], expected_bp[i])
    assert not np.allclose(step.dW[0], step.dW_bp[0])  # FA differs from BP below the top
    np.testing.assert_array_equal(step.dW[-1], step.dW_bp[-1])  # ... but not in the last layer
    for i in range(1, net.depth):
        np.testing.assert_array_equal(net.B[i], before.B[i])  # B is fixed


def test_explicit_delta_formulas_eqs_15_to_18():
    net = _net(seed=7, activation="relu")
    x, target = _data(seed=8)
    Z, L = forward(net, x)
    e = target - L[-1]
    df = net.activation.df
    d = deltas(net, Z, e, "fa")
    np.testing.assert_array_equal(d[3], e * df(Z[3]))
    np.testing.assert_allclose(d[2], (d[3] @ net.B[2]) * df(Z[2]))
    np.testing.assert_allclose(d[1], (d[2] @ net.B[1]) * df(Z[1]))
    assert d[0] is None
    np.testing.assert_allclose(Z[1], x @ net.W[0])
    np.testing.assert_allclose(L[2], np.maximum(L[1] @ net.W[1], 0))


# ---------------------------------------------------------------- normalisations (eq. 32, Sec. 2.5)


def _column_norms(w):
    return np.sqrt(np.sum(w * w, axis=-2))


@pytest.mark.parametrize("normalise_b", [True, False])
def test_weight_normalisation_keeps_every_column_at_gamma(normalise_b):
    gamma = 0.7
    net = _net(seed=9, activation="relu")
    b0 = [None if b is None else b.copy() for b in net.B]
    rule = Rule("fa", eta=0.05, wn_gamma=gamma, normalise_b=normalise_b)
    prepare(net, rule)
    x, target = _data(seed=10)
    for _ in range(3):
        train_step(net, rule, x, target)
        for w in net.W:
            np.testing.assert_allclose(_column_norms(w), gamma, rtol=1e-12)
    for i in range(1, net.depth):
        if normalise_b:
            np.testing.assert_allclose(_column_norms(net.B[i]), gamma, rtol=1e-12)
            # rescaled column by column, so each column keeps its direction
            np.testing.assert_allclose(
                net.B[i] / _column_norms(net.B[i])[..., None, :],
                b0[i] / _column_norms(b0[i])[..., None, :],
                rtol=1e-12,
            )
        else:
            np.testing.assert_array_equal(net.B[i], b0[i])


def test_normalise_columns_direct():
    w = np.random.default_rng(0).normal(size=(3, 5, 4))
    out = normalise_columns(w, 2.5)
    np.testing.assert_allclose(_column_norms(out), 2.5, rtol=1e-12)
    np.testing.assert_allclose(
        out / w, np.broadcast_to(2.5 / _column_norms(w)[:, None, :], w.shape)
    )


def test_layer_normalisation_fixes_the_frobenius_norm():
    c = 7.07
    net = _net(seed=11)
    rule = Rule("fa", eta=0.05, layer_norm=c)
    prepare(net, rule)
    for w in net.W:
        np.testing.assert_allclose(linalg.frobenius_norm(w), c, rtol=1e-12)
    x, target = _data(seed=12)
    for _ in range(3):
        train_step(net, rule, x, target)
        for w in net.W:
            np.testing.assert_allclose(linalg.frobenius_norm(w), c, rtol=1e-12)
    np.testing.assert_allclose(
        linalg.frobenius_norm(normalise_layer(np.ones((2, 3, 3)), 3.0)), 3.0, rtol=1e-12
    )


def test_b_norm_matching_equalises_frobenius_norms():
    net = _net(seed=13)
    rule = Rule("fa", eta=0.3, match_b=True)
    prepare(net, rule)
    x, target = _data(seed=14)
    for _ in range(4):
        train_step(net, rule, x, target)
        for i in range(1, net.depth):
            np.testing.assert_allclose(
                linalg.frobenius_norm(net.B[i]), linalg.frobenius_norm(net.W[i]), rtol=1e-12
            )
    assert not np.allclose(linalg.frobenius_norm(net.W[1]), linalg.frobenius_norm(net.W[2]))


# ---------------------------------------------------------------- stacking and seeds


def _train(net, rule, xs, targets):
    prepare(net, rule)
    for x, t in zip(xs, targets, strict=True):
        train_step(net, rule, x, t)
    return net


@pytest.mark.parametrize(
    "rule",
    [
        Rule("fa", eta=0.05),
        Rule("fa", eta=0.05, wn_gamma=1.0),
        Rule("bp", eta=0.05),
    ],
    ids=["fa", "fa-wn", "bp"],
)
def test_stacked_repetitions_equal_each_repetition_alone(rule):
    reps, n_steps = 3, 4
    data = ensembles.streams(99, reps)
    xs = [ensembles.normal(data, (N_B, SIZES[0])) for _ in range(n_steps)]
    ts = [ensembles.normal(data, (N_B, SIZES[-1])) for _ in range(n_steps)]
    stacked = _train(
        init_network(ensembles.streams(98, reps), SIZES, "tanh_relu", biases=True), rule, xs, ts
    )
    assert stacked.reps == reps
    for r in range(reps):
        alone = init_network([ensembles.streams(98, reps)[r]], SIZES, "tanh_relu", biases=True)
        alone = _train(alone, rule, [x[r : r + 1] for x in xs], [t[r : r + 1] for t in ts])
        for i in range(stacked.depth):
            np.testing.assert_allclose(alone.W[i][0], stacked.W[i][r], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(
                alone.b[i + 1][0], stacked.b[i + 1][r], rtol=1e-12, atol=1e-14
            )
        for i in range(1, stacked.depth):
            np.testing.assert_allclose(alone.B[i][0], stacked.B[i][r], rtol=1e-12, atol=1e-14)


def test_same_seed_same_network_and_updates():
    x, target = _data(seed=20)
    a, b, c = _net(seed=21), _net(seed=21), _net(seed=22)
    for w1, w2 in zip(a.W, b.W, strict=True):
        np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(a.W[0], c.W[0])
    sa = train_step(a, Rule("fa", eta=0.1), x, target)
    sb = train_step(b, Rule("fa", eta=0.1), x, target)
    for d1, d2 in zip(sa.dW, sb.dW, strict=True):
        np.testing.assert_array_equal(d1, d2)


def test_init_network_shapes_and_scale():
    net = init_network(ensembles.streams(0, 4), (225, 50, 50), "tanh_relu", sd=0.1)
    assert net.sizes == (225, 50, 50) and net.depth == 2 and net.reps == 4
    assert net.W[0].shape == (4, 225, 50) and net.B[1].shape == (4, 50, 50) and net.B[0] is None
    assert np.std(net.W[0]) == pytest.approx(0.1, rel=0.03)  # sd is the SD, not the variance


# ---------------------------------------------------------------- float32


@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
def test_float32_network_stays_float32(x_dtype):
    net = _net(seed=30, dtype=np.float32, biases=True)
    assert all(w.dtype == np.float32 for w in net.W)
    assert all(b.dtype == np.float32 for b in net.B[1:]) and net.b[1].dtype == np.float32
    x, target = _data(seed=31)
    x, target = x.astype(x_dtype), target.astype(x_dtype)
    Z, L = forward(net, x)
    assert all(z.dtype == np.float32 for z in Z[1:]) and all(a.dtype == np.float32 for a in L)
    for rule in (
        Rule("fa", eta=0.01, wn_gamma=1.0),
        Rule("fa", eta=0.01, match_b=True),
    ):
        prepare(net, rule)
        step = train_step(net, rule, x, target, compare_bp=True)
        assert all(d.dtype == np.float32 for d in step.delta[1:])
        assert all(d.dtype == np.float32 for d in step.dW) and all(
            d.dtype == np.float32 for d in step.dW_bp
        )
        assert all(w.dtype == np.float32 for w in net.W)
        assert all(b.dtype == np.float32 for b in net.B[1:]) and net.b[1].dtype == np.float32


# ---------------------------------------------------------------- divergence


def test_ensure_finite_names_the_iteration_and_eta():
    net = _net(seed=40)
    ensure_finite(net, 3, 0.1)  # finite: nothing happens
    net.W[1][0, 2, 1] = np.nan
    with pytest.raises(FloatingPointError, match=r"diverged at iteration 17: W\[1\].*eta = 0\.25"):
        ensure_finite(net, 17, 0.25)


# ---------------------------------------------------------------- bad input


def test_network_rejects_mismatched_shapes():
    w = [np.ones((2, 4, 3)), np.ones((2, 3, 5))]
    Network(w, [None, np.ones((2, 5, 3))], "relu")  # consistent: fine
    with pytest.raises(ValueError, match=r"W\[1\] has 4 rows but W\[0\] has 3 columns"):
        Network([w[0], np.ones((2, 4, 5))], [None, np.ones((2, 5, 4))], "relu")
    with pytest.raises(ValueError, match=r"B\[1\] must have the shape of W\[1\]\^T \(2, 5, 3\)"):
        Network(w, [None, np.ones((2, 3, 5))], "relu")
    with pytest.raises(ValueError, match=r"B\[1\] must have the shape"):
        Network(w, [None, None], "relu")
    with pytest.raises(ValueError, match="as many B entries"):
        Network(w, [None], "relu")
    with pytest.raises(ValueError, match="at least 3 axes"):
        Network([np.ones((4, 3))], [None], "relu")
    with pytest.raises(ValueError, match="repetitions"):
        Network([np.ones((2, 4, 3)), np.ones((1, 3, 5))], [None, np.ones((1, 5, 3))], "relu")
    with pytest.raises(ValueError, match=r"b\[1\] must have shape"):
        Network(
            w, [None, np.ones((2, 5, 3))], "relu", b=[None, np.ones((2, 1, 4)), np.ones((2, 1, 5))]
        )
    with pytest.raises(ValueError, match="unknown activation"):
        Network(w, [None, np.ones((2, 5, 3))], "gelu")


def test_init_network_rejects_bad_input():
    for bad in (np.random.default_rng(0), 42, [], [1, 2]):
        with pytest.raises(ValueError, match="sequence of numpy Generators, one per repetition"):
            init_network(bad, SIZES, "relu")
    for sizes in ((4,), (4, 0, 2), (4, 2.7, 2), (4, True, 2)):
        with pytest.raises(ValueError, match=">= 2 layer widths, each a positive integer"):
            init_network(ensembles.streams(0, 1), sizes, "relu")
    with pytest.raises(ValueError, match="sd must be a finite number > 0"):
        init_network(ensembles.streams(0, 1), SIZES, "relu", sd=0.0)
    with pytest.raises(ValueError, match="bias_sd must be a finite number > 0"):
        init_network(ensembles.streams(0, 1), SIZES, "relu", biases=True, bias_sd=-0.1)


def test_forward_rejects_bad_input():
    net = _net(seed=50, reps=2)
    with pytest.raises(ValueError, match="X has 5 columns but the network has n_0 = 4 inputs"):
        forward(net, np.ones((3, 5)))
    with pytest.raises(ValueError, match="X has 3 repetitions but the network has R = 2"):
        forward(net, np.ones((3, N_B, 4)))
    with pytest.raises(ValueError, match="at least 2 axes"):
        forward(net, np.ones(4))
    for bad in (np.nan, np.inf):
        x = np.ones((N_B, 4))
        x[2, 1] = bad
        with pytest.raises(ValueError, match="X contains 1 NaN or Inf"):
            forward(net, x)


def test_deltas_rejects_bad_input():
    net = _net(seed=51, reps=2)
    x, target = _data(seed=52)
    Z, L = forward(net, x)
    with pytest.raises(ValueError, match="unknown feedback pathway 'sgd'"):
        deltas(net, Z, target - L[-1], "sgd")
    with pytest.raises(ValueError, match=r"the 'dfa' pathway needs B\[1\] of shape \(2, 3, 6\)"):
        deltas(net, Z, target - L[-1], "dfa")  # B drawn for FA
    with pytest.raises(ValueError, match="E has 4 columns but the network has n_d = 3 outputs"):
        deltas(net, Z, np.ones((2, N_B, 4)), "fa")
    with pytest.raises(
        ValueError, match=r"E has shape \(2, 6, 3\) but the output Z_d has shape \(2, 7, 3\)"
    ):
        deltas(net, Z, np.ones((2, N_B - 1, 3)), "fa")
    with pytest.raises(ValueError, match=r"E has shape \(1, 3\)"):
        deltas(net, Z, np.ones((1, 3)), "fa")  # would otherwise broadcast over the batch
    with pytest.raises(ValueError, match="Z must list"):
        deltas(net, Z[:-1], target - L[-1], "fa")
    with pytest.raises(ValueError, match="E contains 1 NaN or Inf"):
        e = target - L[-1]
        e[0, 0, 0] = np.nan
        deltas(net, Z, e, "fa")
    with pytest.raises(ValueError, match="targets have shape"):
        train_step(net, Rule(), x, np.ones((N_B, 4)))


@pytest.mark.parametrize("eta", [0.0, -0.1, np.nan, np.inf])
def test_non_positive_eta_raises(eta):
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        Rule("fa", eta=eta)
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        weight_updates([np.ones((2, 3)), np.ones((2, 4))], [None, np.ones((2, 4))], eta)


@pytest.mark.parametrize("gamma", [0.0, -1.0])
def test_non_positive_gamma_raises(gamma):
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        Rule("fa", wn_gamma=gamma)
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        normalise_columns(np.ones((3, 3)), gamma)


def test_rule_rejects_bad_combinations():
    with pytest.raises(ValueError, match="unknown feedback pathway 'sgd'"):
        Rule("sgd")
    with pytest.raises(ValueError, match="not both"):
        Rule("fa", wn_gamma=1.0, layer_norm=7.07)
    with pytest.raises(ValueError, match="layer_norm must be a finite number > 0"):
        Rule("fa", layer_norm=0.0)
    with pytest.raises(ValueError, match="column of zeros"):
        normalise_columns(np.zeros((3, 2)), 1.0)


def test_learn_step_records_what_it_used():
    net = _net(seed=60)
    x, target = _data(seed=61)
    Z, L = forward(net, x)
    e = target - L[-1]
    step = learn(net, Rule("fa", eta=0.1), Z, L, e)
    assert step.dW_bp is None  # not requested
    np.testing.assert_array_equal(step.E, e)
    assert len(step.dW) == net.depth and step.delta[0] is None
