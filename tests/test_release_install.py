"""A reader's session on Colab, end to end: ``fa_lib`` from a release tag, results fetched.

A release is a tag ``v<version>`` whose ``results/<scale>_manifest.json`` names the
archives published with it (README, "Making a release"). Here the release is made
locally: the working tree is committed into a temporary git repository with a quick-scale
manifest of one chapter (persistent error) and tagged; the archives are served by a local
HTTP server; a fresh virtual environment stands for the reader's Colab machine.

In that environment the chapter's Colab cell runs its own install command, pointed at the
local repository instead of the public one (``pip install git+file://...@v<version>``),
and then the chapter's set-up cell runs: it must find the manifest inside the installed
package, fetch the chapter's archive from the server and leave nothing to compute.

The quick scale stands in for the paper scale (the chapter's paper-scale results take
about three minutes to compute; the code path is the same). The virtual environment sees
the test machine's packages (numpy, matplotlib, ...) through a path file, but not its
``fa_lib``, so ``pip`` installs ``fa_lib`` itself, building it in isolation (setuptools is
downloaded from the package index, as on Colab).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import venv
from pathlib import Path

import pytest
from test_workflows import COLAB_PIN, colab_ref, notebook, python_code

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "persistent_error"
SCALE = "quick"


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}"
    return out


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FA_SCALE", "FA_CACHE_DIR", "FA_RESULTS_URL", "PYTHONPATH",
                        "FA_BOOK_BUILD_PLANNED")}
    return {**env, "MPLBACKEND": "Agg", **extra}


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> Path:
    """The chapter's quick-scale results, packed as a release (archives and manifest)."""
    work = tmp_path_factory.mktemp("release")
    # The session's results cache when there is one (the notebooks read the same entries).
    env = _environment(FA_CACHE_DIR=os.environ.get("FA_CACHE_DIR") or str(work / "cache"))
    python = [sys.executable, "-m", "fa_lib"]
    _run([*python, "reproduce", "--scale", SCALE, "--only", CHAPTER, "--no-progress"],
         cwd=ROOT, env=env)
    _run([*python, "results", "pack", "--scale", SCALE, "--only", CHAPTER, "--no-progress",
          "--url", "http://unused.invalid/", str(work / "assets")], cwd=ROOT, env=env)
    return work / "assets"


@pytest.fixture(scope="module")
def repository(archives, tmp_path_factory) -> Path:
    """The working tree, committed with the chapter's manifest and tagged v<version>."""
    repo = tmp_path_factory.mktemp("repository")
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                  cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    shutil.copy2(archives / "manifest.json", repo / "results" / f"{SCALE}_manifest.json")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    _run([*git, "init", "-q"], cwd=repo)
    _run([*git, "add", "-A"], cwd=repo)
    _run([*git, "commit", "-q", "-m", "release"], cwd=repo)
    _run([*git, "tag", colab_ref()], cwd=repo)
    return repo


@pytest.fixture(scope="module")
def server(archives):
    """A local HTTP server that publishes the release's archives."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(archives))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fresh_environment(where: Path) -> Path:
    """A virtual environment that sees this machine's packages but not its fa_lib."""
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                ).stdout.strip()
    # A path file adds the machine's site-packages to sys.path without processing the
    # path files in it, so an editable install of fa_lib there stays invisible.
    Path(site, "machine.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _cells() -> tuple[str, str]:
    """The chapter's Colab cell and set-up cell (the one that calls chapter_setup)."""
    code = ["".join(c["source"]) for c in notebook(ROOT / "book" / f"{CHAPTER}.ipynb")["cells"]
            if c["cell_type"] == "code"]
    setup = [cell for cell in code if "chapter_setup.prepare(" in cell]
    assert len(setup) == 1, f"{CHAPTER}: expected one set-up cell, found {len(setup)}"
    return code[0], setup[0]


def test_a_colab_session_installs_the_release_and_fetches_the_chapter(
        repository, server, archives, tmp_path):
    python = _fresh_environment(tmp_path / "venv")
    probe = "import importlib.util; print(importlib.util.find_spec('fa_lib'))"
    assert _run([str(python), "-c", probe], cwd=tmp_path).stdout.strip() == "None"

    colab, setup = _cells()
    pins = COLAB_PIN.findall(colab)
    assert len(pins) == 1, pins
    url, ref = pins[0]
    colab = colab.replace(f"git+{url}@{ref}", f"git+file://{repository}@{ref}")
    content = tmp_path / "content"
    content.mkdir()
    script = content / "session.py"
    script.write_text(
        "import shlex, subprocess, sys\n"
        "class _Shell:\n"
        "    def run_line_magic(self, name, line):\n"
        "        assert name == 'pip', name\n"
        "        subprocess.run([sys.executable, '-m', 'pip', *shlex.split(line)], check=True)\n"
        "def get_ipython():\n"
        "    return _Shell()\n"
        + python_code(colab)
        + "\n"
        + setup
        + "\nimport json, fa_lib\nfrom fa_lib import build_plan, cache\n"
        f"plan = build_plan.make_plan([{CHAPTER!r}])\n"
        "print('STATE', json.dumps({'fa_lib': fa_lib.__file__, 'scale': plan.scale,"
        " 'missing': len(plan.missing), 'cache': str(cache.cache_dir())}))\n"
    )
    out = _run([str(python), str(script)], cwd=content,
               env=_environment(FA_SCALE=SCALE, FA_RESULTS_URL=server))
    lines = out.stdout.splitlines()
    state = json.loads(next(line for line in lines if line.startswith("STATE "))[6:])

    assert Path(state["fa_lib"]).is_relative_to(tmp_path / "venv"), (
        f"fa_lib was imported from {state['fa_lib']}, not from the release installed "
        "in the fresh environment")
    # A pure-Python wheel (what an in-browser kernel can install too).
    wheel = next((tmp_path / "venv").glob("lib/python*/site-packages/fa_lib-*.dist-info/WHEEL"))
    assert "Root-Is-Purelib: true" in wheel.read_text() and "Tag: py3-none-any" in \
        wheel.read_text(), wheel.read_text()
    assert state["cache"] == str(content / "fa_cache"), state
    assert state["scale"] == SCALE and state["missing"] == 0, (
        f"after the set-up cell {state['missing']} experiments remain to compute:\n"
        + out.stdout + out.stderr)
    said = [line for line in lines if line.startswith("fa_lib:")]
    assert len(said) == 1 and "fetched from the published release" in said[0], lines

    manifest = json.loads((archives / "manifest.json").read_text())
    published = {entry["file"] for archive in manifest["archives"]
                 for entry in archive["entries"]}
    stored = {path.name for path in (content / "fa_cache").rglob("*.npz")}
    assert published and published <= stored, (published - stored, stored)
