"""Sphinx extension: figure labels, a quick-scale banner, paper-scale counts, references.

Enabled with ``sphinx: extra_extensions: [fa_lib.sphinxext]`` in ``_config.yml``.

- **Figure labels.** A figure that reproduces a panel of the paper carries the
  paper's label (``"Fig. 1B–C"``), given in :data:`PAPER_LABELS` by the figure's
  name (``:name:`` of its ``glue:figure``). Every other figure is labelled
  ``"Extra c.k"`` and every glued table (a name starting with ``tab-``)
  ``"Table c.k"``, where ``c`` is the chapter's place in the table of contents
  (the report page is ``R``) and ``k`` counts within the chapter. The labels
  replace Sphinx's running figure numbers, so ``{numref}`` keeps working and
  prints them; a new chapter needs nothing to get "Extra" labels, and one line
  in :data:`PAPER_LABELS` per figure that reproduces a paper panel.
- **Quick-scale banner.** A book built with ``FA_SCALE=quick`` shows on every
  page that it is a reduced preview (:func:`scale_banner`).
- **Figures and narrow screens.** Every image of a figure is wrapped in a link to its
  image file, so that a reader can open it at full size (:func:`link_figures`); on a
  narrow screen, where a figure's text is too small to read in place, a hint under the
  figure says so (:data:`FIGURE_HINT`). A style sheet (:data:`CSS`) lets wide tables and
  long display equations scroll sideways instead of being cut off on a phone.
- **Bibliography.** The reference list is labelled author-year
  (``"Lillicrap et al., 2016"``), as the citations in the text, through the
  pybtex style ``fa_author_year`` (``bibtex_default_style`` in ``_config.yml``).
- **Paper-scale counts in Markdown pages.** The role ``{paper-count}`<chapter>``` prints
  the chapter's verdicts in the paper-scale record (``results/paper_record.json``),
  ``"13 of 15 reproduced"`` (:func:`fa_lib.verdict_box.paper_count`): the map of the book
  in ``book/intro.md`` gives each chapter's count this way, generated at every build
  instead of typed by hand. A role rather than a text substitution: it is parsed where
  MyST parses roles (a table cell included), an unknown chapter is an error in the build
  log, and the page notes the record file as a dependency, so Sphinx reads the page again
  when the record changes, and only then (:func:`paper_count_role`). ``fa_paper_record``
  (``sphinx: config:`` in ``_config.yml``) names another record file, relative to the
  book's root; empty (the default) is the committed record.
- **Glued numbers.** A number glued into the text with a format spec
  (``{glue:text}`key:+.1f```) is formatted by MyST-NB, which writes a small negative
  number as a negative zero ("-0.0"); :class:`UnsignedZero` removes that sign with
  :func:`fa_lib.tables.unsigned_zero`, the function every table's numbers go through.
- **The build plan.** Before the first notebook runs (``env-before-read-docs``, which
  Sphinx emits after it has found the pages to read and before it reads, and so
  executes, any), the build says which scale it builds and which experiments of the
  chapters it reads are missing from the results cache, and computes them with all
  cores (:func:`compute_first`, :mod:`fa_lib.build_plan`); if one fails, the build stops
  there. ``fa_compute_first: false`` (``sphinx: config:`` in ``_config.yml``) leaves the
  computing to the notebooks.

Presentation only, but for the build plan: nothing here changes a computed number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.transforms import Transform
from sphinx.errors import SphinxError
from sphinx.util import logging

from fa_lib import build_plan, catalogue, chapter_setup, config, report, verdict_box
from fa_lib import record as paper_record
from fa_lib.tables import CLASS as TABLE_CLASS
from fa_lib.tables import unsigned_zero

__all__ = ["CSS", "FIGURE_HINT", "PAPER_COUNT_ROLE", "PAPER_LABELS", "BuildPlanFailed",
           "compute_first", "figure_labels", "link_figures", "paper_count_role", "scale_banner",
           "setup"]

logger = logging.getLogger(__name__)

PAPER_LABELS: dict[str, str] = {
    # persistent error (Sec. 2.1)
    "fig-pe-1a": "Fig. 1A",
    "fig-pe-1bc": "Fig. 1B–C",
    "fig-pe-1d": "Fig. 1D",
    # autocorrelation (Sec. 2.2)
    "fig-ac-terms": "Fig. 2A–C",
    "fig-ac-nonlinear": "Fig. 2D",
    "fig-ac-eig": "Fig. 2E",
    "fig-ac-openloop": "Fig. 3",
    # ACF and weight normalisation (Sec. 2.3, Supp. Note 1)
    "fig-acfwn-traces": "Fig. 4A–D",
    "fig-acfwn-acf": "Fig. 4E",
    "fig-acfwn-s1": "Fig. S1",
    # depth (Sec. 2.4)
    "fig-depth-heatmaps": "Fig. 5A, C",
    "fig-depth-hist": "Fig. 5B, D",
    "fig-depth-nonlin": "Fig. 5F–G",
    # MNIST (Sec. 2.5, Supp. Note 4)
    "fig-mn-6ab": "Fig. 6A–B",
    "fig-mn-6cd": "Fig. 6C–D",
    "fig-mn-6ef": "Fig. 6E–F",
    "fig-mn-6g": "Fig. 6G",
    "fig-mn-6h": "Fig. 6H",
    "fig-mn-6i": "Fig. 6I",
    "fig-mn-7ab": "Fig. 7A–B",
    "fig-mn-7cd": "Fig. 7C–D",
    "fig-mn-s2": "Fig. S2",
    # flexibility (Sec. 2.6)
    "fig-fx-8a": "Fig. 8A",
    "fig-fx-8b": "Fig. 8B",
    "fig-fx-s3": "Fig. S3",
}
"""Figure name -> the label of the paper's panels it reproduces."""

TABLE_PREFIX = "tab-"
"""Figures whose name starts with this are tables: labelled "Table c.k", not "Extra c.k"."""


def figure_labels(chapter: str, figure_ids: list[str]) -> dict[str, str]:
    """Label the figures of one page.

    Parameters
    ----------
    chapter : str
        The page's number in the book (``"4"``), or a letter for pages that are
        not chapters (``"R"`` for the report).
    figure_ids : list of str
        The names of the page's numbered figures, in the order of the page.

    Returns
    -------
    dict
        Figure name -> label: :data:`PAPER_LABELS` where given, else
        ``"Table c.k"`` for tables and ``"Extra c.k"`` for figures, counted
        separately within the page.

    Examples
    --------
    >>> labels = figure_labels("4", ["fig-depth-heatmaps", "fig-x", "tab-y", "fig-z"])
    >>> list(labels.values())
    ['Fig. 5A, C', 'Extra 4.1', 'Table 4.1', 'Extra 4.2']
    """
    counts = {"Extra": 0, "Table": 0}
    labels = {}
    for fid in figure_ids:
        if fid in PAPER_LABELS:
            labels[fid] = PAPER_LABELS[fid]
            continue
        kind = "Table" if fid.startswith(TABLE_PREFIX) else "Extra"
        counts[kind] += 1
        labels[fid] = f"{kind} {chapter}.{counts[kind]}"
    return labels


def _chapter_numbers(docnames: list[str]) -> dict[str, str]:
    """Page name -> its number: the chapter notebooks in the order of ``_toc.yml``, report R."""
    numbers = {f"book/{stem}": str(i) for i, stem in enumerate(catalogue.notebooks(), start=1)}
    numbers[report.REPORT_DOC] = "R"
    return {d: numbers.get(d, Path(d).name) for d in docnames}


def _relabel(app: Any, env: Any) -> list[str]:
    """``env-get-updated`` handler: replace Sphinx's running figure numbers by labels.

    Sphinx formats a figure number as ``numfig_format % ".".join(map(str, number))``;
    a one-element tuple holding the label prints the label, with the format ``"%s"``.
    """
    chapters = _chapter_numbers(list(env.toc_fignumbers))
    for docname, kinds in env.toc_fignumbers.items():
        figures = kinds.get("figure")
        if figures:
            labels = figure_labels(chapters[docname], list(figures))
            kinds["figure"] = {fid: (labels[fid],) for fid in figures}
    return []


def scale_banner(scale: str | None = None) -> str:
    """The HTML of the banner shown on every page of a quick-scale build ("" at paper scale)."""
    scale = config.scale() if scale is None else scale
    if scale == "paper":
        return ""
    return (
        "<strong>Quick-scale preview.</strong> This book was built with "
        "<code>FA_SCALE=quick</code>: every experiment is smaller than in the paper "
        "(fewer repetitions, iterations, epochs and draws), so the numbers differ from "
        "the paper-scale book, and checks whose effect needs the paper's sizes read "
        "&ldquo;not checked at this scale&rdquo;. The paper scale "
        "(<code>FA_SCALE=paper</code>, the default) uses the paper's sizes."
    )


MATHJAX_ENV = "FA_MATHJAX_DIR"
"""Environment variable naming a local MathJax 3 ``es5`` directory (with ``tex-chtml.js``)."""


def local_mathjax() -> Path | None:
    """The local MathJax 3 ``es5`` directory named by ``FA_MATHJAX_DIR``, or None.

    A build that has no internet (the tests, a downloaded copy) typesets its math with
    it; the published book loads MathJax from its usual place.

    Raises
    ------
    FileNotFoundError
        If the variable is set but the directory holds no ``tex-chtml.js``.
    """
    value = os.environ.get(MATHJAX_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not (path / "tex-chtml.js").is_file():
        raise FileNotFoundError(
            f"{MATHJAX_ENV}={value!r} has no tex-chtml.js: point it at the es5 directory of "
            "the mathjax package (npm install mathjax@3; .ci/run does), or unset it."
        )
    return path


def _config_inited(app: Any, cfg: Any) -> None:
    """Set the labels' format, the quick-scale banner and, if asked, a local MathJax.

    Labels print as they are ("%s"); a quick build announces itself on every page; with
    ``FA_MATHJAX_DIR`` the math is typeset by that local MathJax, copied into ``_static``.
    """
    cfg.numfig_format = {**(cfg.numfig_format or {}), "figure": "%s"}
    banner = scale_banner()
    if banner:
        cfg.html_theme_options = {**(cfg.html_theme_options or {}), "announcement": banner}
    mathjax = local_mathjax()
    if mathjax is not None:
        app.connect("build-finished", lambda app_, exc: _copy_mathjax(app_, exc, mathjax))
        cfg.mathjax_path = "mathjax/tex-chtml.js"


def _copy_mathjax(app: Any, exc: BaseException | None, source: Path) -> None:
    """Copy the local MathJax into ``_static/mathjax`` of the HTML output."""
    if exc is not None or getattr(app.builder, "format", "") != "html":
        return
    import shutil

    shutil.copytree(source, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


FIGURE_LINK_CLASS = "book-figure-link"
"""The class of the link around a figure's image (the browser test looks for it; not
``fa-...``, a prefix that the theme's Font Awesome styles)."""

FIGURE_HINT_CLASS = "book-figure-hint"
"""The class of the hint under a figure's image (shown on narrow screens only)."""

FIGURE_HINT = "Tap the figure to open it at full size"
"""The hint's words: a figure drawn for the text column (about 770 px) has text of about
5 px on a phone (fa_lib.plotting: 10 pt at 150 dpi, the image scaled to the screen);
opened on its own it can be zoomed to full size."""

NARROW = 600
"""The widest screen (CSS px) that shows :data:`FIGURE_HINT`."""

CSS_FILE = "fa_book.css"
"""The style sheet written into ``_static`` of the HTML output."""

CSS = f"""/* fa_lib.sphinxext: figures open at full size; nothing is cut off on a phone. */
a.{FIGURE_LINK_CLASS} {{ display: block; cursor: zoom-in; }}
figure img, .cell_output img {{ max-width: 100%; height: auto; }}
.{FIGURE_HINT_CLASS} {{ display: none; }}
@media (max-width: {NARROW}px) {{
  /* A figure's text is small on a phone: say that the figure opens at full size. */
  a.{FIGURE_LINK_CLASS} .{FIGURE_HINT_CLASS} {{
    display: block; font-size: 0.8rem; color: #555; text-align: center;
    padding: 0.15em 0; border-bottom: 1px dotted #999;
  }}
}}
/* Long display equations scroll sideways (in callouts as well) instead of being cut. */
div.math, .math-wrapper, mjx-container[display="true"] {{
  max-width: 100%; overflow-x: auto; overflow-y: hidden;
}}
mjx-container[display="true"] {{ padding: 0.2em 0; }}
/* Long names in inline code break instead of running off a phone's screen. */
code.literal, code.xref, code.literal span.pre, code.xref span.pre {{
  white-space: pre-wrap; overflow-wrap: anywhere;
}}
@media (max-width: {NARROW}px) {{
  /* Headings with math fit a phone's width. */
  .bd-article h1 {{ font-size: 1.9rem; }}
  .bd-article h2 {{ font-size: 1.4rem; }}
  .bd-article h3 {{ font-size: 1.2rem; }}
}}
/* Tables of Markdown cells and of outputs scroll sideways inside their box. */
.pst-scrollable-table-container, .{TABLE_CLASS}, .cell_output .output {{
  max-width: 100%; overflow-x: auto;
}}
"""

_FIGURE = re.compile(r"<figure\b[^>]*>.*?</figure>", re.S)
_IMG = re.compile(r"(<a\b[^>]*>\s*)?(<img\b[^>]*?\bsrc=\"([^\"]+)\"[^>]*>)", re.S)


def link_figures(body: str) -> str:
    """Wrap every image inside a ``<figure>`` of ``body`` in a link to its image file.

    The link also holds the hint :data:`FIGURE_HINT` (shown on narrow screens only, by
    :data:`CSS`). Images that already sit in a link are left alone; so is everything
    outside figures.
    """

    def one_figure(match: re.Match) -> str:
        def one_image(m: re.Match) -> str:
            if m.group(1):  # already linked
                return m.group(0)
            src = m.group(3)
            return (
                f'<a class="{FIGURE_LINK_CLASS} reference internal image-reference" '
                f'href="{src}" title="open the figure at full size">{m.group(2)}'
                f'<span class="{FIGURE_HINT_CLASS}">{FIGURE_HINT}</span></a>'
            )

        return _IMG.sub(one_image, match.group(0))

    return _FIGURE.sub(one_figure, body)


def _html_page_context(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Link the page's figure images to their files (see :func:`link_figures`)."""
    if "body" in context:
        context["body"] = link_figures(context["body"])


def _write_css(app: Any, exc: BaseException | None) -> None:
    """Write :data:`CSS` into ``_static`` of the HTML output."""
    if exc is not None or getattr(app.builder, "format", "") != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / CSS_FILE).write_text(CSS)


class BuildPlanFailed(SphinxError):
    """The experiments could not be listed or computed before the notebooks: the build stops."""

    category = "fa_lib: the build stopped before the notebooks"


def _toc_path(app: Any) -> Path | None:
    """The build's table of contents (``jupyter-book build --toc``), or None for the default."""
    toc = getattr(app.config, "external_toc_path", None)
    return Path(app.srcdir, toc) if toc else None


def compute_first(app: Any, env: Any, docnames: list[str]) -> None:
    """``env-before-read-docs`` handler: compute what the notebooks to be read would compute.

    The chapters among ``docnames`` (the pages this build reads, and so executes) get
    their missing experiments computed before any page is read
    (:func:`fa_lib.build_plan.prepare_build`): the plan and the time table go to the
    build's log. Nothing is computed with ``fa_compute_first = False``. Either way the
    build sets :data:`fa_lib.chapter_setup.BUILD_VARIABLE` for the notebooks' kernels, so
    that their set-up cells keep the build's scale and compute or fetch nothing.

    Raises
    ------
    BuildPlanFailed
        If an experiment failed (the message lists them, with the time table), or the
        experiments could not be listed.
    """
    # The build decides the scale and what is computed: the chapters' set-up cells
    # (fa_lib.chapter_setup.prepare) leave both as they are.
    os.environ[chapter_setup.BUILD_VARIABLE] = config.scale()
    if not app.config.fa_compute_first:
        return
    chapters = build_plan.chapters_read(docnames, _toc_path(app))
    try:
        build_plan.prepare_build(chapters, log=logger.info)
    except build_plan.BuildPlanError as err:
        raise BuildPlanFailed(str(err)) from None


def _register_bibliography_style() -> None:
    """Register the pybtex style ``fa_author_year``: the plain style with author-year labels."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.plain import Style as Plain
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """Labels "Author, 2016", "Author and Other, 2016", "Author et al., 2016"."""

        def format_labels(self, sorted_entries):  # noqa: D102
            labels = [_author_year(entry) for entry in sorted_entries]
            for i, label in enumerate(labels):  # the same label twice: 2016a, 2016b
                same = [j for j, other in enumerate(labels) if other == label]
                yield label if len(same) == 1 else label + "abcdefghij"[same.index(i)]

    class AuthorYear(Plain):
        """pybtex's plain style with :class:`AuthorYearLabels`."""

        default_label_style = AuthorYearLabels

    register_plugin("pybtex.style.labels", "fa_author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "fa_author_year", AuthorYear, force=True)


def _author_year(entry: Any) -> str:
    """The author-year label of a pybtex entry (editors, then the key, when there is no author)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(p.prelast_names + p.last_names) or str(p) for p in persons]
    names = [n.replace("{", "").replace("}", "") for n in names]
    if not names:
        who = entry.fields.get("organization", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    year = entry.fields.get("year", "n.d.")
    return f"{who}, {year}"


PAPER_COUNT_ROLE = "paper-count"
"""The name of the role that prints a chapter's paper-scale count (:func:`paper_count_role`)."""


def _record_file(env: Any) -> Path:
    """The record file the build reads: ``fa_paper_record``, or the committed record."""
    name = getattr(env.config, "fa_paper_record", "")
    return (Path(env.srcdir, name) if name else report.ROOT / paper_record.RECORD_PATH).resolve()


def paper_count_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
                     options: dict | None = None, content: Any = ()) -> tuple[list, list]:
    """The docutils role ``{paper-count}`<chapter>```: the chapter's paper-scale count.

    Parameters
    ----------
    name, rawtext, text, lineno, inliner, options, content
        As for every docutils role; ``text`` is the chapter's name (``depth``).

    Returns
    -------
    tuple
        A text node with :func:`fa_lib.verdict_box.paper_count` of the chapter (``"5 of 6
        reproduced"``, ``"not recorded yet"``, ``"no record"``), and no messages; for a
        name that is neither a chapter of the table of contents nor of the record, or a
        record file that is not a paper-scale record, an error message (the build log
        names the page and line) and the role's text marked as a problem.
    """
    env = inliner.document.settings.env
    path = _record_file(env)
    env.note_dependency(str(path))  # a changed (or new) record: the page is read again
    chapter = text.strip()
    try:
        recorded = report.paper_record(path)
        known = set(catalogue.notebooks()) | set(recorded["chapters"] if recorded else ())
        if chapter not in known:
            raise ValueError(f"{chapter!r} is not a chapter of the book (one of "
                             f"{', '.join(sorted(known))}).")
        count = verdict_box.paper_count(chapter, path)
    except ValueError as err:  # RecordError is a ValueError
        msg = inliner.reporter.error(f"{{{PAPER_COUNT_ROLE}}}: {err}", line=lineno)
        problem = inliner.problematic(rawtext, rawtext, msg)
        return [problem], [msg]
    return [nodes.Text(count)], []


def report_always_outdated(app: Any, env: Any, added: set, changed: set,
                           removed: set) -> list:
    """Sphinx ``env-get-outdated`` handler: read the report page again on every build.

    The report gathers the claims the chapters saved during this build, so it must run
    after them every time, even when its own source did not change.
    """
    return [report.REPORT_DOC] if report.REPORT_DOC in env.found_docs else []


PASTED_TEXT_CLASS = "pasted-text"
"""The class of the text node that MyST-NB's ``{glue:text}`` role makes."""


class UnsignedZero(Transform):
    """Glued text without the sign of a negative zero ("-0.0" becomes "0.0")."""

    default_priority = 700  # after the roles are parsed, before the references

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(nodes.inline)):
            if PASTED_TEXT_CLASS not in node.get("classes", []):
                continue
            text = node.astext()
            if unsigned_zero(text) != text:
                node.children = []
                node += nodes.Text(unsigned_zero(text))


def setup(app: Any) -> dict[str, Any]:
    """Register the book's extension: labels, banner, figure links, style, plan, report.

    The paper's figure labels, the quick-scale banner, figure links, the style sheet,
    the author-year bibliography, the role ``{paper-count}``, the build plan (computing
    first) and the report page read again on every build.

    Parameters
    ----------
    app
        The Sphinx application.

    Returns
    -------
    dict
        The extension's metadata.
    """
    _register_bibliography_style()
    app.add_config_value("fa_compute_first", True, "", [bool])
    app.add_config_value("fa_paper_record", "", "env", [str])
    app.add_role(PAPER_COUNT_ROLE, paper_count_role)
    app.add_transform(UnsignedZero)
    app.connect("config-inited", _config_inited)
    app.connect("env-before-read-docs", compute_first)
    app.connect("env-get-updated", _relabel, priority=900)
    app.connect("env-get-outdated", report_always_outdated)
    app.connect("html-page-context", _html_page_context)
    app.connect("build-finished", _write_css)
    app.add_css_file(CSS_FILE)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
