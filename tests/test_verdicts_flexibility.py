"""Tests of fa_lib.verdicts.flexibility: the chapter's claims at the quick scale (from the results
cache of the environment, which the notebook then reuses) and its criteria on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import claims, config
from fa_lib.verdicts import flexibility as fxv

NAN = float("nan")
quick = pytest.mark.skipif(config.scale() != "quick",
                           reason="the chapter's runs are read at the quick scale (FA_SCALE=quick)")

STATEMENTS = [
    "Without WN, test accuracy in the second phase does not reach that of the first, for BP and "
    "FA (Fig. 8A).",
    "WN restores the ability to learn the new codes, for BP and FA (Fig. 8A).",
    "With WN, FA almost matches BP after the change of codes; without WN it is inferior "
    "(Fig. 8A).",
    "WN restores the ability to learn the new codes for FA also with B normalised at the start "
    "(Methods 4.4).",
    "Without WN most last-layer units are saturated or silent (f'(Z_5) = 0) at epoch 100, more "
    "than with WN (Fig. 8B).",
    "Label smoothing improves flexibility: higher final accuracy after the change (Supp. Note 4, "
    "Fig. S3).",
]


@quick
def test_claims_at_the_quick_scale():
    found = fxv.claims()
    claims.require(found)
    assert [(c.chapter, c.statement) for c in found] == [(fxv.CHAPTER, s) for s in STATEMENTS]
    match = found[2]  # asserted at paper scale only; what the quick scale asserts instead
    assert not match.asserted and match.instead_holds
    assert [c.verdict for c in found].count(claims.NOT_CHECKED) == 1
    assert fxv.verdict_values(found)["n_holds"] == len(found) - 1


def test_stays_below():
    assert fxv.stays_below([-10.0, -8.0, -12.0])
    assert not fxv.stays_below([-20.0, 1.0, -20.0])  # one repetition does not drop
    assert not fxv.stays_below([-1.0, -2.0, -3.0])  # drops, by less than the margin
    assert not fxv.stays_below([-10.0, NAN, -12.0])


def test_restored():
    assert fxv.restored(2.0, 30.0)
    assert not fxv.restored(8.0, 12.0)  # not below half the loss without WN
    assert not fxv.restored(12.0, 40.0)  # not below the margin
    assert not fxv.restored(NAN, 30.0)
    assert not fxv.restored(2.0, NAN)


def test_almost_matches():
    assert fxv.almost_matches(-2.0, -1.0)
    assert not fxv.almost_matches(-6.0, -1.0)  # FA + WN too far from BP + WN
    assert not fxv.almost_matches(-2.0, 3.0)  # without WN FA is not inferior
    assert not fxv.almost_matches(NAN, -1.0)


def test_mostly_inactive():
    plain, wn = [[0.9, 0.8], [0.85, 0.9]], [[0.6, 0.5], [0.6, 0.6]]
    assert fxv.mostly_inactive(plain, wn)
    assert not fxv.mostly_inactive([[0.9, 0.4], [0.85, 0.9]], wn)  # one repetition below half
    assert not fxv.mostly_inactive(plain, [[0.95, 0.95], [0.6, 0.6]])  # WN has more
    assert not fxv.mostly_inactive([[0.9, NAN], [0.85, 0.9]], wn)


def test_ls_improves():
    assert fxv.ls_improves([1.0, 2.0, 3.0, -1.0])  # 3 of 4 grid points: the share needed
    assert not fxv.ls_improves([1.0, -1.0])
    assert not fxv.ls_improves([])
    assert not fxv.ls_improves([1.0, 1.0, 1.0, NAN])  # a grid point without a median


def test_less_sensitive():
    assert fxv.less_sensitive([40.0, 50.0], [20.0, 30.0])
    assert not fxv.less_sensitive([40.0, 50.0], [20.0, 60.0])
    assert not fxv.less_sensitive([40.0, NAN], [20.0, 30.0])
    assert not fxv.less_sensitive([], [])


def test_gamma_name_and_loss():
    assert [fxv.gamma_name(g) for g in (None, NAN, 0.6, 1.0)] == ["none", "none", "0.6", "1"]
    assert fxv.loss({"drop": np.array([-10.0, -20.0])}) == pytest.approx(15.0)
