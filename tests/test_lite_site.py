"""The in-page Try-it site (``tools/lite_site.py``): built, served and run in Chromium.

The site is built with the Pyodide *core* of the npm package (no ``--pyodide``): the
JupyterLite tools go into their own virtual environment and the npm tarball and the
wheels into a cache keyed by their versions (``tools.lite_site.default_cache``; the first
run installs them, about a minute; later runs reuse them). Without the package registries
(no network) the module is skipped, except on CI (``CI=true``), where it fails; likewise
without Chromium.

The site is served on 127.0.0.1 and the JupyterLite REPL opened in headless Chromium,
driven through the DevTools protocol on a pipe (``--remote-debugging-pipe``; no extra
package): the page's text is read until the cell's output appears, in real time (the
Pyodide kernel starts in a worker, which ``--virtual-time-budget`` does not wait for).
The tests check that

- the site is self-contained: the kernel loads Pyodide from ``./static/pyodide`` with a
  lock file that lists only the files present, the fallback to the package index is off,
  ``fa_lib``'s wheel is offered by piplite, and every chapter has its Try-it notebook;
- the lab opens a chapter's Try-it notebook, its cells shown, with the Pyodide kernel
  ("Python (Pyodide)");
- the REPL starts the Pyodide kernel (the ``python`` kernel spec) and runs Python in
  WebAssembly (``sys.platform == "emscripten"``), with IPython and piplite loaded from the
  site;
- ipywidgets installs from the site (the widgets' lab extension is in the page);
- a site built with ``--pyodide`` a distribution tarball (the first site's Pyodide, packed
  as a release's ``pyodide-<version>.tar.bz2``: the maintainers' path) has it extracted,
  configured and running, with the bundled wheels that a full distribution lacks;
- ``fa_lib`` installs from the site's wheel, and its Try-it answers fail to import with
  ``ModuleNotFoundError`` for ``numpy``; installing it with its dependencies fails on
  NumPy, SciPy and Matplotlib: the blocker (Pyodide's builds of them are only in its full
  distribution, which the registries do not hold; README, "Try it").
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import lite_site  # noqa: E402

PAGE_TIMEOUT = 90  # seconds for the kernel to start and answer
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def _unavailable(message: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lite") / "site"
    start = time.monotonic()
    try:
        lite_site.build(out)
    except lite_site.ToolsUnavailable as err:
        _unavailable(f"the JupyterLite tools or the Pyodide core could not be installed "
                     f"(no package registry?): {err}")
    print(f"\nJupyterLite site built in {time.monotonic() - start:.0f} s: {out}")
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript",
                      ".wasm": "application/wasm", ".json": "application/json"}
    requested: list[str] = []

    def log_message(self, fmt, *args):  # keep the requests, quietly
        self.requested.append(f"{args[1] if len(args) > 1 else ''} {self.path}")


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-transfer
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Handler, directory=str(site))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _chromium() -> str:
    for candidate in (os.environ.get("FA_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    _unavailable("Chromium is not installed")


class Browser:
    """Headless Chromium driven through the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, user_dir: Path):
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        # the child's fd 3 reads the commands, its fd 4 writes the answers
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", _chromium(),
             *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={user_dir}",
             "about:blank"],
            stdin=to_r, stdout=from_w, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.console: list[str] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.call("Runtime.enable", session=True)

    def call(self, method: str, session: bool = False, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if reply.get("method") == "Runtime.consoleAPICalled":
                args = reply["params"]["args"]
                self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                             for a in args))

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def text(self) -> str:
        """The page's visible text."""
        try:
            result = self.call("Runtime.evaluate", session=True, returnByValue=True,
                               expression="document.body ? document.body.innerText : ''")
        except RuntimeError as err:  # e.g. between two documents while a page loads
            if "closed the pipe" in str(err):
                raise
            return ""
        return result["result"].get("value", "")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", session=True, returnByValue=True,
                           awaitPromise=True, expression=expression)
        return result["result"].get("value")

    def wait_for(self, marker: str, timeout: float) -> str:
        """The page's text once it contains ``marker`` (or at the timeout)."""
        end = time.monotonic() + timeout
        text = ""
        while time.monotonic() < end:
            text = self.text()
            if marker in text:
                break
            time.sleep(0.5)
        return text

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_w)
        os.close(self._from_r)


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "chromium-profile")
    yield b
    b.close()


# What the REPL runs: its output lines start with "LITE " (its source has no such text).
PROBE = """\
import sys, piplite
print("LITE", "PY", sys.platform, "%d.%d" % sys.version_info[:2])
import IPython, micropip
print("LITE", "KERNEL", "IPython", IPython.__version__, "micropip", micropip.__version__)
try:
    await piplite.install("fa-lib")
except Exception as err:
    print("LITE", "DEPS", type(err).__name__, " ".join(str(err).split()))
await piplite.install("fa-lib", deps=False)
import fa_lib
print("LITE", "FA", fa_lib.__version__)
try:
    from fa_lib import try_it
except ModuleNotFoundError as err:
    print("LITE", "MISSING", type(err).__name__, err.name)
await piplite.install("ipywidgets")
import ipywidgets
print("LITE", "WIDGETS", ipywidgets.__version__)
print("LITE", "DONE")
"""


def test_site_is_self_contained(site):
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"][lite_site.KERNEL_PLUGIN]
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    assert kernel["disablePyPIFallback"] is True
    assert all(u.startswith("./") for u in kernel["pipliteUrls"])
    pyodide = site / "static" / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    assert lock["info"]["abi_version"].startswith("2026")
    missing = [p["file_name"] for p in lock["packages"].values()
               if not (pyodide / p["file_name"]).is_file()]
    assert not missing, f"the lock file lists files that are not there: {missing}"
    assert {"micropip", "ipython", "jedi"} <= set(lock["packages"])
    assert "numpy" not in lock["packages"]  # the core has no NumPy: the blocker
    index = json.loads((site / "pypi" / "all.json").read_text())
    assert {"fa-lib", "comm", "ipywidgets", "jupyterlab-widgets"} <= set(index)
    extensions = {e["name"] for e in config["federated_extensions"]}
    assert "@jupyter-widgets/jupyterlab-manager" in extensions
    (release,) = index["fa-lib"]["releases"].values()
    assert (site / "pypi" / release[0]["filename"]).is_file()
    notebooks = {p.stem for p in (site / "files" / "try_it").glob("*.ipynb")}
    assert notebooks == set(lite_site.chapters())
    nb = json.loads((site / "files" / "try_it" / "depth.ipynb").read_text())
    assert 'try_it.show("depth")' in "".join(c["source"] for c in nb["cells"])
    assert nb["metadata"]["kernelspec"]["name"] == "python"


def test_repl_runs_python_in_pyodide(site, server, browser):
    start = time.monotonic()
    url = (f"{server}/repl/index.html?kernel=python&execute=1&code="
           f"{quote(PROBE, safe='')}")
    browser.call("Page.navigate", session=True, url=url)
    text = browser.wait_for("LITE DONE", PAGE_TIMEOUT)
    elapsed = time.monotonic() - start
    lines = [line for line in text.splitlines() if line.startswith("LITE ")]
    print(f"\nREPL answered in {elapsed:.0f} s:\n" + "\n".join(lines))
    if "LITE DONE" not in text:
        pytest.fail(f"no answer in {PAGE_TIMEOUT} s; page text:\n{text[-3000:]}\n"
                    "console:\n" + "\n".join(browser.console[-40:]))
    assert "LITE PY emscripten 3.14" in text  # Python in WebAssembly, from the local core
    assert "LITE KERNEL IPython 9.12.0 micropip 0.11.1" in text
    assert f"LITE FA {_fa_version()}" in text  # fa_lib's wheel, from the site
    # the blocker: fa_lib's answers need NumPy, which the Pyodide core lacks
    assert "LITE MISSING ModuleNotFoundError numpy" in text
    assert "LITE WIDGETS 8.1.9" in text  # the Try-it controls' kernel side, from the site
    # with its dependencies: the first of them that the site lacks (which one comes first
    # varies) and no fallback to the package index
    deps = next(line for line in lines if line.startswith("LITE DEPS"))
    assert "could not be installed: PyPI fallback is disabled" in deps
    assert deps.split()[3] in _fa_dependencies(), deps


def _fa_version() -> str:
    sys.path.insert(0, str(ROOT))
    import fa_lib

    return fa_lib.__version__


KERNEL_NAME = ("[...document.querySelectorAll('.jp-Toolbar-kernelName')]"
               ".map(e => e.textContent).join('|')")


def test_lab_opens_a_try_it_notebook_with_the_pyodide_kernel(site, server, browser):
    chapter = lite_site.chapters()[0]
    start = time.monotonic()
    browser.call("Page.navigate", session=True,
                 url=f"{server}/lab/index.html?path=try_it/{chapter}.ipynb")
    text = browser.wait_for(f'try_it.show("{chapter}")', PAGE_TIMEOUT)
    assert f'try_it.show("{chapter}")' in text, text[-3000:]
    assert "%pip install -q fa-lib" in text
    end = time.monotonic() + 30
    while "Python (Pyodide)" not in (names := browser.evaluate(KERNEL_NAME) or ""):
        if time.monotonic() > end:
            break
        time.sleep(0.5)
    print(f"\nlab opened try_it/{chapter}.ipynb in {time.monotonic() - start:.0f} s, "
          f"kernel: {names}")
    assert "Python (Pyodide)" in names


def _fa_dependencies() -> set[str]:
    """The names of ``fa_lib``'s dependencies (of the installed package's metadata)."""
    from importlib.metadata import requires

    return {re.split(r"[<>=!~ ;\[(]", d, maxsplit=1)[0].lower() for d in requires("fa-lib")}


@pytest.fixture(scope="module")
def site_from_tarball(site, tmp_path_factory) -> Path:
    """A site built with ``--pyodide`` a distribution tarball (the first site's Pyodide)."""
    tmp = tmp_path_factory.mktemp("lite_tarball")
    tarball = tmp / "pyodide-core.tar.bz2"  # laid out as a release's: pyodide/...
    with tarfile.open(tarball, "w:bz2", compresslevel=1) as tar:
        tar.add(site / "static" / "pyodide", arcname="pyodide")
    out = tmp / "site"
    lite_site.build(out, pyodide=str(tarball), names=["depth"])
    return out


def test_site_with_a_pyodide_distribution(site_from_tarball, browser):
    """The maintainers' path: ``--pyodide`` a tarball, extracted into the site and used."""
    site = site_from_tarball
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"][lite_site.KERNEL_PLUGIN]
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    assert (site / "static" / "pyodide" / "pyodide.asm.wasm").is_file()
    assert (site / "static" / "pyodide" / "ipython-9.12.0-py3-none-any.whl").is_file()
    index = json.loads((site / "pypi" / "all.json").read_text())
    assert {"fa-lib", "ipywidgets", "seaborn", "pooch"} <= set(index)
    assert [p.name for p in (site / "files" / "try_it").iterdir()] == ["depth.ipynb"]
    handler = functools.partial(_Handler, directory=str(site))
    httpd = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        code = 'import sys\nprint("LITE", "TARBALL", sys.platform)'
        browser.call("Page.navigate", session=True,
                     url=f"http://127.0.0.1:{httpd.server_address[1]}/repl/index.html"
                         f"?kernel=python&execute=1&code={quote(code, safe='')}")
        text = browser.wait_for("LITE TARBALL", PAGE_TIMEOUT)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "LITE TARBALL emscripten" in text, text[-3000:]
