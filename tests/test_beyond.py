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
    assert fr.own_rate_run("wm_wn", 2) == "wm_wn_own"
    assert fr.own_rate_run("flex_wm_wn", 2) == "flex_wm_wn_own"
    assert fr.own_rate_run("fa_wn", 2) == "fa_wn" and fr.own_rate_run("wm_wn", 1) == "wm_wn"
    with pytest.raises(ValueError, match="design"):
        fr.own_rate_run("wm_wn", 3)


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
