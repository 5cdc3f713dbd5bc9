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

STATEMENTS = [
    "DFA trains deep networks on MNIST almost as well as BP (DFA; Nøkland 2016).",
    "sign-concordant feedback with uniform magnitudes (uSF) performs about as well as BP (uSF; "
    "Liao et al. 2016).",
    "Kolen-Pollack learning brings the feedback weights into alignment with W^T (forward and "
    "feedback weights receive identical adjustments and decay) (Kolen-Pollack; Akrout et al. "
    "2019).",
    "the weight mirror brings the feedback weights into alignment with W^T (Weight mirror; "
    "Akrout et al. 2019).",
    "The whole design was computed: every run of every rule and normalisation, with every value "
    "that is defined.",
]


def _run(acc: float = 0.9, angle: float = 30.0, w_bt: float = 2.0, reps: int = 3) -> dict:
    """A hand-made accuracy run of four hidden layers: final accuracy, angles over 10 steps."""
    return {"test_acc": np.full((3, reps), acc), "dw_bp": np.full((10, reps, 5), angle),
            "w_bt": np.full((10, reps, 4), w_bt), "norm_w": np.ones((10, reps, 5)),
            "diverged_at": np.array(-1)}


@quick
def test_claims_at_the_quick_scale():
    found = frv.claims()
    claims.require(found)
    assert [c.statement for c in found] == STATEMENTS
    assert {c.chapter for c in found} == {frv.CHAPTER}
    assert found[-1].holds and found[-1].instead_holds is None
    assert all(c.instead_holds for c in found[:-1])  # the compared values are defined


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
    dfa, usf, kp, wm = frv.literature_claims(runs)
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


def test_undefined_values_and_the_design_claim():
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
    claim = frv.design_claim(runs)
    assert not claim.holds
    assert "undefined values: ['usf: accuracy', 'kp_wn: W ∠ Bᵀ']" in claim.measured
    assert "diverged: ['brsf']" in claim.measured and "{'frsf': 1}" in claim.measured
    assert f"missing: {[n for n in fr.names() if n not in runs]}" in claim.measured
    assert frv.complete([], []) and not frv.complete(["usf"], []) and not frv.complete([], ["x"])
