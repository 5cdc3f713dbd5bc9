"""Tests of fa_lib.readout (linear read-outs of hidden layers) and of the final weights that
``TrainConfig(record_final=True)`` keeps."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache, ensembles, mnist, network, readout, training
from fa_lib.rule import Rule, prepare, train_step
from fa_lib.training import TrainConfig

SIDE = 3  # 9 input features
MNIST_DIR = os.environ.get("FA_MNIST_DIR", "")


def _data(seed=0, n_train=300, n_test=200, noise=0.3):
    """Synthetic data whose class is linearly decodable: a class pattern plus noise."""
    g = np.random.default_rng(seed)
    patterns = g.uniform(0, 1, (10, SIDE * SIDE))

    def draw(n):
        y = g.integers(0, 10, n)
        return np.clip(patterns[y] + noise * g.normal(size=(n, SIDE * SIDE)), 0, 1), y

    (x_train, y_train), (x_test, y_test) = draw(n_train), draw(n_test)
    return mnist.MNIST(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def _cfg(**kw):
    base = dict(width=20, depth=3, epochs=2, reps=2, n_batches=5, batch_size=20, image_size=SIDE,
                rule=Rule("fa", eta=0.01), dtype="float64", n_test=200, record_final=True)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained():
    cfg, data = _cfg(), _data()
    return cfg, data, training.run(cfg, data)


def test_record_final_leaves_the_cache_key_of_every_other_run_alone():
    for cfg in (TrainConfig(), _cfg(record_final=False), TrainConfig(biases=True, holdout=10)):
        # The dict without the field, as it was before the field existed.
        old = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
               if f.name != "record_final"}
        old["rule"] = cfg.rule.as_dict()
        assert cfg.as_dict() == old
        assert cache.canonical_json(cfg.as_dict()) == cache.canonical_json(old)
        on = cfg.replace(record_final=True).as_dict()
        assert on == {**old, "record_final": True}
    with pytest.raises(TypeError, match="record_final must be a bool"):
        TrainConfig(record_final=1)


def test_final_weights_are_those_of_a_replay_by_hand(trained):
    cfg, data, out = trained
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = network.init_network([s[0] for s in subs], cfg.sizes, training.ACTIVATION,
                               sd=cfg.init_sd, dtype=np.float64, pathway=cfg.rule.pathway)
    prepare(net, cfg.rule, rng=[s[3] for s in subs])
    codes = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    xb, yb = mnist.minibatches(data.x_train, data.y_train, cfg.batch_size)
    for k in range(cfg.n_iter):
        b = k % cfg.n_batches
        train_step(net, cfg.rule, xb[b], codes[:, yb[b]])
    for ell in range(cfg.depth):
        w = out[f"final_w{ell}"]
        assert w.shape == (cfg.reps, cfg.sizes[ell], cfg.sizes[ell + 1]) and w.dtype == np.float64
        np.testing.assert_allclose(w, net.W[ell], rtol=1e-12, atol=1e-15)
    assert f"final_w{cfg.depth}" not in out and not any(k.startswith("final_b") for k in out)
    # The last recorded test accuracy is that of a network built from the final weights.
    rebuilt = network.Network([out[f"final_w{ell}"] for ell in range(cfg.depth)], net.B,
                              training.ACTIVATION)
    np.testing.assert_array_equal(
        training.accuracy(rebuilt, out["codes"], data.x_test[:cfg.n_test],
                          data.y_test[:cfg.n_test]), out["test_acc"][-1])


def test_hidden_activity_is_the_forward_pass(trained):
    cfg, data, out = trained
    weights = [out[f"final_w{ell}"] for ell in range(cfg.depth)]
    x = data.x_test[:23]
    acts = readout.hidden_activity(weights, x, chunk=5)  # chunks: same numbers
    _, L = network.forward(network.Network(weights, [None] + [np.swapaxes(w, -1, -2)
                                                              for w in weights[1:]],
                                           training.ACTIVATION), x)
    assert len(acts) == cfg.depth - 1
    for ell in range(1, cfg.depth):
        assert acts[ell - 1].shape == (cfg.reps, len(x), cfg.width)
        np.testing.assert_allclose(acts[ell - 1], L[ell], rtol=1e-13)
    with pytest.raises(ValueError, match="d >= 2"):
        readout.hidden_activity(weights[:1], x)
    with pytest.raises(ValueError, match="images must be n x n_0"):
        readout.hidden_activity(weights, x[None])
    with pytest.raises(ValueError, match="rows but"):
        readout.hidden_activity([weights[0], weights[0]], x)


def test_readout_accuracy_is_a_percentage_above_chance(trained):
    cfg, data, out = trained
    acc = readout.readout_accuracy(out, cfg, data, n_images=200)
    assert acc.shape == (cfg.reps, cfg.depth - 1) and acc.dtype == np.float64
    assert np.all((acc >= 0) & (acc <= 100)) and np.all(acc > 30), acc
    # Deterministic, and the fit set is the last training images.
    np.testing.assert_array_equal(readout.readout_accuracy(out, cfg, data, n_images=200), acc)
    shifted = mnist.MNIST(np.concatenate([data.x_train[:7], data.x_train[-200:]]),
                          np.concatenate([data.y_train[:7], data.y_train[-200:]]),
                          data.x_test, data.y_test)
    np.testing.assert_array_equal(readout.readout_accuracy(out, cfg, shifted, n_images=200), acc)


def test_a_diverged_repetition_reads_out_as_nan(trained):
    cfg, data, out = trained
    good = readout.readout_accuracy(out, cfg, data, n_images=200)
    broken = dict(out)
    broken["final_w1"] = out["final_w1"].copy()
    broken["final_w1"][0, 0, 0] = np.nan
    acc = readout.readout_accuracy(broken, cfg, data, n_images=200)
    assert np.all(np.isnan(acc[0]))
    np.testing.assert_array_equal(acc[1], good[1])


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_a_run_stopped_on_divergence_has_nan_final_weights():
    cfg = _cfg(rule=Rule("fa", eta=1e39), dtype="float32", biases=True)
    out = training.run(cfg, _data(), stop_on_divergence=True)
    assert int(out["diverged_at"]) == 0
    for ell in range(cfg.depth):
        assert out[f"final_w{ell}"].dtype == np.float32
        assert np.all(np.isnan(out[f"final_w{ell}"]))
    for ell in range(1, cfg.depth + 1):
        assert out[f"final_b{ell}"].shape == (cfg.reps, 1, cfg.width)
        assert np.all(np.isnan(out[f"final_b{ell}"]))
    acc = readout.readout_accuracy(out, cfg, _data(), n_images=100)
    assert acc.shape == (cfg.reps, cfg.depth - 1) and np.all(np.isnan(acc))


def test_biases_are_kept_and_read_out():
    cfg, data = _cfg(biases=True, epochs=1), _data()
    out = training.run(cfg, data)
    for ell in range(1, cfg.depth + 1):
        assert out[f"final_b{ell}"].shape == (cfg.reps, 1, cfg.sizes[ell])
    weights, biases = readout.final_weights(out, cfg)
    assert biases[0] is None and len(biases) == cfg.depth + 1
    acts = readout.hidden_activity(weights, data.x_test[:5], biases=biases)
    plain = readout.hidden_activity(weights, data.x_test[:5])
    assert not np.allclose(acts[0], plain[0])  # the biases are used
    acc = readout.readout_accuracy(out, cfg, data, n_images=200)
    assert np.all((acc > 10) & (acc <= 100))


def test_clear_errors(trained):
    cfg, data, out = trained
    plain = training.run(cfg.replace(record_final=False, epochs=1), data)
    with pytest.raises(ValueError, match="train with record_final=True"):
        readout.readout_accuracy(plain, cfg, data)
    with pytest.raises(ValueError, match="final_w0 must have shape"):
        readout.readout_accuracy(out, cfg.replace(width=30), data)
    with pytest.raises(ValueError, match="do not match the config .*missing final_w3"):
        readout.readout_accuracy(out, cfg.replace(depth=4), data)
    with pytest.raises(ValueError, match="do not match the config .*unexpected final_w2"):
        readout.readout_accuracy(out, cfg.replace(depth=2), data)
    with pytest.raises(ValueError, match="final_w0 must have shape"):
        readout.readout_accuracy(out, cfg.replace(reps=3), data)
    with pytest.raises(ValueError, match=r"with biases\): missing final_b1, final_b2, final_b3"):
        readout.readout_accuracy(out, cfg.replace(biases=True), data)
    with pytest.raises(ValueError, match="training set has 300"):
        readout.readout_accuracy(out, cfg, data, n_images=301)
    wide = mnist.MNIST(np.zeros((300, 16)), data.y_train, np.zeros((200, 16)), data.y_test)
    with pytest.raises(ValueError, match="data have 16 features; the config needs 9"):
        readout.readout_accuracy(out, cfg, wide)


def test_the_fit_set_follows_the_scale_and_the_holdout():
    from fa_lib.config import scale_context
    from fa_lib.experiments import feedback_rules

    for scale in ("paper", "quick"):
        with scale_context(scale):
            assert readout.n_fit(TrainConfig()) == readout.VALIDATION[scale]
            assert readout.n_fit(TrainConfig(holdout=123)) == 123
            # the validation split of the chapter that tunes learning rates
            assert readout.VALIDATION[scale] == feedback_rules.config()["holdout"]
    assert readout.VALIDATION["paper"] == 10_000


@pytest.mark.skipif(not (MNIST_DIR and Path(MNIST_DIR).is_dir()), reason="FA_MNIST_DIR not set")
def test_readout_of_a_small_mnist_run_is_above_chance():
    cfg = TrainConfig(width=20, depth=3, reps=2, epochs=1, n_batches=3, n_test=1000,
                      record_final=True)
    data = training.load_data(cfg.image_size, cfg.dtype)
    out = training.run(cfg, data)
    acc = readout.readout_accuracy(out, cfg, data, n_images=2000)
    assert acc.shape == (2, 2) and np.all((acc > 10) & (acc <= 100)), acc


@pytest.mark.skipif(not (MNIST_DIR and Path(MNIST_DIR).is_dir()), reason="FA_MNIST_DIR not set")
def test_readouts_do_not_depend_on_the_threads_of_the_process():
    """The activities are computed on one thread too: a matrix product summed over more
    BLAS threads changes their last bits (seen here: 84.45 against 84.5 % with two)."""
    from threadpoolctl import threadpool_limits

    cfg = TrainConfig(width=50, depth=5, reps=2, epochs=2, n_batches=20, n_test=2000,
                      record_final=True, record_bp=False)
    data = training.load_data(cfg.image_size, cfg.dtype)
    out = training.run(cfg, data)
    got = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads):
            got.append(readout.readout_accuracy(out, cfg, data, n_images=10_000))
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], got[2]), got
