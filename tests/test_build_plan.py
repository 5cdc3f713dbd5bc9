"""Tests of fa_lib.build_plan and its Sphinx hook: the build computes what is missing first.

The plan is tested on toy chapter modules and a private results cache: which experiments
are missing, the time estimate, the text; then a tiny Jupyter Book (one toy chapter, one
notebook) is built with ``fa_lib.sphinxext``: the missing experiment is computed before
the notebook runs, a failing one stops the build before it, and a full cache costs one
line and computes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from fa_lib import build_plan, chapter_setup, runner, sphinxext

ROOT = Path(__file__).resolve().parents[1]

TOY = '''
import numpy as np

from fa_lib.cache import cached


def _entry(name, n=3):
    return cached(f"toy_{name}", {"n": n}, lambda: {"x": np.arange(n)})


def _raises():
    raise ValueError("the toy experiment failed\\nsecond line")


EXPERIMENTS = {"a": lambda: _entry("a"), "b": lambda: _entry("b"),
               "c": lambda progress=False: _entry("c")}
'''
OTHER = TOY.replace('"a": lambda: _entry("a"), "b": lambda: _entry("b"),',
                    '"d": lambda: _entry("d"),').replace(
    '"c": lambda progress=False: _entry("c")', '"e": lambda: _entry("e")')
FAULTS = TOY.replace('"b": lambda: _entry("b")', '"b": lambda: cached("toy_b", {}, _raises)')
MODULES = {"toy": "toy_chapters.toy", "other": "toy_chapters.other"}


def _write_package(directory: Path) -> None:
    package = directory / "toy_chapters"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY)
    (package / "other.py").write_text(OTHER)
    (package / "faults.py").write_text(FAULTS)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Toy chapter modules (``toy_chapters.toy``, ``.other``, ``.faults``) and a private cache."""
    for name in [n for n in sys.modules if n.split(".")[0] == "toy_chapters"]:
        monkeypatch.delitem(sys.modules, name)
    _write_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FA_CACHE", "on")
    monkeypatch.setenv("FA_SCALE", "quick")
    return cache_dir


def _flat(text: str) -> str:
    """The text with every run of white space one space (the plan's text is wrapped)."""
    return " ".join(text.split())


def _snapshot(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in directory.glob("*.npz")}


# --------------------------------------------------------------------------- the plan


def test_the_plan_lists_what_is_missing_and_computes_nothing(toy):
    runner.reproduce(["toy"], jobs=1, progress=False, modules={"toy": MODULES["toy"]})
    (toy / next(p.name for p in toy.glob("toy_b-*.npz"))).unlink()
    before = _snapshot(toy)
    plan = build_plan.make_plan(["toy", "other"], MODULES, times=build_plan.Times())
    assert _snapshot(toy) == before  # listing computes nothing
    assert plan.scale == "quick" and plan.cache_dir == toy.resolve()
    assert plan.chapters == ["toy", "other"]
    assert plan.missing == [("toy", "b"), ("other", "d"), ("other", "e")]
    assert plan.missing_by_chapter() == {"toy": 1, "other": 2}
    assert plan.published == build_plan.NO_PUBLISHED
    # only the chapters asked for
    assert build_plan.make_plan(["other"], MODULES).chapters == ["other"]


def test_fetching_published_results_is_where_the_plan_will_fetch_and_fetches_nothing():
    assert build_plan.fetch_published([("toy", "a")], "paper") == (
        [], "no published results for this code")


def test_the_estimate_adds_known_times_and_counts_the_unknown(toy):
    times = build_plan.Times(
        experiments={("toy", "a"): (100.0, build_plan.MEASURED),
                     ("toy", "b"): (3000.0, build_plan.EXTRAPOLATED)},
        chapters={"other": 60.0, "toy": 1e6})
    plan = build_plan.make_plan(["toy", "other"], MODULES, times=times)
    estimate = plan.estimate()
    # toy: a and b timed, c unknown (toy's chapter time is not used: some have their own);
    # other: all missing, none timed: its chapter time
    assert estimate.seconds == pytest.approx(3160.0)
    assert estimate.unknown == 1 and estimate.longest == 3000.0
    assert estimate.counts == {build_plan.MEASURED: 1, build_plan.EXTRAPOLATED: 1,
                               build_plan.PER_CHAPTER: 2}
    assert estimate.wall(1) == pytest.approx(3160.0)
    assert estimate.wall(8) == 3000.0  # never less than its longest experiment
    text = build_plan.describe(plan, 4)
    assert ("1 measured, 2 measured per chapter and 1 extrapolated from short runs; 1 of "
            "unknown time is not counted") in _flat(text)
    assert "about 53 min on one core, so about 50 min on 4 cores" in _flat(text)


def test_a_listing_says_how_long_its_missing_experiments_take():
    times = build_plan.Times(experiments={("toy", "a"): (5400.0, build_plan.MEASURED)})
    items = [("toy", "a", False), ("toy", "b", False), ("toy", "c", True)]
    assert _flat(build_plan.estimate_missing(items, 2, times)) == (
        "Of the experiments listed, 2 are not cached. By the times in benchmarks/results "
        "(1 measured; 1 of unknown time is not counted), they take about 1.5 hours on one "
        "core, so about 1.5 hours on 2 cores.")
    assert build_plan.estimate_missing([("toy", "c", True)], 2, times) == (
        "Nothing to compute: every experiment listed is cached.")


def test_the_plan_reads_as_prose(toy):
    plan = build_plan.make_plan(["toy", "other"], MODULES, times=build_plan.Times())
    text = build_plan.describe(plan, 3)
    flat = _flat(text)
    assert flat == (
        "fa_lib: this build is at the quick scale (FA_SCALE=quick; FA_SCALE=paper, the "
        "default, builds at the paper's sizes). Of the 5 experiments of the 2 chapters it "
        f"reads, 5 are not in the results cache ({toy.resolve()}): 3 of toy and 2 of other. "
        "Fetching published results: no published results for this code. How long they "
        "take is not known: benchmarks/results holds no time for them. They are computed "
        "now, 3 at a time (FA_JOBS sets how many), before any notebook runs; the notebooks "
        "then only read the results cache.")
    assert all(len(line) <= 88 for line in text.splitlines())
    assert not re.search(r"\b1 (experiments|chapters|cores)\b", flat)
    one = _flat(build_plan.describe(build_plan.make_plan(["other"], MODULES), 1))
    assert "one at a time" in one and "2 are not" in one
    nothing = build_plan.describe(build_plan.make_plan([], MODULES), 2)
    assert nothing == ("fa_lib: this build is at the quick scale and reads no chapter with "
                       "experiments; nothing to compute.")


def test_rows_timed_since_override_the_budget_and_measured_times_override_both(tmp_path):
    row = {"chapter": "c", "experiment": "a", "seconds": 10.0}
    (tmp_path / "latest.json").write_text(json.dumps({"budget": {"rows": [
        row, {**row, "experiment": "b"}]}}))
    (tmp_path / "budget_update.json").write_text(json.dumps({"rows": [{**row, "seconds": 30.0}]}))
    times = build_plan.benchmark_times("paper", tmp_path).experiments
    assert times["c", "a"] == (30.0, build_plan.EXTRAPOLATED)  # timed since
    assert times["c", "b"] == (10.0, build_plan.EXTRAPOLATED)
    (tmp_path / "paper_scale.json").write_text(json.dumps({"training_runs": {
        "c": {"per_run": {"a": 25.0}}}}))
    times = build_plan.benchmark_times("paper", tmp_path).experiments
    assert times["c", "a"] == (25.0, build_plan.MEASURED)


def test_benchmark_times_read_the_benchmarks_results(tmp_path):
    paper = build_plan.benchmark_times("paper")
    # the cold build's measured time table, and the S3 runs' stored times
    assert paper.experiments["acf_weight_normalisation", "fig4"][1] == build_plan.MEASURED
    s3 = [k for k in paper.experiments if k[0] == "flexibility" and k[1].startswith("s3_")]
    assert len(s3) == 62 and all(paper.experiments[k][1] == build_plan.MEASURED for k in s3)
    # the budget's extrapolations where nothing was measured
    assert paper.experiments["deep_networks", "fa_h8"][1] == build_plan.EXTRAPOLATED
    assert not paper.chapters
    quick = build_plan.benchmark_times("quick")
    assert not quick.experiments and quick.chapters["flexibility"] > 0
    # nothing there, or another layout: no times, never an error
    assert build_plan.benchmark_times("paper", tmp_path / "none") == build_plan.Times()
    (tmp_path / "latest.json").write_text("not json")
    (tmp_path / "cold_build_paper.json").write_text(json.dumps({"scale": "paper",
                                                                "rows": [{"x": 1}]}))
    assert build_plan.benchmark_times("paper", tmp_path) == build_plan.Times()


def test_chapters_read_are_the_tocs_chapters_among_the_pages_read(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                   "  - file: book/flexibility\n  - file: book/depth\n  - file: book/report\n")
    read = ["book/intro", "book/report", "book/depth", "book/flexibility"]
    assert build_plan.chapters_read(read, toc) == ["flexibility", "depth"]
    assert build_plan.chapters_read(["book/depth"], toc) == ["depth"]
    assert build_plan.chapters_read(["book/intro"]) == []


# --------------------------------------------------------------------------- computing


def test_prepare_computes_the_missing_then_says_one_line(toy, monkeypatch):
    lines = []
    plan = build_plan.prepare_build(["toy", "other"], jobs=2, progress=False,
                                    modules=MODULES, log=lines.append)
    assert len(plan.missing) == 5
    assert "5 are not in the results cache" in _flat(lines[0])
    assert "chapter" in lines[1] and "5 computed" in lines[1]  # the time table
    assert lines[2].startswith("fa_lib: the 5 missing experiments were computed in")
    assert len(_snapshot(toy)) == 5
    before, lines = _snapshot(toy), []
    called = []
    monkeypatch.setattr(runner, "reproduce", lambda *a, **k: called.append(1))
    start = time.perf_counter()
    plan = build_plan.prepare_build(["toy", "other"], progress=False, modules=MODULES,
                                    log=lines.append)
    assert time.perf_counter() - start < 5
    assert not plan.missing and not called and _snapshot(toy) == before
    assert lines == [f"fa_lib: this build is at the quick scale; all 5 experiments of the 2 "
                     f"chapters it reads are in the results cache ({toy.resolve()}), so "
                     "nothing is computed before the notebooks."]


def test_the_build_uses_every_core_unless_fa_jobs_says(toy, monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "reproduce",
                        lambda chapters, jobs, **k: seen.append((chapters, jobs)) or ([], []))
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    monkeypatch.delenv("FA_JOBS", raising=False)
    build_plan.prepare_build(["other"], modules=MODULES, log=lambda s: None)
    monkeypatch.setenv("FA_JOBS", "3")
    build_plan.prepare_build(["toy", "other"], modules=MODULES, log=lambda s: None)
    assert seen == [(["other"], 7), (["toy", "other"], 3)]


def test_a_failure_stops_with_the_table_and_the_failed_experiments(toy, monkeypatch):
    modules = {"faults": "toy_chapters.faults"}
    import toy_chapters.faults as faults

    # an experiment that fails before it asks the cache fails the listing: a clear error
    with monkeypatch.context() as m:
        m.setitem(faults.EXPERIMENTS, "listing", faults._raises)
        with pytest.raises(build_plan.BuildPlanError, match=r"cannot list the experiments.*"
                           r"ValueError: the toy experiment failed"):
            build_plan.prepare_build(["faults"], jobs=1, modules=modules, log=lambda s: None)
    with pytest.raises(build_plan.BuildPlanError) as err:
        build_plan.prepare_build(["faults"], jobs=1, progress=False, modules=modules,
                                 log=lambda s: None)
    text = str(err.value)
    assert text.startswith("1 experiment of the 3 computed before the notebooks failed, so "
                           "the book is not built:")
    assert "  - faults / b: ValueError: the toy experiment failed" in text
    assert "second line" not in text.split("\n\n")[0]
    assert "2 computed" in text and "1 failed" in text  # the time table
    # the others are cached
    assert sorted(p.name.split("-")[0] for p in toy.glob("*.npz")) == ["toy_a", "toy_c"]


def test_cache_off_computes_nothing_first(toy, monkeypatch):
    monkeypatch.setenv("FA_CACHE", "off")
    lines = []
    assert build_plan.prepare_build(["toy"], modules=MODULES, log=lines.append) is None
    assert len(lines) == 1 and "FA_CACHE=off" in lines[0] and not toy.exists()


def test_the_hook_reads_the_builds_toc_and_the_opt_out(toy, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(build_plan, "prepare_build", lambda ch, **k: calls.append(ch))
    # The hook tells the notebooks' set-up cells that the build planned (restored after).
    monkeypatch.setenv(chapter_setup.BUILD_VARIABLE, "")
    toc = tmp_path / "toc.yml"
    toc.write_text("root: book/intro\nchapters:\n  - file: book/depth\n")
    app = SimpleNamespace(srcdir=str(tmp_path),
                          config=SimpleNamespace(fa_compute_first=True,
                                                 external_toc_path="toc.yml"))
    sphinxext.compute_first(app, None, ["book/intro", "book/depth", "book/flexibility"])
    assert calls == [["depth"]]
    assert os.environ[chapter_setup.BUILD_VARIABLE]
    app.config.fa_compute_first = False
    sphinxext.compute_first(app, None, ["book/depth"])
    assert calls == [["depth"]]


# --------------------------------------------------------------------------- a real build

CELL = """\
import os, pathlib, time
cache = pathlib.Path(os.environ["FA_CACHE_DIR"])
entries = sorted(p.name.split("-")[0] for p in cache.glob("*.npz"))
pathlib.Path(os.environ["TOY_MARKER"]).write_text(f"{time.time()} {' '.join(entries)}")
"""

SETUP = """\
from fa_lib import catalogue

catalogue.EXPERIMENTS_PACKAGE = "toy_chapters"  # the book's chapters are toy ones


def setup(app):
    return {"parallel_read_safe": True}
"""


def _tiny_book(directory: Path, chapter: str, compute_first: bool = True) -> None:
    """A Jupyter Book with an intro page and one toy chapter, with fa_lib.sphinxext."""
    (directory / "book").mkdir(parents=True)
    _write_package(directory)
    (directory / "toy_setup.py").write_text(SETUP)
    (directory / "_config.yml").write_text(textwrap.dedent("""\
        title: tiny
        only_build_toc_files: true
        execute:
          execute_notebooks: cache
        sphinx:
          extra_extensions: [toy_setup, fa_lib.sphinxext]
          config:
            nb_execution_raise_on_error: true
        """) + f"    fa_compute_first: {str(compute_first).lower()}\n")
    (directory / "_toc.yml").write_text(
        f"format: jb-book\nroot: book/intro\nchapters:\n  - file: book/{chapter}\n")
    (directory / "book" / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {chapter}"), nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, directory / "book" / f"{chapter}.ipynb")


def _build(directory: Path, cache_dir: Path, marker: Path) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "FA_CACHE_DIR": str(cache_dir), "FA_SCALE": "quick",
           "FA_CACHE": "on", "FA_JOBS": "1", "TOY_MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join([str(directory), str(ROOT)])}
    return subprocess.run([str(jb) if jb.is_file() else "jupyter-book", "build", str(directory)],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("jupyter-book") is None
                    and not Path(sys.executable).with_name("jupyter-book").is_file(),
                    reason="jupyter-book is not installed")
def test_a_build_computes_first_stops_on_failure_and_costs_one_line_when_full(tmp_path):
    """Four builds of a tiny book: from an empty cache, a full one, a failure, the opt-out."""
    book, cache_dir, marker = tmp_path / "book_ok", tmp_path / "cache", tmp_path / "marker"
    _tiny_book(book, "toy")
    out = _build(book, cache_dir, marker)
    log = _flat(out.stdout + out.stderr)
    assert out.returncode == 0, log[-3000:]
    # the plan and the time table come before the notebook is read, and the notebook
    # found every entry already in the cache
    assert "3 are not in the results cache" in log
    assert log.index("3 are not in the results cache") < log.index("3 computed") \
        < log.index("reading sources")
    assert marker.read_text().split()[1:] == ["toy_a", "toy_b", "toy_c"]

    # nothing missing: one line; a fresh output directory, so the notebook runs again
    shutil.rmtree(book / "_build")
    before = _snapshot(cache_dir)
    out = _build(book, cache_dir, marker)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    plan_lines = [line for line in log.splitlines() if line.startswith("fa_lib:")]
    assert len(plan_lines) == 1 and "all 3 experiments" in plan_lines[0], plan_lines
    assert _snapshot(cache_dir) == before

    # a failing experiment stops the build before any notebook runs
    failing, marker = tmp_path / "book_fails", tmp_path / "marker_fails"
    _tiny_book(failing, "faults")
    out = _build(failing, tmp_path / "cache_fails", marker)
    log = _flat(out.stdout + out.stderr)
    assert out.returncode != 0
    assert "fa_lib: the build stopped before the notebooks" in log
    assert "faults / b: ValueError: the toy experiment failed" in log
    assert "2 computed" in log and "1 failed" in log
    assert not marker.exists()  # the notebook never ran

    # the opt-out: nothing is computed first, the notebook finds an empty cache
    opted_out, marker = tmp_path / "book_opted_out", tmp_path / "marker_opted_out"
    _tiny_book(opted_out, "toy", compute_first=False)
    out = _build(opted_out, tmp_path / "cache_opted_out", marker)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "fa_lib:" not in out.stdout and marker.read_text().split()[1:] == []
