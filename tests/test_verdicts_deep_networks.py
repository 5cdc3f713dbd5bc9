"""Tests of fa_lib.verdicts.deep_networks: the chapter's hypotheses at the quick scale (from the
results cache of the environment, which the notebook then reuses), each hypothesis' test on
hand-made runs, and the design's bookkeeping check."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fa_lib import claims, config
from fa_lib.experiments import deep_networks as dn
from fa_lib.verdicts import deep_networks as dnv

NAN = float("nan")
REPS, STEPS = 3, 10
NOISE = {"fa": [0.3, -0.1, -0.2], "fa_wn": [-0.2, 0.2, 0.0], "fa_bsize": [0.1, 0.1, -0.2],
         "bp": [0.0, 0.2, -0.2]}
"""Per-repetition jitter (x 0.1 for angles and accuracies): every paired difference has a
small, non-zero spread, so that its 99% CI is about ±0.2 wide."""
quick = pytest.mark.skipif(config.scale() != "quick",
                           reason="the chapter's runs are read at the quick scale (FA_SCALE=quick)")


def _jitter(rule: str) -> np.ndarray:
    return 0.1 * np.asarray(NOISE[rule])


def _run(rule: str, h: int, *, first: float, last: float, err: float, acc: float) -> dict:
    """A hand-made run over ``STEPS`` steps: every step records the same angles."""
    j = _jitter(rule)
    res = {"test_acc": np.tile((acc + j) / 100, (3, 1)), "diverged_at": np.array(-1)}
    if rule == "bp":
        return res
    dw = np.zeros((STEPS, REPS, h + 1))  # the output layer's update is BP's
    dw[:, :, 0] = first + j
    dw[:, :, 1:h] = last + j[::-1, None]  # another jitter: first − last has a spread
    w_bt = np.full((STEPS, REPS, h), 20.0)
    prod = dn.predicted_products(w_bt) + err + j[:, None]
    return res | {"dw_bp": dw, "w_bt": w_bt, "prod_bt": prod}


def _tune_run(final, diverged: int = -1, best=None) -> dict:
    """A hand-made learning-rate run: validation accuracy (%) per repetition after 2 epochs.

    ``final`` (a number or one per repetition) after the last epoch; ``best`` (default
    ``final``) after the first.
    """
    final = np.broadcast_to(np.asarray(final, dtype=float), (2,))
    best = final if best is None else np.broadcast_to(np.asarray(best, dtype=float), (2,))
    return {"val_acc": np.stack([np.full(2, 10.0), best, final]) / 100,
            "diverged_at": np.array(diverged)}


def _design(first=None, last=None, err=None, acc=None, tuned_first=None, tuned_acc=None,
            val=None) -> dict[str, dict]:
    """Every run of the design; each argument maps (rule, hidden) to that run's value.

    The defaults support "prediction" (error 0), "rise" (first − last hidden layer 10°),
    "wn" (no WN − WN 10°), "size_angle" (10°) and "size_acc" (+5 points), and reject
    "gap" (FA 5 points behind BP at every depth). The runs at the tuned rates take
    ``tuned_first`` and ``tuned_acc`` (default: ``first`` and ``acc``: "wn_tuned" supported,
    "gap_tuned" rejected); the learning-rate runs' final validation accuracy is
    ``val(rule, hidden, eta)`` (default: 90% at the book's rate, 80% at the others).
    """
    first = first or (lambda r, h: {"fa": 40.0, "fa_wn": 30.0, "fa_bsize": 30.0}[r])
    last = last or (lambda r, h: 30.0)
    err = err or (lambda r, h: 0.0)
    acc = acc or (lambda r, h: {"fa": 90.0, "fa_wn": 95.0, "fa_bsize": 95.0, "bp": 95.0}[r])
    tuned_first, tuned_acc = tuned_first or first, tuned_acc or acc
    val = val or (lambda r, h, eta: 90.0 if eta == dn.BOOK_ETA[r] else 80.0)
    runs = {}
    for h in dn.config()["hidden"]:
        for rule in dn.TUNED_RULES:
            for eta in dn.grid(rule):
                runs[dn.tune_name(rule, h, eta)] = _tune_run(val(rule, h, eta))
    for name in dn.configs():
        rule, h = name.rsplit("_h", 1)
        h = int(h)
        kw = {} if rule == "bp" else {"first": first(rule, h), "last": last(rule, h),
                                      "err": err(rule, h)}
        runs[name] = _run(rule, h, **kw, acc=acc(rule, h)) if kw else \
            _run(rule, h, first=0, last=0, err=0, acc=acc(rule, h))
    for h in dn.config()["hidden"]:
        for rule in dn.TUNED_RULES:
            kw = {} if rule == "bp" else {"first": tuned_first(rule, h), "last": last(rule, h),
                                          "err": err(rule, h)}
            runs[dn.tuned_name(rule, h)] = _run(rule, h, **{"first": 0, "last": 0, "err": 0,
                                                            **kw}, acc=tuned_acc(rule, h))
    return runs


def _verdicts(runs) -> dict[str, str]:
    return {k: d.outcome for k, d in dnv.decisions(runs).items()}


DEEPEST = max(dn.config()["hidden"])
SHALLOW = min(dn.config()["hidden"])


# ------------------------------------------------------------------------- the decisions


def test_the_default_design_decides_every_hypothesis():
    runs = _design()
    assert _verdicts(runs) == {"prediction": "supported", "rise": "supported",
                               "wn": "supported", "gap": "rejected",
                               "size_angle": "supported", "size_acc": "supported",
                               "gap_tuned": "rejected", "wn_tuned": "supported"}
    found = dnv.claims(runs)
    assert [c.statement for c in found] == [dn.STATEMENTS[k] for k in dn.HYPOTHESES]
    assert all(c.kind == claims.HYPOTHESIS and c.asserted for c in found)
    assert [c.verdict for c in found] == list(_verdicts(runs).values())
    claims.require(found)  # a rejected hypothesis is a result, not a failure
    rise = found[1]
    assert "+10.0° [99% CI" in rise.measured and "n = 3" in rise.measured
    assert "above 5°" in rise.criterion
    assert "1 point" in found[5].criterion and "1 points" not in found[5].criterion
    assert claims.table(found).columns[0] == "hypothesis"


def test_prediction_supported_rejected_undecided():
    def one(value):
        return lambda r, h: value if (r, h) == ("fa", DEEPEST) else 0.0

    assert _verdicts(_design(err=one(0.0)))["prediction"] == "supported"
    assert _verdicts(_design(err=one(-10.0)))["prediction"] == "rejected"
    assert _verdicts(_design(err=one(5.0)))["prediction"] == "undecided"
    table = dnv.prediction_table(dnv.product_errors(_design(err=one(-10.0))))
    n_products = sum(h - 1 for h in dn.config()["hidden"]) * len(dnv.PREDICTION_RULES)
    assert len(table) == n_products
    assert list(table["verdict"]).count("rejected") == DEEPEST - 1
    # the control's products are not part of the hypothesis
    bsize = _design(err=lambda r, h: -10.0 if r == "fa_bsize" else 0.0)
    assert _verdicts(bsize)["prediction"] == "supported"


def test_rise_supported_rejected_undecided():
    def gap_of(d):
        return lambda r, h: 30.0 + d if (r, h) == ("fa", DEEPEST) else 40.0

    assert _verdicts(_design(first=gap_of(10.0)))["rise"] == "supported"
    assert _verdicts(_design(first=gap_of(0.0)))["rise"] == "rejected"
    assert _verdicts(_design(first=gap_of(5.0)))["rise"] == "undecided"


def test_wn_needs_every_depth():
    def wn(at_shallow):
        return lambda r, h: (40.0 if r == "fa" else
                             40.0 - at_shallow if (r, h) == ("fa_wn", SHALLOW) else 30.0)

    assert _verdicts(_design(first=wn(10.0)))["wn"] == "supported"
    assert _verdicts(_design(first=wn(0.0)))["wn"] == "rejected"
    assert _verdicts(_design(first=wn(3.0)))["wn"] == "undecided"
    assert "; " in dnv.decisions(_design())["wn"].measured  # one test per depth


def test_gap_supported_rejected_undecided():
    def fa_behind(deep):
        return lambda r, h: (95.0 if r != "fa" else 90.0 - deep if h == DEEPEST else 90.0)

    assert _verdicts(_design(acc=fa_behind(10.0)))["gap"] == "supported"
    assert _verdicts(_design(acc=fa_behind(0.0)))["gap"] == "rejected"
    assert _verdicts(_design(acc=fa_behind(2.0)))["gap"] == "undecided"


def test_the_tuned_hypotheses_read_the_runs_at_the_tuned_rates():
    def fa_behind(deep):
        return lambda r, h: (95.0 if r != "fa" else 90.0 - deep if h == DEEPEST else 90.0)

    def wn(at_shallow):
        return lambda r, h: (40.0 if r == "fa" else
                             40.0 - at_shallow if (r, h) == ("fa_wn", SHALLOW) else 30.0)

    # the tuned runs decide "gap_tuned" and "wn_tuned"; the book's runs "gap" and "wn"
    got = _verdicts(_design(tuned_acc=fa_behind(10.0), tuned_first=wn(0.0)))
    assert (got["gap"], got["wn"]) == ("rejected", "supported")
    assert (got["gap_tuned"], got["wn_tuned"]) == ("supported", "rejected")
    got = _verdicts(_design(acc=fa_behind(10.0), first=wn(0.0), tuned_acc=fa_behind(0.0),
                            tuned_first=wn(10.0)))
    assert (got["gap"], got["wn"]) == ("supported", "rejected")
    assert (got["gap_tuned"], got["wn_tuned"]) == ("rejected", "supported")
    assert _verdicts(_design(tuned_acc=fa_behind(2.0)))["gap_tuned"] == "undecided"
    assert _verdicts(_design(tuned_first=wn(3.0)))["wn_tuned"] == "undecided"
    ds = dnv.decisions(_design())
    assert ds["gap_tuned"].measured.startswith("at the rates chosen per depth and rule, BP − FA")
    assert ds["gap_tuned"].criterion == ds["gap"].criterion  # decided exactly as "gap"
    assert ds["wn_tuned"].criterion == ds["wn"].criterion


def test_the_rate_table_and_text():
    runs = _design()
    table = dnv.rate_table(runs)
    assert list(table.columns) == ["hidden layers", "FA", "FA + WN", "BP"]
    assert list(table["hidden layers"]) == list(dn.config()["hidden"])
    assert set(table["FA"]) == {f"{dn.FA_ETA:g} (book): 90.0%"}
    assert set(table["BP"]) == {f"{dn.BP_ETA:g} (book): 90.0%"}
    text = dnv.values(runs)["rate_text"].data
    assert text.startswith("The validation split kept the book's rate for "
                           f"{3 * len(dn.config()['hidden'])} of the")
    assert 'hypothesis "gap_tuned"' in text and 'hypothesis "wn_tuned"' in text
    assert "At the rates chosen per depth, FA's accuracy gap" in text
    # another rate for FA with the most hidden layers, better on the validation split
    high = max(dn.config()["tune_etas"])
    runs = _design(val=lambda r, h, eta: 95.0 if (r, h, eta) == ("fa", DEEPEST, high) else
                   90.0 if eta == dn.BOOK_ETA[r] else 80.0,
                   tuned_acc=lambda r, h: {"fa": 92.0 if h == DEEPEST else 90.0,
                                           "fa_wn": 95.0, "bp": 95.0}[r])
    table = dnv.rate_table(runs).set_index("hidden layers")
    assert table.loc[DEEPEST, "FA"] == f"{high:g}: 95.0%"
    text = dnv.values(runs)["rate_text"].data
    assert f"it chose {high:g} for FA with {DEEPEST} hidden layers." in text
    assert "changed by +2.0 points" in text
    acc = dnv.rate_accuracy(runs).set_index(["rule", "hidden", "rates"])["mean"]
    assert acc[("fa", DEEPEST, "tuned")] == pytest.approx(92.0)
    assert acc[("fa", DEEPEST, "book")] == pytest.approx(90.0)
    # every rate has a collapsed network: marked, and said
    runs = _design(val=lambda r, h, eta: 40.0 if (r, h) == ("bp", SHALLOW) else 90.0)
    assert dnv.rate_table(runs).set_index("hidden layers").loc[SHALLOW, "BP"].endswith(" *")
    assert f"For BP with {SHALLOW} hidden layer every rate of the grid had a collapsed" in \
        dnv.values(runs)["rate_text"].data


def test_the_feedback_magnitude_control():
    def angle(lower):
        return lambda r, h: 40.0 - lower if r == "fa_bsize" else {"fa": 40.0, "fa_wn": 30.0}[r]

    def accuracy(gain):
        return lambda r, h: 90.0 + gain if r == "fa_bsize" else \
            {"fa": 90.0, "fa_wn": 95.0, "bp": 95.0}[r]

    assert _verdicts(_design(first=angle(10.0)))["size_angle"] == "supported"
    assert _verdicts(_design(first=angle(0.0)))["size_angle"] == "rejected"
    assert _verdicts(_design(first=angle(3.0)))["size_angle"] == "undecided"
    assert _verdicts(_design(acc=accuracy(5.0)))["size_acc"] == "supported"
    assert _verdicts(_design(acc=accuracy(0.0)))["size_acc"] == "rejected"
    assert _verdicts(_design(acc=accuracy(1.0)))["size_acc"] == "undecided"
    share = dnv.gain_share(_design(acc=accuracy(2.5)))
    assert share["wn_gain"] == pytest.approx(5.0) and share["size_gain"] == pytest.approx(2.5)
    assert share["share"] == pytest.approx(0.5)
    text = dnv.values(_design(acc=accuracy(2.5)))["size_text"].data
    assert "50% of WN's accuracy gain" in text and "part of WN's gain" in text
    # WN gains nothing: the share is not defined, and the text says so
    flat = _design(acc=lambda r, h: 90.0 if r != "bp" else 95.0)
    assert np.isnan(dnv.gain_share(flat)["share"])
    assert "no gain of WN to share out" in dnv.values(flat)["size_text"].data


def test_a_test_without_values_is_not_checked():
    runs = _design()
    runs[dn.run_name("fa_bsize", DEEPEST)]["dw_bp"][:] = NAN  # every network of the run dead
    found = {c.statement: c for c in dnv.claims(runs)}
    angle = found[dn.STATEMENTS["size_angle"]]
    assert not angle.asserted and angle.verdict == claims.NOT_CHECKED
    assert angle.outcome == "undecided" and "not defined" in angle.measured
    assert found[dn.STATEMENTS["size_acc"]].asserted
    text = dnv.values(runs)
    assert 'Hypothesis "size_angle" is not checked at this scale' in text["size_text"].data
    assert "1 was not checked at this scale" in text["found_text"].data


def test_the_statements_are_stable_and_distinct():
    assert set(dn.STATEMENTS) == set(dn.HYPOTHESES) == {
        "prediction", "rise", "wn", "gap", "size_angle", "size_acc", "gap_tuned", "wn_tuned"}
    statements = list(dn.STATEMENTS.values())
    assert len(set(statements)) == len(statements)
    assert not any(re.search(r"\d|\$", s) for s in statements)
    assert {"size_angle", "size_acc"} <= set(dn.THRESHOLDS)


def test_the_text_reads_as_prose():
    text = " ".join(v.data for v in dnv.values(_design()).values() if hasattr(v, "data"))
    for bad in ("for no rule", "1 points", "B_{d-1}...", "; and", "  "):
        assert bad not in text, bad
    setup = dnv.setup_values()["hypotheses"].data
    assert r"$B_{d-1}\cdots B_\ell \angle W_{d-1}^T\cdots W_\ell^T$" in setup
    assert "1 point (paired" in setup and "..." not in setup
    assert setup.count("*(Added with the second design") == 2


# -------------------------------------------------------------------- the design's bookkeeping


def test_check_design_names_missing_runs_and_undefined_values():
    runs = _design()
    assert dnv.undefined_values(runs) == [] and dnv.check_design(runs) == []
    fa, wn, bp = dn.run_name("fa", 2), dn.run_name("fa_wn", 2), dn.run_name("bp", 2)
    runs[fa]["prod_bt"][:, 1, 0] = NAN  # a product angle that should be defined
    runs[wn]["dw_bp"][:, 2] = NAN  # a repetition that made no update: its products are not due
    runs[wn]["prod_bt"][:, 2] = NAN
    runs[bp]["test_acc"][-1, 0] = NAN
    assert dnv.undefined_values(runs) == [f"{fa}: product angles", f"{bp}: accuracy"]
    with pytest.raises(AssertionError, match=rf"missing runs: none; undefined values: {fa}: "
                                             rf"product angles, {bp}: accuracy"):
        dnv.check_design(runs)
    runs = _design()
    del runs[bp]
    with pytest.raises(AssertionError, match=rf"missing runs: {bp}; undefined values: none"):
        dnv.check_design(runs)
    with pytest.raises(ValueError, match="missing"):
        dnv.claims(runs)
    # the learning-rate runs and the tuned runs are part of the design
    tune, tuned = dn.tune_name("fa", 2, dn.FA_ETA), dn.tuned_name("fa", 2)
    runs = _design()
    del runs[tune], runs[tuned]
    with pytest.raises(AssertionError, match=rf"missing runs: {tune}, {tuned}; "):
        dnv.check_design(runs)
    with pytest.raises(ValueError, match="missing"):
        dnv.decisions(runs)
    runs = _design()
    runs[tune]["val_acc"][-1, 0] = NAN  # a validation accuracy that should be defined
    assert dnv.undefined_values(runs) == [f"{tune}: accuracy"]
    runs[tune]["diverged_at"] = np.array(3)  # a diverged tuning run is a result
    assert dnv.check_design(runs) == [tune]
    runs = _design()
    runs[fa]["diverged_at"] = np.array(7)  # a diverged run's values are not due
    runs[fa]["test_acc"][-1] = NAN
    assert dnv.check_design(runs) == [fa]
    assert dnv.complete([], []) and not dnv.complete([bp], [])


# ------------------------------------------------------------------------- the configurations


def test_the_control_configuration_and_the_unchanged_keys():
    every = dn.configs()
    for name, cfg in every.items():
        rule = name.rsplit("_h", 1)[0]
        key = cfg.as_dict()["rule"]
        if rule == "fa_bsize":
            assert key["scale_b"] == dn.GAMMA and key["wn_gamma"] is None
            assert not key["normalise_b"] and cfg.rule.eta == dn.FA_ETA
            assert cfg.record_bp and cfg.record_products
        else:
            assert "scale_b" not in key  # the cache keys of FA, FA + WN and BP stay


# ------------------------------------------------------------------------- the quick scale


@quick
def test_hypotheses_at_the_quick_scale():
    runs = dnv.load()
    assert set(dnv.check_design(runs)) <= set(runs)  # raises if the design is incomplete
    found = dnv.claims(runs)
    claims.require(found)
    assert len(found) == 8  # six of the first design, "gap_tuned" and "wn_tuned"
    assert [c.statement for c in found] == [dn.STATEMENTS[k] for k in dn.HYPOTHESES]
    assert all(c.kind == claims.HYPOTHESIS and c.chapter == dnv.CHAPTER for c in found)
    assert all(c.outcome in claims.HYPOTHESIS_VERDICTS for c in found)
    assert all(c.verdict in (*claims.HYPOTHESIS_VERDICTS, claims.NOT_CHECKED) for c in found)
    assert all("n = " in c.measured and "99% CI" in c.measured for c in found if c.asserted)
