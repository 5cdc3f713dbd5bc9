"""The book as readers see it: build it at quick scale and open every page in a real browser.

The book is built with ``jupyter-book build -W --keep-going --path-output <tmp> .`` at
``FA_SCALE=quick`` with the test session's results cache (``FA_CACHE_DIR``, or the
default ``_cache/``), so that the chapters' results come from the cache that the
notebook tests (nbval) have just filled: ``tests/conftest.py`` moves this module to the
end of the session. The build must be free of warnings. Then every built HTML page is
opened in headless Chromium (Debian's ``chromium``) at two window widths, 1400 px (a
desktop) and 400 px (a phone): Chromium dumps the rendered DOM and takes a screenshot of
the top of the page (kept in ``FA_SCREENSHOT_DIR``, by default ``<tmp>/_build/screenshots``,
as ``w1400/<page>.png`` and ``w400/<page>.png``; the path is printed; CI keeps them as an
artefact). A small script, added to a copy of the page, measures the rendered layout. The
tests check that

- every page loads and renders (non-empty DOM with an article, a non-blank screenshot);
- every figure has its image, and every image of the book's outputs decodes to a
  picture that is not blank (pixel variance), and no figure fell back to its text
  representation (``<Figure size ...>``);
- no page shows a traceback, an error or stderr output of a notebook, or a docutils
  error message;
- every relative link resolves to a built file, and every anchor to an id in it;
- every table sits in a box that scrolls sideways (no clipped wide tables);
- at both widths, no table, figure, image, equation, code (block or inline) or heading
  reaches beyond the page's article unless a box inside it that scrolls sideways holds
  it, and no visible line of code is cut (a code block wider than its box must scroll);
- every figure's image is a link to the image file, so that it opens at full size;
- every figure's text is readable: at 1400 px at least :data:`MIN_TEXT_PX` on screen in
  place, and at 400 px either that or, with the link, a visible hint that the figure
  opens at full size (the text's size on screen: the smallest font of any figure,
  :data:`fa_lib.plotting.MIN_FONT_SIZE`, which ``tests/test_figures.py`` checks, times
  the image's dots per inch / 72, times its width on screen / its width in pixels);
- at both widths, every page's math is typeset (with the local MathJax);
- the reproduction report lists every chapter's claims with the totals of the saved
  claim files;
- no page shows the seams of generated text (:func:`seams`): a glue or citation role left
  as text (``glue:``, ``{cite}``), raw TeX (``\\texttt``), a ``$`` outside typeset math, a
  Python repr (``{'``, ``[np.``, ``np.float64(``), a sentinel (``-1 (-1: none)``), a
  negative zero, ASCII math in a table (``^T``, ``+-``; ``^`` or ``_{`` in a header), or
  a table cell that is ``nan``, ``None``, ``inf`` or ``-0``.

``FA_BOOK_BUILD`` names the output directory of a book built before (the ``--path-output``
of ``jupyter-book build``, holding ``_build/html``): the tests then check that build instead
of building the book (its ``build.log``, if there, stands for the build's log).

When Chromium is missing, the browser tests are skipped, except on CI (``CI=true``),
where they fail. With a warm results cache the module takes about three minutes.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from fa_lib import catalogue, tables
from fa_lib.sphinxext import FIGURE_HINT_CLASS, FIGURE_LINK_CLASS

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
]
WIDTHS = (1400, 400)
"""Window widths (px) every page is rendered at: a desktop and a phone."""
WINDOW_HEIGHT = 3000  # px: the screenshots show the top of each page
SCREENSHOT_ENV = "FA_SCREENSHOT_DIR"
WORKERS_ENV = "FA_BROWSER_WORKERS"  # Chromium processes at a time (default 2)
BUILT_ENV = "FA_BOOK_BUILD"  # check a book built before instead of building it
BUILD_TIMEOUT = 3600  # seconds; a cold results cache computes every chapter at quick scale
PAGE_TIMEOUT = 120  # seconds per page in Chromium
ERROR_CLASSES = {"traceback", "stderr", "system-message", "problematic"}
FIGURE_TEXT = re.compile(r"<(Figure|Axes)[^>]*(size|with)[^>]*>")


def _chromium() -> str | None:
    """Return Chromium's executable (``FA_CHROMIUM``, ``chromium`` on PATH, /usr/bin/chromium)."""
    for candidate in (os.environ.get("FA_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Node:
    """An element of a parsed page: tag, attributes and the classes of its ancestors."""

    tag: str
    attrs: dict[str, str]
    ancestors: tuple[str, ...]
    ancestor_classes: frozenset[str] = frozenset()


@dataclass
class Page:
    """A parsed HTML document: its elements, ids, text and the figures' contents."""

    nodes: list[Node] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    text: str = ""  # the visible text, without the source of code cells
    error_nodes: list[str] = field(default_factory=list)
    figures: list[set[str]] = field(default_factory=list)


class _StackParser(HTMLParser):
    """An HTML parser that keeps the open elements (tag, classes) on a stack."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "param", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str] | frozenset[str]]] = []

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def _close(self, tag: str) -> int | None:
        """Pop the innermost open ``tag`` and what it holds; return its depth (None: not open)."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return i
        return None


class _Parser(_StackParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.text: list[str] = []
        self.errors: list[list] = []  # [element, first and end index in text, stack depth]
        self.skip = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        classes = set(attrs.get("class", "").split())
        ancestors = tuple(t for t, _ in self.stack)
        outer = frozenset().union(*(c for _, c in self.stack))
        self.page.nodes.append(Node(tag, attrs, ancestors, outer))
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.page.ids.add(attrs[key])
        in_output = any("output" in c or "cell_output" in c for _, c in self.stack)
        bad = classes & ERROR_CLASSES
        if bad and (in_output or "output" in classes or bad & {"system-message", "problematic"}):
            self.errors.append([f"<{tag} class={attrs.get('class')!r}>", len(self.text), None,
                                len(self.stack)])
        for t, c in self.stack:
            if t == "figure":
                c.add(f"has-{tag}")
        if tag == "figure":
            self.page.figures.append(classes)
            classes = self.page.figures[-1]
        if tag in ("script", "style"):
            self.skip += 1
        if tag not in self.VOID:
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        i = self._close(tag)
        if i is not None:
            for error in self.errors:
                if error[2] is None and error[3] >= i:
                    error[2] = len(self.text)

    def handle_data(self, data):
        if not self.skip and not any("cell_input" in c for _, c in self.stack):
            self.text.append(data)


def parse(markup: str) -> Page:
    """Parse an HTML document into a :class:`Page` (text without scripts and code-cell sources)."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    parser.page.text = " ".join(" ".join(parser.text).split())
    parser.page.error_nodes = [
        f"{element}: {' '.join(' '.join(parser.text[start:end]).split())[:300]!r}"
        for element, start, end, _ in parser.errors
    ]
    return parser.page


@dataclass
class Built:
    """The result of building the book."""

    out: Path
    html: Path
    returncode: int
    log: str
    seconds: float

    @property
    def warnings(self) -> list[str]:
        return [
            line for line in _strip_ansi(self.log).splitlines()
            if re.search(r"\b(WARNING|ERROR|CRITICAL|SEVERE)\b", line)
            and "[IPKernelApp]" not in line  # the kernel's own log, not a build warning
        ]


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """Build the book at quick scale into a fresh directory, with the session's results cache."""
    chosen = os.environ.get(BUILT_ENV, "").strip()
    if chosen:
        out = Path(chosen).resolve()
        log = out / "build.log"
        print(f"\nchecking the book built before in {out / '_build' / 'html'} ({BUILT_ENV})")
        return Built(out, out / "_build" / "html", 0, log.read_text() if log.is_file() else "",
                     0.0)
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, FA_SCALE="quick")
    # Glued figures need the kernels' inline backend: an exported non-interactive backend
    # (MPLBACKEND=Agg, common in CI setups) would turn them into "<Figure size ...>" text.
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.is_file() else "jupyter-book", "build", "-W", "--keep-going",
               "--path-output", str(out), "."]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (out / "build.log").write_text(log)
    print(f"\nbook built in {seconds:.0f} s into {out / '_build' / 'html'} "
          f"(log: {out / 'build.log'})")
    return Built(out, out / "_build" / "html", proc.returncode, log, seconds)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's executable; skip the browser tests without it, fail on CI."""
    path = _chromium()
    if path is None:
        message = ("headless Chromium not found (FA_CHROMIUM, chromium on PATH or "
                   "/usr/bin/chromium): install Debian's chromium (apt-get install chromium)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_book_builds_without_warnings(built):
    tail = "\n".join(_strip_ansi(built.log).splitlines()[-40:])
    assert not built.warnings, (
        f"{len(built.warnings)} warning(s) in the book build (-W), see {built.out / 'build.log'}:\n"
        + "\n".join(built.warnings)
    )
    assert built.returncode == 0, f"jupyter-book build failed ({built.returncode}):\n{tail}"


@dataclass
class Rendered:
    """One page as Chromium rendered it."""

    path: Path
    dom: str
    screenshot: Path | None  # None for a page that only redirects
    returncode: int
    stderr: str
    width: int = WIDTHS[0]
    layout: dict | None = None  # what LAYOUT_SCRIPT measured; None if it did not run


LAYOUT_ATTRIBUTE = "data-fa-layout"
OWN_CLASSES = (tables.CLASS, tables.NOTE_CLASS, FIGURE_LINK_CLASS)
"""The CSS classes of the book's own boxes (fa_lib.tables, fa_lib.sphinxext)."""
LAYOUT_SCRIPT = """<script>
(function () {
  // Measures the rendered page and writes the result, as JSON, into an attribute of <html>.
  function scrolls(el) {
    var o = getComputedStyle(el).overflowX;
    return o === "auto" || o === "scroll";
  }
  function describe(el) {
    var d = el.tagName.toLowerCase();
    if (el.id) d += "#" + el.id;
    if (el.className && typeof el.className === "string")
      d += "." + el.className.trim().split(/\\s+/).slice(0, 2).join(".");
    var fig = el.closest("figure");
    if (fig && fig.id && fig !== el) d += " in figure#" + fig.id;
    return d;
  }
  function measure() {
    var article = document.querySelector("article") || document.querySelector("main")
      || document.body;
    var box = article.getBoundingClientRect();
    var out = {width: window.innerWidth, article: Math.round(box.width), overflow: [],
               cut: [], checked: 0, state: "measured"};
    var sel = "table, figure, img, mjx-container, div.math, pre, code, h1, h2, h3";
    article.querySelectorAll(sel).forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return;  // not shown (a collapsed cell)
      out.checked += 1;
      var wrapped = false;
      // a scrolling box inside the article (the theme lets the whole article scroll)
      for (var a = el.parentElement; a && a !== article; a = a.parentElement) {
        var ra = a.getBoundingClientRect();
        if (scrolls(a) && ra.right <= box.right + 1 && ra.left >= box.left - 1) {
          wrapped = true;
          break;
        }
      }
      if (!wrapped && (r.right > box.right + 1 || r.left < box.left - 1)) {
        out.overflow.push(describe(el) + ": " + Math.round(r.width) + " px wide, article "
                          + Math.round(box.width) + " px");
      }
      if (el.tagName === "PRE" && el.scrollWidth > el.clientWidth + 1 && !scrolls(el)) {
        out.cut.push(describe(el) + ": a line of " + el.scrollWidth + " px in "
                     + el.clientWidth + " px");
      }
    });
    // The book's own boxes draw nothing of their own: a class that the theme's icon font
    // also styles (Font Awesome's "fa-table") puts an icon before every table.
    out.icons = [];
    document.querySelectorAll("@OWN@").forEach(function (el) {
      ["::before", "::after"].forEach(function (pseudo) {
        var c = getComputedStyle(el, pseudo).content;
        if (c && c !== "none" && c !== "normal") out.icons.push(describe(el) + pseudo + " " + c);
      });
    });
    // Every figure's image: its width on screen, the link around it and the hint (phones).
    out.figures = [];
    article.querySelectorAll("figure img").forEach(function (img) {
      var fig = img.closest("figure"), link = img.closest("a.@LINK@");
      var hint = fig ? fig.querySelector(".@HINT@") : null;
      var shown = false;
      if (hint) {
        var h = hint.getBoundingClientRect(), style = getComputedStyle(hint);
        shown = h.width > 0 && h.height > 0 && style.visibility !== "hidden"
          && parseFloat(style.fontSize) >= 10;
      }
      out.figures.push({src: img.getAttribute("src"), id: fig ? fig.id : "",
                        width: img.getBoundingClientRect().width, natural: img.naturalWidth,
                        link: link ? link.getAttribute("href") : null, hint: shown});
    });
    // The page is shown in an <iframe> of the width under test (see _render); the frame's
    // rendered DOM goes to the outer page, whose DOM Chromium dumps.
    parent.postMessage(JSON.stringify({layout: out,
                                       dom: document.documentElement.outerHTML}), "*");
  }
  window.addEventListener("load", function () {
    measure();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(measure);
    }
  });
})();
</script>""".replace("@OWN@", ", ".join(f".{c}" for c in OWN_CLASSES)).replace(
    "@LINK@", FIGURE_LINK_CLASS).replace("@HINT@", FIGURE_HINT_CLASS)
"""Added before ``</body>`` of a copy of each page (see :func:`_render`)."""

FRAME_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin: 0">
<iframe src="@PAGE@" style="width: @WIDTH@px; height: @HEIGHT@px; border: 0; display: block">
</iframe>
<script>
window.addEventListener("message", function (event) {
  document.body.setAttribute("@ATTR@", event.data);
});
</script></body></html>
""".replace("@ATTR@", LAYOUT_ATTRIBUTE).replace("@HEIGHT@", str(WINDOW_HEIGHT))
"""The outer page: the page under test in a frame exactly ``width`` px wide.

Headless Chromium's window is at least 500 px wide, so a phone's width is only reached
inside a frame; the same frame is used at every width so that all are measured alike.
"""


def _framed(dom: str) -> dict | None:
    """What the framed page posted (``layout`` and its rendered ``dom``), or None."""
    match = re.search(LAYOUT_ATTRIBUTE + r'="([^"]*)"', dom)
    if match is None:
        return None
    import json

    return json.loads(html.unescape(match.group(1)))


def _redirect(page: Path) -> str | None:
    """Return the target of a page that only redirects (``<meta http-equiv="refresh">``)."""
    for node in parse(page.read_text(errors="replace")).nodes:
        if node.tag == "meta" and node.attrs.get("http-equiv", "").lower() == "refresh":
            target = node.attrs.get("content", "").partition("url=")[2].strip()
            return target or None
    return None


def _render(chromium: str, page: Path, html_dir: Path, shots: Path, width: int) -> Rendered:
    """Render ``page`` at ``width`` px: its DOM, a screenshot and the measured layout.

    Chromium opens :data:`FRAME_PAGE`, whose frame shows a copy of the page with
    :data:`LAYOUT_SCRIPT` added; both sit next to the page (so that relative links still
    resolve) and are removed afterwards. The screenshot is cropped to ``width``.
    """
    name = page.relative_to(html_dir).with_suffix("").as_posix().replace("/", "__")
    shot = shots / f"w{width}" / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    if _redirect(page):
        # Chromium follows the redirect before the DOM is dumped; check the file itself.
        return Rendered(page, page.read_text(errors="replace"), None, 0, "", width)
    source = page.read_text(errors="replace")
    i = source.lower().rfind("</body>")
    measured = page.with_name(f".fa-layout-{width}-{page.name}")
    frame = page.with_name(f".fa-frame-{width}-{page.name}")
    measured.write_text(source[:i] + LAYOUT_SCRIPT + source[i:] if i >= 0 else source)
    frame.write_text(FRAME_PAGE.replace("@PAGE@", measured.name).replace("@WIDTH@", str(width)))
    try:
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            proc = subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--window-size={max(width, 500)},{WINDOW_HEIGHT}",
                 # virtual time: the frame's scripts (MathJax, the measurement) finish
                 # before the DOM is dumped
                 "--virtual-time-budget=30000",
                 f"--user-data-dir={profile}", f"--screenshot={shot}", "--dump-dom",
                 frame.as_uri()],
                capture_output=True, text=True, timeout=PAGE_TIMEOUT, cwd=shot.parent,
            )
    finally:
        measured.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    framed = _framed(proc.stdout) or {}
    if shot.is_file() and width < 500:
        from PIL import Image

        with Image.open(shot) as image:
            image.crop((0, 0, width, image.height)).save(shot)
    return Rendered(page, framed.get("dom", ""), shot, proc.returncode, proc.stderr, width,
                    framed.get("layout"))


@pytest.fixture(scope="module")
def pages(built) -> list[Path]:
    """Every built HTML page (not the theme's static files or the copied sources)."""
    if not built.html.is_dir():
        pytest.fail(f"the build produced no HTML ({built.html}); see {built.out / 'build.log'}")
    skip = {"_static", "_sources", "_images"}
    found = sorted(p for p in built.html.rglob("*.html")
                   if not skip & set(p.relative_to(built.html).parts))
    assert found, f"no HTML pages under {built.html}"
    return found


def _screenshot_dir(built: Built) -> Path:
    """Where the screenshots go: ``FA_SCREENSHOT_DIR`` or ``<tmp>/_build/screenshots``."""
    chosen = os.environ.get(SCREENSHOT_ENV, "").strip()
    shots = Path(chosen).resolve() if chosen else built.out / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture(scope="module")
def rendered_at(chromium, built, pages) -> dict[int, dict[Path, Rendered]]:
    """Open every page in headless Chromium at every width of :data:`WIDTHS`."""
    shots = _screenshot_dir(built)
    workers = max(1, int(os.environ.get(WORKERS_ENV, "2") or 2))
    jobs = [(page, width) for width in WIDTHS for page in pages]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: _render(chromium, job[0], built.html, shots,
                                                    job[1]), jobs))
    print(f"\nscreenshots of {len(pages)} pages at {', '.join(map(str, WIDTHS))} px: {shots}")
    by_width: dict[int, dict[Path, Rendered]] = {width: {} for width in WIDTHS}
    for r in results:
        by_width[r.width][r.path] = r
    return by_width


@pytest.fixture(scope="module")
def rendered(rendered_at) -> dict[Path, Rendered]:
    """Every page as rendered at the desktop width (1400 px)."""
    return rendered_at[WIDTHS[0]]


@pytest.fixture(scope="module")
def parsed(rendered) -> dict[Path, Page]:
    return {path: parse(r.dom) for path, r in rendered.items()}


def _image_problem(path: Path) -> str | None:
    """Return why an image file is not a proper picture, or None."""
    if not path.is_file():
        return "file missing"
    if path.suffix.lower() == ".svg":
        return None if "<svg" in path.read_text(errors="replace") else "not an SVG"
    import matplotlib.image as mpimg

    try:
        pixels = np.asarray(mpimg.imread(path), dtype=float)
    except (OSError, ValueError, SyntaxError) as err:  # PIL's decoding errors
        return f"cannot be decoded ({err})"
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3] * pixels[..., 3:] + (1 - pixels[..., 3:])  # on white
    if pixels.size == 0 or float(pixels.var()) < 1e-5:
        return f"blank (pixel variance {float(pixels.var()) if pixels.size else 0:.2g})"
    return None


def _toc_documents() -> list[str]:
    """The documents of the table of contents (root and every ``file:`` entry)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = [toc["root"], *catalogue.toc_files(ROOT / "_toc.yml")]
    return [str(Path(d).with_suffix("")) if Path(d).suffix in (".md", ".ipynb") else d
            for d in docs]


def test_pages_load(rendered, parsed, built):
    problems = [
        f"{doc}: in _toc.yml but no page {doc}.html was built"
        for doc in _toc_documents()
        if not (built.html / f"{doc}.html").is_file()
    ]
    for path, r in rendered.items():
        rel = path.relative_to(built.html)
        page = parsed[path]
        if r.returncode != 0:
            problems.append(f"{rel}: chromium exited with {r.returncode}: {r.stderr[-500:]}")
            continue
        target = _redirect(path)
        if target is not None:
            if not (path.parent / unquote(urlsplit(target).path)).is_file():
                problems.append(f"{rel}: redirects to {target}, which does not exist")
            continue
        if "<html" not in r.dom[:2000].lower():
            problems.append(f"{rel}: the rendered DOM is empty")
            continue
        if not any(n.tag in ("article", "main") for n in page.nodes):
            problems.append(f"{rel}: no <article> or <main> in the rendered page")
        shot = _image_problem(r.screenshot)
        if shot:
            problems.append(f"{rel}: screenshot {r.screenshot.name}: {shot}")
    shots = _screenshot_dir(built)
    assert not problems, "\n".join(problems) + f"\n(screenshots: {shots})"


def test_figures_have_images(rendered, parsed, built):
    problems, checked = [], 0
    for path in rendered:
        rel = path.relative_to(built.html)
        page = parsed[path]
        for i, fig in enumerate(page.figures, 1):
            if not fig & {"has-img", "has-table"}:
                problems.append(f"{rel}: figure {i} has no image (or table)")
        match = FIGURE_TEXT.search(html.unescape(page.text))
        if match:
            problems.append(f"{rel}: a figure was rendered as text: {match.group(0)!r}")
        for node in page.nodes:
            if node.tag != "img":
                continue
            src = node.attrs.get("src", "")
            parts = urlsplit(src)
            if parts.scheme or src.startswith("//"):
                continue  # external (launch-button logos are local; badges may not be)
            target = (path.parent / unquote(parts.path)).resolve()
            is_output = "_images" in Path(parts.path).parts or "figure" in node.ancestors
            if not is_output and not target.is_file():
                problems.append(f"{rel}: image {src} is missing")
                continue
            if is_output:
                checked += 1
                why = _image_problem(target)
                if why:
                    problems.append(f"{rel}: image {src}: {why}")
    shots = _screenshot_dir(built)
    assert not problems, "\n".join(problems) + f"\n(screenshots: {shots})"
    print(f"\n{checked} figure images checked")


def test_no_errors_in_pages(rendered, parsed, built):
    problems = []
    for path in rendered:
        rel = path.relative_to(built.html)
        page = parsed[path]
        if "Traceback" in page.text:
            i = page.text.index("Traceback")
            problems.append(f"{rel}: 'Traceback' in the page: ...{page.text[i:i + 200]}...")
        problems += [f"{rel}: error output {node}" for node in page.error_nodes]
    assert not problems, "\n".join(problems)


SCROLL_WRAPPERS = {"pst-scrollable-table-container", tables.CLASS}
"""Boxes that scroll a wide table sideways: the theme's (Markdown tables), fa_lib.tables'."""


def test_tables_scroll_instead_of_overflowing(rendered, parsed, built):
    # Every table sits in a box that scrolls sideways, so a wide table is never clipped
    # (at 1400 px or on a phone); the chapters' tables come from fa_lib.tables.
    problems = [
        f"{path.relative_to(built.html)}: <table {node.attrs.get('class', '')!r}> without a "
        "scrolling box"
        for path in rendered
        for node in parsed[path].nodes
        if node.tag == "table" and not node.ancestor_classes & SCROLL_WRAPPERS
    ]
    assert not problems, "\n".join(problems)


def test_nothing_overflows_or_is_cut(rendered_at, built):
    """At 1400 and 400 px: nothing reaches beyond the article without a scrolling box.

    Tables, figures, images, equations (inline and display), code (blocks and inline) and
    headings are checked in the rendered layout (:data:`LAYOUT_SCRIPT`); a code block whose
    lines are wider than the block must scroll, else a line is cut. Elements that are not
    shown (collapsed cells) are skipped.
    """
    problems, checked = [], 0
    for width, rendered in rendered_at.items():
        for path, r in rendered.items():
            rel = path.relative_to(built.html)
            if r.screenshot is None:  # a page that only redirects
                continue
            if r.layout is None:
                problems.append(f"{rel} at {width} px: the layout was not measured")
                continue
            if abs(r.layout["width"] - width) > 20:
                problems.append(f"{rel}: window {r.layout['width']} px, asked for {width}")
            checked += r.layout["checked"]
            problems += [f"{rel} at {width} px: {p} (no scrolling box)"
                         for p in r.layout["overflow"]]
            problems += [f"{rel} at {width} px: code cut: {p}" for p in r.layout["cut"]]
    assert checked > 100, f"only {checked} elements measured"
    assert not problems, "\n".join(problems) + f"\n(screenshots: {_screenshot_dir(built)})"
    print(f"\n{checked} elements measured at {', '.join(map(str, WIDTHS))} px")


def test_own_boxes_draw_no_icons(rendered_at, built):
    """The book's tables and figure links show no ::before or ::after content of a theme."""
    problems, n = [], 0
    for width, rendered in rendered_at.items():
        for path, r in rendered.items():
            if r.layout is not None:
                n += 1
                problems += [f"{path.relative_to(built.html)} at {width} px: {p}"
                             for p in r.layout["icons"]]
    assert n, "no page was measured"
    assert not problems, "\n".join(problems)


def test_figures_open_at_full_size(rendered, parsed, built):
    """Every figure's image is wrapped in a link to the image file itself."""
    problems, n_figures = [], 0
    for path, r in rendered.items():
        rel = path.relative_to(built.html)
        links = {html.unescape(m.group(1)) for m in re.finditer(
            r'<a\b[^>]*class="[^"]*\b' + FIGURE_LINK_CLASS + r'\b[^"]*"[^>]*href="([^"]*)"',
            r.dom)}
        for node in parsed[path].nodes:
            if node.tag != "img" or "figure" not in node.ancestors:
                continue
            n_figures += 1
            src = node.attrs.get("src", "")
            if FIGURE_LINK_CLASS not in node.ancestor_classes:
                problems.append(f"{rel}: figure image {src} is not a link")
            elif src not in links:
                problems.append(f"{rel}: figure image {src} links elsewhere")
    assert n_figures >= 20, f"only {n_figures} figure images"
    assert not problems, "\n".join(problems)


def _target_ids(target: Path, parsed: dict[Path, Page], cache: dict[Path, set[str]]) -> set[str]:
    if target in parsed:
        return parsed[target].ids
    if target not in cache:
        cache[target] = parse(target.read_text(errors="replace")).ids
    return cache[target]


RAW_TEX = re.compile(r'class="math[^"]*"[^>]*>\s*(\\\(|\\\[|\$\$)')
"""A math element whose content still starts with a TeX delimiter: not typeset."""


def test_math_is_typeset(rendered_at, built):
    """Every page's math is typeset by the local MathJax (``FA_MATHJAX_DIR``, see .ci/run).

    At both widths of :data:`WIDTHS`.
    """
    from fa_lib import sphinxext

    if sphinxext.local_mathjax() is None:
        message = (f"{sphinxext.MATHJAX_ENV} is not set: the build loads MathJax from the "
                   "internet, which the test machine may not reach (.ci/run installs it)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert (built.html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    untypeset, pages_with_math = [], 0
    for width, rendered in rendered_at.items():
        for path, page in rendered.items():
            source = path.read_text(errors="replace")
            n_math = len(RAW_TEX.findall(source))
            if not n_math:
                continue
            pages_with_math += width == WIDTHS[0]
            left = len(RAW_TEX.findall(page.dom))
            if left or "<mjx-container" not in page.dom:
                untypeset.append(f"{path.relative_to(built.html)} at {width} px: {left} of "
                                 f"{n_math} not typeset")
    assert pages_with_math >= 5, f"only {pages_with_math} pages have math"
    assert not untypeset, untypeset


def test_internal_links_resolve(rendered, parsed, built):
    problems, n_links = [], 0
    html_root = built.html.resolve()
    static_ids: dict[Path, set[str]] = {}
    for path in rendered:
        rel = path.relative_to(built.html)
        page = parsed[path]
        for node in page.nodes:
            for attr in ("href", "src"):
                url = node.attrs.get(attr)
                if url is None or (attr == "src" and node.tag not in ("script", "img")):
                    continue
                parts = urlsplit(url)
                if parts.scheme or url.startswith("//") or url.strip() == "":
                    continue  # external, mailto:, javascript:, data: ...
                n_links += 1
                target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_relative_to(html_root):
                    problems.append(f"{rel}: {attr}={url!r} leaves the built book")
                    continue
                if not target.is_file():
                    problems.append(f"{rel}: {attr}={url!r}: {target.relative_to(html_root)} "
                                    "does not exist")
                    continue
                fragment = unquote(parts.fragment)
                if fragment and target.suffix == ".html":
                    if fragment not in _target_ids(target.resolve(), parsed, static_ids):
                        problems.append(f"{rel}: {attr}={url!r}: no id {fragment!r} in "
                                        f"{target.relative_to(html_root)}")
    assert not problems, f"{len(problems)} broken of {n_links} links:\n" + "\n".join(problems)


def test_report_lists_every_chapter(parsed, built, monkeypatch):
    report_page = built.html / "book" / "report.html"
    assert report_page in parsed, (
        "book/report.html was not built: add `- file: book/report` to _toc.yml"
    )
    monkeypatch.setenv("FA_SCALE", "quick")
    from fa_lib import report

    rep = report.build_report()
    text = parsed[report_page].text
    assert not rep.missing, f"chapters without a claims file after the build: {rep.missing}"
    assert "no claims file" not in text, "the report page says that a chapter was not run"
    expected = (f"{rep.n_checked} claims were checked in {rep.n_run} of the "
                f"{len(rep.chapters)} chapters: {rep.n_reproduced} reproduced, "
                f"{rep.n_not_reproduced} did not, and {rep.n_not_checked} were measured but "
                "not checked at this scale")
    assert expected in text, f"the report page does not say {expected!r}"
    for chapter in rep.chapters:
        for claim in rep.chapter_claims(chapter)["claim"]:
            shown = " ".join(report.claim_text(claim).split())  # as the page writes it
            assert shown in text, f"{chapter}: claim not on the page: {claim}"


class _TextParser(_StackParser):
    """The text a reader sees, in three parts: prose, math, and the cells of tables.

    Left out: scripts, styles, the source of code cells and code blocks (``pre``, ``code``,
    highlighted blocks), where ``$``, braces and reprs are the code's own. Output blocks of
    cells (``pre`` inside a cell's output) count as prose for reprs but not for ``$``. Math is
    what MathJax rendered (``mjx-container``, its text is the assistive MathML) or, in a
    page not yet typeset, the ``math`` elements of Sphinx.
    """

    def __init__(self) -> None:
        super().__init__()
        self.prose: list[str] = []  # text outside math and code
        self.output: list[str] = []  # text of cells' output blocks (pre in an output)
        self.math: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (tag, text) of every td and th
        self.cell: list[str] | None = None
        self.cell_tag = ""

    def _inside(self, test) -> bool:
        return any(test(tag, classes) for tag, classes in self.stack)

    def handle_starttag(self, tag, attrs):
        classes = frozenset((dict(attrs).get("class") or "").split())
        if tag in ("td", "th"):
            self.cell, self.cell_tag = [], tag
        if tag not in self.VOID:
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        self._close(tag)
        if tag in ("td", "th") and self.cell is not None:
            self.cells.append((self.cell_tag, " ".join("".join(self.cell).split())))
            self.cell = None

    def handle_data(self, data):
        if self._inside(lambda t, c: t in ("script", "style", "head") or "cell_input" in c
                        or "highlight" in c):
            return
        if self._inside(lambda t, c: t == "mjx-container" or "math" in c):
            self.math.append(data)
            return
        if self._inside(lambda t, c: t in ("pre", "code", "kbd", "samp")):
            if self._inside(lambda t, c: "cell_output" in c or "output" in c):
                self.output.append(data)
            return
        if self.cell is not None:
            self.cell.append(data)
        self.prose.append(data)


SEAMS = [
    ("a glue role left as text", re.compile(r"glue:")),
    ("a citation role left as text", re.compile(r"\{cite(:[a-z]+)?\}")),
    ("raw TeX", re.compile(r"\\texttt")),
    ("a $ outside typeset math", re.compile(r"\$")),
    ("a Python repr", re.compile(r"\{'|\[np\.|np\.(float|int)\d+\(")),
    ("a sentinel", re.compile(r"\(-1: ?\w+\)|\b(iteration|step|epoch) -1\b")),
    ("a negative zero", re.compile(r"(?<![\w.\-\u2212])[-\u2212]0(\.0+)?(?![\d.])")),
]
"""What generated text must never show (outside typeset math and code): why, pattern."""
IN_OUTPUTS = ("a glue role left as text", "a citation role left as text", "a Python repr",
              "a sentinel")
"""The seams also looked for in the output blocks of cells."""
IN_MATH = re.compile(r"glue:|\{cite")
BAD_CELL = re.compile(r"(?i:[-+\u2212]?nan|[-+\u2212]?inf)|None|[-\u2212]0(\.0+)?[%°]?")
"""A table cell that is only a missing value's repr, an infinity or a negative zero."""
ASCII_MATH_CELL = re.compile(r"\+-|\^T\b|\^\(")
ASCII_MATH_HEADER = re.compile(r"\^|_\{|\+-")


def seams(markup: str) -> list[str]:
    """The seams of generated text in a page (its rendered DOM or its HTML), one line each."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    found = []

    def quote(text: str, match: re.Match) -> str:
        return repr(text[max(0, match.start() - 60):match.end() + 60])

    prose = " ".join(" ".join(parser.prose).split())
    output = " ".join(" ".join(parser.output).split())
    for why, pattern in SEAMS:
        found += [f"{why}: {quote(prose, m)}" for m in pattern.finditer(prose)]
        if why in IN_OUTPUTS:
            found += [f"{why} (output): {quote(output, m)}" for m in pattern.finditer(output)]
    math = "".join("".join(parser.math).split())
    found += [f"a role inside math: {quote(math, m)}" for m in IN_MATH.finditer(math)]
    for tag, cell in parser.cells:
        if BAD_CELL.fullmatch(cell):
            found.append(f"a table cell {cell!r}")
        if ASCII_MATH_CELL.search(cell) or (tag == "th" and ASCII_MATH_HEADER.search(cell)):
            found.append(f"ASCII math in a table {'header' if tag == 'th' else 'cell'}: "
                         f"{cell[:120]!r}")
    return found


def test_seams_are_found():
    """:func:`seams` finds each kind of seam, and nothing in clean text, math or code."""
    page = """<html><head><title>$x</title></head><body><article>
      <p>A <em>clean</em> page: the price is 5 dollars, 0.04 - 0.01 = 0.03, lags \u22128..8.</p>
      <p><span class="math">\\(a^T\\)</span> <mjx-container>$\\beta$</mjx-container></p>
      <div class="cell_input"><pre>x = {'a': 1}  # $y$</pre></div>
      <pre>echo $HOME</pre> <code>{glue:text}`x`</code>
      <table><tr><th>W\u2081\u2220B\u1d40 (\u00b0)</th><td>none</td><td>0.0</td></tr></table>
    </article></body></html>"""
    assert seams(page) == []
    bad = """<article><p>{glue:text}`a` and {cite}`b`, \\texttt{c}, $\\gamma$, {'d': 1},
      [np.float64(2.0)], iteration -1 (-1: none), change -0.0 points.</p>
      <span class="math">\\(\\sigma = {glue:text}`s`\\)</span>
      <div class="cell_output"><pre>{'e': 2}</pre></div>
      <table><tr><th>W1\u2220B^T</th><th>+- 1</th></tr>
      <tr><td>nan</td><td>None</td><td>-0</td><td>\u22120.0</td><td>inf</td>
      <td>E[E^T X]</td></tr></table></article>"""
    found = seams(bad)
    for why in ("a glue role left as text", "a citation role left as text", "raw TeX",
                "a $ outside typeset math", "a Python repr", "a sentinel", "a negative zero",
                "a Python repr (output)", "a role inside math", "a table cell 'nan'",
                "a table cell 'None'", "a table cell '-0'", "a table cell '\u22120.0'",
                "a table cell 'inf'", "ASCII math in a table header",
                "ASCII math in a table cell"):
        assert any(f.startswith(why) for f in found), (why, found)


def test_generated_text_shows_no_seams(rendered_at, built):
    """No page, as Chromium rendered it at either width, shows a seam of generated text.

    See :func:`seams`: roles left as text (also inside math), raw TeX, a ``$`` outside
    typeset math, reprs, sentinels, negative zeros, ASCII math in tables, and table cells
    that are ``nan``, ``None``, ``inf`` or ``-0``.
    """
    problems: dict[str, None] = {}
    n = 0
    for rendered in rendered_at.values():
        for path, r in rendered.items():
            if r.screenshot is None or not r.dom:  # a page that only redirects
                continue
            n += 1
            rel = path.relative_to(built.html)
            for seam in seams(r.dom):
                problems.setdefault(f"{rel}: {seam}")
    assert n, "no page was rendered"
    assert not problems, f"{len(problems)} seam(s) of generated text:\n" + "\n".join(problems)


MIN_TEXT_PX = 8.0
"""The smallest figure text (CSS px on screen) that counts as readable in place."""


@dataclass
class FigureText:
    """The smallest text of one figure image as shown at one window width."""

    page: str
    figure: str
    width: int  # the window's
    px: float  # the smallest text on screen (CSS px)
    linked: bool  # the image links to its own file
    hint: bool  # the hint that it opens at full size is shown


def figure_text_sizes(rendered_at: dict[int, dict[Path, Rendered]], html_dir: Path
                      ) -> list[FigureText]:
    """The smallest text on screen of every figure image of every page, at every width.

    The smallest font of any figure is :data:`fa_lib.plotting.MIN_FONT_SIZE` points; an
    image drawn at ``dpi`` dots per inch (its PNG's, else :data:`fa_lib.plotting.DPI`)
    shows it ``MIN_FONT_SIZE * dpi / 72`` pixels high, scaled by the image's width on
    screen over its width in pixels.
    """
    from PIL import Image

    from fa_lib import plotting

    sizes: dict[Path, tuple[int, float]] = {}
    out = []
    for width, rendered in rendered_at.items():
        for path, r in rendered.items():
            for fig in (r.layout or {}).get("figures", []):
                src = (path.parent / unquote(urlsplit(fig["src"]).path)).resolve()
                if src.suffix.lower() != ".png" or not src.is_file():
                    continue
                if src not in sizes:
                    with Image.open(src) as image:
                        dpi = image.info.get("dpi", (plotting.DPI,))[0]
                        sizes[src] = (image.width, float(dpi))
                natural, dpi = sizes[src]
                px = plotting.MIN_FONT_SIZE * dpi / 72 * fig["width"] / natural
                out.append(FigureText(
                    str(path.relative_to(html_dir)), fig["id"] or src.name, width, px,
                    fig["link"] is not None and unquote(fig["link"]) == unquote(fig["src"]),
                    bool(fig["hint"])))
    return out


def _summary(texts: list[FigureText], width: int) -> str:
    px = np.array([t.px for t in texts if t.width == width])
    if not len(px):
        return f"{width} px: no figures"
    return (f"{width} px: {len(px)} figures, smallest text {px.min():.1f} px on screen "
            f"(median {np.median(px):.1f}), {int((px >= MIN_TEXT_PX).sum())} readable in place")


def test_figure_text_is_readable(rendered_at, built):
    """Figure text is at least MIN_TEXT_PX on screen, or the figure opens at full size.

    At the desktop width every figure must be readable in place; at the phone width a
    figure whose text is smaller must link to its image file and show the hint
    (:data:`fa_lib.sphinxext.FIGURE_HINT`).
    """
    texts = figure_text_sizes(rendered_at, built.html)
    assert len({t.figure for t in texts}) >= 20, f"only {len(texts)} figure images measured"
    problems = []
    for t in texts:
        if t.px >= MIN_TEXT_PX:
            continue
        if t.width >= 1000:
            problems.append(f"{t.page} at {t.width} px: figure {t.figure}: text {t.px:.1f} px")
        elif not (t.linked and t.hint):
            problems.append(f"{t.page} at {t.width} px: figure {t.figure}: text {t.px:.1f} px "
                            f"and {'no link to its image' if not t.linked else 'no hint'}")
    print("\n" + "\n".join(_summary(texts, w) for w in WIDTHS))
    assert not problems, "\n".join(problems) + f"\n(screenshots: {_screenshot_dir(built)})"
