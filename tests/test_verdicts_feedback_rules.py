"""Tests of fa_lib.verdicts.feedback_rules: the chapter's claims at the quick scale (from the
results cache of the environment, which the notebook then reuses) and its criteria on hand-made
runs."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import claims, config
from fa_lib.experiments import feedback_rules as fr
from fa_lib.verdicts import feedback_rules as frv

NAN = float("nan")
quick = pytest.mark.skipif(config.scale() != "quick",
                           reason="the chapter's runs are read at the quick scale (FA_SCALE=quick)")

LITERATURE = [
    "DFA trains deep networks on MNIST almost as well as BP (DFA; Nøkland 2016",
    "sign-concordant feedback with uniform magnitudes (uSF) performs about as well as BP (uSF; "
    "Liao et al. 2016",
    "Kolen-Pollack learning brings the feedback weights into alignment with W^T (forward and "
    "feedback weights receive identical adjustments and decay) (Kolen-Pollack; Akrout et al. "
    "2019",
    "the weight mirror brings the feedback weights into alignment with W^T (Weight mirror; "
    "Akrout et al. 2019",
]
STATEMENTS = [*(s + ")." for s in LITERATURE), *(s + "; at the stable rate)." for s in LITERATURE)]


def _run(acc: float = 0.9, angle: float = 30.0, w_bt: float = 2.0, reps: int = 3) -> dict:
    """A hand-made accuracy run of four hidden layers: final accuracy, angles over 10 steps."""
    return {"test_acc": np.full((3, reps), acc), "dw_bp": np.full((10, reps, 5), angle),
            "w_bt": np.full((10, reps, 4), w_bt), "norm_w": np.ones((10, reps, 5)),
            "diverged_at": np.array(-1)}


@quick
def test_claims_at_the_quick_scale():
    found = frv.claims()
    claims.require(found)
    literature = [c for c in found if c.kind == claims.CLAIM]
    assert [c.statement for c in literature] == STATEMENTS
    assert {c.chapter for c in found} == {frv.CHAPTER}
    assert all(c.instead_holds for c in literature)  # the compared values are defined
    hypotheses = [c for c in found if c.kind == claims.HYPOTHESIS]
    assert all(c.verdict in claims.HYPOTHESIS_VERDICTS for c in hypotheses)
    assert len({c.statement for c in found}) == len(found)
    per_design = {d: sum(c.statement.startswith(f"Design {d} (") for c in hypotheses)
                  for d in fr.DESIGNS}
    wn = {p: len(fr.variants(p)) - 1 for p in fr.RULES}
    assert per_design[1] == sum(2 * wn[p] + 1 for p in fr.RULES) - wn["bp"]  # BP: no angle
    assert per_design[2] == sum(2 * wn[p] + 1 for p in fr.TUNED)
    assert per_design[3] == sum(2 * wn[p] + 1 for p in fr.TUNED) + 2 * len(fr.RULES) + 2
    assert len(hypotheses) == sum(per_design.values()) + 2  # and the two DFA-scale ones
    frv.check_design(frv.load())


def test_close_to_bp_and_aligned():
    assert frv.close_to_bp(-2.0) and frv.close_to_bp(1.0)
    assert not frv.close_to_bp(-4.0)
    assert not frv.close_to_bp(NAN)
    assert frv.aligned([1.0, 2.0], 5.0)
    assert not frv.aligned([1.0, 6.0], 5.0)
    assert not frv.aligned([1.0, NAN], 5.0)
    assert not frv.aligned([], 5.0)


def test_literature_claims_on_hand_made_runs():
    runs = {"bp": _run(0.97), "dfa": _run(0.96), "usf": _run(0.90), "kp": _run(w_bt=1.0),
            "wm": _run(w_bt=20.0)}
    runs |= {f"{p}_stable": runs[p] for p in ("dfa", "usf", "kp", "wm")}
    dfa, usf, kp, wm = frv.literature_claims(runs)[:4]
    assert dfa.holds and not usf.holds and kp.holds and not wm.holds
    assert "DFA − BP = -1.0 points" in dfa.measured
    assert kp.measured == "final W_l ∠ B_l^T per layer: 1.0°, 1.0°, 1.0°, 1.0° (n = 3)"
    if config.scale() == "quick":  # measured, and the values it compares are defined
        claims.require([dfa, usf, kp, wm])
    runs["kp"]["w_bt"][:, 0, 2] = NAN  # an angle that should be defined
    kp = frv.literature_claims(runs)[2]
    assert not kp.holds and not kp.instead_holds
    with pytest.raises(AssertionError, match="Kolen-Pollack"):
        claims.require([kp])


def test_undefined_values_and_the_design_check():
    runs = {"usf": _run(), "kp_wn": _run(), "dfa": _run(w_bt=NAN)}  # DFA has no W ∠ Bᵀ
    assert frv.undefined_values(runs) == []
    runs["usf"]["test_acc"][-1, 1] = NAN
    runs["kp_wn"]["w_bt"][:, 0, 1] = NAN
    silent = _run()
    silent["dw_bp"][:, 2] = NAN  # a repetition that made no update: no angle, not undefined
    diverged = _run(acc=NAN)
    diverged["diverged_at"] = np.array(4)
    runs.update({"frsf": silent, "brsf": diverged})
    assert frv.undefined_values(runs) == ["usf: accuracy", "kp_wn: W ∠ Bᵀ"]
    with pytest.raises(AssertionError, match=r"undefined values: \['usf: accuracy'"):
        frv.check_design(runs)
    every = {n: _flex(90, 50) if n.startswith("flex_") else _run() for n in fr.names()}
    frv.check_design(every)
    del every["dfa_nok"]
    with pytest.raises(AssertionError, match=r"missing runs: \['dfa_nok'\]"):
        frv.check_design(every)
    assert frv.complete([], []) and not frv.complete(["usf"], []) and not frv.complete([], ["x"])


def test_prose_of_verdicts():
    s = frv.verdict_sentence
    assert s("WN helps", {"supported": ["A", "B"]}) == "WN helps for every rule tested (A and B)."
    assert s("WN helps", {"rejected": ["A"], "undecided": ["B", "C"]}) == (
        "WN helps for no rule; the test rejects it for A and leaves B and C undecided.")
    assert s("WN helps", {"supported": ["A"], "undecided": ["B"]}) == (
        "WN helps for A; the test leaves B undecided.")
    assert s("WN helps", {"rejected": ["A", "B", "C"]}) == (
        "WN helps for no rule: the test rejects it for every one (A, B and C).")
    assert "for no rule (rejected for no rule" not in s("x", {"undecided": ["A"]})
    assert frv._points(1) == "1 point" and frv._points(3) == "3 points"


def test_hypotheses_on_hand_made_runs():
    """Design hypotheses from paired runs: a clear gain is supported, none is rejected."""
    reps = 4
    noise = np.random.default_rng(0).normal(0, 0.1, (10, reps, 5))
    plain = _run(acc=0.80, angle=40.0, reps=reps)
    plain["dw_bp"] = plain["dw_bp"] + noise
    helped = _run(acc=0.95, angle=20.0, reps=reps)
    helped["dw_bp"] = helped["dw_bp"] + noise[::-1]
    helped["test_acc"] = helped["test_acc"] + np.linspace(0, 0.01, reps)
    flex_plain, flex_wn = _flex(90, 50, reps), _flex(90, 88, reps)
    runs = {}
    for p in fr.RULES:
        for v in fr.variants(p):
            for d in fr.DESIGNS:
                runs[fr.design_run(fr.run_name(p, v), d)] = plain if v == "none" else helped
        for d in fr.DESIGNS:
            runs[fr.design_run(f"flex_{p}", d)] = flex_plain
            runs[fr.design_run(f"flex_{p}_wn", d)] = flex_wn
    found = frv.design_hypotheses(runs, 3)
    assert {c.verdict for c in found} == {claims.SUPPORTED}
    assert all(c.kind == claims.HYPOTHESIS and c.asserted for c in found)
    text = frv.design_text(found, 3)
    assert text.startswith("WN lowers the first layer's update angle to BP by more than 3° for "
                           "every rule tested (DFA, DFA with B normalised")
    assert "WN restores learning that was lost without it for DFA, DFA" not in text
    runs = {k: (plain if v is helped else v) for k, v in runs.items()}
    found = frv.design_hypotheses(runs, 1)
    assert {c.verdict for c in found if "update angle" in c.statement} == {claims.REJECTED}


def _flex(before: float, after: float, reps: int = 3, p: int = 10) -> dict:
    acc = np.concatenate([np.full((p + 1, reps), before), np.full((p, reps), after)]) / 100
    acc = acc + np.random.default_rng(1).normal(0, 0.01, acc.shape)
    return {"test_acc": acc, "acc_relabel": np.full(reps, 0.1), "diverged_at": np.array(-1)}
