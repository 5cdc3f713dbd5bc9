"""Tests of fa_lib.verdicts.deep_networks: the chapter's claim at the quick scale (from the results
cache of the environment, which the notebook then reuses) and its criterion on hand-made runs."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import claims, config
from fa_lib.experiments import deep_networks as dn
from fa_lib.verdicts import deep_networks as dnv

NAN = float("nan")
quick = pytest.mark.skipif(config.scale() != "quick",
                           reason="the chapter's runs are read at the quick scale (FA_SCALE=quick)")


def _run(hidden: int = 2, reps: int = 3, fa: bool = True) -> dict:
    """A hand-made run: final accuracy and, for FA, update and product angles over 10 steps."""
    res = {"test_acc": np.full((3, reps), 0.9), "diverged_at": np.array(-1)}
    if fa:
        res |= {"dw_bp": np.full((10, reps, hidden + 1), 30.0),
                "w_bt": np.full((10, reps, hidden), 20.0),
                "prod_bt": np.full((10, reps, hidden), 25.0)}
    return res


@quick
def test_claim_at_the_quick_scale():
    (found,) = dnv.claims()
    claims.require([found])
    assert found.statement == ("The whole design was computed: every rule at every depth, with "
                               "every value that is defined.")
    assert found.chapter == dnv.CHAPTER and found.holds
    assert found.measured.startswith(f"{len(dn.configs())} runs (")


def test_undefined_values_and_the_claim():
    runs = {n: _run(fa=not n.startswith("bp")) for n in dn.configs()}
    assert dnv.undefined_values(runs) == []
    (claim,) = dnv.claims(runs)
    assert claim.holds and "missing: none; undefined values: none; diverged: none" in claim.measured
    fa, wn, bp = dn.run_name("fa", 2), dn.run_name("fa_wn", 2), dn.run_name("bp", 2)
    runs[fa]["prod_bt"][:, 1, 0] = NAN  # a product angle that should be defined
    runs[wn]["dw_bp"][:, 2] = NAN  # a repetition that made no update: its products are not due
    runs[wn]["prod_bt"][:, 2] = NAN
    runs[bp]["test_acc"][-1, 0] = NAN
    assert dnv.undefined_values(runs) == [f"{fa}: product angles", f"{bp}: accuracy"]
    (claim,) = dnv.claims(runs)
    assert not claim.holds
    with pytest.raises(AssertionError, match="whole design"):
        claims.require([claim])
    del runs[bp]
    runs[fa]["diverged_at"] = np.array(7)  # a diverged run's values are not due either
    (claim,) = dnv.claims(runs)
    assert f"missing: ['{bp}']" in claim.measured and f"diverged: ['{fa}']" in claim.measured
    assert not claim.holds and dnv.complete([], []) and not dnv.complete([bp], [])
