"""Shared pytest setup: make ``fa_lib`` importable from a bare ``pytest`` run in any directory.

When the run executes chapter notebooks at the quick scale, their experiments are computed
first on every core (:func:`pytest_collection_finish`), so that the notebooks, which run
one after another, read them from the results cache.

The run is spread over the cores by pytest-xdist (``-n auto --dist loadgroup`` in
``pyproject.toml``; ``-n 0`` runs in one process): the notebooks, the figures' test and the
browser test form one group that one worker runs in order (:func:`pytest_collection_modifyitems`),
and every other test module is a group of its own, so that its module fixtures are made once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


BOOK_GROUP = "book"
"""The xdist group of the tests that must run in order in one process (see
:func:`pytest_collection_modifyitems`)."""


def _rank(item) -> int:
    path = Path(item.path)
    if path.name == "test_browser.py":
        return 3
    if path.name == "test_figures.py":
        return 2
    if path.name == "report.ipynb" and path.parent.name == "book":
        return 1
    return 0


def _in_book_group(item) -> bool:
    path = Path(item.path)
    return _rank(item) > 0 or (path.suffix == ".ipynb" and path.parent.name == "book")


class _XdistGroups:
    """Group the tests for pytest-xdist (``--dist loadgroup``): the book's in one group.

    The notebooks, ``tests/test_figures.py`` and ``tests/test_browser.py`` go to one worker
    (their order: :func:`pytest_collection_modifyitems`); every other test module is a
    group of its own. A plugin of its own so that it runs before xdist's hook, which reads
    the groups, while the sort runs after every other plugin.
    """

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        for item in items:
            group = BOOK_GROUP if _in_book_group(item) else item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))


BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_configure(config):
    """In a pytest-xdist worker: register :class:`_XdistGroups`, share the cores' BLAS threads.

    Each worker gets ``cores // workers`` BLAS threads (at least one), in this process and
    in the processes it starts (the notebooks' kernels), unless the variables are set
    already: two workers each running BLAS on every core slow each other down many times.
    """
    if getattr(config.option, "loadgroup", False):  # set in the workers by xdist
        config.pluginmanager.register(_XdistGroups(), "fa-xdist-groups")
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and not any(os.environ.get(v) for v in BLAS_THREADS):
        threads = max(1, (os.cpu_count() or 1) // max(1, int(workers)))
        for v in BLAS_THREADS:
            os.environ[v] = str(threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)  # the BLAS already loaded in this process


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Run the reproduction report after the chapters, and the book's figures and browser test last.

    ``book/report.ipynb`` reads the claims the chapter notebooks save, and
    ``tests/test_figures.py`` (which runs every notebook again, computing nothing) and
    ``tests/test_browser.py`` (which builds the book) read the results cache the
    notebooks fill, so all must come after the chapters (pytest collects ``tests`` before
    ``book``; within ``book`` the order is alphabetical, which already puts
    ``report`` after the chapters). The sort is stable: everything else keeps its order.
    """
    items.sort(key=_rank)


def pytest_collection_finish(session):
    """Fill the quick-scale results cache of the collected chapters on every core.

    The chapter notebooks (nbval) compute their experiments in one kernel each, one
    notebook after another, on one core. With more cores, the runner computes the
    chapters' experiments first, ``os.cpu_count()`` at a time, through the same calls and
    the same results cache (``python -m fa_lib reproduce --jobs N``); the notebooks then
    read them. Nothing is asserted here: an experiment that fails fails again in its
    notebook, with the notebook's error. ``FA_PREFILL=0`` turns it off; only a quick-scale
    run with the cache on, and with notebooks collected, does it.
    """
    from fa_lib import catalogue, config, runner

    chapters = [c for c in catalogue.CHAPTERS
                if any(Path(item.path).name == f"{c}.ipynb" for item in session.items)]
    jobs = os.cpu_count() or 1
    if (not chapters or jobs < 2 or config.scale() != "quick"
            or os.environ.get("FA_PREFILL", "1").strip() == "0"
            or os.environ.get("FA_CACHE", "").strip().lower() == "off"
            or session.config.option.collectonly):
        return
    with _first_worker(session.config) as said:
        if said is None:
            return
        start = time.perf_counter()
        rows, failures = runner.reproduce(chapters, jobs=jobs, progress=False)
        said.append(
            f"prefilled the quick results cache: {len(rows)} experiments of {len(chapters)} "
            f"chapters on {jobs} cores in {time.perf_counter() - start:.0f} s"
            + (f"; {len(failures)} failed (their notebooks will say why)" if failures else ""))
    if "PYTEST_XDIST_WORKER" not in os.environ:
        print("\n" + said[0])


PREFILL_FILE = "fa-prefill.txt"
"""Under pytest-xdist, the lock of the prefill and then what it said, in the run's shared
temporary directory."""


@contextlib.contextmanager
def _first_worker(config):
    """Yield a list for the prefill to say what it did, or None where it is done already.

    Without pytest-xdist: a list. Every xdist worker collects the whole run; the first to
    take the lock (:data:`PREFILL_FILE`) prefills on every core while the others wait for
    it, and then find the prefill done (None); what it said is kept in the file for
    :func:`pytest_terminal_summary`.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield []
        return
    import fcntl

    shared = config._tmp_path_factory.getbasetemp().parent  # the run's, above each worker's
    with open(shared / PREFILL_FILE, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            said: list[str] | None = None if fh.read() else []
            yield said
            if said:
                fh.write("\n".join(said) + "\n")
                fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Under pytest-xdist, say at the end what the prefill said in its worker."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return  # a worker (the controller says it), or a run without xdist
    path = config._tmp_path_factory.getbasetemp() / PREFILL_FILE
    if path.is_file() and path.read_text().strip():
        terminalreporter.write_line(path.read_text().strip())


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
