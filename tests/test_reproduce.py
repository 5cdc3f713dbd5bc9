"""Tests of ``python -m fa_lib reproduce`` (fa_lib/reproduce.py).

The command runs in subprocesses (it must set FA_SCALE before the experiments modules
are imported) at the quick scale, with a private results cache under tmp_path. The
chapter that fills the cache is the cheapest one (persistent_error, ~15 s at quick
scale on one core). The coverage test is static plus stubs: it parses the notebooks and
the experiments modules and calls the registry with the cache entry points replaced by
recorders, so it computes nothing.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache, catalogue, outcome, reproduce, runner

ROOT = Path(__file__).resolve().parents[1]
CHEAP = "persistent_error"
# The notebook's calls of the cheap chapter (book/persistent_error.ipynb), run in a
# process that does not import fa_lib.reproduce.
NOTEBOOK_PATH = """
from fa_lib.experiments import persistent_error as pe
CONDS = pe.CONDITIONS
cfg = pe.config()
sim = pe.run_openloop_sim(cfg)
res = {c: pe.run_condition(c, cfg) for c in CONDS}
eig = pe.run_eigenvalues(cfg)
ctl = pe.run_control(cfg)["angles"]
fixed = {c: pe.run_condition(c, cfg, fixed_ex=True) for c in CONDS}
import sys
assert "fa_lib.reproduce" not in sys.modules
"""


def _env(cache_dir: Path, scale: str = "quick") -> dict[str, str]:
    env = {**os.environ, "FA_CACHE_DIR": str(cache_dir), "FA_SCALE": scale, "FA_CACHE": "on",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _cli(cache_dir: Path, *args: str, scale: str = "quick",
         **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fa_lib", "reproduce", "--no-progress", *args],
        cwd=ROOT, env={**_env(cache_dir, scale), **env}, capture_output=True, text=True,
        timeout=600,
    )


def _rows(stdout: str) -> dict[tuple[str, str], str]:
    """(chapter, experiment) -> last column, from the table of the run or of --list."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] in catalogue.CHAPTERS:
            rows[cells[0], cells[1]] = cells[4] if len(cells) > 4 else cells[-1]
    return rows


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


# --------------------------------------------------------------------------- command line


def test_list_every_chapter_computes_nothing(tmp_path):
    # FA_SCALE=paper in the environment: --scale quick must win (the quick registry has
    # the Fig. 7 runs of their own, which the paper scale does not).
    out = _cli(tmp_path, "--scale", "quick", "--list", scale="paper")
    assert out.returncode == 0, out.stderr
    rows = _rows(out.stdout)
    assert {c for c, _ in rows} == set(catalogue.CHAPTERS)
    assert set(rows.values()) == {"no"}
    assert ("mnist_alignment", "fig7_fa") in rows
    assert "scale quick" in out.stdout
    assert f"Of the experiments listed, {len(rows)} are not cached." in out.stdout
    assert "on one core" in out.stdout  # the benchmarks' estimate
    assert not any(tmp_path.iterdir())


def test_fill_then_cached_then_notebook_computes_nothing(tmp_path):
    first = _cli(tmp_path, "--only", CHEAP)
    assert first.returncode == 0, first.stderr
    rows = _rows(first.stdout)
    assert rows and {c for c, _ in rows} == {CHEAP}
    assert set(rows.values()) == {"no"}, first.stdout
    files = _snapshot(tmp_path)
    assert files

    second = _cli(tmp_path, "--only", CHEAP)
    assert second.returncode == 0, second.stderr
    assert _rows(second.stdout) == dict.fromkeys(rows, "yes"), second.stdout
    assert f"{len(rows)} cached before, 0 computed" in second.stdout

    listed = _cli(tmp_path, "--only", CHEAP, "--list")
    assert listed.returncode == 0, listed.stderr
    assert _rows(listed.stdout) == dict.fromkeys(rows, "yes"), listed.stdout

    notebook = subprocess.run([sys.executable, "-c", NOTEBOOK_PATH], cwd=ROOT / "book",
                              env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert notebook.returncode == 0, notebook.stderr
    assert _snapshot(tmp_path) == files  # no entry computed, rewritten or deleted


def test_a_killed_run_keeps_the_time_table_of_what_it_finished(tmp_path, monkeypatch):
    """``--json`` is written after every computed experiment, so SIGKILL loses only the rest."""
    record = tmp_path / "table.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "fa_lib", "reproduce", "--no-progress", "--only", CHEAP,
         "--json", str(record)], cwd=ROOT, env=_env(tmp_path / "cache"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not record.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()
    finally:
        process.wait()
    table = json.loads(record.read_text())  # whole: written atomically
    assert table["complete"] is False, "the run ended before it could be killed"
    done = [r["experiment"] for r in table["rows"]]
    assert done and {r["cached_before"] for r in table["rows"]} == {"no"}
    monkeypatch.setenv("FA_SCALE", "quick")
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path / "cache"))
    listed = [e for c, e, _ in runner.list_experiments([CHEAP])]
    assert done == listed[:len(done)] and len(done) < len(listed)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["table.json"]


def test_jobs_computes_in_workers_the_same_entries(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    one = _cli(serial, "--only", CHEAP)
    record = tmp_path / "table.json"
    two = _cli(parallel, "--only", CHEAP, "--jobs", "2", "--json", str(record))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    rows = _rows(two.stdout)
    assert list(rows) == list(_rows(one.stdout))  # same experiments, in the book's order
    assert set(rows.values()) == {"no"}, two.stdout
    assert "wall clock:" in two.stdout and "with --jobs 2" in two.stdout
    table = json.loads(record.read_text())
    assert (table["scale"], table["jobs"], table["failures"], table["complete"]) == (
        "quick", 2, [], True)
    assert [(r["chapter"], r["experiment"], r["cached_before"]) for r in table["rows"]] == [
        (*k, v) for k, v in rows.items()]
    assert 0 < table["wall_s"] < sum(r["seconds"] for r in table["rows"]) + 60
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["table.json"]
    # The workers key and compute every entry exactly as the serial run does.
    names = sorted(p.name for p in serial.iterdir())
    assert names == sorted(p.name for p in parallel.iterdir())
    for name in names:
        with np.load(serial / name) as a, np.load(parallel / name) as b:
            arrays = [k for k in a.files if not k.startswith("__")]
            assert arrays == [k for k in b.files if not k.startswith("__")]
            for k in arrays:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}: {k}")

    again = _cli(parallel, "--only", CHEAP, "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert set(_rows(again.stdout).values()) == {"yes"}, again.stdout


def test_unknown_chapter_is_an_error(tmp_path):
    out = _cli(tmp_path, "--only", "depth", "no_such_chapter")
    assert out.returncode == 2
    assert "unknown chapter(s) 'no_such_chapter'" in out.stderr
    assert all(c in out.stderr for c in catalogue.CHAPTERS)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--scale", "huge"], ["--bogus"]])
def test_bad_arguments(tmp_path, args):
    out = _cli(tmp_path, *args, "--list")
    assert out.returncode == 2
    assert "error:" in out.stderr


def test_cache_off_is_an_error(tmp_path):
    out = _cli(tmp_path, "--list", FA_CACHE="off")
    assert out.returncode == 2
    assert "FA_CACHE=off" in out.stderr


# --------------------------------------------------------------------------- the watcher


def test_watcher_counts_and_refuses_without_replacing_anything(tmp_path, monkeypatch):
    from fa_lib.experiments import depth  # holds `cached` from `from fa_lib.cache import cached`

    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FA_CACHE", "on")
    calls = []

    def compute():
        calls.append(1)
        return {"x": [1.0, 2.0]}

    def run():
        a = cache.cached("reproduce_test_a", {"n": 1}, compute)
        cache.cached("reproduce_test_b", {"n": 2}, compute)
        return a

    real = cache.cached
    assert runner.read_cached(run) == (False, None) and not calls
    assert not runner.is_cached(run) and not calls
    cache.cached("reproduce_test_a", {"n": 1}, compute)  # one of the two entries
    watch = outcome.run_watched(run)
    assert (watch.entries, watch.computed, watch.cached_before) == (2, 1, "partial")
    assert runner.is_cached(run)
    held, value = runner.read_cached(run)
    assert held and value["x"].tolist() == [1.0, 2.0]
    watch = outcome.run_watched(run)
    assert (watch.entries, watch.computed, watch.cached_before) == (2, 0, "yes")
    assert len(calls) == 2
    assert depth.cached is real and cache.cached is real


def test_reproduce_has_no_per_module_branches_and_no_monkeypatching():
    import inspect

    code = cache.code_text(inspect.getsource(reproduce))  # without docstrings and comments
    for chapter in catalogue.CHAPTERS:
        assert chapter not in code, chapter
    for word in ("_watching", "_WatchedCompute", "__module__", "setattr"):
        assert word not in code, word
    tree = ast.parse(inspect.getsource(reproduce))
    assigned = {t.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Attribute)}
    assert "cached" not in assigned
    assert "fa_lib.reproduce" not in cache.module_dependencies("fa_lib.experiments.depth")


def test_chapters_come_from_the_toc(tmp_path):
    assert catalogue.CHAPTERS == ("persistent_error", "autocorrelation",
                                  "acf_weight_normalisation", "depth", "mnist_alignment",
                                  "flexibility", "feedback_rules", "deep_networks")
    toc = tmp_path / "_toc.yml"
    toc.write_text("root: book/intro\nchapters:\n  # - file: book/autocorrelation\n"
                   "  - file: book/depth\n  - file: book/report\n  - file: book/persistent_error\n")
    assert catalogue.chapters(toc) == ("depth", "persistent_error")
    assert set(catalogue.chapters(tmp_path / "missing.yml")) == set(catalogue.CHAPTERS)


def test_every_module_exposes_config_and_experiments(monkeypatch):
    import importlib

    for chapter in catalogue.CHAPTERS:
        module = importlib.import_module(f"fa_lib.experiments.{chapter}")
        assert callable(module.config) and callable(module.experiments), chapter
        assert not hasattr(module, "EXPERIMENTS"), chapter  # listed when called, at its scale
        for old in ("get_config", "settings", "chapter_config", "compute_all", "fill_cache",
                    "run_all"):
            assert not hasattr(module, old), (chapter, old)
        for label, run in module.experiments().items():
            required = [p for p in inspect_parameters(run) if p.default is p.empty]
            assert not required, (chapter, label)
    from fa_lib.experiments import depth, persistent_error

    monkeypatch.setenv("FA_SCALE", "paper")
    assert depth.config() is depth.PAPER and persistent_error.config() is persistent_error.PAPER
    monkeypatch.setenv("FA_SCALE", "quick")
    assert depth.config() is depth.QUICK  # read when called, not at import


def inspect_parameters(func):
    import inspect

    return list(inspect.signature(func).parameters.values())


def test_format_table_total():
    rows = [runner.Row("depth", "heatmap", 1.25, "no", 1.0),
            runner.Row("flexibility", "fa", 3.0, "FAILED", 2.0),
            runner.Row("flexibility", "bp", 0.5, "yes", 0.25)]
    rows[1] = runner.Row("flexibility", "fa", 3.0, "FAILED", 2.0, "ValueError: bad input")
    lines = runner.format_table(rows).splitlines()
    assert lines[3].split() == ["flexibility", "fa", "3.0", "2.0", "FAILED", "ValueError:",
                                "bad", "input"]
    assert lines[-1] == ("total: 4.8 s (cpu 3.2 s) for 3 experiments (1 cached before, "
                         "1 computed, 0 partly computed, 1 failed)")


# --------------------------------------------------------------------------- coverage


def _notebook_calls(chapter: str) -> tuple[dict[str, int], set[str]]:
    """Calls ``<alias>.<function>(`` of the notebook into experiments modules: (sites, modules)."""
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    lines = [line for cell in nb["cells"] if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "fa_lib.experiments":
            aliases.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("fa_lib.experiments.") and a.asname:
                    aliases[a.asname] = a.name.rsplit(".", 1)[1]
    sites: dict[str, int] = {}
    for node in ast.walk(tree):
        f = getattr(node, "func", None)
        if (isinstance(node, ast.Call) and isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name) and f.value.id in aliases):
            sites[f.attr] = sites.get(f.attr, 0) + 1
    return sites, set(aliases.values())


def _cache_graph(module) -> tuple[set[str], dict[str, set[str]]]:
    """The module's functions that call the cache themselves, and who calls whom."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    direct: set[str] = set()
    calls: dict[str, set[str]] = {}
    for name, fn in funcs.items():
        called = set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name):
                called.add(f.id)
                if f.id in ("cached", "cached_run", "named_run"):
                    direct.add(name)
            elif isinstance(f, ast.Attribute) and f.attr in ("cached", "cached_run", "named_run"):
                direct.add(name)
        calls[name] = called & set(funcs)
    return direct, calls


def _reach(names, direct: set[str], calls: dict[str, set[str]]) -> set[str]:
    """The functions calling the cache themselves that ``names`` reach within the module."""
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(calls.get(n, ()))
    return seen & direct


def test_registry_covers_the_notebooks_cache_entry_points(monkeypatch):
    notebooks = {p.stem for p in (ROOT / "book").glob("*.ipynb")
                 if "fa_lib.experiments" in p.read_text(encoding="utf-8")}
    assert notebooks == set(catalogue.CHAPTERS)
    table = catalogue.registry()
    assert tuple(table) == catalogue.CHAPTERS
    for chapter in catalogue.CHAPTERS:
        module = sys.modules[f"fa_lib.experiments.{chapter}"]
        sites, modules = _notebook_calls(chapter)
        assert modules == {chapter}, (chapter, modules)
        direct, calls = _cache_graph(module)
        needed = _reach(sites, direct, calls)
        assert needed, f"the {chapter} notebook calls no cache entry point"

        # Replace every function reaching the cache by a recorder; those calling the
        # cache themselves stop there, the others call through (so they are counted too).
        # A record is (name, args, kwargs, made by the registry's callable itself).
        recorded: list[tuple[str, tuple, dict, bool]] = []
        depth = [0]
        for name in _reach_any(direct, calls):
            original = getattr(module, name)

            def recorder(*args, _name=name, _orig=original, _stop=name in direct,
                         _log=recorded, _depth=depth, **kwargs):
                _log.append((_name, args, kwargs, _depth[0] == 0))
                _depth[0] += 1
                try:
                    return None if _stop else _orig(*args, **kwargs)
                finally:
                    _depth[0] -= 1

            monkeypatch.setattr(module, name, recorder)
        labels = [label for label, _ in table[chapter]]
        assert len(labels) == len(set(labels)), labels
        for _, run in table[chapter]:
            run()
        monkeypatch.undo()

        called = {r[0] for r in recorded}
        assert needed <= _reach(called, direct, calls), (chapter, needed - called)
        # Every call site of a function reaching the cache is made by the registry itself
        # (at least as often; a call from inside another, e.g. fig4_text_eta -> fig4, with
        # another configuration, does not count);
        for name, n_sites in sites.items():
            if _reach([name], direct, calls):
                made = sum(r[0] == name and r[3] for r in recorded)
                assert made >= n_sites, (chapter, name, made, n_sites)
        if hasattr(module, "configs"):  # MNIST chapters: every run, by name
            runs = {r[1][0] for r in recorded if r[0] == "results"}
            assert runs == set(module.configs()), (chapter, set(module.configs()) ^ runs)
        if chapter == "persistent_error":
            conds = {(r[1][0], r[2].get("fixed_ex", False)) for r in recorded
                     if r[0] == "run_condition"}
            assert conds == {(c, f) for c in module.CONDITIONS for f in (False, True)}


def _reach_any(direct: set[str], calls: dict[str, set[str]]) -> set[str]:
    """Every function of the module that reaches the cache (itself or through others)."""
    return {n for n in calls if _reach([n], direct, calls)}


# --------------------------------------------------------------------------- reliability

TOY = '''
import os
import signal

import numpy as np

from fa_lib.cache import cached


def config():
    return {"n": 3}


def _entry(name):
    return cached(f"toy_{name}", config(), lambda: {"x": np.arange(config()["n"])})


def _killed():
    _entry("before_kill")
    os.kill(os.getpid(), signal.SIGKILL)


def _raises():
    raise ValueError("the first line\\nand a second line")


def _unwritable():
    blocker = os.path.join(os.environ["FA_CACHE_DIR"], "blocker")
    open(blocker, "w").close()
    return cached("toy_unwritable", config(), lambda: {"x": np.zeros(1)}, cache_dir=blocker)


EXPERIMENTS = {
    "a": lambda: _entry("a"),
    "killed": _killed,
    "b": lambda: _entry("b"),
    "c": lambda progress=False: _entry("c"),
}
FAULTS = {"raises": _raises, "unwritable": _unwritable, "d": lambda: _entry("d")}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A test-only chapter module (``toy_chapters.toy``) and a private results cache."""
    for name in [n for n in sys.modules if n.split(".")[0] == "toy_chapters"]:
        monkeypatch.delitem(sys.modules, name)
    package = tmp_path / "toy_chapters"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY)
    (package / "faults.py").write_text(TOY.replace("EXPERIMENTS = {", "_UNUSED = {")
                                       .replace("FAULTS = {", "EXPERIMENTS = {"))
    monkeypatch.syspath_prepend(str(tmp_path))
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FA_CACHE", "on")
    return cache_dir


def test_a_killed_worker_fails_only_its_experiment(toy, capsys):
    rows, failures = runner.reproduce(jobs=2, progress=False,
                                         modules={"toy": "toy_chapters.toy"})
    states = {r.experiment: r.cached_before for r in rows}
    assert states == {"a": "no", "killed": "FAILED", "b": "no", "c": "no"}, rows
    assert [r.experiment for r in rows] == ["a", "killed", "b", "c"]  # every one, in order
    assert len(failures) == 1 and failures[0][:2] == ("toy", "killed")
    assert "SIGKILL" in failures[0][2] and "WorkerDied" in failures[0][2]
    names = sorted(p.name.split("-")[0] for p in toy.glob("*.npz"))
    assert names == ["toy_a", "toy_b", "toy_before_kill", "toy_c"]


def test_a_killed_worker_gives_a_non_zero_exit(toy, monkeypatch, capsys):
    monkeypatch.setattr(catalogue, "CHAPTERS", ("toy",))
    monkeypatch.setattr(catalogue, "EXPERIMENTS_PACKAGE", "toy_chapters")
    assert reproduce.main(["--jobs", "2", "--no-progress"]) == 1
    out = capsys.readouterr()
    assert "killed  " in out.out and "FAILED  WorkerDied" in out.out
    assert "3 computed" in out.out and "1 failed" in out.out


def test_failed_rows_give_the_type_and_first_line_and_unwritten_entries_fail(toy, capsys):
    rows, failures = runner.reproduce(jobs=1, progress=False,
                                         modules={"faults": "toy_chapters.faults"})
    states = {r.experiment: (r.cached_before, r.error) for r in rows}
    assert states["raises"] == ("FAILED", "ValueError: the first line")
    assert states["unwritable"][0] == "FAILED"
    assert states["unwritable"][1].startswith("CacheWriteError: 1 cache entry not written")
    assert states["d"] == ("no", "")
    assert [f[1] for f in failures] == ["raises", "unwritable"]
    assert "FAILED  ValueError: the first line" in runner.format_table(rows)


@pytest.mark.parametrize("action", [["--only", CHEAP], ["--list"]])
def test_a_file_as_the_cache_directory_fails_before_computing(tmp_path, action):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _cli(blocker, *action)
    assert out.returncode == 2, out.stdout
    assert "is a file, not a directory" in out.stderr and str(blocker) in out.stderr
    assert "total:" not in out.stdout and "cached (scale" not in out.stdout
    assert "Traceback" not in out.stderr


def test_an_unwritable_cache_fails_before_computing(tmp_path, monkeypatch):
    import errno

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(runner.tempfile, "mkstemp", refuse)
    with pytest.raises(runner.CacheNotWritableError, match="cannot be written"):
        runner.check_writable(tmp_path / "cache")


def test_too_little_free_space_is_refused_with_the_numbers(toy, monkeypatch, capsys):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 2**17))
    monkeypatch.setattr(catalogue, "CHAPTERS", ("toy",))
    monkeypatch.setattr(catalogue, "EXPERIMENTS_PACKAGE", "toy_chapters")
    assert reproduce.main(["--no-progress", "--scale", "quick"]) == 2
    err = capsys.readouterr().err
    per = runner.ENTRY_BYTES["quick"] / 2**20
    assert "has 0.1 MiB free, but the 4 experiments to compute write up to about " \
           f"{4 * per:,.1f} MiB ({per:,.1f} MiB each at the quick scale)" in err, err
    assert not list(toy.glob("*.npz"))  # nothing was computed


def test_a_disk_that_fills_up_fails_the_probe_before_computing(toy, monkeypatch):
    import errno

    real_write = runner.os.write

    def full(fd, data):
        if len(data) > 4096:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(runner.os, "write", full)
    with pytest.raises(runner.CacheNotWritableError, match="disk full") as info:
        runner.reproduce(progress=False, modules={"toy": "toy_chapters.toy"})
    assert "ENOSPC" not in str(info.value) and "No space left" in str(info.value)
    assert not list(toy.glob("*.npz")) and not list(toy.glob(".*.tmp"))


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_file_system_is_refused_before_computing(tmp_path):
    """A real 200 KiB file system (where this process may mount one)."""
    small = tmp_path / "small"
    if not _tmpfs(small, "200k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        out = _cli(small, "--only", "depth")
        assert out.returncode == 2, (out.stdout, out.stderr)
        assert "free, but the 2 experiments to compute" in out.stderr, out.stderr
        assert "total:" not in out.stdout and "Traceback" not in out.stderr
        assert not any(small.iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.parametrize("target, message", [
    ("missing/run.json", "does not exist; create it first"),
    (".", "that is a directory"),
])
def test_json_to_a_path_that_cannot_be_written_fails_before_computing(tmp_path, target,
                                                                      message):
    out = _cli(tmp_path / "cache", "--only", CHEAP, "--json", str(tmp_path / target))
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "cache").exists()


def test_list_never_deletes_a_damaged_entry_and_a_run_replaces_it(toy, reported):
    modules = {"toy": "toy_chapters.toy"}
    toy.mkdir()
    (toy / ".toy_x.somehost-1.abcdef.tmp").write_bytes(b"partial")
    from toy_chapters import toy as module  # noqa: I001 - importable only in this test

    module.EXPERIMENTS["a"]()
    (entry,) = toy.glob("toy_a-*.npz")
    entry.write_bytes(entry.read_bytes()[:50])
    with reported("left in place"):
        listed = runner.list_experiments(modules=modules)
    assert listed[0] == ("toy", "a", False)
    assert entry.exists() and len(entry.read_bytes()) == 50
    # A run removes the stale temporary file (older than a day) and replaces the entry.
    stale = toy / ".toy_x.somehost-1.abcdef.tmp"
    import os
    import time

    day_ago = time.time() - 2 * 86400
    os.utime(stale, (day_ago, day_ago))
    module.EXPERIMENTS.pop("killed")
    with reported("deleted and computed again"):
        rows, failures = runner.reproduce(jobs=1, progress=False, modules=modules)
    assert not failures and not stale.exists()
    assert len(entry.read_bytes()) > 50


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "fa_lib", "reproduce", "--no-progress", "--only", CHEAP],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob("*.npz")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(tmp_path.glob("*.npz")), "no entry was written"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "total:" in out and "interrupted (SIGTERM)" in err
    assert set(_rows(out).values()) <= {"no", "FAILED"} and "no" in _rows(out).values()


def test_a_bad_fa_jobs_is_a_clear_error_before_anything_runs(tmp_path):
    out = _cli(tmp_path, "--list", FA_JOBS="abc")
    assert out.returncode == 2
    assert "FA_JOBS='abc' is not a whole number" in out.stderr


def test_progress_bar_is_optional(monkeypatch):
    """Without tqdm installed, ``reproduce`` runs without a progress bar."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert runner._progress_bar(3, True) is None
    assert runner._progress_bar(3, False) is None
    # The engine's own bars (training epochs, open-loop iterations) are skipped too.
    from fa_lib import openloop, training
    from fa_lib.rule import Rule

    assert training._progress(range(3), True, "epochs") == range(3)
    out = openloop.run_openloop(0, 1, 3, (4, 3, 2), 2, Rule("fa", eta=1e-3), progress=True)
    assert all(np.isfinite(a[-1]).all() for a in out.values() if a.ndim == 2)
