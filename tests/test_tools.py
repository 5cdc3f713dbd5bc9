"""Tests of the maintenance tools in tools/ (re-filing cached runs, comparing two caches,
checking a release)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache, training
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_upgrade_reads_an_old_flat_config_as_the_current_rule():
    refile = _tool("refile_training_cache")
    new = TrainConfig(width=100, rule=Rule("fa", eta=0.0003, wn_gamma=0.6), record_bp=True)
    old = {k: v for k, v in new.as_dict().items() if k != "rule"}
    # The layout before fa_lib.rule: the rule's fields side by side, normalise_b=True by default
    # and ignored without WN.
    old.update(method="fa", eta=0.0003, wn_gamma=0.6, normalise_b=False, layer_norm=None,
               match_b=False)
    canon = json.loads(cache.canonical_json(new.as_dict()))
    assert json.loads(cache.canonical_json(refile.upgrade(old))) == canon
    plain = TrainConfig(rule=Rule("bp", eta=0.0004))
    old = {k: v for k, v in plain.as_dict().items() if k != "rule"}
    old.update(method="bp", eta=0.0004)  # normalise_b, wn_gamma at their old defaults
    assert refile.upgrade(old)["rule"] == plain.rule.as_dict()
    assert refile.upgrade(plain.as_dict()) == plain.as_dict()  # already current: unchanged


def test_refile_re_keys_the_training_runs_the_code_reproduces_and_skips_the_rest(
        tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FA_CACHE", raising=False)
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    refile = _tool("refile_training_cache")
    cfg = TrainConfig(width=20, depth=2, rule=Rule("dfa", eta=0.001), epochs=3, reps=2,
                      n_batches=3, batch_size=20, n_test=100)
    key = {**cfg.as_dict(), "stop_on_divergence": False}
    good = training.run(cfg)
    old_code = "0" * 64  # the code before a change that kept the numbers

    def store(name, config, arrays):
        cache.cached(name, config, lambda: arrays, fingerprint=old_code)

    store("toy-run", key, good)
    store("toy-bad", key, {**good, "loss": good["loss"] + 1.0})  # not what the code gives
    store("toy-field", {**key, "gone": 1}, good)  # a field the code no longer has
    store("toy-other", {"x": 1}, {"v": np.arange(3.0)})  # not a training run
    store("other-run", key, good)  # another chapter, left alone with --only toy
    refile.main(["--only", "toy", "--check-epochs", "1"])
    out = capsys.readouterr().out
    assert "toy-run: re-filed" in out
    assert "toy-bad: the current code does not reproduce 'loss', skipped" in out
    assert "toy-field: the current code refuses its configuration" in out
    assert "toy-other" not in out and "other-run" not in out
    assert out.strip().endswith("1 re-filed, 2 skipped")
    with cache.observe(refuse=True):
        again = training.cached_run("toy-run", cfg)  # read, not computed
        for name in ("toy-bad", "other-run"):
            with pytest.raises(cache.ComputeRefused):
                training.cached_run(name, cfg)
    assert all(np.array_equal(again[k], good[k], equal_nan=True) for k in good)
    refile.main(["--only", "toy"])  # the newest toy-run entry is the re-filed one
    out = capsys.readouterr().out
    assert "toy-run: already keyed by the current code" in out
    assert out.strip().endswith("1 already current, 2 skipped")


def _entry(directory: Path, name: str, key: str, arrays: dict):
    """A cache entry ``name`` (its key, which changes with ``key``, ends its file name)."""
    cache.cached(name, {"key": key}, lambda: arrays, cache_dir=directory,
                 fingerprint="f" * 64)


def test_compare_caches_pairs_entries_by_name_and_reports_differences(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.delenv("FA_CACHE", raising=False)
    compare = _tool("compare_caches")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    x = np.array([1.0, np.nan, 3.0])
    # two entries with one name (e.g. one experiment at two learning rates), keys changed
    _entry(a, "fig", "1", {"v": x, "seconds": np.array(1.0)})
    _entry(a, "fig", "2", {"v": x + 1})
    _entry(b, "fig", "3", {"v": x + 1})
    _entry(b, "fig", "4", {"v": x, "seconds": np.array(9.0)})
    _entry(a, "other", "5", {"v": x})
    _entry(b, "other", "6", {"v": x * (1 + 1e-12)})
    res = compare.compare(a, b)
    assert res["entries"] == 3 and res["identical"] == 2 and not res["missing"]
    (name, (d_abs, d_rel, arrays)), = res["differ"].items()
    assert name.startswith("other") and arrays == ["v"] and d_rel == pytest.approx(1e-12, rel=0.1)
    assert compare.main([str(a), str(b)]) == 1
    assert "2 identical of 3 entries" in capsys.readouterr().out
    _entry(a, "gone", "7", {"v": x})
    assert compare.compare(a, b)["missing"] == ["gone"]


def _manifest(**archive):
    entry = {"file": "quick-a.tar.xz", "size": 10, "sha256": "ab" * 32, "chapters": ["a"],
             "entries": [{"file": "a-0123.npz", "code": "c" * 64}]}
    return {"format": 1, "scale": "paper", "version": "0.1.0", "base_url": "",
            "chapters": ["a"], "archives": [{**entry, **archive}]}


def test_release_checks_the_tag_and_the_manifest(tmp_path):
    release = _tool("release")
    import fa_lib

    version = fa_lib.__version__
    assert release.check_tag(f"v{version}", tmp_path / "none.json") == []
    assert "is not v + fa_lib.__version__" in release.check_tag("v9.9.9", tmp_path / "x")[0]
    old = tmp_path / "paper_manifest.json"
    old.write_text(json.dumps({**_manifest(), "version": "0.0.1"}))
    assert "is of version 0.0.1" in release.check_tag(f"v{version}", old)[0]
    assert release.check_manifest(_manifest(), _manifest()) == []
    assert release.check_manifest(_manifest(sha256="cd" * 32), _manifest()) == [
        "quick-a.tar.xz: its sha256 differ"]
    assert release.check_manifest(_manifest(file="quick-b.tar.xz"), _manifest()) == [
        "quick-a.tar.xz: in the committed manifest but not packed",
        "quick-b.tar.xz: packed but not in the committed manifest"]
    assert release.main(["nonsense"]) == 2


def test_beyond_tables_say_what_is_missing_in_an_empty_cache(tmp_path, monkeypatch, capsys):
    tables = _tool("beyond_tables")
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    assert tables.main() == 2
    err = capsys.readouterr().err
    assert "not cached at the quick scale: feedback_rules" in err
    assert "--only feedback_rules deep_networks" in err
    assert list(tmp_path.iterdir()) == []  # nothing computed, nothing written


def test_beyond_tables_from_the_quick_cache(capsys):
    """With the suite's quick cache (filled before the notebooks, tests/conftest.py)."""
    import os

    tables = _tool("beyond_tables")
    status = tables.main()
    out, err = capsys.readouterr()
    if status == 2 and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"the quick cache is not filled (run with the notebooks): {err.strip()}")
    assert status == 0, err
    assert "| Kolen-Pollack | WN, B rescaled as W |" in out
    rows = [line for line in out.splitlines() if "| acc |" in line or "| angle |" in line
            or "| flex |" in line]
    assert len(rows) > 20 and all(set(r.split("|")[3].strip()) <= set("SRU") for r in rows)
    assert "## Deep networks (quick scale)" in out and "| hypothesis |" in out


def test_gpu_estimate_prefers_budget_rows_timed_since_and_counts_every_training_run(tmp_path):
    gpu = _tool("gpu_paper_chapter")
    row = {"chapter": "a", "work_flop": 1e12, "seconds": 10.0, "kind": "training"}
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"budget": {"rows": [row, {**row, "chapter": "b"}]}}))
    update = tmp_path / "budget_update.json"
    update.write_text(json.dumps({"rows": [{**row, "work_flop": 3e12, "seconds": 30.0},
                                           {**row, "work_flop": 1e12, "seconds": 5.0}]}))
    work = gpu.chapter_work(latest, update)
    assert work["a"] == {"flop": 4e12, "cpu_seconds": 35.0, "training": 2}  # timed since
    assert work["b"] == {"flop": 1e12, "cpu_seconds": 10.0, "training": 1}
    assert gpu.chapter_work(latest, tmp_path / "none.json")["a"]["flop"] == 1e12
    # every training run, also of the chapters that choose their rates from earlier runs
    its = {c: gpu.training_iterations(c) for c in ("depth", "mnist_alignment",
                                                  "feedback_rules", "deep_networks")}
    assert its["depth"] == 0 and its["feedback_rules"] > its["mnist_alignment"] > 0
    assert its["deep_networks"] > 0
