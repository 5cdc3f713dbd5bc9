"""Tests of fa_lib.book, the glue helpers of the notebooks."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fa_lib import book, cache, stats


@pytest.fixture
def glued(monkeypatch):
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda *a, **k: calls.append((a, k)))
    return calls


def test_glue_keeps_whole_numbers_whole_and_glues_without_display(glued):
    from IPython.display import Markdown

    book.glue("x", np.float32(1.5))
    book.glue("n", np.int64(3))
    book.glue("s", "abc")
    book.glue("ok", np.bool_(True))
    md = Markdown("*a*")
    book.glue_all({"m": md, "d": [1, 2]}, prefix="c_")
    assert glued == [(("x", 1.5), {"display": False}), (("n", 3), {"display": False}),
                     (("s", "abc"), {"display": False}), (("ok", "True"), {"display": False}),
                     (("c_m", md), {"display": False}), (("c_d", "[1, 2]"), {"display": False})]
    assert type(glued[0][0][1]) is float and type(glued[1][0][1]) is int


def test_glue_works_without_myst_nb_and_still_records_figures(monkeypatch, capsys):
    """Outside a book build (no MyST-NB installed) a chapter's glue cells run and show nothing."""
    from matplotlib.figure import Figure

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` raises ImportError
    fig = Figure()
    with book.recording_figures() as recorded:
        book.glue("x", np.float64(1.5))
        book.glue_all({"fig": fig, "s": "abc"}, prefix="c_")
    assert recorded == {"c_fig": fig}
    assert capsys.readouterr().out == ""


def test_the_stand_in_glue_displays_only_when_asked(capsys):
    book._glue_without_myst_nb("x", "shown", display=True)
    book._glue_without_myst_nb("y", "hidden", display=False)
    out = capsys.readouterr().out
    assert "shown" in out and "hidden" not in out


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.01234, "p = 0.012"), (0.5, "p = 0.5"), (3e-12, "p = 3e-12"), (1e-300, "p = 1e-300"),
     (0.0, "p < 1e-300"), (5e-301, "p < 1e-300")],
)
def test_pstr(p, text):
    assert book.pstr(p) == text


def test_describe_a_ttest():
    t = stats.TTest(mean=89.981, sd=1.0249, n=400, t=-0.37, p=0.712, ci99=(89.85, 90.114))
    assert book.describe(t) == (
        "89.98° ± 1.02° SD (n = 400, t = -0.4, p = 0.71, 99% CI [89.85, 90.11]°)"
    )
    assert book.describe(t, unit="%", ci99=False) == (
        "89.98% ± 1.02% SD (n = 400, t = -0.4, p = 0.71)"
    )


def test_book_is_not_part_of_the_code_fingerprints():
    # Presentation only: an experiment's key does not depend on fa_lib.book.
    assert cache.module_dependencies("fa_lib.book") == []
    assert "fa_lib.stats" in cache.module_dependencies("fa_lib.stats")


def _notebook_functions(path):
    """Names of the functions defined at the top level of a notebook's code cells."""
    import ast
    import json

    from IPython.core.inputtransformer2 import TransformerManager

    names = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            code = TransformerManager().transform_cell("".join(cell["source"]))
            names |= {n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)}
    return names


def test_notebooks_import_the_glue_helpers_instead_of_defining_them():
    from pathlib import Path

    helpers = {name for name in vars(book) if not name.startswith("_") and callable(
        getattr(book, name)) and getattr(book, name).__module__ == book.__name__}
    assert helpers == {"glue", "glue_all", "pstr", "describe", "ci_text", "recording_figures"}
    notebooks = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))
    assert len(notebooks) >= 7
    redefined = {p.name: sorted(_notebook_functions(p) & helpers) for p in notebooks}
    assert not any(redefined.values()), f"notebooks redefine fa_lib.book helpers: {redefined}"


VISIBLE_CODE_WIDTH = 92
"""Characters per line that the book's code boxes show without cutting (at 1400 px)."""


def _visible_code_cells(path):
    """The source of each code cell of a notebook whose code the page shows."""
    import json

    hidden = {"remove-cell", "remove-input"}
    for cell in json.loads(path.read_text())["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "code" and not tags & hidden:
            yield "".join(cell["source"])


def test_visible_code_is_short_and_free_of_plumbing():
    # The reader sees the calls that compute results and the plotting; cells that
    # register claims or only glue numbers are removed from the page (issue 15).
    from pathlib import Path

    notebooks = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))
    long_lines, plumbing = [], []
    for path in notebooks:
        for source in _visible_code_cells(path):
            long_lines += [
                f"{path.name}: {line[:60]}..."
                for line in source.splitlines()
                if len(line) > VISIBLE_CODE_WIDTH
            ]
            if "claims.check(" in source:
                plumbing.append(f"{path.name}: {source[:60]}...")
    assert not long_lines, f"visible code lines over {VISIBLE_CODE_WIDTH} characters: {long_lines}"
    assert not plumbing, f"visible cells that register claims: {plumbing}"


def test_one_glue_style_and_no_glue_in_code_shown_on_the_page():
    """Numbers reach the prose through fa_lib.book.glue / glue_all, in cells the page hides."""
    import json
    import re
    from pathlib import Path

    book_dir = Path(__file__).resolve().parents[1] / "book"
    other_styles, shown = [], []
    for path in sorted(book_dir.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            if re.search(r"myst_nb import glue|\bgnum\(|\bgstr\(|\bgmd\(|"
                         r"(?<![\w.])glue\(", source):
                other_styles.append(f"{path.name} cell {i}")
            tags = set(cell.get("metadata", {}).get("tags", []))
            if not tags & {"remove-cell", "remove-input", "hide-input"} and \
                    re.search(r"\bglue(_all)?\(", source):
                shown.append(f"{path.name} cell {i}")
    assert not other_styles, f"glue other than fa_lib.book.glue / glue_all: {other_styles}"
    assert not shown, f"cells whose code the page shows glue values: {shown}"


def test_claims_are_code_not_notebook_cells():
    """No notebook registers claims itself: they come from fa_lib.verdicts.<chapter>."""
    from pathlib import Path

    from fa_lib import catalogue, verdicts

    book = Path(__file__).resolve().parents[1] / "book"
    checking = [p.name for p in sorted(book.glob("*.ipynb"))
                if "claims.check(" in p.read_text(encoding="utf-8")]
    assert not checking, f"notebooks that check claims themselves: {checking}"
    assert [c for c in catalogue.CHAPTERS if not verdicts.has_claims(c)] == []


def test_notebooks_are_valid_nbformat_with_cell_ids():
    # nbformat 4.5 gives every cell an id; a cell without one is a warning now and
    # "will become a hard error in future nbformat versions".
    import warnings
    from pathlib import Path

    import nbformat

    for path in sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            notebook = nbformat.read(str(path), as_version=4)
            nbformat.validate(notebook)
        ids = [cell.get("id") for cell in notebook.cells]
        assert all(ids), f"{path.name}: a cell without an id"
        assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"


VISIBLE_CODE_LINES = 15
"""The longest code cell the page shows without a toggle (issue 28: the code in view is the
science; longer drawing goes into a named function, :mod:`fa_lib.figures`)."""

OUT_OF_VIEW = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
"""Tags whose cell's code is not in view: removed from the page, or behind a toggle that
Jupyter Book renders closed ("Show code cell source")."""


def _code_cells(path):
    """(index, tags, source) of each code cell of a notebook."""
    import json

    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] == "code":
            yield i, set(cell.get("metadata", {}).get("tags", [])), "".join(cell["source"])


def _notebooks():
    from pathlib import Path

    found = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))
    assert len(found) >= 7
    return found


def test_code_in_view_is_at_most_15_lines():
    """A code cell the page shows without a toggle has at most :data:`VISIBLE_CODE_LINES` lines.

    Drawing longer than that is a named function (:mod:`fa_lib.figures`) or sits behind a
    toggle (``hide-input``); a table is assembled in the chapter's verdicts module.
    """
    long = [f"{path.name} cell {i}: {len(source.strip().splitlines())} lines"
            for path in _notebooks() for i, tags, source in _code_cells(path)
            if not tags & OUT_OF_VIEW and len(source.strip().splitlines()) > VISIBLE_CODE_LINES]
    assert not long, f"code cells in view longer than {VISIBLE_CODE_LINES} lines: {long}"


def test_table_assembly_is_not_on_the_page():
    """Tables are assembled where the page does not show the code.

    No cell whose code is on the page, in view or behind a toggle, formats a table
    (``tables.table``, ``tables.pm``, ``claims.table``): that is done in the chapter's
    verdicts module or in a cell tagged ``remove-input`` / ``remove-cell``; no cell in
    view assembles a DataFrame.
    """
    import re

    removed = {"remove-cell", "remove-input"}
    shown = []
    for path in _notebooks():
        for i, tags, source in _code_cells(path):
            if tags & removed:
                continue
            if re.search(r"\btables\.(table|pm)\(|\bclaims\.table\(", source):
                shown.append(f"{path.name} cell {i}: formats a table")
            if not tags & OUT_OF_VIEW and re.search(r"\bpd\.(DataFrame|concat)\(", source):
                shown.append(f"{path.name} cell {i}: assembles a DataFrame in view")
    assert not shown, f"table assembly on the page: {shown}"


def test_glued_markdown_is_parsed_as_myst():
    """Every ``{glue:md}`` is parsed as MyST, so that its math is typeset (issue 28).

    MyST-NB parses glued Markdown as CommonMark unless told otherwise, which shows
    ``$...$`` and roles as text: the inline role names the format (``{glue:md}`key:myst```),
    the directive has ``:format: myst``. A glued list must be a directive (a role is
    inline: a list in it collapses into one paragraph), which the verdicts modules'
    Markdown of several lines is.
    """
    import json
    import re
    from pathlib import Path

    book_dir = Path(__file__).resolve().parents[1] / "book"
    problems = []
    for path in sorted(book_dir.glob("*.ipynb")) + sorted(book_dir.glob("*.md")):
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(
                path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        problems += [f"{path.name}: {m.group(0)}" for m in
                     re.finditer(r"\{glue:md\}`[^`]*`", text) if not m.group(0).endswith(":myst`")]
        problems += [f"{path.name}: {m.group(0)!r} without :format: myst" for m in
                     re.finditer(r"```+\{glue:md\} *\S+\n(?!:format: myst)", text)]
    assert not problems, f"glued Markdown not parsed as MyST: {problems}"
