"""Tests of ``benchmarks/cold_build.py``: a cold ``reproduce --json`` record, summarised."""

from __future__ import annotations

import pytest

from benchmarks import cold_build
from fa_lib.catalogue import CHAPTERS

RUNS = {"flexibility_s3": {"per_run": {"s3_a": 300.0, "s3_b": 320.0}},
        "mnist_alignment": {"per_run": {}}}


def _record(**changes):
    rows = [{"chapter": ch, "experiment": "x", "seconds": 10.0, "cached_before": "no",
             "cpu_seconds": 9.0} for ch in CHAPTERS]
    rows += [{"chapter": "flexibility", "experiment": n, "seconds": 0.01,
              "cached_before": "yes", "cpu_seconds": 0.01} for n in ("s3_a", "s3_b")]
    record = {"command": "python -m fa_lib reproduce --scale paper --jobs 2 --json /tmp/r.json",
              "started": "2026-01-01T00:00:00+00:00", "scale": "paper", "jobs": 2,
              "wall_s": 40.0, "rows": rows, "failures": []}
    return {**record, **changes}


def _data():
    return {"chapters": {ch: {"warm_s": 1.0} for ch in (*CHAPTERS, "report")}
            | {"report": {"warm_s": 2.0, "cold_s": 2.0}}, "total_warm_s": 60.0}


def test_cold_times_and_minutes():
    cold = cold_build.summarise(_record(), RUNS)
    flex = cold["chapters"]["flexibility"]
    assert (flex["computed"], flex["computed_s"], flex["cached"], flex["cached_stored_s"]) == (
        1, 10.0, ["s3_a", "s3_b"], 620.0)
    out = cold_build.update(_data(), cold)
    assert out["chapters"]["flexibility"]["cold_s"] == 10.0 + 620.0 + 1.0
    assert out["chapters"]["depth"]["cold_s"] == 11.0
    assert out["total_cold_s"] == (len(CHAPTERS) - 1) * 11.0 + 631.0 + 2.0
    # wall + cached runs' stored time shared by the 2 jobs + the warm build
    assert out["cold_build"]["minutes"] == round((40.0 + 620.0 / 2 + 60.0) / 60, 1)
    assert "--json" not in out["cold_build"]["how"]


@pytest.mark.parametrize("changes, message", [
    ({"scale": "quick"}, "not 'paper'"),
    ({"failures": [["depth", "heatmap", "boom"]]}, "failures"),
    ({"complete": False}, "did not finish"),
])
def test_bad_records(changes, message):
    with pytest.raises(ValueError, match=message):
        cold_build.summarise(_record(**changes), RUNS)


def test_partial_or_unexplained_records():
    record = _record()
    with pytest.raises(ValueError, match="every chapter"):
        cold_build.summarise({**record, "rows": record["rows"][1:]}, RUNS)
    record["rows"][0]["cached_before"] = "yes"  # cached, and no stored time
    with pytest.raises(ValueError, match="no stored compute"):
        cold_build.summarise(record, RUNS)


def test_warm_times_needed():
    cold = cold_build.summarise(_record(), RUNS)
    with pytest.raises(ValueError, match="warm"):
        cold_build.update({"chapters": {}, "total_warm_s": 1.0}, cold)


def test_compare_entries(tmp_path, monkeypatch):
    import os

    import numpy as np

    from fa_lib import cache

    monkeypatch.delenv("FA_CACHE", raising=False)
    cold, book = tmp_path / "cold", tmp_path / "book"
    cold.mkdir()
    book.mkdir()

    def entry(path, **arrays):
        """A results cache entry of these arrays, at ``path``."""
        scratch = tmp_path / "scratch"
        cache.cached("e", {}, lambda: arrays, cache_dir=scratch, fingerprint="f" * 64)
        (written,) = scratch.glob("e-*.npz")
        written.rename(path)

    x = np.array([1.0, np.nan])  # stored as float32, read as float64
    entry(book / "same.npz", x=x, seconds=np.array(5.0))
    entry(cold / "same.npz", x=x, seconds=np.array(7.0))  # only the time differs
    entry(book / "other.npz", x=x)
    entry(cold / "other.npz", x=x + 1)
    entry(cold / "new.npz", x=x)
    entry(cold / "copied.npz", x=x + 2)  # copied in before the run: not compared
    os.utime(cold / "copied.npz", (1.0, 1.0))
    out = cold_build.compare_entries(cold, book, since=100.0)
    assert out == {"entries": 3, "identical": 1, "differ": ["other.npz"],
                   "missing": ["new.npz"]}


def test_stored_times_merge_keeping_runs_timed_before():
    from benchmarks import paper_runs

    data = {"date": "d", "training_runs": {
        "mnist_alignment": {"runs": 2, "missing": [], "seconds": 30.0,
                            "per_run": {"fa": 10.0, "bp": 20.0}}}}
    now = {"mnist_alignment": {"runs": 1, "missing": ["bp"], "seconds": 12.0,
                               "per_run": {"fa": 12.0}},
           "deep_networks": {"runs": 1, "missing": ["fa_h8"], "seconds": 5.0,
                             "per_run": {"fa_h1": 5.0}}}
    out = paper_runs.update(data, now)
    assert out["date"] == "d"
    ma = out["training_runs"]["mnist_alignment"]
    assert ma["per_run"] == {"fa": 12.0, "bp": 20.0}  # the new time; the old one kept
    assert ma["missing"] == [] and ma["runs"] == 2 and ma["seconds"] == 32.0
    dn = out["training_runs"]["deep_networks"]
    assert dn == {"runs": 1, "missing": ["fa_h8"], "seconds": 5.0, "per_run": {"fa_h1": 5.0}}
    assert set(paper_runs.GROUPS) >= set(out["training_runs"])
