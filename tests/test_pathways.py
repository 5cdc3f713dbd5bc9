"""Tests of the feedback pathways (fa_lib.pathways) and the Rule that carries them (fa_lib.rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from fa_lib import ensembles, linalg, mnist, pathways, training
from fa_lib.network import Network, deltas, forward, init_network
from fa_lib.openloop import Signal, run_openloop
from fa_lib.pathways import PATHWAYS, Pathway, register
from fa_lib.rule import Rule, learn, prepare, train_step
from fa_lib.training import TrainConfig

SIZES = (4, 6, 5, 3)  # d = 3: two hidden layers receive an error through a pathway
N_B = 7
ALL = sorted(PATHWAYS)
RUNTIME = {"brsf", "wm"}  # pathways that draw at every step


def _setup(name, seed=0, reps=2, rule_kw=None, dtype=np.float64, sizes=SIZES, **params):
    rule = Rule(pathways.get(name, **params), eta=0.05, **(rule_kw or {}))
    net = init_network(ensembles.streams(seed, reps), sizes, "tanh_relu", sd=0.5, dtype=dtype,
                       pathway=rule.pathway)
    prepare(net, rule, rng=ensembles.streams(seed + 1000, reps))
    return net, rule


def _data(seed=100, reps=2, sizes=SIZES, n_b=N_B):
    g = ensembles.streams(seed, reps)
    return ensembles.normal(g, (n_b, sizes[0])), ensembles.normal(g, (n_b, sizes[-1]), loc=0.3)


def test_every_pathway_of_the_issue_is_selectable_by_name():
    assert set(ALL) >= {"bp", "fa", "dfa", "usf", "frsf", "brsf", "kp", "wm"}
    for name in ALL:
        assert Rule(name).name == name and pathways.get(name).name == name
        assert Rule(name).as_dict()["pathway"]["name"] == name


# ---------------------------------------------------------------- error signals by hand


def _hand_matrix(name, l, r, seed=0, reps=2):
    """M_l of repetition r at the first step, written out from each pathway's definition."""
    drawn = init_network(ensembles.streams(seed, reps), SIZES, "tanh_relu", sd=0.5,
                         pathway="dfa" if name == "dfa" else "fa")
    W, B = drawn.W[l][r], drawn.B[l][r]
    if name == "bp":
        return W.T
    if name in ("fa", "kp", "wm", "dfa"):
        return B
    if name == "usf":
        return np.sqrt(np.mean(W**2)) * np.sign(W.T)
    if name == "frsf":
        return np.abs(B) * np.sign(W.T)
    if name == "brsf":  # the first magnitudes: layer by layer, repetition by repetition
        g = ensembles.streams(seed + 1000, reps)
        mags = {k: [np.abs(h.normal(0.0, 0.1, B.shape if k == l else drawn.B[k][0].shape))
                    for h in g] for k in range(1, drawn.depth)}
        return mags[l][r] * np.sign(W.T)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ALL)
def test_error_signals_match_a_direct_computation(name):
    net, rule = _setup(name)
    x, target = _data()
    Z, L = forward(net, x)
    e = target - L[-1]
    step = learn(net, rule, Z, L, e)
    f = net.activation
    expected = {3: e * f.df(Z[3])}
    for l in (2, 1):
        src = expected[3] if name == "dfa" else expected[l + 1]
        back = np.stack([src[r] @ _hand_matrix(name, l, r) for r in range(2)])
        expected[l] = back * f.df(Z[l])
    for l in (3, 2, 1):
        np.testing.assert_allclose(step.delta[l], expected[l], rtol=1e-10, atol=1e-14,
                                   err_msg=f"{name}: delta_{l}")
    for l in range(3):  # eq. 19: dW_l = eta L_l^T delta_{l+1}
        hand = np.stack([rule.eta * L[l][r].T @ expected[l + 1][r] for r in range(2)])
        np.testing.assert_allclose(step.dW[l], hand, rtol=1e-10, atol=1e-14)


def test_fa_with_b_equal_to_w_transpose_is_bp():
    net, _ = _setup("fa", seed=3)
    x, target = _data(seed=4)
    net.B = [None] + [linalg.transpose(w).copy() for w in net.W[1:]]
    Z, L = forward(net, x)
    e = target - L[-1]
    for a, b in zip(deltas(net, Z, e, "fa")[1:], deltas(net, Z, e, "bp")[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_dfa_with_one_hidden_layer_is_fa():
    sizes = (5, 4, 3)  # d = 2: D_1 has the shape of B_1 and is drawn from the same numbers
    out = {}
    for name in ("fa", "dfa"):
        net, rule = _setup(name, seed=7, sizes=sizes)
        for k in range(4):
            x, t = _data(seed=200 + k, sizes=sizes)
            step = train_step(net, rule, x, t)
        out[name] = (net, step)
    (fa, s_fa), (dfa, s_dfa) = out["fa"], out["dfa"]
    for a, b in zip(fa.W, dfa.W, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s_fa.delta[1], s_dfa.delta[1])


def test_dfa_sends_the_output_error_to_every_hidden_layer():
    net, _ = _setup("dfa", seed=8, sizes=(4, 6, 5, 3))
    assert net.B[1].shape == (2, 3, 6) and net.B[2].shape == (2, 3, 5)  # D_l: n_d x n_l
    x, t = _data(seed=9)
    Z, L = forward(net, x)
    d = deltas(net, Z, t - L[-1], "dfa")
    np.testing.assert_allclose(d[1], (d[3] @ net.B[1]) * net.activation.df(Z[1]), rtol=1e-12)


# ---------------------------------------------------------------- feedback that follows or learns


@pytest.mark.parametrize("name", ["usf", "frsf", "brsf"])
def test_sign_symmetric_b_has_exactly_the_signs_of_w_transpose(name):
    net, rule = _setup(name, seed=11)
    for k in range(5):
        x, t = _data(seed=300 + k)
        train_step(net, rule, x, t)
        for l in range(1, net.depth):
            np.testing.assert_array_equal(np.sign(net.B[l]), np.sign(linalg.transpose(net.W[l])))
    if name == "usf":  # B_l has the Frobenius norm of W_l
        for l in range(1, net.depth):
            np.testing.assert_allclose(linalg.frobenius_norm(net.B[l]),
                                       linalg.frobenius_norm(net.W[l]), rtol=1e-12)
    if name == "frsf":  # fixed magnitudes
        mags = np.abs(net.B[1])
        train_step(net, rule, *_data(seed=400))
        np.testing.assert_allclose(np.abs(net.B[1]), mags)
    if name == "brsf":  # redrawn magnitudes
        mags = np.abs(net.B[1])
        train_step(net, rule, *_data(seed=400))
        assert not np.allclose(np.abs(net.B[1]), mags)


def test_kolen_pollack_shrinks_the_difference_by_one_minus_lambda_per_step():
    # W^T - B <- (1 - lambda)(W^T - B) at every step (no normalisation), so after k steps
    # |W_k^T - B_k|_F = (1 - lambda)^k |W_0^T - B_0|_F and, once that is below |W_k|_F,
    # W_k ∠ B_k^T <= arcsin(|W_k^T - B_k|_F / |W_k|_F). W decays too, so the updates must
    # keep it up: lambda = 0.02, eta = 0.1, 200 steps ((1 - lambda)^200 = 0.018).
    lam, steps = 0.02, 200
    net, rule = _setup("kp", seed=12, decay=lam)
    rule = rule.replace(eta=0.1)
    diff0 = [linalg.frobenius_norm(linalg.transpose(net.W[l]) - net.B[l]) for l in (1, 2)]
    angle0 = linalg.angle(net.W[1], linalg.transpose(net.B[1]))
    for k in range(steps):
        train_step(net, rule, *_data(seed=500 + k))
    for i, l in enumerate((1, 2)):
        diff = linalg.frobenius_norm(linalg.transpose(net.W[l]) - net.B[l])
        np.testing.assert_allclose(diff, (1 - lam) ** steps * diff0[i], rtol=1e-9)
        ratio = diff / linalg.frobenius_norm(net.W[l])
        assert np.all(ratio < 1)
        angle = linalg.angle(net.W[l], linalg.transpose(net.B[l]))
        assert np.all(angle <= np.degrees(np.arcsin(ratio)) + 1e-9)
    assert np.all(angle0 > 85)
    assert np.all(linalg.angle(net.W[1], linalg.transpose(net.B[1])) < 10)


def test_weight_mirror_drives_b_towards_w_transpose():
    # The mirror's fixed point is (eta_b batch sd^2 / decay_b) W^T = W^T with the defaults.
    net, rule = _setup("wm", seed=13, reps=3)
    rule = Rule("wm", eta=1e-4)
    angle0 = linalg.angle(net.W[1], linalg.transpose(net.B[1]))
    assert np.all(angle0 > 70)
    for k in range(300):
        train_step(net, rule, *_data(seed=600 + k, reps=3))
    for l in (1, 2):
        angle = linalg.angle(net.W[l], linalg.transpose(net.B[l]))
        assert np.all(angle < 25), angle
        np.testing.assert_allclose(linalg.frobenius_norm(net.B[l]),
                                   linalg.frobenius_norm(net.W[l]), rtol=0.3)


# ---------------------------------------------------------------- stacked, deterministic, dtypes


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("wn", [False, True])
def test_every_pathway_stacked_equals_looped_and_is_deterministic(name, wn):
    reps, n_steps = 3, 4
    rule = Rule(name, eta=0.05, wn_gamma=1.0 if wn else None)
    data = ensembles.streams(99, reps)
    xs = [ensembles.normal(data, (N_B, SIZES[0])) for _ in range(n_steps)]
    ts = [ensembles.normal(data, (N_B, SIZES[-1])) for _ in range(n_steps)]

    def train(rep_slice):
        w_rng = ensembles.streams(98, reps)[rep_slice]
        run_rng = ensembles.streams(97, reps)[rep_slice]
        net = init_network(w_rng, SIZES, "tanh_relu", biases=True, pathway=rule.pathway)
        prepare(net, rule, rng=run_rng)
        for x, t in zip(xs, ts, strict=True):
            train_step(net, rule, x[rep_slice], t[rep_slice])
        return net

    stacked, again = train(slice(None)), train(slice(None))
    for a, b in zip(stacked.W + stacked.B[1:], again.W + again.B[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    for r in range(reps):
        alone = train(slice(r, r + 1))
        for a, b in zip(alone.W + alone.B[1:] + alone.b[1:],
                        stacked.W + stacked.B[1:] + stacked.b[1:], strict=True):
            np.testing.assert_allclose(a[0], b[r], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ALL)
def test_every_pathway_runs_in_float32(name):
    net, rule = _setup(name, dtype=np.float32)
    x, t = _data()
    step = train_step(net, rule, x.astype(np.float32), t.astype(np.float32), compare_bp=True)
    assert all(a.dtype == np.float32 for a in step.delta[1:] + step.dW + step.dW_bp)
    assert all(a.dtype == np.float32 for a in net.W + net.B[1:])


@pytest.mark.parametrize("name", ALL)
def test_every_pathway_trains_on_mnist_shaped_data_with_its_records(name):
    cfg = TrainConfig(width=20, depth=3, epochs=1, reps=2, n_batches=3, batch_size=20,
                      image_size=3, rule=Rule(name, eta=0.01, wn_gamma=1.0), record_bp=True,
                      dtype="float64")
    out = training.run(cfg, _mnist())
    assert np.all(np.isfinite(out["test_acc"])) and np.all(np.isfinite(out["dw_bp"]))
    if name == "bp":
        np.testing.assert_allclose(out["dw_bp"], 0.0, atol=1e-5)
    if name == "dfa":  # no B of W^T's shape: W ∠ B^T is undefined
        assert np.all(np.isnan(out["w_bt"]))
    else:
        assert np.all(np.isfinite(out["w_bt"]))


def _mnist(seed=0, n_train=60, n_test=40):
    g = np.random.default_rng(seed)
    return mnist.MNIST(x_train=g.uniform(0, 1, (n_train, 9)), y_train=g.integers(0, 10, n_train),
                       x_test=g.uniform(0, 1, (n_test, 9)), y_test=g.integers(0, 10, n_test))


# ---------------------------------------------------------------- bad input


def test_bad_pathways_and_normalisations_are_clear_errors():
    with pytest.raises(ValueError, match="unknown feedback pathway 'sgd'"):
        Rule("sgd")
    with pytest.raises(ValueError, match="has no parameter"):
        pathways.get("fa", decay=0.1)
    with pytest.raises(ValueError, match=r"decay \(lambda\) must be a finite number >= 0"):
        Rule(pathways.get("kp", decay=-0.1))
    with pytest.raises(ValueError, match=r"decay \(lambda\) must be < 1"):
        pathways.get("kp", decay=1.0)
    for sd in (0.0, -1.0):
        with pytest.raises(ValueError, match="noise_sd must be a finite number > 0"):
            pathways.get("wm", noise_sd=sd)
        with pytest.raises(ValueError, match="brsf sd must be a finite number > 0"):
            pathways.get("brsf", sd=sd)
    with pytest.raises(ValueError, match="batch must be a whole number >= 1"):
        pathways.get("wm", batch=2.5)
    for name in ("usf", "brsf"):
        with pytest.raises(ValueError, match=f"normalise_b does not apply to the '{name}'"):
            Rule(name, wn_gamma=1.0, normalise_b=True)
    for name in ("bp", "dfa", "usf", "frsf", "brsf", "kp", "wm"):
        with pytest.raises(ValueError, match=f"match_b .* does not apply to the '{name}'"):
            Rule(name, match_b=True)
    with pytest.raises(ValueError, match="normalise_b .* needs wn_gamma"):
        Rule("fa", normalise_b=True)
    with pytest.raises(TypeError, match="eta must be a real number"):
        Rule("fa", eta="0.1")
    with pytest.raises(TypeError, match="normalise_b must be a bool"):
        Rule("fa", wn_gamma=1.0, normalise_b="yes")
    with pytest.raises(ValueError, match="must hold one Generator per repetition"):
        net = init_network(ensembles.streams(0, 2), SIZES, "relu", pathway="brsf")
        prepare(net, Rule("brsf"))
    with pytest.raises(ValueError, match=r"the 'dfa' pathway needs B\[1\]"):
        prepare(init_network(ensembles.streams(0, 2), SIZES, "relu"), Rule("dfa"))
    with pytest.raises(ValueError, match="already registered"):
        register(type("Other", (Pathway,), {"name": "fa"}))


# ---------------------------------------------------------------- a new rule is one class


@pytest.fixture
def toy_pathway():
    """A pathway defined outside fa_lib, in a few lines: the feedback is the mean of B and W^T."""

    @dataclass(frozen=True)
    class HalfWayFeedback(Pathway):
        """Toy rule: ``M_l = (B_l + W_l^T) / 2`` (half-way between FA and BP)."""

        name: ClassVar[str] = "toy_halfway"
        fixed_b: ClassVar[bool] = False
        weight: float = 0.5

        def backward(self, net: Network, l: int, delta: list) -> np.ndarray:
            m = (1 - self.weight) * net.B[l] + self.weight * linalg.transpose(net.W[l])
            return delta[l + 1] @ m

    register(HalfWayFeedback)
    yield HalfWayFeedback
    del PATHWAYS["toy_halfway"]


def test_a_new_pathway_is_one_class_and_trains_in_both_engines(toy_pathway):
    rule = Rule("toy_halfway", eta=0.01, wn_gamma=1.0, normalise_b=True)
    # MNIST-shaped training, stacked repetitions, through training.run.
    cfg = TrainConfig(width=20, depth=3, epochs=2, reps=2, n_batches=3, batch_size=20,
                      image_size=3, rule=rule, record_bp=True, dtype="float64")
    out = training.run(cfg, _mnist())
    fa = training.run(cfg.replace(rule=rule.replace(pathway="fa")), _mnist())
    bp = training.run(cfg.replace(rule=rule.replace(pathway="bp")), _mnist())
    assert out["test_acc"].shape == (3, 2) and np.all(np.isfinite(out["dw_bp"]))
    # Half-way between: its update is closer to BP's than FA's is.
    assert np.nanmean(out["dw_bp"][:, :, 0]) < np.nanmean(fa["dw_bp"][:, :, 0])
    assert not np.allclose(out["w_bt"], bp["w_bt"])
    assert cfg.as_dict()["rule"]["pathway"] == {"name": "toy_halfway", "weight": 0.5}
    # The open-loop engine with WN, stacked variants.
    rules = [Rule("toy_halfway", eta=0.01), rule]
    ol = run_openloop(1, 3, 20, (6, 5, 3), 4, rules, e=Signal(every=1))
    assert ol["dw0"].shape == (20, 2, 3) and np.all(np.isfinite(ol["dw0"]))
    np.testing.assert_allclose(ol["norm_w1"][:, 1], np.sqrt(3.0), rtol=1e-9)  # WN: gamma sqrt(n_o)
    lone = run_openloop(1, 3, 20, (6, 5, 3), 4, rule, e=Signal(every=1))
    np.testing.assert_allclose(ol["dw0"][:, 1], lone["dw0"], rtol=1e-10)


def test_runtime_pathways_are_reproducible_through_both_engines():
    for name in sorted(RUNTIME):
        a = run_openloop(4, 2, 10, (6, 5, 3), 4, Rule(name, eta=0.01), e=Signal(every=1))
        b = run_openloop(4, 2, 10, (6, 5, 3), 4, Rule(name, eta=0.01), e=Signal(every=1))
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        c = run_openloop(4, 2, 10, (6, 5, 3), 4, [Rule(name, eta=0.01)] * 2, e=Signal(every=1))
        np.testing.assert_array_equal(c["w1_bt"][:, 1], a["w1_bt"])  # each variant its own copy
    net = init_network(ensembles.streams(0, 2), SIZES, "relu", pathway="wm")
    prepare(net, Rule("wm"), rng=ensembles.streams(1, 2))
    twin = net.copy()
    assert twin.state["rng"][0] is not net.state["rng"][0]
    x, t = _data()
    train_step(net, Rule("wm"), x, t)
    train_step(twin, Rule("wm"), x, t)
    np.testing.assert_array_equal(net.B[1], twin.B[1])
