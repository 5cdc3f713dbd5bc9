"""Tests of what the "Beyond the paper" chapters add: validation split, backward products,
the product prediction, the decision rules of the hypotheses, and the chapters' run lists."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import linalg, stats, training
from fa_lib.experiments import deep_networks as dn
from fa_lib.experiments import feedback_rules as fr
from fa_lib.mnist import MNIST
from fa_lib.network import init_network
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig


def _data(n_train: int = 600, n_test: int = 50) -> MNIST:
    rng = np.random.default_rng(0)
    return MNIST(rng.random((n_train, 16), dtype=np.float32), rng.integers(0, 10, n_train),
                 rng.random((n_test, 16), dtype=np.float32), rng.integers(0, 10, n_test))


def _cfg(**kw) -> TrainConfig:
    base = {"rule": Rule("fa", eta=0.01), "image_size": 4, "width": 20, "depth": 4, "epochs": 2,
            "reps": 2, "n_batches": 3, "batch_size": 100}
    return TrainConfig(**{**base, **kw})


def test_holdout_evaluates_on_held_out_training_images_and_never_the_test_set():
    data = _data()
    res = training.run(_cfg(holdout=200), data)
    assert "test_acc" not in res and res["val_acc"].shape == (3, 2)
    # The same run with a test set made of the held-out images gives the same accuracies.
    swapped = MNIST(data.x_train[:400], data.y_train[:400], data.x_train[400:], data.y_train[400:])
    np.testing.assert_allclose(training.run(_cfg(), swapped)["test_acc"], res["val_acc"])


def test_holdout_leaving_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="holdout"):
        training.run(_cfg(holdout=550), _data())
    with pytest.raises(ValueError, match="after holding out"):
        training.run(_cfg(holdout=400, n_batches=3), _data())


def test_backward_product_angles_against_a_direct_computation():
    subs = np.random.default_rng(1).spawn(2)
    net = init_network(subs, (6, 5, 4, 3, 2), "tanh_relu", sd=0.3)
    got = training.backward_product_angles(net)
    for r in range(2):
        for ell in range(1, 4):
            pb = np.linalg.multi_dot([net.B[k][r] for k in range(3, ell - 1, -1)]) \
                if ell < 3 else net.B[3][r]
            pw = np.linalg.multi_dot([net.W[k][r].T for k in range(3, ell - 1, -1)]) \
                if ell < 3 else net.W[3][r].T
            np.testing.assert_allclose(got[r, ell - 1], linalg.angle(pb, pw), atol=1e-9)


def test_record_products_matches_w_bt_in_the_last_layer_and_needs_a_b_of_wts_shape():
    res = training.run(_cfg(record_products=True), _data())
    np.testing.assert_allclose(res["prod_bt"][:, :, -1], res["w_bt"][:, :, -1], atol=1e-3)
    with pytest.raises(ValueError, match="record_products"):
        _cfg(rule=Rule("dfa", eta=0.01), record_products=True)


def test_predicted_product_angle():
    np.testing.assert_allclose(linalg.predicted_product_angle([60.0, 60.0]),
                               np.degrees(np.arccos(0.25)))
    assert linalg.predicted_product_angle([0.0, 37.0]) == pytest.approx(37.0)
    assert linalg.predicted_product_angle([90.0, 10.0]) == pytest.approx(90.0)
    w_bt = np.array([[30.0, 40.0, 50.0]])
    pred = dn.predicted_products(w_bt)
    np.testing.assert_allclose(pred[0, -1], 50.0)
    np.testing.assert_allclose(pred[0, 0], linalg.predicted_product_angle([30.0, 40.0, 50.0]))


@pytest.mark.parametrize("ci, margin, beyond, within", [
    ((4.0, 6.0), 3.0, "supported", "rejected"),
    ((-2.0, 2.0), 3.0, "rejected", "supported"),
    ((2.0, 4.0), 3.0, "undecided", "undecided"),
])
def test_decisions_from_the_99_ci(ci, margin, beyond, within):
    t = stats.TTest(sum(ci) / 2, 1.0, 10, 0.0, 1.0, ci)
    assert stats.beyond(t, margin) == beyond
    assert stats.within(t, margin) == within


def test_paired_finite_only_leaves_out_undefined_pairs():
    t = stats.paired([1.0, 2.0, np.nan, 4.0], [0.0, 0.0, 1.0, 1.0], finite_only=True)
    assert t.n == 3 and t.mean == pytest.approx(2.0)
    with pytest.raises(ValueError, match="NaN"):
        stats.paired([1.0, np.nan], [0.0, 0.0])


def test_feedback_rules_run_lists():
    assert set(fr.main_names()) >= {"fa", "fa_wn", "fa_wn_bn", "dfa_wn_bn", "kp_wn", "wm"}
    assert "usf_wn_bn" not in fr.main_names()  # uSF's B is computed from W: nothing to normalise
    assert all(fr.config_of(n).holdout > 0 for n in fr.tuning())
    low = {p: fr.ETA_GRID[0] for p in fr.TUNED}
    own = fr.own_configs(low)
    assert not set(own) & set(fr.SHARED)
    assert own["kp_wn"].rule.wn_gamma == fr.GAMMA and own["kp_wn"].rule.pathway.decay > 0
    assert own["dfa_wn_bn"].rule.normalise_b and own["dfa_wn_bn"].record_bp
    assert own["flex_wm_wn"].relabel_epoch is not None
    with pytest.raises(ValueError, match="unknown run"):
        fr.config_of("nope", low)
    with pytest.raises(ValueError, match="unknown rule"):
        fr.chosen_eta("nope")


def test_second_design_runs(monkeypatch):
    """WN at its own rate: tuning runs per WN variant, own-rate runs, one run where rates agree."""
    assert fr.tune_name("dfa", 0.001, "wn_bn") == "tune_dfa_wn_bn_eta0.001"
    assert fr.tuning()["tune_dfa_wn_bn_eta0.001"].rule.normalise_b
    assert fr.tuning()["tune_usf_wn_eta0.001"].rule.wn_gamma == fr.GAMMA
    assert fr.tuning()["tune_usf_eta0.001"].rule.wn_gamma is None
    assert "tune_usf_wn_bn_eta0.001" not in fr.tuning()
    assert len(fr.tuning()) == len(fr.ETA_GRID) * sum(len(fr.variants(p)) for p in fr.TUNED)
    assert set(fr.FIRST_GRID) < set(fr.ETA_GRID)
    own = fr.own_names()
    assert {"dfa_wn_own", "dfa_wn_bn_own", "flex_wm_wn_own"} <= set(own)
    assert not {"usf_wn_bn_own", "fa_wn_own", "bp_wn_own", "flex_dfa_wn_bn_own"} & set(own)
    with pytest.raises(ValueError, match="no normalisation"):
        fr.chosen_eta("usf", "wn_bn")
    rates = {("wm", "none"): 0.002, ("wm", "wn"): 0.0005}
    monkeypatch.setattr(fr, "chosen_eta", lambda p, v="none": rates.get((p, v), 0.001))
    assert fr.same_as("usf_wn_own") == "usf_wn"  # same rate: the first design's run
    assert fr.same_as("flex_usf_wn_own") == "flex_usf_wn"
    assert fr.same_as("wm_wn_own") == "wm_wn_own"
    assert fr.config_of("wm_wn_own").rule.eta == 0.0005
    assert fr.config_of("wm_wn").rule.eta == 0.002
    assert fr.config_of("flex_wm_wn_own") != fr.config_of("flex_wm_wn")
    assert fr.design_run("wm_wn", 2) == "wm_wn_own"
    assert fr.design_run("flex_wm_wn", 2) == "flex_wm_wn_own"
    assert fr.design_run("fa_wn", 2) == "fa_wn" and fr.design_run("wm_wn", 1) == "wm_wn"
    assert fr.design_run("wm", 2) == "wm" and fr.design_run("wm", 3) == "wm_stable"
    assert fr.design_run("flex_wm_wn", 3) == "flex_wm_wn_stable"
    assert fr.design_run("fa_wn", 3) == "fa_wn"  # FA keeps the book's rate
    with pytest.raises(ValueError, match="design"):
        fr.design_run("wm_wn", 4)


def test_third_design_runs(monkeypatch):
    """The stable rate: tuning steps below the short choice, runs that share where rates agree."""
    assert fr.stable_tune_name("dfa", 1, "wn_bn") == "stable_dfa_wn_bn_s1"
    assert len(fr.stable_tuning_names()) == fr.STABLE_STEPS * sum(
        len(fr.variants(p)) for p in fr.TUNED)
    assert fr.step_eta(0.001, 1) == 0.0005 and fr.step_eta(0.0003, 5) == fr.ETA_GRID[0]
    assert "kp_wn_bf_stable" in fr.stable_names() and "fa_stable" not in fr.stable_names()
    monkeypatch.setattr(fr, "chosen_eta", lambda p, v="none": 0.001)
    stable = {("dfa", "none"): 0.0005}
    monkeypatch.setattr(fr, "stable_eta", lambda p, v="none": fr.BOOK_ETA.get(
        p, stable.get((p, v), 0.001)))
    sizes = fr.config()
    tune = fr.config_of("stable_dfa_s1")
    assert tune.rule.eta == 0.0005 and tune.reps == sizes["stable_reps"]
    assert tune.epochs == sizes["stable_epochs"] and tune.holdout == sizes["holdout"]
    assert fr.config_of("dfa_stable").rule.eta == 0.0005
    assert fr.same_as("dfa_stable") == "dfa_stable"
    assert fr.same_as("usf_stable") == "usf"  # the stable rate is the short one: one run
    assert fr.same_as("usf_wn_stable") == "usf_wn"
    assert fr.config_of("flex_dfa_stable").rule.eta != fr.config_of("flex_dfa").rule.eta
    nok = fr.config_of("dfa_nok")
    assert nok.rule.pathway.uniform_from == nok.init_sd and nok.rule.eta == 0.0005
    assert fr.config_of("dfa_nok_wn").rule.wn_gamma == fr.GAMMA
    assert fr.config_of("kp_wn_bf").rule.pathway.follow_wn
    assert not fr.config_of("kp_wn").rule.pathway.follow_wn


def _curve(values: list[list[float]], diverged: int = -1, key: str = "val_acc") -> dict:
    """A run whose accuracy after each epoch (rows, row 0 before training) is ``values`` (%)."""
    return {key: np.array(values, dtype=float) / 100, "diverged_at": np.array(diverged)}


def test_collapse_and_the_stable_choice():
    res = _curve([[10, 10, 10], [80, 80, 90], [95, 40, 70]])  # ends low; ends 20 below its best
    assert fr.collapsed(res).tolist() == [False, True, True]
    assert fr.collapsed(_curve([[10, 10], [90, 90]], diverged=3)).all()
    assert fr.collapsed(_curve([[10, 10], [90, np.nan]])).tolist() == [False, True]
    good = _curve([[10, 10, 10], [90, 91, 92], [93, 94, 95]])
    better_but_unstable = _curve([[10, 10, 10], [97, 97, 97], [98, 98, 30]])
    worse = _curve([[10, 10, 10], [80, 80, 80], [85, 85, 85]])
    tuned = {fr.stable_tune_name("dfa", 0): better_but_unstable,
             fr.stable_tune_name("dfa", 1): good, fr.stable_tune_name("dfa", 2): worse}
    choice = fr.stable_choice("dfa", "none", tuned, 0.001)
    assert choice["eta"] == 0.0005 and choice["stable"]
    assert [r["collapsed"] for r in choice["rows"]] == [1, 0, 0]
    assert choice["rows"][1]["median"] == pytest.approx(94.0)
    tuned[fr.stable_tune_name("dfa", 1)] = better_but_unstable
    tuned[fr.stable_tune_name("dfa", 2)] = better_but_unstable
    choice = fr.stable_choice("dfa", "none", tuned, 0.001)
    assert choice["eta"] == 0.0003 and not choice["stable"]  # every rate collapses: the smallest
    low = fr.stable_choice("dfa", "none", tuned, fr.ETA_GRID[0])  # no rate below: one row
    assert len(low["rows"]) == 1 and low["eta"] == fr.ETA_GRID[0]


def test_epochs_to_a_level():
    res = _curve([[10, 10, 10], [85, 91, 50], [92, 96, 60], [96, 97, 70]], key="test_acc")
    assert fr.epochs_to(res, 90).tolist() == [2.0, 1.0, 4.0]  # never: one past the end
    assert fr.reached(res, 95).tolist() == [True, True, False]


def _flex(before: float, after: float, reps: int = 3, p: int = 4) -> dict:
    acc = np.concatenate([np.full((p + 1, reps), before), np.full((p, reps), after)]) / 100
    acc = acc + np.random.default_rng(0).normal(0, 0.01, acc.shape)
    return {"test_acc": acc, "acc_relabel": np.full(reps, 0.1)}


def test_flexibility_outcome_verdicts():
    kw = {"last": 2}
    out = fr.flexibility_outcome(_flex(90, 50), _flex(90, 88), **kw)
    assert out["verdict"] == "supported" and out["loss"] == pytest.approx(40, abs=3)
    assert fr.flexibility_outcome(_flex(90, 89), _flex(90, 89), **kw)["verdict"] == \
        "no loss to restore"
    assert fr.flexibility_outcome(_flex(90, 50), _flex(90, 60), **kw)["verdict"] == "rejected"
    assert fr.flexibility_outcome(_flex(90, 50), _flex(12, 11), **kw)["verdict"] == \
        "does not learn phase 1"


def test_deep_networks_run_list():
    assert all(c.depth == int(n.rsplit("_h", 1)[1]) + 1 for n, c in dn.configs().items())
    fa = [c for n, c in dn.configs().items() if not n.startswith("bp")]
    assert all(c.record_products and c.record_bp for c in fa)
    with pytest.raises(ValueError, match="unknown run"):
        dn.results("bp_h99")


def test_deep_networks_second_design_run_lists(monkeypatch):
    """A rate for every depth: names listed without reading a result, tuning configurations."""
    def refuse(*args, **kwargs):
        raise AssertionError("listing the runs read a learning-rate run")

    for name in ("chosen_eta", "results", "tuning_results", "tuned_results"):
        monkeypatch.setattr(dn, name, refuse)
    names = list(dn.experiments())
    tune, first, tuned = list(dn.tuning()), list(dn.configs()), dn.tuned_names()
    assert names == [*tune, *first, *tuned] == dn.names()
    hidden = dn.config()["hidden"]
    assert tuned == [f"{r}_h{h}_tuned" for h in hidden for r in ("fa", "fa_wn", "bp")]
    assert len(tune) == len(hidden) * sum(len(dn.grid(r)) for r in dn.TUNED_RULES)
    assert dn.grid("bp") == tuple(sorted({*dn.config()["tune_etas"], dn.BP_ETA}))
    assert dn.FA_ETA in dn.grid("fa") and dn.FA_ETA in dn.grid("fa_wn")
    assert set(dn.config()["tune_etas"]) <= set(fr.ETA_GRID)
    sizes = fr.config()
    cfg = dn.tuning()[dn.tune_name("fa_wn", 2, dn.FA_ETA)]
    assert dn.tune_name("fa_wn", 2, 0.002) == "tune_fa_wn_h2_eta0.002"
    assert (cfg.depth, cfg.reps, cfg.epochs, cfg.n_batches, cfg.holdout) == (
        3, sizes["tune_reps"], sizes["tune_epochs"], sizes["tune_batches"], sizes["holdout"])
    assert cfg.holdout > 0 and cfg.rule.wn_gamma == dn.GAMMA and cfg.rule.normalise_b
    assert not cfg.record_bp and not cfg.record_products
    # the book's run at the book's rate, but on the validation split and a short horizon
    assert cfg.rule == dn.configs()[dn.run_name("fa_wn", 2)].rule


def _tuning_run(final: list[float], diverged: int = -1) -> dict:
    """A learning-rate run whose validation accuracy (%) ends at ``final`` (one per network)."""
    return _curve([[10.0] * len(final), final, final], diverged)


def test_deep_networks_rate_choice():
    h = min(dn.config()["hidden"])
    grid = dn.grid("fa")  # the quick grid and FA's book rate
    low, high = grid[0], grid[-1]

    def choose(by_eta: dict[float, dict]) -> dict:
        default = _tuning_run([80.0, 80.0])
        return dn.rate_choice("fa", h, {dn.tune_name("fa", h, e): by_eta.get(e, default)
                                        for e in grid})

    # the best median wins (not the best mean: one network far ahead)
    c = choose({low: _tuning_run([85.0, 85.0]), high: _tuning_run([99.0, 70.0])})
    assert c["eta"] == low and c["stable"]
    assert [r["eta"] for r in c["rows"]] == list(grid)
    assert c["rows"][-1]["median"] == pytest.approx(84.5)
    # a rate with a collapsed network is out, however good its median
    c = choose({high: _tuning_run([95.0, 95.0, 40.0]), low: _tuning_run([85.0, 85.0])})
    assert c["eta"] == low and c["rows"][-1]["collapsed"] == 1
    assert choose({high: _tuning_run([95.0, 95.0], diverged=3)})["eta"] == grid[0]  # ties: smaller
    # every rate has a collapsed network: the fewest, then the best median
    every = {e: _tuning_run([40.0, 40.0]) for e in grid}
    every[high] = _tuning_run([45.0, 60.0])
    c = choose(every)
    assert c["eta"] == high and not c["stable"]
    every = {e: _tuning_run([0.0, 0.0], diverged=1) for e in grid}
    assert choose(every)["eta"] == low and np.isnan(choose(every)["rows"][0]["median"])


def test_deep_networks_tuned_runs_are_the_book_runs_at_the_book_rate(monkeypatch):
    h = max(dn.config()["hidden"])
    high = max(dn.config()["tune_etas"])
    rates = {("fa", h): high}
    monkeypatch.setattr(dn, "chosen_eta", lambda r, k: rates.get((r, k), dn.BOOK_ETA[r]))
    assert dn.same_as(dn.tuned_name("fa_wn", h)) == dn.run_name("fa_wn", h)
    assert dn.same_as(dn.tuned_name("bp", 4)) == "bp_h4"  # the MNIST chapter's run
    assert dn.same_as(dn.tuned_name("fa", h)) == dn.tuned_name("fa", h)
    cfg, book = dn.config_of(dn.tuned_name("fa", h)), dn.config_of(dn.run_name("fa", h))
    assert cfg.rule.eta == high and cfg.replace(rule=book.rule) == book
    assert dn.config_of("fa_h1") == dn.configs()["fa_h1"]
    assert dn.config_of(dn.tuned_name("fa", h), {("fa", h): 0.0001}).rule.eta == 0.0001
    assert set(dn.own_configs({})) == set(dn.names()) - set(dn.SHARED)
    with pytest.raises(ValueError, match="unknown run"):
        dn.config_of("fa_h99_tuned")
    # one computation: a tuned run at the book's rate reads the book's run
    calls = []
    monkeypatch.setattr(dn.training, "named_run",
                        lambda chapter, configs, name, **kw: calls.append(name) or {})
    monkeypatch.setattr(dn.mnist_alignment, "results",
                        lambda name, progress=None: calls.append(f"mnist:{name}") or {})
    for name in (dn.tuned_name("fa_wn", h), dn.tuned_name("bp", 4), dn.tuned_name("fa", h)):
        dn.results(name)
    assert calls == [dn.run_name("fa_wn", h), "mnist:bp", dn.tuned_name("fa", h)]
    assert dn.tuned_results(dn.tuned_name("fa", h)) == {}
    with pytest.raises(ValueError, match="unknown run"):
        dn.tuned_results("fa_h1")
