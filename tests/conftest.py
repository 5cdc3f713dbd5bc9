"""Shared pytest setup: make ``fa_lib`` importable from a bare ``pytest`` run in any directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Run the reproduction report after the chapters, and the browser test of the book last.

    ``book/report.ipynb`` reads the claims the chapter notebooks save, and
    ``tests/test_browser.py`` builds the book from the results cache the notebooks
    fill, so both must come after the chapters (pytest collects ``tests`` before
    ``book``; within ``book`` the order is alphabetical, which already puts
    ``report`` after the chapters). The sort is stable: everything else keeps its order.
    """

    def rank(item) -> int:
        path = Path(item.path)
        if path.name == "test_browser.py":
            return 2
        if path.name == "report.ipynb" and path.parent.name == "book":
            return 1
        return 0

    items.sort(key=rank)


@pytest.fixture
def reported(caplog):
    """``with reported("words"):`` checks that the block reports a damaged cache entry.

    Damaged entries are said once, in words, on the ``fa_lib.cache`` logger (not as a
    warning with a source line): the block must log exactly one such line matching.
    """
    import contextlib
    import re

    @contextlib.contextmanager
    def check(pattern: str):
        caplog.clear()
        with caplog.at_level("WARNING", logger="fa_lib.cache"):
            yield
        said = [r.getMessage() for r in caplog.records if r.name == "fa_lib.cache"]
        assert len(said) == 1 and re.search(pattern, said[0]), said

    return check
