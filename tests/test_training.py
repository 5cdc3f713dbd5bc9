"""Tests of fa_lib.training (the MNIST training loop and its recorders), on small synthetic data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fa_lib import ensembles, linalg, mnist, network, record, terms, training
from fa_lib.rule import Rule, train_step
from fa_lib.training import TrainConfig

SIDE = 3  # 9 input features


def _data(seed=0, n_train=60, n_test=40):
    g = np.random.default_rng(seed)
    return mnist.MNIST(
        x_train=g.uniform(0, 1, (n_train, SIDE * SIDE)),
        y_train=g.integers(0, 10, n_train),
        x_test=g.uniform(0, 1, (n_test, SIDE * SIDE)),
        y_test=g.integers(0, 10, n_test),
    )


def _cfg(eta=0.01, **kw):
    base = dict(width=20, depth=3, epochs=2, reps=2, n_batches=3, batch_size=20, image_size=SIDE,
                rule=Rule("fa", eta=eta), dtype="float64")
    return TrainConfig(**{**base, **kw})


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="width >= 50"):
        TrainConfig(width=40, n_hot=5)
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig(dtype="float16")
    with pytest.raises(ValueError, match="record_terms .* got 'bp'"):
        TrainConfig(rule=Rule("bp"), record_terms=True)
    with pytest.raises(ValueError, match="record_terms .* got 'dfa'"):
        TrainConfig(rule=Rule("dfa"), record_terms=True)
    with pytest.raises(ValueError, match="must divide"):
        TrainConfig(record_terms=True, terms_every=7)
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="rule must be a fa_lib.rule.Rule"):
        TrainConfig(rule="fa")
    # issue 18: non-integer sizes are refused, not truncated; impossible values fail early
    for bad in (dict(n_hot=2.5), dict(n_hot=0), dict(n_hot=-1), dict(seed=-1), dict(seed=1.5),
                dict(n_traces=2.5), dict(width=50.0)):  # 50.0 would be another cache key
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
            TrainConfig(**bad)
    for bad in (dict(epochs=True), dict(n_traces="2"), dict(seed=None)):
        with pytest.raises(TypeError, match=f"{next(iter(bad))} must be a whole number"):
            TrainConfig(**bad)
    for sd in (float("inf"), 0.0):
        with pytest.raises(ValueError, match="init_sd must be a finite number > 0"):
            TrainConfig(init_sd=sd)
    with pytest.raises(TypeError, match="init_sd must be a real number"):
        TrainConfig(init_sd="0.1")
    assert TrainConfig().hot == 5 and TrainConfig(width=100).hot == 10
    assert TrainConfig().sizes == (225, 50, 50, 50, 50, 50)
    assert TrainConfig().n_iter == 6000


def test_run_records_every_quantity_with_the_documented_shapes():
    cfg = _cfg(record_bp=True, record_terms=True, aln_orders=(1, 2), sup_orders=(1,),
               terms_every=2, n_traces=3)
    out = training.run(cfg, _data())
    n, r, d = cfg.n_iter, cfg.reps, cfg.depth
    assert out["w_bt"].shape == (n, r, d - 1) and np.all(np.isfinite(out["w_bt"]))
    assert out["norm_w"].shape == (n, r, d) and np.all(out["norm_w"] > 0)
    assert out["dw_bp"].shape == (n, r, d) and np.all(np.isfinite(out["dw_bp"]))
    assert out["active"].shape == (n, r, d) and np.all((out["active"] >= 0) & (out["active"] <= 1))
    assert out["test_acc"].shape == (cfg.epochs + 1, r)
    assert np.all((out["test_acc"] >= 0) & (out["test_acc"] <= 1))
    assert out["trace_L"].shape == (n, r, d, 3) and out["trace_delta"].shape == (n, r, d, 3)
    assert out["codes"].shape == (r, 10, cfg.width)
    assert int(out["diverged_at"]) == -1
    # The last layer's FA and BP directions are the same (delta_d does not involve B).
    np.testing.assert_allclose(out["dw_bp"][:, :, -1], 0.0, atol=1e-5)
    # Terms only on the grid k % 2 == 0, and only once k - o exists.
    t1, t2, sup = out["t1_aln"], out["t2_aln"], out["t1_sup"]
    assert np.all(np.isnan(t1[0])) and np.all(np.isnan(t2[:2]))
    assert np.all(np.isnan(t1[1::2])) and np.all(np.isnan(t2[1::2]))
    assert np.all(np.isfinite(t1[2::2])) and np.all(np.isfinite(t2[2::2]))
    assert np.all(np.isfinite(sup[2::2])) and np.all(np.isfinite(out["dw_bt"]))
    # The record compares each array by its declared kind: every array with headline
    # numbers is declared, the angles are in degrees and the accuracies are fractions.
    kinds = {k: record.kind_of(k, training.KINDS, default=None) for k in out
             if record.headline(k, out[k]) is not None}
    assert None not in kinds.values(), kinds
    ranges = {"angle": (0.0, 180.0), "accuracy": (0.0, 1.0), "other": (-np.inf, np.inf)}
    for name, kind in kinds.items():
        low, high = ranges[kind]
        assert low <= np.nanmin(out[name]) and np.nanmax(out[name]) <= high, name


def test_a_repetition_is_the_same_alone_or_stacked():
    stacked = training.run(_cfg(reps=3, record_bp=True), _data())
    alone = training.run(_cfg(reps=1, record_bp=True), _data())
    for key in ("w_bt", "dw_bp", "loss", "norm_w", "test_acc"):
        np.testing.assert_allclose(stacked[key][:, :1], alone[key], rtol=1e-10, err_msg=key)
    assert not np.allclose(stacked["loss"][:, 0], stacked["loss"][:, 1])


def test_batches_are_visited_in_the_same_order_every_epoch():
    # With a vanishing learning rate the traced activities repeat with the period n_batches.
    out = training.run(_cfg(eta=1e-12, epochs=3, n_traces=2), _data())
    n_b = 3
    np.testing.assert_allclose(out["trace_L"][n_b:], out["trace_L"][:-n_b], rtol=1e-8)
    assert not np.allclose(out["trace_L"][1], out["trace_L"][0])


def test_recorded_terms_match_a_replay_with_the_engine():
    cfg = _cfg(reps=2, epochs=1, record_terms=True, aln_orders=(1,), sup_orders=(1,),
               terms_every=1)
    data = _data()
    out = training.run(cfg, data)
    # Replay the first two iterations with fa_lib.network and fa_lib.terms directly.
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = network.init_network([s[0] for s in subs], cfg.sizes, "tanh_relu", sd=cfg.init_sd)
    codes = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    xb, yb = mnist.minibatches(data.x_train, data.y_train, cfg.batch_size)
    rule = cfg.rule
    steps, w_hist = [], []
    for k in range(2):
        w_hist.append(list(net.W))
        steps.append(train_step(net, rule, xb[k], codes[:, yb[k]]))
    s0, s1 = steps
    for ell in (1, 2):
        bt = linalg.transpose(net.B[ell])
        t_aln = terms.alignment_term(w_hist[0][ell - 1], s0.L[ell - 1], s1.L[ell - 1],
                                     s0.delta[ell], s1.delta[ell + 1], cfg.rule.eta, "tanh_relu")
        t_sup = terms.sup_alignment_term(w_hist[0][ell - 1], s1.L[ell - 1], s1.delta[ell + 1],
                                         cfg.rule.eta, "tanh_relu")
        np.testing.assert_allclose(out["t1_aln"][1, :, ell - 1], linalg.angle(t_aln, bt), rtol=1e-9)
        np.testing.assert_allclose(out["t1_sup"][1, :, ell - 1], linalg.angle(t_sup, bt), rtol=1e-9)
        np.testing.assert_allclose(out["dw_bt"][1, :, ell - 1], linalg.angle(s1.dW[ell], bt),
                                   rtol=1e-9)
        # eq. 20: dW_l[k] = T^1_aln[k] + T^1_sup[k] up to second order in eta.
        err = linalg.frobenius_norm(s1.dW[ell] - t_aln - t_sup) / linalg.frobenius_norm(s1.dW[ell])
        assert np.all(err < 0.05)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_divergence_raises_or_is_recorded():
    cfg = _cfg(eta=1e39, dtype="float32")  # the first update overflows float32
    with pytest.raises(FloatingPointError, match=r"iteration 0.*eta = 1e\+39"):
        training.run(cfg, _data())
    out = training.run(cfg, _data(), stop_on_divergence=True)
    assert int(out["diverged_at"]) == 0
    assert np.all(np.isnan(out["loss"][1:])) and np.all(np.isnan(out["test_acc"][1:]))


def test_record_final_keeps_the_final_weights_and_only_then():
    cfg = _cfg(record_final=True, dtype="float32", biases=True)
    out = training.run(cfg, _data())
    d, r = cfg.depth, cfg.reps
    assert sorted(k for k in out if k.startswith("final_")) == sorted(
        [f"final_w{ell}" for ell in range(d)] + [f"final_b{ell}" for ell in range(1, d + 1)])
    for ell in range(d):
        w = out[f"final_w{ell}"]
        assert w.shape == (r, cfg.sizes[ell], cfg.sizes[ell + 1]) and w.dtype == np.float32
        assert np.all(np.isfinite(w))
    for ell in range(1, d + 1):
        assert out[f"final_b{ell}"].shape == (r, 1, cfg.sizes[ell])
    # The norms recorded at iteration k are those of the weights before its update: the
    # final weights moved on from the last of them.
    np.testing.assert_allclose(out["norm_w"][-1], np.stack(
        [linalg.frobenius_norm(out[f"final_w{ell}"]) for ell in range(d)], axis=-1), rtol=0.1)
    plain = training.run(cfg.replace(record_final=False), _data())
    assert not any(k.startswith("final_") for k in plain)
    np.testing.assert_array_equal(plain["loss"], out["loss"])  # recording changes nothing
    assert "record_final" not in cfg.replace(record_final=False).as_dict()
    assert cfg.as_dict()["record_final"] is True


def test_final_weights_have_no_headline_numbers():
    out = training.run(_cfg(record_final=True, biases=True, epochs=1), _data())
    finals = [k for k in out if k.startswith("final_")]
    assert finals and all(record.headline(k, out[k]) is None for k in finals)


def test_float32_and_float64_runs_agree():
    a = training.run(_cfg(record_bp=True), _data())
    b = training.run(_cfg(record_bp=True, dtype="float32"), _data())
    np.testing.assert_allclose(a["w_bt"], b["w_bt"], atol=1e-2)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)


def test_encode_decode_and_accuracy_agree_with_the_mnist_module():
    g = np.random.default_rng(3)
    codes = np.stack([ensembles.n_hot_codes(g, 10, 30, 3) for _ in range(2)])
    labels = g.integers(0, 10, 17)
    targets = training.encode(codes, labels)
    outputs = g.normal(size=(2, 17, 30))
    for r in range(2):
        np.testing.assert_array_equal(targets[r], mnist.encode_labels(labels, codes[r]))
        np.testing.assert_array_equal(training.decode(outputs, codes)[r],
                                      mnist.decode(outputs[r], codes[r]))
    np.testing.assert_array_equal(training.decode(targets, codes), np.stack([labels, labels]))
    with pytest.raises(ValueError, match="must agree"):
        training.decode(outputs[0], codes)
    for bad in ([-1], [11], [0, 10]):  # -1 would silently give class 9's code
        with pytest.raises(ValueError, match=r"labels must be classes 0\.\.9"):
            training.encode(codes, np.array(bad))
    with pytest.raises(ValueError, match="labels must be integers"):
        training.encode(codes, np.array([1.5]))
    net = network.init_network(ensembles.streams(0, 2), (9, 30), "tanh_relu", sd=0.1)
    x, y = g.uniform(size=(50, 9)), g.integers(0, 10, 50)
    np.testing.assert_allclose(training.accuracy(net, codes, x, y, chunk=7),
                               training.accuracy(net, codes, x, y))


MNIST_DIR = os.environ.get("FA_MNIST_DIR", "")


@pytest.mark.skipif(not (MNIST_DIR and Path(MNIST_DIR).is_dir()), reason="FA_MNIST_DIR not set")
def test_cached_run_on_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    cfg = TrainConfig(width=10, reps=1, epochs=1, n_batches=2, n_test=200)
    first = training.cached_run("test-mnist", cfg)
    assert list(tmp_path.glob("test-mnist-*.npz"))
    again = training.cached_run("test-mnist", cfg)
    np.testing.assert_array_equal(first["w_bt"], again["w_bt"])
    assert first["w_bt"].shape == (2, 1, 4)
    data = training.load_data()
    assert data.x_train.shape == (60000, 225) and not data.x_train.flags.writeable


# ------------------------------------------------------------ the chapter's experiment module


def test_experiment_summaries():
    from fa_lib.experiments import mnist_alignment as m

    res = {"x": np.array([[1.0, np.nan], [3.0, np.nan], [5.0, np.nan]])}  # n_iter x R
    np.testing.assert_allclose(m.last_epoch_mean(res, "x", n_batches=2), [4.0, np.nan])
    np.testing.assert_allclose(m.window_mean(res, "x", 0, 2)[0], 2.0)
    with pytest.raises(ValueError, match="no value"):
        m.window_mean({"x": np.full((3, 2), np.nan)}, "x", 0, 3)
    cmp = m.compare(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.5, 3.5, 9.0]))
    assert cmp.a_below_b_always and not cmp.a_above_b_always and cmp.diff.n == 3
    assert "in 3 of 3 repetitions" in cmp.text("a", "b")
    t = m.window_test({"y": np.full((4, 3, 2), 80.0) + np.arange(3)[None, :, None]}, "y", 0, 4)
    assert t.mean == pytest.approx(81.0) and t.sems_below(90.0) > 10


def test_correlograms_find_the_period_of_repeated_batches():
    from fa_lib.experiments import mnist_alignment as m

    g = np.random.default_rng(0)
    period, n_iter = 6, 240
    pattern = g.normal(size=(period, 2, 3, 2))  # one value per batch, R = 2, d = 3, 2 traces
    traces = np.tile(pattern, (n_iter // period, 1, 1, 1)) + 0.05 * g.normal(size=(n_iter, 2, 3, 2))
    lags, values = m.correlograms({"trace_delta": traces}, "trace_delta", 20)
    assert values.shape == (3, 41)
    np.testing.assert_allclose(values[:, 20], 1.0)
    at, off = m.periodic_peaks(lags, values, period)
    assert np.all(at > 0.9) and np.all(np.abs(off) < 0.3)
    with pytest.raises(ValueError, match="multiple"):
        m.periodic_peaks(lags[18:23], values[:, 18:23], period)


def test_every_grid_point_of_fig_s2_has_a_matching_run():
    from fa_lib.experiments import mnist_alignment as m

    for (sweep, value, wn), name in m.s2_grid().items():
        cfg = m.configs()[name]
        assert (cfg.rule.wn_gamma is not None) == wn
        if sweep == "gamma":
            assert cfg.rule.wn_gamma == value
        elif sweep == "eta":
            assert cfg.rule.eta == value and cfg.width == 50
        else:
            assert cfg.width == value and cfg.rule.eta == m.FA_ETA
    assert set(m.names()) == set(m.configs())
    assert list(m.experiments()) == m.names()
    for name in m.fig7_runs().values():
        assert m.configs()[name].record_terms
    with pytest.raises(ValueError, match="unknown run"):
        m.results("no-such-run")
