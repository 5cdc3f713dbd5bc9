"""Tests of the order of the missing experiments (fa_lib/dependencies.py).

An experiment that reads another's entry waits for it instead of computing it a second
time, with ``--jobs`` and on a dask cluster, and a cluster worker is given the entries
it reads. The toy chapter's computations write their names to a file, so the tests
count what was computed where.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from toy_chapters import kill_first_writer, toy_package

from fa_lib import cache, runner
from fa_lib.dependencies import Gate, Probe, probe

try:
    import distributed  # noqa: F401 - only whether it is there
except ImportError:
    HAS_DASK = False
else:
    HAS_DASK = True

# --------------------------------------------------------------------------- the gate


def _gate(missing: dict[str, str | None]) -> tuple[Gate, list[str]]:
    """A gate over the tasks of ``missing`` (task -> its first missing entry, fixed)."""
    checked: list[str] = []

    def check(task: str) -> Probe:
        checked.append(task)
        return Probe(False, missing[task], ())

    return Gate(list(missing), check), checked


def test_the_gate_holds_a_task_whose_first_entry_an_earlier_one_computes():
    gate, _ = _gate({"tune": "t.npz", "main": "t.npz", "other": "o.npz", "twin": "t.npz"})
    assert gate.take()[0] == "tune"
    assert gate.take()[0] == "other"  # main and twin wait for tune
    assert gate.take() is None and len(gate) == 2
    gate.finished("other")
    assert gate.take() is None  # tune still runs
    gate.finished("tune")
    assert gate.take()[0] == "main"  # (here its probe is unchanged: it computes t itself)
    assert gate.take() is None  # twin now waits for main, which came before it
    gate.finished("main")
    assert gate.take()[0] == "twin"
    assert gate.take() is None and len(gate) == 0


def test_the_gate_probes_again_after_a_task_finishes_and_never_stalls():
    state = {"tune": "t.npz", "main": "t.npz"}
    checked: list[str] = []

    def check(task: str) -> Probe:
        checked.append(task)
        return Probe(False, state[task], ())

    gate = Gate(["tune", "main"], check, probes={"tune": Probe(False, "t.npz", ())})
    assert gate.take()[0] == "tune" and checked == []  # the given probe is used
    assert gate.take() is None and checked == ["main"]
    state["main"] = "m.npz"  # tune's entry is in the cache now
    gate.finished("tune")
    task, found = gate.take()
    assert (task, found.missing) == ("main", "m.npz") and checked == ["main", "main"]
    # A task that raised in its probe (no missing entry) is never held.
    gate = Gate(["a", "b"], lambda t: Probe(False, None, ()))
    assert [gate.take()[0], gate.take()[0]] == ["a", "b"]
    with pytest.raises(ValueError, match="distinct"):
        Gate(["a", "a"], lambda t: Probe(False, None, ()))
    with pytest.raises(KeyError):
        gate.finished("c")


# --------------------------------------------------------------------------- a toy chapter

TOY = '''
import os
import time

import numpy as np

from fa_lib.cache import cached


def _counted(name, n):
    def compute():
        with open(os.environ["FA_TOY_COUNT"], "a") as fh:
            fh.write(f"{name}\\n")
        time.sleep(1.5)
        return {"x": np.arange(3) * float(n)}

    return cached(f"dep_{name}", {"n": n}, compute)


def _main():
    tuned = _counted("tune", 3)  # a tuning run: another experiment's entry
    return _counted("main", float(tuned["x"].sum()))


EXPERIMENTS = {"tune": lambda: _counted("tune", 3), "main": _main,
               "other": lambda: _counted("other", 2)}
'''

LOST = '''
import os
import time

import numpy as np

from fa_lib.cache import cached
from toy_deps.toy import _counted


def _slow_main():
    """Reads the tuning run, then sleeps until killed on its first attempt."""
    tuned = _counted("tune", 3)

    def compute():
        pids = os.environ["FA_TOY_PIDS"]
        first = not os.path.exists(pids)
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        if first:
            time.sleep(45)
        return {"x": tuned["x"] * 2.0}

    return cached("dep_slow_main", {"n": 3}, compute)


EXPERIMENTS = {"tune": lambda: _counted("tune", 3), "main": _slow_main}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The test-only chapter ``toy_deps.toy``, a private cache and the count file."""
    toy_package(tmp_path, monkeypatch, "toy_deps", {"toy": TOY, "lost": LOST})
    monkeypatch.setenv("FA_TOY_COUNT", str(tmp_path / "computed.txt"))
    monkeypatch.setenv("FA_TOY_PIDS", str(tmp_path / "pids.txt"))
    return tmp_path


def _computed(toy: Path) -> list[str]:
    return sorted((toy / "computed.txt").read_text().split())


def test_probe_says_what_an_experiment_reads_and_computes_first(toy):
    import toy_deps.toy as module

    first = probe(module.EXPERIMENTS["main"])
    assert not first.cached and first.reads == ()
    assert first.missing.startswith("dep_tune-") and first.missing.endswith(".npz")
    module.EXPERIMENTS["tune"]()
    second = probe(module.EXPERIMENTS["main"])
    assert [p.name for p in second.reads] == [first.missing]
    assert second.missing.startswith("dep_main-")
    module.EXPERIMENTS["main"]()
    assert probe(module.EXPERIMENTS["main"]).cached
    assert _computed(toy) == ["main", "tune"]  # the probes computed nothing

    def broken():
        module.EXPERIMENTS["tune"]()
        raise RuntimeError("a bug")

    found = probe(broken)
    assert (found.cached, found.missing, len(found.reads)) == (False, None, 1)


def _run(toy: Path, **how) -> dict[str, str]:
    rows, failures = runner.reproduce(progress=False, modules={"toy": "toy_deps.toy"}, **how)
    assert not failures, failures
    names = sorted(p.name.split("-")[0] for p in (toy / "cache").glob("*.npz"))
    assert names == ["dep_main", "dep_other", "dep_tune"]
    return {r.experiment: r.cached_before for r in rows}


def test_with_jobs_an_experiment_waits_for_the_entry_it_reads(toy):
    # Without the gate, "main" starts beside "tune" and computes the tuning run too.
    states = _run(toy, jobs=2)
    assert _computed(toy) == ["main", "other", "tune"]
    assert states == {"tune": "no", "main": "partial", "other": "no"}


@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed")
def test_on_a_cluster_a_worker_is_given_the_entries_it_reads(toy):
    # Without the seed, the worker of "main" computes the tuning run again in its
    # empty scratch cache.
    states = _run(toy, scheduler="local:2")
    assert _computed(toy) == ["main", "other", "tune"]
    assert states == {"tune": "no", "main": "partial", "other": "no"}
    (entry,) = (toy / "cache").glob("dep_main-*.npz")
    with np.load(entry) as npz:
        np.testing.assert_array_equal(npz["x"], np.arange(3) * 9.0)
    assert cache.remove_stale_temporaries(toy / "cache") == []


@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed")
def test_an_experiment_given_entries_runs_again_with_them_when_its_worker_is_lost(toy):
    # The entries travel in the task itself: another worker gets them too.
    killed: list[int] = []
    killer = threading.Thread(target=kill_first_writer,
                              args=(toy / "pids.txt", killed, time.monotonic() + 50))
    killer.start()
    try:
        rows, failures = runner.reproduce(progress=False, scheduler="local:2",
                                             modules={"toy": "toy_deps.lost"})
    finally:
        killer.join()
    assert killed and not failures, failures
    main = next(r for r in rows if r.experiment == "main")
    assert main.cached_before == "partial" and "1 worker lost, run again" in main.note
    assert _computed(toy) == ["tune"]  # not again on either of main's workers
    (entry,) = (toy / "cache").glob("dep_slow_main-*.npz")
    with np.load(entry) as npz:
        np.testing.assert_array_equal(npz["x"], np.arange(3) * 6.0)
