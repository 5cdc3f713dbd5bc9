"""Tests of the on-disk results cache, fa_lib.cache."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import multiprocessing as mp
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache
from fa_lib.cache import cached

FINGERPRINT = "f" * 64


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch):
    """Run every test with the cache enabled, whatever the caller's environment says.

    The code fingerprint is pinned, so that edits to fa_lib made while the tests run
    (by a worker process importing the package later) cannot change the keys.
    """
    monkeypatch.delenv("FA_CACHE", raising=False)
    monkeypatch.delenv("FA_CACHE_DIR", raising=False)
    monkeypatch.setattr(cache, "_LOADED_FINGERPRINT", FINGERPRINT)


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, results):
        self.calls = 0
        self.results = results

    def __call__(self):
        self.calls += 1
        return self.results


def _expected():
    return {
        "angles": np.linspace(0.0, 90.0, 7),
        "counts": np.arange(12, dtype=np.int32).reshape(3, 4),
        "flag": np.array(True),
        "label": np.array("quick"),
    }


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def _never():
    raise AssertionError("compute() was called although a valid entry exists")


def test_round_trip(tmp_path):
    compute = Counter(_expected())
    config = {"n": 3, "eta": 0.002, "shape": (100, 10)}
    first = cached("fig", config, compute, cache_dir=tmp_path)
    second = cached("fig", config, compute, cache_dir=tmp_path)
    assert compute.calls == 1
    for got in (first, second):
        assert sorted(got) == sorted(_expected())
        for key, value in _expected().items():
            np.testing.assert_array_equal(got[key], value)
            assert got[key].dtype == value.dtype
    (entry,) = _entries(tmp_path)
    assert entry.name.startswith("fig-") and entry.suffix == ".npz"
    with np.load(entry, allow_pickle=False) as npz:  # no pickle needed to read it
        assert "__meta__" in npz.files
        assert npz["__meta__"].dtype.kind == "U" and npz["__meta__"].ndim == 0


def test_numbers_are_converted(tmp_path):
    got = cached("nums", {}, lambda: {"x": 1.5, "y": [1, 2, 3]}, cache_dir=tmp_path)
    assert isinstance(got["x"], np.ndarray) and got["x"].shape == ()
    np.testing.assert_array_equal(got["y"], [1, 2, 3])
    again = cached("nums", {}, _never, cache_dir=tmp_path)
    np.testing.assert_array_equal(again["y"], [1, 2, 3])


def test_config_change_recomputes(tmp_path):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    cached("fig", {"n": 4}, compute, cache_dir=tmp_path)
    cached("other", {"n": 3}, compute, cache_dir=tmp_path)
    assert compute.calls == 3
    assert len(_entries(tmp_path)) == 3
    cached("fig", {"n": 4}, compute, cache_dir=tmp_path)
    assert compute.calls == 3


def test_canonical_config():
    a = {"shape": (100, 10), "eta": np.float64(0.5), "n": np.int64(3), "v": np.arange(3)}
    b = {"v": [0, 1, 2], "n": 3, "eta": 0.5, "shape": [100, 10]}
    assert cache.canonical_json(a) == cache.canonical_json(b)
    assert cache.cache_key("x", a) == cache.cache_key("x", b)
    assert cache.cache_key("x", a) != cache.cache_key("x", {**b, "n": 4})
    with pytest.raises(ValueError, match="not a str"):
        cache.canonical_json({1: 2})
    with pytest.raises(ValueError, match="set"):
        cache.canonical_json({"s": {1, 2}})


def test_code_change_recomputes(tmp_path, monkeypatch):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    monkeypatch.setattr(cache, "_LOADED_FINGERPRINT", "0" * 64)
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    assert compute.calls == 2


def test_fingerprint_is_taken_at_import(tmp_path):
    # A copy of the module in a package of its own: its fingerprint is of that package.
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "cache.py").write_bytes(Path(cache.__file__).read_bytes())
    (pkg / "engine.py").write_text("x = 1\n")
    spec = importlib.util.spec_from_file_location("pkg_cache_copy", pkg / "cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    at_import = module.code_fingerprint(pkg)
    assert module.loaded_code_fingerprint() == at_import
    (pkg / "engine.py").write_text("x = 2\n")  # an edit after the import ...
    assert module.code_fingerprint(pkg) != at_import
    assert module.loaded_code_fingerprint() == at_import  # ... does not change the keys


def test_fingerprint_covers_package_files(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("ignored\n")
    before = cache.code_fingerprint(pkg)
    (pkg / "notes.txt").write_text("changed\n")
    assert cache.code_fingerprint(pkg) == before
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert cache.code_fingerprint(pkg) != before


@pytest.mark.parametrize("keep", [0, 10, 0.5, -30])
def test_corrupt_entry_is_detected_and_recomputed(tmp_path, keep, reported):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    data = entry.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    entry.write_bytes(data[:cut])
    with reported(entry.name):
        got = cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(got["angles"], _expected()["angles"])
    assert len(_entries(tmp_path)) == 1  # the damaged entry was replaced
    np.testing.assert_array_equal(
        cached("fig", {"n": 3}, _never, cache_dir=tmp_path)["counts"], _expected()["counts"]
    )


def test_damaged_member_is_detected(tmp_path, reported):
    cached("fig", {"n": 3}, lambda: {"w": np.zeros(1000)}, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    data = bytearray(entry.read_bytes())
    with zipfile.ZipFile(entry) as zf:
        info = zf.getinfo("w.npy")
    at = info.header_offset + 30 + len(info.filename) + 500  # inside the array's bytes
    data[at] ^= 0xFF
    entry.write_bytes(bytes(data))
    with reported("damaged"):
        got = cached("fig", {"n": 3}, lambda: {"w": np.ones(3)}, cache_dir=tmp_path)
    np.testing.assert_array_equal(got["w"], np.ones(3))


def test_mismatched_entry_is_replaced(tmp_path, reported):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    np.savez(entry, __meta__=np.array('{"key": "someone else"}'), angles=np.zeros(2))
    with reported("did not match"):
        got = cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(got["angles"], _expected()["angles"])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"a": np.array([1, "x", None], dtype=object)}, "object"),
        ({"a": [np.zeros(2), np.zeros(3)]}, "cannot be made into an array|object"),
        ({1: np.zeros(2)}, "keys must be non-empty str"),
        ({"__meta__": np.zeros(2)}, "reserved"),
        ([np.zeros(2)], "mapping"),
        (np.zeros(2), "mapping"),
    ],
)
def test_bad_results_are_rejected(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        cached("bad", {}, lambda: bad, cache_dir=tmp_path)
    assert not tmp_path.exists() or _entries(tmp_path) == []


@pytest.mark.parametrize("name", ["", "a/b", "../up", ".hidden", "with space", 3])
def test_bad_names_are_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="name"):
        cached(name, {}, _expected, cache_dir=tmp_path)


def test_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE", "off")
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path / "c"))
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute)
    got = cached("fig", {"n": 3}, compute)
    assert compute.calls == 2
    np.testing.assert_array_equal(got["counts"], _expected()["counts"])
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValueError, match="object"):
        cached("fig", {}, lambda: {"a": np.array([None])})
    monkeypatch.setenv("FA_CACHE", "sometimes")
    with pytest.raises(ValueError, match="FA_CACHE"):
        cached("fig", {"n": 3}, compute)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path / "from_env"))
    cached("fig", {"n": 3}, _expected)
    assert len(_entries(tmp_path / "from_env")) == 1
    monkeypatch.delenv("FA_CACHE_DIR")
    assert cache.cache_dir() == Path(cache.__file__).resolve().parent.parent / "_cache"


def _big_results(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((1000, 1000)), "b": np.arange(10)}


def _digest(results: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(results):
        h.update(key.encode())
        h.update(np.ascontiguousarray(results[key]).tobytes())
    return h.hexdigest()


def _fill(directory: str, barrier, queue) -> None:
    """Worker: wait for the other process, then fill the same cache entry."""
    cache._LOADED_FINGERPRINT = FINGERPRINT  # as in the parent (see _cache_on)

    def compute():
        barrier.wait(timeout=60)  # both processes have missed the entry by now
        return _big_results(7)

    try:
        got = cached("race", {"seed": 7}, compute, cache_dir=Path(directory))
        queue.put(("ok", _digest(got)))
    except BaseException as err:  # report to the parent rather than dying silently
        queue.put(("error", repr(err)))


def test_two_processes_fill_the_same_entry(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_fill, args=(str(tmp_path), barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    expected = _digest(_big_results(7))
    assert reports == [("ok", expected), ("ok", expected)]
    (entry,) = _entries(tmp_path)  # one entry, no temporary files left behind
    assert entry.suffix == ".npz" and not entry.name.startswith(".")
    got = cached("race", {"seed": 7}, _never, cache_dir=tmp_path)
    assert _digest(got) == expected


def _load_as(name: str, path, monkeypatch):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_results_are_keyed_by_the_code_they_use(tmp_path, monkeypatch):
    # fa_lib._t_uses calls fa_lib._t_dep; fa_lib._t_other is unrelated.
    (tmp_path / "dep.py").write_text("def f():\n    return 1\n")
    (tmp_path / "other.py").write_text("def g():\n    return 2\n")
    (tmp_path / "uses.py").write_text("import sys\nf = sys.modules['fa_lib._t_dep'].f\n")
    _load_as("fa_lib._t_dep", tmp_path / "dep.py", monkeypatch)
    _load_as("fa_lib._t_other", tmp_path / "other.py", monkeypatch)
    uses = _load_as("fa_lib._t_uses", tmp_path / "uses.py", monkeypatch)
    assert cache.module_dependencies("fa_lib._t_uses") == ["fa_lib._t_dep", "fa_lib._t_uses"]
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    before = cache.fingerprint_of(uses.f)
    assert before == cache.module_fingerprint("fa_lib._t_dep") != cache.loaded_code_fingerprint()
    (tmp_path / "other.py").write_text("def g():\n    return 3\n")
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    assert cache.fingerprint_of(uses.f) == before  # an unrelated edit keeps the results
    (tmp_path / "dep.py").write_text("def f():\n    return 4\n")
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    assert cache.fingerprint_of(uses.f) != before  # an edit of used code recomputes


def test_code_outside_the_package_is_keyed_by_the_whole_package():
    assert cache.fingerprint_of(lambda: {}) == cache.loaded_code_fingerprint()
    deps = cache.module_dependencies("fa_lib.network")
    assert "fa_lib.linalg" in deps and "fa_lib.cache" not in deps


def test_docstrings_comments_and_layout_do_not_change_the_code_text():
    plain = cache.code_text("def f(x):\n    return x + 1\n")
    documented = cache.code_text(
        '"""Module."""\n\n# a comment\ndef f(x):\n    """Doc."""\n\n    return x+1  # why\n'
    )
    assert documented == plain
    assert cache.code_text("def f(x):\n    return x + 2\n") != plain
    assert cache.code_text('def f(x):\n    """Doc."""\n') != cache.code_text("def f(x):\n    x\n")


def test_declaring_the_kinds_of_numbers_does_not_change_the_code_text():
    plain = cache.code_text("import numpy as np\n\n\ndef f(x):\n    return x + 1\n")
    for kinds in ('KINDS = {"a": "angle"}\n', 'KINDS: dict[str, str] = {"a": "other"}\n',
                  "KINDS = {**np.KINDS, 'b': 'accuracy'}\n\"\"\"The kinds.\"\"\"\n"):
        declared = cache.code_text(f"import numpy as np\n{kinds}\n\ndef f(x):\n    return x + 1\n")
        assert declared == plain
    # Only KINDS alone, at module level, is a declaration.
    assert cache.code_text("KINDS = X = 1\n") != cache.code_text("")
    assert cache.code_text("X = 1\n'''Doc.'''\n") != cache.code_text("X = 1\n")
    assert cache.code_text("def f():\n    KINDS = 1\n") != cache.code_text("def f():\n    pass\n")


def test_a_docstring_edit_keeps_the_results(tmp_path, monkeypatch):
    (tmp_path / "dep.py").write_text('def f():\n    """One."""\n    return 1\n')
    dep = _load_as("fa_lib._t_doc", tmp_path / "dep.py", monkeypatch)
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    before = cache.fingerprint_of(dep.f)
    (tmp_path / "dep.py").write_text('def f():\n    """Two, longer."""\n\n    return 1  # same\n')
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    assert cache.fingerprint_of(dep.f) == before
    (tmp_path / "dep.py").write_text('def f():\n    """Two, longer."""\n    return 2\n')
    monkeypatch.setattr(cache, "_MODULE_FINGERPRINTS", {})
    assert cache.fingerprint_of(dep.f) != before


def test_an_explicit_fingerprint_files_results_under_that_code(tmp_path):
    first = cached("fig", {"n": 1}, lambda: {"a": np.ones(2)}, cache_dir=tmp_path,
                   fingerprint="code-A")
    # Read back by any compute given the same fingerprint, not by the default one.
    again = cached("fig", {"n": 1}, lambda: {"a": np.zeros(2)}, cache_dir=tmp_path,
                   fingerprint="code-A")
    other = cached("fig", {"n": 1}, lambda: {"a": np.zeros(2)}, cache_dir=tmp_path)
    np.testing.assert_array_equal(again["a"], first["a"])
    np.testing.assert_array_equal(other["a"], np.zeros(2))
    assert len(list(tmp_path.glob("fig-*.npz"))) == 2


def test_write_json_is_atomic(tmp_path):
    path = tmp_path / "record.json"
    cache.write_json(path, {"a": [1, 2.5], "b": None})
    assert path.read_text() == '{\n "a": [\n  1,\n  2.5\n ],\n "b": null\n}\n'
    with pytest.raises(TypeError):
        cache.write_json(path, {"a": object()})  # not JSON: the old file stays, nothing else
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
    assert '"b": null' in path.read_text()


# --------------------------------------------------------------------------- reliability


def test_a_rewritten_entry_is_detected_by_its_checksum(tmp_path, reported):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    with np.load(entry) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert "sha256" in str(arrays["__meta__"])
    arrays["angles"] = arrays["angles"][::-1].copy()  # same shape and dtype, other values
    np.savez(entry, **arrays)
    with reported("checksum"):
        got = cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(got["angles"], _expected()["angles"])
    np.testing.assert_array_equal(
        cached("fig", {"n": 3}, _never, cache_dir=tmp_path)["angles"], _expected()["angles"])


def test_content_checksum_sees_dtype_shape_and_bytes():
    a = np.arange(6, dtype=np.int64)
    base = cache.content_checksum({"a": a})
    assert cache.content_checksum({"a": a.copy()}) == base
    assert cache.content_checksum({"a": a.reshape(2, 3)}) != base
    assert cache.content_checksum({"a": a.astype(np.float64)}) != base
    assert cache.content_checksum({"b": a}) != base
    assert cache.content_checksum({"a": a[::-1]}) != base
    assert cache.content_checksum({"a": np.asfortranarray(a.reshape(2, 3))}) == \
        cache.content_checksum({"a": a.reshape(2, 3)})


def test_a_permission_error_fails_and_leaves_the_entry(tmp_path, monkeypatch):
    compute = Counter(_expected())
    cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    before = entry.read_bytes()
    import builtins

    real = builtins.open

    def refuse(file, *args, **kwargs):
        if Path(str(file)) == entry:
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(PermissionError):
        cached("fig", {"n": 3}, compute, cache_dir=tmp_path)
    monkeypatch.undo()
    assert compute.calls == 1
    assert _entries(tmp_path) == [entry] and entry.read_bytes() == before


def test_new_entries_get_the_umask_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        cached("fig", {"n": 3}, lambda: {"a": np.zeros(2)}, cache_dir=tmp_path)
        cache.write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(old)
    for path in _entries(tmp_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_stale_temporaries_are_removed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    host = cache._HOST
    old = tmp_path / f".fig-0123.elsewhere-{dead_pid}.abc_12.tmp"  # another host's, a day old
    dead = tmp_path / f".fig-0123.{host}-{dead_pid}.abc_12.tmp"
    mine = tmp_path / f".fig-0123.{host}-{os.getpid()}.abc_12.tmp"
    other_host = tmp_path / f".fig-0123.elsewhere-{dead_pid}.abd_12.tmp"
    entry = tmp_path / "fig-0123.npz"
    # Other programs' files, however old and whatever they are called, are never touched.
    foreign = [tmp_path / name for name in (
        "draft.tmp", ".fig-0123.x.tmp", ".draft.tmp", "notes.host-1.abc.tmp",
        f".fig.{host}-{dead_pid}.abc.tmp.bak", f"fig.{host}-{dead_pid}.abc.tmp")]
    for p in (old, dead, mine, other_host, entry, *foreign):
        p.write_bytes(b"x")
    three_days_ago = time.time() - 3 * 24 * 3600
    for p in (old, entry, *foreign):
        os.utime(p, (three_days_ago, three_days_ago))
    removed = cache.remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([old, dead])
    assert sorted(_entries(tmp_path)) == sorted([mine, other_host, entry, *foreign])


def test_write_json_syncs_before_the_rename(tmp_path, monkeypatch):
    import os

    events = []
    real_fsync, real_replace = cache.os.fsync, cache.os.replace
    monkeypatch.setattr(cache.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(cache.os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b)))
    cache.write_json(tmp_path / "record.json", {"a": [1, 2]})
    assert events == ["fsync", "replace"]
    assert (tmp_path / "record.json").read_text() == '{\n "a": [\n  1,\n  2\n ]\n}\n'
    with pytest.raises(TypeError):
        cache.write_json(tmp_path / "bad.json", {"a": object()})
    assert sorted(os.listdir(tmp_path)) == ["record.json"]


def test_temporary_names_hold_host_and_pid(tmp_path, monkeypatch):
    import os

    seen = []
    real = cache.os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        return real(src, dst)

    monkeypatch.setattr(cache.os, "replace", spy)
    cached("fig", {"n": 3}, lambda: {"a": np.zeros(2)}, cache_dir=tmp_path)
    match = cache._TEMP_PATTERN.search(seen[0])
    assert match and int(match["pid"]) == os.getpid() and match["host"] == cache._HOST


def test_observer_counts_refuses_and_reports(tmp_path):
    compute = Counter({"x": np.ones(2)})
    with cache.observe(refuse=True) as seen:
        with pytest.raises(cache.ComputeRefused):
            cached("a", {"n": 1}, compute, cache_dir=tmp_path)
    assert (seen.entries, seen.computed, compute.calls) == (1, 0, 0)
    assert not any(tmp_path.iterdir())
    with cache.observe() as seen:
        cached("a", {"n": 1}, compute, cache_dir=tmp_path)
        cached("b", {"n": 1}, compute, cache_dir=tmp_path)
        cached("a", {"n": 1}, compute, cache_dir=tmp_path)
    assert (seen.entries, seen.computed, seen.cached_before) == (3, 2, "partial")
    with cache.observe() as seen:
        cached("a", {"n": 1}, _never, cache_dir=tmp_path)
    assert seen.cached_before == "yes"
    # Without an observer nothing is counted anywhere.
    assert cache._OBSERVER.get() is None


def test_a_read_only_check_leaves_a_damaged_entry(tmp_path, reported):
    cached("a", {"n": 1}, lambda: {"x": np.ones(2)}, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:40])
    with cache.observe(refuse=True) as seen, reported("left in place"):
        with pytest.raises(cache.ComputeRefused):
            cached("a", {"n": 1}, _never, cache_dir=tmp_path)
    assert _entries(tmp_path) == [entry] and len(seen.damaged) == 1


def test_a_failed_write_is_reported_to_the_observer(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with cache.observe() as seen, pytest.warns(RuntimeWarning, match="could not write"):
        got = cached("a", {"n": 1}, lambda: {"x": np.ones(2)}, cache_dir=blocker)
    assert got["x"].tolist() == [1.0, 1.0]
    assert seen.computed == 1 and len(seen.write_errors) == 1


def test_a_damaged_entry_is_said_once_in_words_without_paths_or_source_lines(tmp_path):
    """What a notebook's reader sees: one line on standard error, as a sentence."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from fa_lib.cache import cached\n"
        f"d = {str(tmp_path)!r}\n"
        "cached('fig', {'n': 3}, lambda: {'a': np.zeros(3)}, cache_dir=d)\n"
        "import pathlib\n"
        "(entry,) = pathlib.Path(d).glob('fig-*.npz')\n"
        "entry.write_bytes(entry.read_bytes()[:60])\n"
        "for _ in range(2):  # two cells that read the same experiment\n"
        "    cached('fig', {'n': 3}, lambda: {'a': np.ones(3)}, cache_dir=d)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("The results cache entry fig-") and lines[0].endswith(
        "it is deleted and computed again."), lines
    assert str(tmp_path) not in out.stderr and "Warning" not in out.stderr


# --------------------------------------------------------------------------- float32 storage


def _bits(value: float) -> np.float64:
    """The float64 whose bits are ``value`` read as an unsigned integer."""
    return np.array([value], dtype=np.uint64).view(np.float64)[0]


def _exact() -> dict[str, np.ndarray]:
    """Float64 arrays whose values float32 holds exactly, bit for bit."""
    tiny = float(np.float32(1e-45))  # the smallest float32 subnormal, widened
    return {
        "specials": np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, tiny, -tiny,
                              float(np.finfo(np.float32).max), 0.5, -3.0,
                              _bits(0x7FF8000020000000)]),  # a NaN payload float32 holds
        "empty": np.zeros((0, 3)),
        "scalar": np.array(-0.0),
        "columns": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "ramp": np.arange(1000.0) / 8,
    }


def _inexact() -> dict[str, np.ndarray]:
    """Arrays stored as they are: float64 that float32 does not hold, and other dtypes."""
    return {
        "tenth": np.array([0.0, 0.1]),
        "subnormal64": np.array([1e-320]),
        "huge": np.array(1e300),
        "payload": np.array([_bits(0x7FF8000000000001)]),  # a NaN whose payload float32 loses
        "single": np.array([0.1, 2.0], dtype=np.float32),
        "ints": np.arange(4, dtype=np.int64),
        "flags": np.array([True, False]),
    }


def _members(entry: Path) -> tuple[dict[str, np.ndarray], dict]:
    """An entry's members as stored (not widened) and its metadata."""
    import json

    with np.load(entry, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != cache.META_KEY}
        return arrays, json.loads(str(npz[cache.META_KEY][()]))


def _rewrite(entry: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``entry`` anew with these members and metadata (as another writer would)."""
    import json

    np.savez(entry, allow_pickle=False, __meta__=np.array(json.dumps(meta, sort_keys=True)),
             **arrays)


def _assert_identical(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        assert got[key].tobytes() == value.tobytes(), key


def test_float32_exact_arrays_are_stored_as_float32_and_read_bit_identical(tmp_path):
    results = {**_exact(), **_inexact()}
    first = cached("fig", {"n": 1}, lambda: results, cache_dir=tmp_path)
    _assert_identical(first, results)
    (entry,) = _entries(tmp_path)
    stored, meta = _members(entry)
    assert meta["widen"] == sorted(_exact())
    assert meta["sha256"] == cache.content_checksum(results)  # over the arrays as computed
    for key, value in results.items():
        want = np.float32 if key in _exact() else value.dtype
        assert stored[key].dtype == want, key
    _assert_identical(cached("fig", {"n": 1}, _never, cache_dir=tmp_path), results)
    arrays, read_meta = cache.read_entry(entry)
    _assert_identical(arrays, results)
    assert read_meta["key"] == meta["key"]


def test_an_entry_written_before_float32_storage_still_reads(tmp_path):
    results = {**_exact(), **_inexact()}
    cached("fig", {"n": 1}, lambda: results, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    new_bytes = entry.read_bytes()
    _, meta = _members(entry)
    del meta["widen"]  # the layout before float32 storage: every array as computed
    _rewrite(entry, results, meta)
    old_bytes = entry.read_bytes()
    assert all(v.dtype == results[k].dtype for k, v in _members(entry)[0].items())
    _assert_identical(cached("fig", {"n": 1}, _never, cache_dir=tmp_path), results)
    _assert_identical(cache.read_entry(entry)[0], results)
    # Both layouts are accepted from elsewhere; an old entry is made small for a release.
    for data in (old_bytes, new_bytes, cache.stored_bytes(entry)):
        written = cache.store_entry(entry.name, data, tmp_path / "other")
        assert written.read_bytes() == data
        _assert_identical(cache.read_entry(written)[0], results)
    assert len(cache.stored_bytes(entry)) < len(old_bytes) - 3500  # 4 bytes less a value
    with zipfile.ZipFile(io.BytesIO(cache.stored_bytes(entry))) as zf:  # same bytes each time
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert _members(tmp_path / "other" / entry.name)[1]["widen"] == sorted(_exact())
    assert cache.stored_bytes(tmp_path / "other" / entry.name) == \
        (tmp_path / "other" / entry.name).read_bytes()  # already small: as it is


def test_a_changed_float32_array_fails_the_checksum(tmp_path, reported):
    compute = Counter({"w": np.arange(5.0)})
    cached("fig", {"n": 1}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    stored, meta = _members(entry)
    assert stored["w"].dtype == np.float32
    stored["w"][2] = 7.0
    _rewrite(entry, stored, meta)
    data = entry.read_bytes()
    with pytest.raises(cache.EntryRejected, match="checksum"):
        cache.store_entry(entry.name, data, tmp_path / "other")
    with pytest.raises(cache.EntryRejected, match="checksum"):
        cache.read_entry(entry)
    with reported("checksum"):
        got = cached("fig", {"n": 1}, compute, cache_dir=tmp_path)
    assert compute.calls == 2 and got["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("widen, message", [
    (["gone"], "'gone' to widen, an array it does not hold"),
    (["ints"], "'ints' to widen, but it is stored as int64, not float32"),
    (["tenth"], "'tenth' to widen, but it is stored as float64, not float32"),
    (["w", "w"], "lists an array twice"),
    ("w", "not a list of array names"),
    ([1], "not a list of array names"),
])
def test_a_wrong_widen_list_is_refused(tmp_path, reported, widen, message):
    compute = Counter({"w": np.arange(3.0), "ints": np.arange(3), "tenth": np.array([0.1])})
    cached("fig", {"n": 1}, compute, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    stored, meta = _members(entry)
    _rewrite(entry, stored, {**meta, "widen": widen})
    with pytest.raises(cache.EntryRejected, match=f"rejected: .*{message}"):
        cache.store_entry(entry.name, entry.read_bytes(), tmp_path / "other")
    assert not (tmp_path / "other").exists()
    with reported(message):
        cached("fig", {"n": 1}, compute, cache_dir=tmp_path)
    assert compute.calls == 2
