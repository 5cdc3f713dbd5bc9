"""Tests of the results release (fa_lib/results.py): pack, serve, fetch, and every failure.

Two toy chapters (test-only experiments modules writing small cache entries, one entry
read by both) are packed, served by a local HTTP server (a thread serving a temporary
directory on 127.0.0.1) and fetched into an empty cache. Each failure (a truncated
archive, a wrong hash, an entry computed by other code, a connection dropped in the
middle of a download, no server at all) must give a one-line message, the documented
exit status and an unchanged cache.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache, catalogue, chapter_setup, results, runner

TOY_A = '''
import numpy as np
from fa_lib import cache


def shared():
    return cache.cached("toy_shared", {"n": 3}, lambda: {"x": np.arange(3.0)})


def own():
    return cache.cached("toy_a_own", {"n": 2}, lambda: {"y": np.eye(2, dtype=np.float32)})


EXPERIMENTS = {"shared": shared, "own": own}
'''

TOY_B = '''
import numpy as np
from fa_lib import cache
from toy_results.a import shared


def own():
    return cache.cached("toy_b_own", {"k": 1}, lambda: {"z": np.linspace(0, 1, 5)})


EXPERIMENTS = {"shared": shared, "own": own}
'''

MODULES = {"toy_a": "toy_results.a", "toy_b": "toy_results.b"}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy chapters, a filled cache ``full`` and an empty one set as FA_CACHE_DIR."""
    for name in [n for n in sys.modules if n.split(".")[0] == "toy_results"]:
        monkeypatch.delitem(sys.modules, name)
    package = tmp_path / "toy_results"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(TOY_A)
    (package / "b.py").write_text(TOY_B)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FA_CACHE", "on")
    monkeypatch.setenv("FA_SCALE", "quick")
    monkeypatch.delenv(results.URL_VARIABLE, raising=False)
    monkeypatch.setattr(catalogue, "CHAPTERS", tuple(MODULES))
    full = tmp_path / "full"
    monkeypatch.setenv("FA_CACHE_DIR", str(full))
    rows, failures = runner.reproduce(progress=False, modules=MODULES)
    assert not failures and len(rows) == 4
    empty = tmp_path / "empty"
    monkeypatch.setenv("FA_CACHE_DIR", str(empty))
    return full, empty


class _Server:
    """A local HTTP server of one directory; ``mode`` "drop" cuts every file in half."""

    def __init__(self, directory: Path, mode: str = "ok") -> None:
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def copyfile(self, source, target):
                if outer.mode == "drop":
                    data = source.read()
                    target.write(data[: len(data) // 2])
                    target.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                super().copyfile(source, target)

        self.mode = mode
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def release(toy, tmp_path, monkeypatch):
    """The toy cache packed into ``tmp_path/release`` and served; yields (dir, server)."""
    full, empty = toy
    out = tmp_path / "release"
    monkeypatch.setenv("FA_CACHE_DIR", str(full))
    results.pack(out, base_url="http://unused.invalid/", modules=MODULES)
    monkeypatch.setenv("FA_CACHE_DIR", str(empty))
    server = _Server(out)
    yield out, server
    server.close()


def _fetch(out: Path, url: str, **kwargs):
    return results.fetch(manifest=out / "manifest.json", base_url=url, progress=False,
                         modules=MODULES, **kwargs)


def _arrays(directory: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(directory.glob("*.npz")):
        with np.load(path) as npz:
            out[path.name] = {k: npz[k] for k in npz.files}
    return out


def _unchanged(directory: Path) -> None:
    """Nothing partial: no entry, no staging or download folder, no temporary file."""
    assert not directory.exists() or sorted(p.name for p in directory.iterdir()) == []


def test_pack_writes_one_archive_per_chapter_and_a_manifest(release):
    out, _ = release
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scale"] == "quick" and manifest["chapters"] == ["toy_a", "toy_b"]
    a, b = manifest["archives"]
    # The entry both chapters read is in the first chapter's archive only.
    assert [e["file"].split("-")[0] for e in a["entries"]] == ["toy_a_own", "toy_shared"]
    assert [e["file"].split("-")[0] for e in b["entries"]] == ["toy_b_own"]
    assert a["chapters"] == ["toy_a", "toy_b"] and b["chapters"] == ["toy_b"]
    for archive in (a, b):
        data = (out / archive["file"]).read_bytes()
        assert archive["size"] == len(data)
        assert archive["sha256"] == hashlib.sha256(data).hexdigest()


def test_round_trip_gives_identical_entries_and_a_build_that_computes_nothing(
        toy, release):
    full, empty = toy
    out, server = release
    report = _fetch(out, server.url)
    assert report.status == 0 and sorted(report.fetched) == [
        "quick-toy_a.tar.xz", "quick-toy_b.tar.xz"]
    got, want = _arrays(empty), _arrays(full)
    assert sorted(got) == sorted(want)
    for name in want:
        assert sorted(got[name]) == sorted(want[name])
        for key in want[name]:
            np.testing.assert_array_equal(got[name][key], want[name][key])
            assert got[name][key].dtype == want[name][key].dtype
    assert not [p for p in empty.iterdir() if p.name.startswith(".")]
    rows, failures = runner.reproduce(progress=False, modules=MODULES)
    assert not failures and {r.cached_before for r in rows} == {"yes"}
    # A second fetch downloads nothing.
    again = _fetch(out, server.url)
    assert again.status == 0 and not again.fetched and len(again.present) == 2


def test_an_entry_written_before_float32_storage_is_packed_in_the_float32_layout(
        toy, tmp_path, monkeypatch):
    full, empty = toy
    (entry,) = full.glob("toy_b_own-*.npz")
    arrays, meta = cache.read_entry(entry)
    assert meta["widen"] == ["z"]  # 0, 0.25, ..., 1: float32 holds them
    del meta["widen"]  # rewritten as the cache wrote it before: float64 on disk
    np.savez(entry, __meta__=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    monkeypatch.setenv("FA_CACHE_DIR", str(full))
    out = tmp_path / "release"
    results.pack(out, base_url="http://unused.invalid/", modules=MODULES)
    with tarfile.open(out / "quick-toy_b.tar.xz") as tar:
        (member,) = tar.getmembers()
        with np.load(tar.extractfile(member)) as npz:
            assert member.name == entry.name and npz["z"].dtype == np.float32
    monkeypatch.setenv("FA_CACHE_DIR", str(empty))
    server = _Server(out)
    try:
        assert _fetch(out, server.url).status == 0
    finally:
        server.close()
    got = cache.read_entry(empty / entry.name)[0]
    assert got["z"].dtype == np.float64 and got["z"].tobytes() == arrays["z"].tobytes()


def test_one_chapter_only(toy, release):
    _, empty = toy
    out, server = release
    report = _fetch(out, server.url, chapters=["toy_a"])
    assert report.status == 0 and report.fetched == ["quick-toy_a.tar.xz"]
    assert sorted(p.name.split("-")[0] for p in empty.glob("*.npz")) == [
        "toy_a_own", "toy_shared"]


def _corrupt(out: Path, how: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    first = out / manifest["archives"][0]["file"]
    if how == "truncated":
        first.write_bytes(first.read_bytes()[:-100])
    elif how == "hash":
        manifest["archives"][0]["sha256"] = "0" * 64
    elif how == "foreign code":  # a valid entry of other code: its own key and name agree
        entry = manifest["archives"][0]["entries"][0]
        with tarfile.open(first, "r:xz") as tar:
            data = tar.extractfile(entry["file"]).read()
        scratch = out / "scratch"
        scratch.mkdir()
        with np.load(__import__("io").BytesIO(data)) as npz:
            arrays = {k: npz[k] for k in npz.files if k != cache.META_KEY}
            meta = json.loads(str(npz[cache.META_KEY][()]))
        cache.cached(meta["name"], meta["config"], lambda: arrays, cache_dir=scratch,
                     fingerprint="f" * 64)
        (foreign,) = scratch.glob("*.npz")
        with tarfile.open(first, "w:xz") as tar:
            tar.add(foreign, arcname=foreign.name)
        entry["file"], entry["code"] = foreign.name, "f" * 64
        manifest["archives"][0]["entries"] = [entry]
        manifest["archives"][0]["sha256"] = hashlib.sha256(first.read_bytes()).hexdigest()
        manifest["archives"][0]["size"] = first.stat().st_size
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("how, message", [
    ("truncated", "does not match the manifest's SHA-256"),
    ("hash", "does not match the manifest's SHA-256"),
    ("foreign code", "computed by other code"),
])
def test_a_bad_archive_is_refused_and_the_other_chapter_still_fetched(
        toy, release, how, message, capsys):
    _, empty = toy
    out, server = release
    _corrupt(out, how)
    report = _fetch(out, server.url)
    # toy_a's archive failed; toy_b reads the shared entry from it, so both chapters fail,
    # but toy_b's own archive was fetched: nothing of toy_a's archive is in the cache.
    assert report.status == 2 and list(report.failed) == ["quick-toy_a.tar.xz"]
    assert message in report.failed["quick-toy_a.tar.xz"]
    assert report.fetched == ["quick-toy_b.tar.xz"]
    assert sorted(p.name.split("-")[0] for p in empty.iterdir()) == ["toy_b_own"]
    err = capsys.readouterr().err
    assert "error: quick-toy_a.tar.xz" in err and "Traceback" not in err


def test_some_chapters_fetched_and_others_not_is_status_1(toy, release):
    _, empty = toy
    out, server = release
    _corrupt(out, "hash")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["archives"][0]["chapters"] = ["toy_a"]  # toy_b does not need toy_a's archive
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = _fetch(out, server.url)
    assert report.status == 1
    assert report.chapters_ok == ["toy_b"] and report.chapters_failed == ["toy_a"]


def test_a_connection_dropped_mid_download_leaves_nothing(toy, release):
    _, empty = toy
    out, server = release
    server.mode = "drop"
    report = _fetch(out, server.url)
    assert report.status == 2 and len(report.failed) == 2
    assert all("download failed" in m or "SHA-256" in m for m in report.failed.values())
    _unchanged(empty)


def test_no_server_at_all(toy, release):
    _, empty = toy
    out, _ = release
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens
    report = _fetch(out, f"http://127.0.0.1:{port}")
    assert report.status == 2
    assert all(m.startswith("download failed (ConnectionError") for m in report.failed.values())
    _unchanged(empty)


def test_no_manifest_or_a_malformed_one_is_a_clear_error(toy, tmp_path):
    with pytest.raises(results.ResultsError, match="no results of this scale are published"):
        results.fetch(manifest=tmp_path / "nothing.json", progress=False, modules=MODULES)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": 1, "scale": "quick", "version": "0", "base_url": "",
                               "chapters": [], "archives": [{"file": "../x.tar.xz"}]}))
    with pytest.raises(results.ResultsError, match=r"archives\[0\]\['size'\]"):
        results.fetch(manifest=bad, progress=False, modules=MODULES)


def test_the_command_line_statuses(toy, release, monkeypatch, capsys):
    _, empty = toy
    out, server = release
    monkeypatch.setattr(catalogue, "module_names", lambda modules: dict(MODULES))
    args = ["fetch", "--manifest", str(out / "manifest.json"), "--no-progress"]
    assert results.main([*args, "--url", f"{server.url}/missing"]) == 2
    assert "error: quick-toy_a.tar.xz" in capsys.readouterr().err
    _unchanged(empty)
    monkeypatch.setenv(results.URL_VARIABLE, server.url)
    assert results.main(args) == 0
    assert "2 archive(s) fetched" in capsys.readouterr().out
    assert results.main(["fetch", "--manifest", str(out / "nothing.json")]) == 2
    assert "error: no manifest" in capsys.readouterr().err


def test_the_build_fetches_published_results_before_computing(toy, release, tmp_path,
                                                               monkeypatch):
    from fa_lib import build_plan

    _, empty = toy
    out, server = release
    manifest = json.loads((out / "manifest.json").read_text())
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "quick_manifest.json").write_text(json.dumps({**manifest,
                                                               "base_url": server.url}))
    monkeypatch.setattr(results, "MANIFEST_DIR", committed)
    plan = build_plan.make_plan(list(MODULES), modules=MODULES)
    assert all(ok for _, _, ok in plan.experiments), plan.experiments
    assert plan.published.startswith("2 archives of release ")
    assert plan.published.endswith("fetched, 4 experiments now in the results cache")
    # A checkout ahead of the release: its code differs, nothing is downloaded.
    for entry in empty.glob("*.npz"):
        entry.unlink()
    for archive in manifest["archives"]:
        for entry in archive["entries"]:
            entry["code"] = "0" * 64
    (committed / "quick_manifest.json").write_text(json.dumps({**manifest,
                                                               "base_url": server.url}))
    plan = build_plan.make_plan(list(MODULES), modules=MODULES)
    assert not any(ok for _, _, ok in plan.experiments)
    assert plan.published.startswith(build_plan.NO_PUBLISHED + " (its entries were computed "
                                     "by other code than this checkout's")
    assert not list(empty.glob("*.npz"))


# --------------------------------------------------------------------------- set-up cells


@pytest.fixture
def committed(toy, release, tmp_path, monkeypatch):
    """The toy release packed at the paper scale, its manifest committed; FA_SCALE unset."""
    full, empty = toy
    _, server = release
    out = tmp_path / "paper_release"
    monkeypatch.setenv("FA_SCALE", "paper")
    monkeypatch.setenv("FA_CACHE_DIR", str(full))
    results.pack(out, base_url=server.url, modules=MODULES)
    for path in out.glob("*.tar.xz"):  # served beside the quick release's archives
        path.replace(release[0] / path.name)
    directory = tmp_path / "committed_paper"
    directory.mkdir()
    (out / "manifest.json").replace(directory / "paper_manifest.json")
    monkeypatch.setattr(results, "MANIFEST_DIR", directory)
    monkeypatch.setenv("FA_CACHE_DIR", str(empty))
    monkeypatch.delenv("FA_SCALE")
    monkeypatch.delenv(chapter_setup.BUILD_VARIABLE, raising=False)
    return directory / "paper_manifest.json"


def _prepare(chapter: str = "toy_a") -> tuple[chapter_setup.Setup, list[str]]:
    said: list[str] = []
    return chapter_setup.prepare(chapter, modules=MODULES, log=said.append), said


def test_a_set_up_cell_fetches_the_published_paper_results(committed, toy):
    _, empty = toy
    setup, said = _prepare()
    assert (setup.scale, setup.action, setup.missing) == ("paper", "fetched", 0)
    assert len(said) == 1 and "fetched from the published release" in said[0]
    assert os.environ.get("FA_SCALE") is None, "the paper scale is kept as the default"
    assert len(list(empty.glob("*.npz"))) == 2
    # Opened again: everything is in the cache, and nothing is said.
    assert _prepare() == (chapter_setup.Setup("paper", "cached"), [])


def test_without_published_results_the_default_is_the_quick_scale(committed, toy):
    committed.unlink()
    setup, said = _prepare()
    assert (setup.scale, setup.action, setup.missing) == ("quick", "quick", 2)
    assert os.environ["FA_SCALE"] == "quick"
    assert len(said) == 1 and said[0].startswith("fa_lib: this chapter's paper-scale results")
    assert "no release publishes them for this code" in said[0]
    assert "os.environ['FA_SCALE'] = 'paper'" in said[0]
    assert not list(toy[1].glob("*.npz")), "nothing is computed by the set-up cell"


def test_a_scale_the_reader_chose_is_kept_and_its_cost_said(committed, monkeypatch):
    committed.unlink()
    monkeypatch.setenv("FA_SCALE", "paper")
    setup, said = _prepare()
    assert (setup.scale, setup.action, setup.missing) == ("paper", "compute", 2)
    assert os.environ["FA_SCALE"] == "paper"
    assert "the cells below compute them, for a time not measured here" in said[0]


def test_a_short_paper_scale_is_computed_unasked(committed, monkeypatch):
    from fa_lib import build_plan

    committed.unlink()
    times = build_plan.Times({("toy_a", "shared"): (20.0, build_plan.MEASURED),
                              ("toy_a", "own"): (40.0, build_plan.MEASURED)})
    monkeypatch.setattr(build_plan, "benchmark_times", lambda scale=None: times)
    setup, said = _prepare()
    assert (setup.scale, setup.action) == ("paper", "compute")
    assert "about 60 s on one core" in said[0]
    slow = build_plan.Times({("toy_a", "shared"): (200.0, build_plan.MEASURED),
                             ("toy_a", "own"): (200.0, build_plan.MEASURED)})
    monkeypatch.setattr(build_plan, "benchmark_times", lambda scale=None: slow)
    assert _prepare()[0].action == "quick"


def test_in_a_book_build_the_set_up_cell_leaves_everything_to_the_build(committed,
                                                                        monkeypatch):
    monkeypatch.setenv(chapter_setup.BUILD_VARIABLE, "paper")
    said: list[str] = []
    setup = chapter_setup.prepare("no_such_chapter", modules={"no_such_chapter": "nowhere"},
                                  log=said.append)
    assert (setup.action, said) == ("build", [])
    assert os.environ.get("FA_SCALE") is None
