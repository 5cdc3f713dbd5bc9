"""Build a JupyterLite site that runs the chapters' "Try it" cells in the browser.

``python tools/lite_site.py OUTPUT [--pyodide URL_OR_TARBALL] [--cache DIR]``

The site is a JupyterLite build (``jupyterlite-core`` and ``jupyterlite-pyodide-kernel``,
:data:`JUPYTERLITE_VERSION`) with the Pyodide kernel, the book's package ``fa_lib`` as a
pure-Python wheel built from this checkout (``pip wheel --no-deps``, offered to the kernel
by piplite: ``%pip install fa-lib`` installs it from the site, not from a package index)
and one notebook per chapter, ``try_it/<chapter>.ipynb``, holding the chapter's Try-it
cell; ipywidgets (kernel) and jupyterlab-widgets (page) for its controls. Everything the
page loads is in OUTPUT: nothing is fetched from a CDN at reading time (the kernel's
fallback to the Python package index is switched off).

The JupyterLite tools are installed into their own virtual environment (under the cache
directory, keyed by their versions), never into the environment of the book, whose pins
(``requirements.txt``) they would not respect.

Which Pyodide
-------------
``--pyodide URL_OR_TARBALL`` (or ``JUPYTERLITE_PYODIDE_URL``): a *full* Pyodide
distribution, the ``pyodide-<version>.tar.bz2`` of a Pyodide release (a local file or its
URL; ``jupyterlite-pyodide-kernel`` 0.8.6 is built against Pyodide 314.0.6), handed to
``jupyter lite build --pyodide``. It holds Pyodide's own builds of NumPy, SciPy,
Matplotlib, pandas and scikit-learn, which ``fa_lib`` needs: with it the Try-it cells run
in the page. This is how the site is to be published (on a machine with internet access).
``fa_lib``'s pure-Python dependencies that Pyodide lacks (:data:`EXTRA_WHEELS`) are
bundled as wheels.

Without ``--pyodide``: the Pyodide *core* from the npm package ``pyodide`` (the
interpreter, its standard library and ``pyodide-lock.json``, without any package), plus
the pure-Python wheels that the kernel itself needs (micropip, IPython, jedi and their
dependencies, :func:`kernel_support`), downloaded from the Python package index at the
versions of Pyodide's lock file. Its ``pyodide-lock.json`` is rewritten to list only the
packages present. The kernel starts and runs Python, but ``fa_lib`` cannot be imported:
NumPy, SciPy and Matplotlib for WebAssembly exist only in the full distribution. This is
what the test (``tests/test_lite_site.py``) builds and checks on machines that reach only
the package registries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

JUPYTERLITE_VERSION = "0.8.6"
"""Version of ``jupyterlite-core`` and ``jupyterlite-pyodide-kernel``."""
PYODIDE_VERSION = "314.0.8"
"""Version of the npm package ``pyodide`` (the Pyodide core) used without ``--pyodide``."""
LITE_PACKAGES = (f"jupyterlite-core=={JUPYTERLITE_VERSION}",
                 f"jupyterlite-pyodide-kernel=={JUPYTERLITE_VERSION}",
                 "jupyter-server==2.21.1",  # jupyterlite-core indexes contents with it
                 "jupyterlab-widgets==3.0.17")  # the page's side of the Try-it controls
KERNEL_ROOTS = ("micropip", "packaging", "ipython", "jedi")
"""Packages of Pyodide's lock file that the kernel loads as it starts (with their
dependencies in the lock file)."""
KERNEL_EXTRA = ("comm==0.2.3", "ipywidgets==8.1.9", "jupyterlab-widgets==3.0.17")
"""Pure-Python wheels that Pyodide's lock file lacks, given to piplite: what the kernel
needs (comm) and the Try-it controls (ipywidgets, at the version of ``requirements.txt``;
the kernel brings its own stand-in of widgetsnbextension)."""
EXTRA_WHEELS = ("seaborn==0.13.2", "pooch==1.9.0")
"""Pure-Python dependencies of ``fa_lib`` that Pyodide's distribution lacks (given to
piplite with a full distribution)."""
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
APPS = ("lab", "repl")
CACHE_ENV = "FA_LITE_CACHE"


class ToolsUnavailable(RuntimeError):
    """The JupyterLite tools or the Pyodide core could not be installed (no registry)."""


def _run(cmd: Sequence[str | Path], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; raise with its output when it fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout,
                                            proc.stderr)
    return proc


def default_cache() -> Path:
    """The cache of the venv, the npm tarball and the wheels (``FA_LITE_CACHE`` or a temp dir)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"fa_lite-{JUPYTERLITE_VERSION}-{PYODIDE_VERSION}"


def ensure_venv(cache: Path) -> Path:
    """The virtual environment with the JupyterLite tools (created once); its ``bin``."""
    env_dir = cache / f"venv-jupyterlite-{JUPYTERLITE_VERSION}"
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    marker = env_dir / ".installed"
    if marker.is_file() and marker.read_text() == "\n".join(LITE_PACKAGES):
        return bindir
    if env_dir.exists():
        shutil.rmtree(env_dir)
    venv.create(env_dir, with_pip=True)
    try:
        _run([bindir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
              *LITE_PACKAGES])
    except subprocess.CalledProcessError as err:
        raise ToolsUnavailable(f"pip could not install {' '.join(LITE_PACKAGES)}:\n"
                               f"{err.stderr[-2000:]}") from err
    marker.write_text("\n".join(LITE_PACKAGES))
    return bindir


def ensure_pyodide_core(cache: Path) -> Path:
    """The Pyodide core of the npm package ``pyodide`` (packed once), extracted; its folder."""
    dest = cache / f"pyodide-core-{PYODIDE_VERSION}"
    if (dest / "pyodide.mjs").is_file():
        return dest
    npm = shutil.which("npm")
    if npm is None:
        raise ToolsUnavailable("npm is not installed")
    tarball = cache / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tarball.is_file():
        try:
            _run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", cache])
        except subprocess.CalledProcessError as err:
            raise ToolsUnavailable(f"npm could not pack pyodide@{PYODIDE_VERSION}:\n"
                                   f"{err.stderr[-2000:]}") from err
    tmp = Path(tempfile.mkdtemp(dir=cache))
    with tarfile.open(tarball) as tar:
        try:
            tar.extractall(tmp, filter="data")
        except TypeError:  # a Python without extraction filters (before 3.10.12)
            tar.extractall(tmp)  # the npm package, fetched by npm
    shutil.move(tmp / "package", dest)
    shutil.rmtree(tmp)
    return dest


def download_wheels(bindir: Path, specs: Iterable[str], dest: Path) -> list[Path]:
    """Pure-Python wheels of ``specs`` (``name==version``, no dependencies) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    specs = list(specs)
    try:
        _run([bindir / "python", "-m", "pip", "download", "-q", "--disable-pip-version-check",
              "--no-deps", "--only-binary=:all:", "--python-version", "3.14",
              "--platform", "any", "--implementation", "py", "-d", dest, *specs])
    except subprocess.CalledProcessError as err:
        raise ToolsUnavailable(f"pip could not download {specs}:\n{err.stderr[-2000:]}") from err
    wheels = []
    for spec in specs:
        name, version = spec.split("==")
        stem = name.replace("-", "_").lower()
        found = [w for w in dest.glob("*.whl")
                 if w.name.lower().startswith(f"{stem}-{version}-")]
        if not found:
            raise ToolsUnavailable(f"no wheel of {spec} in {dest}")
        wheels.append(found[0])
    return wheels


def _lock_closure(packages: dict, roots: Iterable[str]) -> list[str]:
    """The names of ``roots`` and their dependencies in the lock file's ``packages``."""
    seen: list[str] = []
    todo = [r.lower().replace("_", "-") for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        todo.extend(d.lower().replace("_", "-") for d in packages[name]["depends"])
    return sorted(seen)


def kernel_support(core: Path, bindir: Path, cache: Path) -> tuple[dict, list[Path]]:
    """The lock file's entries of the kernel's own packages, with their wheels.

    Every package of :data:`KERNEL_ROOTS` and their dependencies in the core's
    ``pyodide-lock.json`` is pure Python: its wheel is downloaded from the package index at
    the lock file's version. Returns the lock entries (file name and SHA-256 of the
    downloaded wheel) and the wheels.
    """
    lock = json.loads((core / "pyodide-lock.json").read_text())
    names = _lock_closure(lock["packages"], KERNEL_ROOTS)
    entries = {n: dict(lock["packages"][n]) for n in names}
    specs = [f"{n}=={e['version']}" for n, e in entries.items()]
    wheels = download_wheels(bindir, specs, cache / "wheels")
    for entry, wheel in zip(entries.values(), wheels, strict=True):
        entry["file_name"] = wheel.name
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
        entry["install_dir"] = "site"
        entry.pop("unvendored_tests", None)
    return entries, wheels


def local_pyodide(core: Path, bindir: Path, cache: Path, dest: Path) -> Path:
    """A Pyodide distribution from the core and the kernel's wheels, in ``dest``."""
    dest.mkdir(parents=True)
    for path in core.iterdir():
        if path.suffix in {".map", ".ts", ".html"} or path.name == "pyodide-lock.json":
            continue
        shutil.copy2(path, dest / path.name)
    entries, wheels = kernel_support(core, bindir, cache)
    for wheel in wheels:
        shutil.copy2(wheel, dest / wheel.name)
    lock = json.loads((core / "pyodide-lock.json").read_text())
    lock["packages"] = entries
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    return dest


def fa_lib_wheel(dest: Path) -> Path:
    """The wheel of ``fa_lib`` built from this checkout (``pip wheel --no-deps``)."""
    dest.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
            "--no-deps", "-w", dest]
    try:  # the book's environment has setuptools: no need to fetch it
        _run([*base, "--no-build-isolation", ROOT])
    except subprocess.CalledProcessError:
        _run([*base, ROOT])
    (wheel,) = dest.glob("fa_lib-*-py3-none-any.whl")
    return wheel


def chapters() -> list[str]:
    """The chapters with a Try-it section, in the book's order (:data:`fa_lib.try_it.KNOBS`)."""
    sys.path.insert(0, str(ROOT))
    from fa_lib.try_it import KNOBS

    return list(KNOBS)


def notebook(chapter: str) -> dict:
    """The notebook of one chapter's Try-it cell (installing ``fa_lib`` from the site)."""
    def cell(kind: str, source: str) -> dict:
        c = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            c.update(execution_count=None, outputs=[])
        return c

    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python", "display_name": "Python (Pyodide)",
                                    "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [
            cell("markdown", f"# Try it: {chapter}\n\nRun the cells (Shift+Enter): the "
                 "first installs the book's package in this page's Python (Pyodide)."),
            cell("code", "%pip install -q fa-lib"),
            cell("code", f'from fa_lib import try_it\n\ntry_it.show("{chapter}")'),
        ],
    }


def write_notebooks(dest: Path, names: Sequence[str]) -> list[Path]:
    """One Try-it notebook per chapter in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = dest / f"{name}.ipynb"
        path.write_text(json.dumps(notebook(name), indent=1) + "\n")
        paths.append(path)
    return paths


def build(output: Path, pyodide: str | None = None, cache: Path | None = None,
          names: Sequence[str] | None = None) -> Path:
    """Build the site into ``output`` (replaced); return it.

    Parameters
    ----------
    output : path
        The site's folder (what a web server serves).
    pyodide : str, optional
        A full Pyodide distribution (URL or local ``.tar.bz2``); default: the npm core.
    cache : path, optional
        Where the venv, the npm tarball and the wheels are kept (:func:`default_cache`).
    names : sequence of str, optional
        The chapters (default: all of :func:`chapters`).
    """
    cache = default_cache() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    pyodide = pyodide or os.environ.get("JUPYTERLITE_PYODIDE_URL")
    bindir = ensure_venv(cache)
    output = Path(output).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        lite = Path(tmp) / "lite"
        lite.mkdir()
        wheels = [fa_lib_wheel(Path(tmp) / "dist")]
        wheels += download_wheels(bindir, KERNEL_EXTRA, cache / "wheels")
        args = []
        if pyodide:
            if "://" not in pyodide:
                pyodide = str(Path(pyodide).resolve())
            args += ["--pyodide", pyodide]
            wheels += download_wheels(bindir, EXTRA_WHEELS, cache / "wheels")
        else:
            local_pyodide(ensure_pyodide_core(cache), bindir, cache, lite / "static" / "pyodide")
        settings = {"disablePyPIFallback": True}
        (lite / "jupyter-lite.json").write_text(json.dumps({
            "jupyter-lite-schema-version": 0,
            "jupyter-config-data": {"litePluginSettings": {KERNEL_PLUGIN: settings}},
        }, indent=1))
        contents = Path(tmp) / "contents"
        write_notebooks(contents / "try_it", chapters() if names is None else names)
        if output.exists():
            shutil.rmtree(output)
        cmd = [bindir / "jupyter", "lite", "build", "--lite-dir", lite, "--output-dir", output,
               "--contents", contents, "--no-sourcemaps", "--no-libarchive",
               *(a for app in APPS for a in ("--apps", app)),
               *(a for w in wheels for a in ("--piplite-wheels", w)), *args]
        env = {**os.environ, "JUPYTERLITE_NO_LIBARCHIVE": "1"}
        env.pop("JUPYTERLITE_PYODIDE_URL", None)
        _run(cmd, cwd=lite, env=env)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python tools/lite_site.py OUTPUT [--pyodide ...] [--cache ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the site's folder (replaced)")
    parser.add_argument("--pyodide", help="a full Pyodide distribution: URL or local .tar.bz2 "
                        "(default: the Pyodide core of the npm package, without NumPy)")
    parser.add_argument("--cache", type=Path, help=f"cache folder (default ${CACHE_ENV} or "
                        "a folder in the temp dir)")
    parser.add_argument("--chapters", nargs="+", help="only these chapters' notebooks")
    args = parser.parse_args(argv)
    try:
        out = build(args.output, args.pyodide, args.cache, args.chapters)
    except ToolsUnavailable as err:
        print(f"lite_site: {err}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"lite_site: {' '.join(err.cmd)} failed:\n{err.stdout}\n{err.stderr}",
              file=sys.stderr)
        return 1
    print(f"JupyterLite site in {out} (serve it, e.g. python -m http.server -d {out}; "
          f"the Try-it notebooks: lab/index.html?path=try_it/<chapter>.ipynb)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
