"""Checks shared by the tests of the ``fa_lib.verdicts`` modules, on hand-made results.

A verdicts module that decides its claims with ``claims_from(results)`` and names them in
``STATEMENTS`` (key -> statement, in the chapter's order) can be checked with these.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from fa_lib import claims
from fa_lib.claims import Claim


def failing(module: ModuleType, results: object) -> set[str]:
    """The keys of the claims of ``module`` that do not hold on ``results``."""
    chapter_claims = module.claims_from(results)
    return {k for k, c in zip(module.STATEMENTS, chapter_claims, strict=True) if not c.holds}


def assert_hold(module: ModuleType, results: object) -> dict[str, Claim]:
    """Every claim holds on ``results``, in the chapter's order; return them by key."""
    chapter_claims = module.claims_from(results)
    claims.require(chapter_claims)
    assert [c.statement for c in chapter_claims] == list(module.STATEMENTS.values())
    assert all(c.holds for c in chapter_claims)
    return dict(zip(module.STATEMENTS, chapter_claims, strict=True))


def assert_fail(module: ModuleType, results: object, change: Callable, keys: set[str]) -> None:
    """Exactly the claims ``keys`` fail once ``change(results)`` has altered the results."""
    change(results)
    assert failing(module, results) == keys
    with pytest.raises(AssertionError, match="does not hold"):
        claims.require(module.claims_from(results))


def assert_not_computed(module: ModuleType, results: object, change: Callable, where: str) -> None:
    """No claim holds, nor instead, once ``change(results)`` has put a NaN ``where``."""
    change(results)
    chapter_claims = module.claims_from(results)
    assert len(chapter_claims) == len(module.STATEMENTS)
    assert not any(c.holds or c.instead_holds for c in chapter_claims)
    assert {c.measured for c in chapter_claims} == {
        f"not computed: NaN or infinite values in the results ({where})"}
    with pytest.raises(AssertionError, match=where):
        claims.require(chapter_claims)
