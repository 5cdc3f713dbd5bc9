"""Tests of fa_lib.openloop: imposed X and E sequences and the open-loop two-layer runs."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import ensembles
from fa_lib.openloop import Signal, run_openloop
from fa_lib.rule import Rule

SIZES = (6, 5, 3)
N_B = 4


def _alone_seed(seed: int, r: int) -> np.random.SeedSequence:
    """A seed whose single stream is repetition ``r`` of ``ensembles.streams(seed, R)``.

    ``streams`` spawns children ``0 .. R-1`` of ``SeedSequence(seed)``; a SeedSequence that has
    already spawned ``r`` children hands out child ``r`` next, so ``run_openloop(..., reps=1)``
    with it runs repetition ``r`` alone.
    """
    return np.random.SeedSequence(seed, n_children_spawned=r)


def test_alone_seed_gives_the_stream_of_repetition_r():
    for r in range(4):
        a = ensembles.streams(_alone_seed(5, r), 1)[0].normal(size=3)
        b = ensembles.streams(5, 4)[r].normal(size=3)
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- signals


def test_signal_constant_redraw_and_ar1():
    g = ensembles.streams(1, 2)
    const = CONST = Signal().start(g, (3, 2))
    v0 = CONST(0)
    assert v0.shape == (2, 3, 2)
    for k in range(1, 5):
        np.testing.assert_array_equal(const(k), v0)

    every2 = Signal(every=2).start(ensembles.streams(1, 2), (3, 2))
    vals = [every2(k).copy() for k in range(6)]
    np.testing.assert_array_equal(vals[0], vals[1])
    np.testing.assert_array_equal(vals[2], vals[3])
    assert not np.array_equal(vals[1], vals[2]) and not np.array_equal(vals[3], vals[4])

    beta = 0.6
    gs = ensembles.streams(2, 2)
    ar = Signal(beta=beta, loc=0.5).start(gs, (3, 2))
    ref = ensembles.streams(2, 2)
    s = ensembles.normal(ref, (3, 2), loc=0.5)
    np.testing.assert_array_equal(ar(0), s)
    for k in range(1, 4):
        s = beta * s + (1 - beta) * ensembles.normal(ref, (3, 2), loc=0.5)  # eqs. 6-7
        np.testing.assert_allclose(ar(k), s, rtol=1e-14)


def test_signal_per_repetition_beta():
    sig = Signal(beta=[0.0, 1.0]).start(ensembles.streams(3, 2), (2, 2))
    first = sig(0).copy()
    second = sig(1)
    np.testing.assert_array_equal(second[1], first[1])  # beta = 1: constant
    assert not np.array_equal(second[0], first[0])  # beta = 0: redrawn


@pytest.mark.parametrize("beta", [-0.5, 1.5])
def test_signal_rejects_beta_outside_unit_interval(beta):
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        Signal(beta=beta).start(ensembles.streams(0, 1), (2, 2))
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        Signal(beta=[0.5, beta]).start(ensembles.streams(0, 2), (2, 2))


def test_signal_rejects_a_beta_list_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"beta must be one value or one per repetition \(3\)"):
        Signal(beta=[0.2, 0.4]).start(ensembles.streams(0, 3), (2, 2))


def test_signal_rejects_bad_every():
    with pytest.raises(ValueError, match="every must be a positive number"):
        Signal(every=0).start(ensembles.streams(0, 1), (2, 2))


# ---------------------------------------------------------------- run vs a direct implementation


def _reference_run(seed, reps, n_iter, eta, redraw):
    """The open loop of Secs. 2.1-2.2 written out with plain numpy (ReLU, f'(0) = 1).

    ``X`` and ``E`` are constant, or (``redraw``) drawn afresh every iteration; also records the
    angles with ``B^T`` of ``T^1_aln`` (eq. 25), ``T^1_sup`` (eq. 22) and of their running sums.
    """
    subs = [g.spawn(3) for g in ensembles.streams(seed, reps)]
    w0, w1, b = [], [], []
    for s in subs:
        g = s[0]
        w0.append(g.normal(size=(SIZES[0], SIZES[1])))
        w1.append(g.normal(size=(SIZES[1], SIZES[2])))
        b.append(g.normal(size=(SIZES[2], SIZES[1])))
    w0, w1, b = np.stack(w0), np.stack(w1), np.stack(b)
    tr = np.swapaxes
    bt = tr(b, 1, 2)

    def draw():
        x = np.stack([s[1].normal(size=(N_B, SIZES[0])) for s in subs])
        e = np.stack([s[2].normal(size=(N_B, SIZES[2])) for s in subs])
        return x, e

    def ang(p, q):
        c = np.sum(p * q, axis=(1, 2)) / np.sqrt(
            np.sum(p * p, axis=(1, 2)) * np.sum(q * q, axis=(1, 2))
        )
        return np.degrees(np.arccos(np.clip(c, -1, 1)))

    names = ["w1_bt", "dw0", "dw1", "norm_w0", "norm_w1", "t1_aln", "t1_sup"]
    out = {n: [] for n in names + ["sum_t1_aln", "sum_t1_sup", "dead"]}
    x, e = draw()
    prev, sum_aln, sum_sup = None, 0.0, 0.0
    for k in range(n_iter):
        if redraw and k > 0:
            x, e = draw()
        z1 = x @ w0
        l1 = np.maximum(z1, 0)
        z2 = l1 @ w1
        d2 = e * (z2 >= 0)  # E is imposed: delta_2 = E * f'(Z_2), f'(0) = 1
        d1_fa = (d2 @ b) * (z1 >= 0)
        d1_bp = (d2 @ tr(w1, 1, 2)) * (z1 >= 0)  # BP with W_1 before the update (eq. 16)
        dw0, dw0_bp, dw1 = (
            eta * tr(x, 1, 2) @ d1_fa,
            eta * tr(x, 1, 2) @ d1_bp,
            eta * tr(l1, 1, 2) @ d2,
        )
        if prev is None:
            t_aln = t_sup = np.full(reps, np.nan)
            s_aln = s_sup = np.full(reps, np.nan)
        else:
            w0_old, x_old, d1_old = prev
            pre = tr(w0_old, 1, 2) @ tr(x, 1, 2)  # W_0[k-1]^T X[k]^T
            aln = eta * (((pre >= 0) * (eta * tr(d1_old, 1, 2) @ x_old @ tr(x, 1, 2))) @ d2)
            sup = eta * (np.maximum(pre, 0) @ d2)
            sum_aln, sum_sup = sum_aln + aln, sum_sup + sup
            t_aln, t_sup, s_aln, s_sup = (
                ang(aln, bt),
                ang(sup, bt),
                ang(sum_aln, bt),
                ang(sum_sup, bt),
            )
        prev = (w0, x, d1_fa)
        w0, w1 = w0 + dw0, w1 + dw1
        out["w1_bt"].append(ang(w1, bt))
        out["dw0"].append(ang(dw0, dw0_bp))
        out["dw1"].append(ang(dw1, bt))
        out["norm_w0"].append(np.sqrt(np.sum(w0 * w0, axis=(1, 2))))
        out["norm_w1"].append(np.sqrt(np.sum(w1 * w1, axis=(1, 2))))
        out["dead"].append(np.all(d2 == 0, axis=(1, 2)).astype(float))
        out["t1_aln"].append(t_aln)
        out["t1_sup"].append(t_sup)
        out["sum_t1_aln"].append(s_aln)
        out["sum_t1_sup"].append(s_sup)
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("redraw", [False, True], ids=["constant", "redrawn"])
def test_run_openloop_matches_a_direct_implementation(redraw):
    seed, reps, n_iter, eta = 17, 3, 25, 0.01
    signal = Signal(every=1) if redraw else Signal()
    got = run_openloop(
        seed, reps, n_iter, SIZES, N_B, Rule("fa", eta=eta), x=signal, e=signal, record_terms=True
    )
    ref = _reference_run(seed, reps, n_iter, eta, redraw)
    assert set(got) == set(ref)
    for name, trace in ref.items():
        assert got[name].shape == (n_iter, reps)
        np.testing.assert_allclose(
            got[name], trace, rtol=1e-10, atol=1e-8, equal_nan=True, err_msg=name
        )


# ---------------------------------------------------------------- stacking and seeds

CASES = {
    "relu-ar1-wn": dict(
        rule=Rule("fa", eta=0.01, wn_gamma=1.0),
        x=Signal(beta=0.7),
        e=Signal(every=2, loc=0.5),
        activation="relu",
        record_terms=True,
    ),
    "identity-constant": dict(rule=Rule("fa", eta=0.005), activation="identity"),
    "relu-wn-b-as-drawn": dict(
        rule=Rule("fa", eta=0.01, wn_gamma=0.7, normalise_b=False),
        e=Signal(every=1),
        record_terms=True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_openloop_stacked_equals_each_repetition_alone(case):
    seed, reps, n_iter = 23, 3, 12
    kw = CASES[case]
    stacked = run_openloop(seed, reps, n_iter, SIZES, N_B, **kw)
    for r in range(reps):
        alone = run_openloop(_alone_seed(seed, r), 1, n_iter, SIZES, N_B, **kw)
        for name, trace in stacked.items():
            np.testing.assert_allclose(
                alone[name][:, 0], trace[:, r], rtol=1e-10, atol=1e-10, equal_nan=True, err_msg=name
            )
    # repetition 0 is also what a plain integer seed with reps=1 gives
    first = run_openloop(seed, 1, n_iter, SIZES, N_B, **kw)
    np.testing.assert_allclose(first["w1_bt"][:, 0], stacked["w1_bt"][:, 0], rtol=1e-10)


def test_run_openloop_per_repetition_beta_equals_separate_runs():
    seed, n_iter, betas = 31, 10, [0.0, 0.5, 1.0]
    stacked = run_openloop(seed, 3, n_iter, SIZES, N_B, Rule("fa", eta=0.01), e=Signal(beta=betas))
    for r, beta in enumerate(betas):
        alone = run_openloop(
            _alone_seed(seed, r), 1, n_iter, SIZES, N_B, Rule("fa", eta=0.01), e=Signal(beta=beta)
        )
        np.testing.assert_allclose(alone["dw0"][:, 0], stacked["dw0"][:, r], rtol=1e-10, atol=1e-10)


def test_run_openloop_same_seed_same_numbers():
    kw = CASES["relu-ar1-wn"]
    a = run_openloop(5, 2, 10, SIZES, N_B, **kw)
    b = run_openloop(5, 2, 10, SIZES, N_B, **kw)
    c = run_openloop(6, 2, 10, SIZES, N_B, **kw)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["w1_bt"], c["w1_bt"])


def test_run_openloop_records_terms_from_the_second_iteration():
    out = run_openloop(1, 2, 6, SIZES, N_B, **CASES["relu-ar1-wn"])
    assert set(out) == {
        "w1_bt",
        "dw0",
        "dw1",
        "norm_w0",
        "norm_w1",
        "dead",
        "t1_aln",
        "t1_sup",
        "sum_t1_aln",
        "sum_t1_sup",
    }
    for name in ("t1_aln", "t1_sup", "sum_t1_aln", "sum_t1_sup"):
        assert np.all(np.isnan(out[name][0])) and np.all(np.isfinite(out[name][1:]))
    # with neuron-wise WN every column of W_0 and W_1 has norm gamma = 1: |W|_F = sqrt(n_columns)
    np.testing.assert_allclose(out["norm_w0"], np.sqrt(SIZES[1]), rtol=1e-12)
    np.testing.assert_allclose(out["norm_w1"], np.sqrt(SIZES[2]), rtol=1e-12)
    # the running sums start at k = 1 with the first term
    np.testing.assert_allclose(out["sum_t1_aln"][1], out["t1_aln"][1], rtol=1e-12)


def test_a_silent_relu_net_gives_nan_angles_not_an_error():
    """n_b = n_o = 1: about half the nets start with Z_2 < 0, so delta_2 = 0 and dW = 0."""
    out = run_openloop(0, 8, 3, (3, 2, 1), 1, Rule("fa", eta=0.01), record_terms=True)
    dead = np.isnan(out["dw1"])
    assert dead.any() and not dead.all()
    # a silent output layer stops all learning: dW_0 is zero too, and W_1 keeps its angle
    assert np.all(np.isnan(out["dw0"][dead]))
    assert np.all(np.isfinite(out["w1_bt"]))
    np.testing.assert_array_equal(np.diff(out["norm_w1"], axis=0)[dead[1:]], 0.0)


# ---------------------------------------------------------------- errors


def test_a_diverging_run_names_the_iteration_and_eta():
    with (
        np.errstate(all="ignore"),
        pytest.raises(
            FloatingPointError,
            match=r"diverged at iteration 1: W\[1\] holds NaN or Inf \(eta = 1e\+200\)",
        ),
    ):
        run_openloop(0, 2, 5, SIZES, N_B, Rule("fa", eta=1e200), activation="identity")


def test_run_openloop_rejects_bad_input():
    rule = Rule("fa", eta=0.01)
    with pytest.raises(ValueError, match="reps must be a whole number >= 1; got 0"):
        run_openloop(0, 0, 5, SIZES, N_B, rule)
    with pytest.raises(ValueError, match="n_iter must be a whole number >= 1; got 0"):
        run_openloop(0, 2, 0, SIZES, N_B, rule)
    with pytest.raises(ValueError, match="n_iter must be a whole number >= 1; got 2.5"):
        run_openloop(0, 2, 2.5, SIZES, N_B, rule)
    with pytest.raises(ValueError, match="rule must be a fa_lib.rule.Rule"):
        run_openloop(0, 2, 5, SIZES, N_B, None)
    with pytest.raises(ValueError, match="must share the pathway and the learning rate"):
        run_openloop(0, 2, 5, SIZES, N_B, [rule, Rule("fa", eta=0.02)])
    with pytest.raises(ValueError, match="record_terms .* 'dfa'"):
        run_openloop(0, 2, 5, SIZES, N_B, Rule("dfa", eta=0.01), record_terms=True)
    with pytest.raises(ValueError, match=r"sizes must be \(n_i, n_h, n_o\)"):
        run_openloop(0, 2, 5, (4, 3), N_B, rule)
    with pytest.raises(ValueError, match="unknown activation"):
        run_openloop(0, 2, 5, SIZES, N_B, rule, activation="tanh")
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        run_openloop(0, 2, 5, SIZES, N_B, rule, x=Signal(beta=1.2))


def test_observe_records_extra_traces_each_iteration():
    seen = []

    def observe(k, net, step):
        seen.append(k)
        return {"w1_norm_again": np.sqrt(np.sum(net.W[1] ** 2, axis=(1, 2)))}

    out = run_openloop(3, 2, 5, SIZES, N_B, Rule("fa", eta=0.01), observe=observe)
    assert seen == list(range(5))
    np.testing.assert_allclose(out["w1_norm_again"], out["norm_w1"], rtol=1e-12)


@pytest.mark.parametrize("record_terms", [False, True])
def test_stacked_variants_equal_each_rule_alone(record_terms):
    # The variants of a figure run stacked; each equals its rule run alone.
    rules = [Rule("fa", eta=0.05), Rule("fa", eta=0.05, wn_gamma=0.8),
             Rule("fa", eta=0.05, wn_gamma=0.8, normalise_b=True)]
    x, e = Signal(beta=[0.5, 0.9, 1.0]), Signal(beta=0.7)
    stacked = run_openloop(5, 3, 6, (7, 6, 4), 5, rules, x=x, e=e, record_terms=record_terms)
    for v, rule in enumerate(rules):
        lone = run_openloop(5, 3, 6, (7, 6, 4), 5, rule, x=x, e=e, record_terms=record_terms)
        assert set(stacked) == set(lone)
        for k, a in stacked.items():
            assert a.shape == (6, 3, 3)
            np.testing.assert_allclose(a[:, v], lone[k], rtol=1e-10, atol=1e-10,
                                       equal_nan=True, err_msg=f"{v}: {k}")


def test_float32_follows_float64():
    rules = [Rule("fa", eta=0.01), Rule("fa", eta=0.01, wn_gamma=1.0)]
    kw = dict(x=Signal(beta=0.9), e=Signal(beta=0.5))
    a = run_openloop(2, 3, 5, (20, 20, 5), 20, rules, dtype="float64", **kw)
    b = run_openloop(2, 3, 5, (20, 20, 5), 20, rules, dtype="float32", **kw)
    for k in ("w1_bt", "dw0", "dw1"):
        np.testing.assert_allclose(b[k], a[k], atol=1e-2)
    with pytest.raises(ValueError, match="dtype"):
        run_openloop(2, 3, 5, (20, 20, 5), 20, rules, dtype="float16")
