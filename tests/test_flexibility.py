"""Tests of the flexibility chapter: the training engine's change of codes, label smoothing and
snapshot of ``Z_d`` (fa_lib.training), and fa_lib.experiments.flexibility; small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import ensembles, mnist, network, training
from fa_lib.experiments import flexibility as flex
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
    base = dict(width=20, depth=3, epochs=4, reps=2, n_batches=3, batch_size=20, image_size=SIDE,
                rule=Rule("fa", eta=eta), dtype="float64")
    return TrainConfig(**{**base, **kw})


# ------------------------------------------------------------------ training engine additions


def test_new_fields_default_to_the_old_behaviour():
    cfg = _cfg()
    assert cfg.relabel_epoch is None and cfg.label_smoothing is None
    assert cfg.snapshot_epoch is None
    out = training.run(cfg, _data())
    assert not {"codes_after", "acc_relabel", "z_snapshot"} & set(out)


def test_config_rejects_bad_flexibility_settings():
    with pytest.raises(ValueError, match="relabel_epoch must be an int in \\[1, 3\\]"):
        _cfg(relabel_epoch=4)
    with pytest.raises(ValueError, match="relabel_epoch"):
        _cfg(relabel_epoch=0)
    with pytest.raises(ValueError, match="snapshot_epoch must be an int in \\[1, 4\\]"):
        _cfg(snapshot_epoch=5)
    with pytest.raises(ValueError, match="label_smoothing"):
        _cfg(label_smoothing=(0.95, 0.05))
    with pytest.raises(ValueError, match="label_smoothing"):
        _cfg(label_smoothing=0.9)


def test_relabelling_draws_new_exclusive_codes_from_the_code_stream():
    cfg = _cfg(relabel_epoch=2)
    data = _data()
    out = training.run(cfg, data)
    old, new = out["codes"], out["codes_after"]
    assert new.shape == old.shape and not np.array_equal(old, new)
    for r in range(cfg.reps):
        assert np.all(new[r].sum(axis=1) == cfg.hot) and np.all(new[r].sum(axis=0) <= 1)
    # The same stream that drew the first codes draws the new ones, next.
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    for r, s in enumerate(subs):
        first = ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot)
        second = ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot)
        np.testing.assert_array_equal(first, old[r])
        np.testing.assert_array_equal(second, new[r])
    # Phase 1 is unchanged by the relabelling; test accuracy uses the codes in force.
    plain = training.run(_cfg(), data)
    np.testing.assert_array_equal(out["test_acc"][:3], plain["test_acc"][:3])
    assert out["acc_relabel"].shape == (cfg.reps,)


def test_relabelled_run_matches_a_replay_with_the_engine():
    cfg = _cfg(reps=2, epochs=2, n_batches=2, relabel_epoch=1, snapshot_epoch=1)
    data = _data()
    out = training.run(cfg, data)
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = network.init_network([s[0] for s in subs], cfg.sizes, "tanh_relu", sd=cfg.init_sd)
    codes = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    xb, yb = mnist.minibatches(data.x_train, data.y_train, cfg.batch_size)
    rule = cfg.rule
    for k in range(2):
        step = train_step(net, rule, xb[k], codes[:, yb[k]])
    np.testing.assert_allclose(out["z_snapshot"], step.Z[-1], rtol=1e-12)
    np.testing.assert_allclose(out["test_acc"][1],
                               training.accuracy(net, codes, data.x_test, data.y_test))
    new = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    np.testing.assert_allclose(out["acc_relabel"],
                               training.accuracy(net, new, data.x_test, data.y_test))
    for k in range(2):
        train_step(net, rule, xb[k], new[:, yb[k]])
    np.testing.assert_allclose(out["test_acc"][2],
                               training.accuracy(net, new, data.x_test, data.y_test))


def test_label_smoothing_changes_the_targets_only():
    data = _data()
    ls = training.run(_cfg(label_smoothing=(0.05, 0.95), snapshot_epoch=1), data)
    plain = training.run(_cfg(snapshot_epoch=1), data)
    np.testing.assert_array_equal(ls["codes"], plain["codes"])
    # The first forward pass is the same; the first update is not.
    np.testing.assert_allclose(ls["w_bt"][0], plain["w_bt"][0])
    assert not np.allclose(ls["w_bt"][1], plain["w_bt"][1])
    # Replay the first step with smoothed targets.
    cfg = _cfg(label_smoothing=(0.05, 0.95))
    subs = [g.spawn(4) for g in ensembles.streams(cfg.seed, cfg.reps)]
    net = network.init_network([s[0] for s in subs], cfg.sizes, "tanh_relu", sd=cfg.init_sd)
    codes = np.stack([ensembles.n_hot_codes(s[1], 10, cfg.width, cfg.hot) for s in subs])
    xb, yb = mnist.minibatches(data.x_train, data.y_train, cfg.batch_size)
    target = mnist.label_smoothing(codes, 0.05, 0.95)[:, yb[0]]
    assert set(np.unique(target)) == {0.05, 0.95}
    train_step(net, cfg.rule, xb[0], target)
    np.testing.assert_allclose(ls["norm_w"][1], np.stack(
        [np.linalg.norm(w, axis=(-2, -1)) for w in net.W], axis=-1), rtol=1e-12)


def test_snapshot_is_nan_when_the_run_diverges_first():
    cfg = _cfg(eta=1e39, dtype="float32", snapshot_epoch=3, relabel_epoch=3)
    with np.errstate(all="ignore"):
        out = training.run(cfg, _data(), stop_on_divergence=True)
    assert int(out["diverged_at"]) >= 0
    assert np.all(np.isnan(out["z_snapshot"])) and np.all(np.isnan(out["acc_relabel"]))


# ------------------------------------------------------------------ the experiment module


def test_scaled_eta_keeps_the_step_per_iteration():
    assert flex.scaled_eta(0.0003, 1000) == pytest.approx(0.0003)
    assert flex.scaled_eta(0.0003, 100) == pytest.approx(0.003)
    with pytest.raises(ValueError):
        flex.scaled_eta(-1.0, 100)


def test_configurations_follow_the_scale():
    p = flex.config()["phase_epochs"]
    for name, cfg in flex.configs().items():
        assert cfg.epochs == 2 * p and cfg.relabel_epoch == p and cfg.snapshot_epoch == p, name
        assert cfg.batch_size == flex.config()["batch_size"] and not cfg.biases
    wn = flex.fig8()["fa_wn"].rule
    assert wn.wn_gamma == flex.GAMMA and not wn.normalise_b
    assert flex.fig8_variants()["fa_wn_b_normalised"].rule.normalise_b
    assert flex.fig8_variants()["fa_text_eta"].rule.eta == pytest.approx(
        10 * flex.fig8()["fa"].rule.eta)
    # Every grid point of Fig. S3 has a run; points equal to a Fig. 8 run share it.
    assert set(flex.s3_grid().values()) <= set(flex.configs())
    n_points = (len(flex.config()["s3_methods"]) * len(flex.config()["s3_etas"])
                * len(flex.config()["s3_gammas"]) * len(flex.config()["s3_ls"]))
    assert len(flex.s3_grid()) == n_points


def test_paper_grid_is_the_authors():
    assert len(flex.PAPER["s3_gammas"]) == 8 and flex.PAPER["s3_gammas"][0] is None
    assert flex.PAPER["s3_etas"] == (0.0005, 0.0003) and flex.PAPER["batch_size"] == 1000


def _fake_run(p=3, r=2):
    acc = np.linspace(0.1, 0.9, 2 * p + 1)[:, None] * np.ones((1, r))
    acc[p + 1:] -= 0.2
    return {"test_acc": acc, "acc_relabel": np.full(r, 0.05), "diverged_at": np.array(-1)}


def test_accuracy_curve_and_phase_accuracy():
    res = _fake_run()
    epochs, acc = flex.accuracy_curve(res)
    assert epochs.tolist() == [0, 1, 2, 3, 3, 4, 5, 6]
    np.testing.assert_allclose(acc[4], 5.0)
    np.testing.assert_allclose(acc[3], 100 * res["test_acc"][3])
    ph = flex.phase_accuracy(res, last=2)
    np.testing.assert_allclose(ph["before"], 100 * res["test_acc"][3])
    np.testing.assert_allclose(ph["before_last"], 100 * res["test_acc"][2:4].mean(0))
    np.testing.assert_allclose(ph["after_last"], 100 * res["test_acc"][5:].mean(0))
    np.testing.assert_allclose(ph["drop"], ph["after_last"] - ph["before_last"])
    with pytest.raises(ValueError, match="last"):
        flex.phase_accuracy(res, last=4)
    with pytest.raises(ValueError, match="2 P \\+ 1"):
        flex.phase_epochs({"test_acc": np.zeros((4, 2))})


def test_unit_states():
    z = np.array([[[-1.0, 0.0, 0.5, 5.0]], [[1.0, 1.0, 1.0, 1.0]]])  # R = 2, 1 sample, 4 units
    s = flex.unit_states(z)
    np.testing.assert_allclose(s["silent"], [0.5, 0.0])
    np.testing.assert_allclose(s["saturated"], [0.25, 0.0])  # sech^2(5) < 0.01 < sech^2(1)
    np.testing.assert_allclose(s["either"], s["silent"] + s["saturated"])
    np.testing.assert_allclose(s["mean_df"][1], 1 - np.tanh(1.0) ** 2)
    with pytest.raises(ValueError, match="stacked"):
        flex.unit_states(z[0])
    with pytest.raises(ValueError, match="NaN"):
        flex.unit_states(np.full((1, 2, 2), np.nan))


def test_tables_and_s3_summary():
    runs = {name: _fake_run(p=flex.config()["phase_epochs"]) for name in flex.configs()}
    rows = flex.accuracy_table({n: runs[n] for n in flex.fig8()})
    assert [r["run"] for r in rows] == ["BP", "BP + WN", "FA", "FA + WN"]
    s3 = flex.s3_summary(runs, last=2)
    assert len(s3) == len(flex.s3_grid())
    assert all(r["min"] <= r["median"] <= r["max"] for r in s3)
    with pytest.raises(ValueError, match="unknown run"):
        flex.results("nope")
    assert list(flex.experiments()) == list(flex.configs())


def test_collapsed_flags_runs_that_lose_phase_one():
    res = _fake_run(p=4, r=3)  # phase 1 rises steadily: no collapse
    assert not flex.collapsed(res, last=1).any()
    acc = res["test_acc"].copy()
    acc[4, 1] = 0.0  # repetition 1 ends phase 1 at 0%, 40 points below its peak at epoch 3
    res = {**res, "test_acc": acc}
    np.testing.assert_array_equal(flex.collapsed(res, fall=30, last=1), [False, True, False])
    assert not flex.collapsed(res, fall=45, last=1).any()
    assert flex.s3_summary({n: res for n in flex.configs()}, last=1)[0]["collapsed"] == 1
    with pytest.raises(ValueError, match="fall"):
        flex.collapsed(res, fall=0)


def test_ls_pairs_and_gamma_spread():
    rows = [{"method": "FA", "eta": 0.0003, "gamma": g, "label smoothing": ls,
             "median": base + (5.0 if ls else 0.0)}
            for g, base in ((None, 50.0), (0.5, 70.0), (1.0, 80.0)) for ls in (False, True)]
    pairs = flex.ls_pairs(rows)
    assert len(pairs) == 3 and all(p["gain"] == pytest.approx(5.0) for p in pairs)
    spread = flex.gamma_spread(rows)
    assert len(spread) == 2 and all(s["n_gammas"] == 2 for s in spread)
    assert all(s["spread"] == pytest.approx(10.0) for s in spread)
    # Through a DataFrame "no WN" becomes NaN; it must still pair, and stay out of the spread.
    nan_rows = [{**r, "gamma": float("nan") if r["gamma"] is None else r["gamma"]} for r in rows]
    assert len(flex.ls_pairs(nan_rows)) == 3
    assert flex.gamma_spread(nan_rows) == spread
    pairs[1]["gain"] = -1.0  # gamma 0.5
    by_gamma = flex.ls_gain_by_gamma(pairs + [{**pairs[1], "gain": 3.0}])
    assert [g["gamma"] for g in by_gamma] == [None, 0.5, 1.0]
    assert [g["n"] for g in by_gamma] == [1, 2, 1]
    assert [g["mean_gain"] for g in by_gamma] == pytest.approx([5.0, 1.0, 5.0])
