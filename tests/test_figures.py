"""The book's figures as drawn: every figure of a quick build, checked as a Figure object.

Every notebook of the book (the chapters and the report) is run, cell by cell, in this
process (IPython's shell, matplotlib's Agg backend), reading its experiments from the
results cache without computing any (:func:`fa_lib.cache.observe` with ``refuse=True``);
:func:`fa_lib.book.recording_figures` collects the figures the notebooks glue. The suite
computes the experiments once, for the notebooks (``tests/conftest.py`` runs this module
after them); run alone on a cold cache, the module is skipped (on CI it fails). With a
warm cache it takes about a minute. The tests check that

- **data lies inside its axes**: every line and marker of data (a line's points, a
  scatter's points, a step histogram's outline) that is finite on its axes' scales lies
  within the axes' limits (:data:`TOLERANCE_PX`). Error bars and ±SEM bands are not
  data points and may be cut by the limits (an accuracy's SD above 100%); reference
  lines (``axhline``, ``axvline``) span the axes by construction;
- **a quantity has a label**: every visible axis whose tick labels are numbers has a
  label: its own, one on another panel that shares the axis (the outer panel of a grid
  with shared axes), or the figure's ``supxlabel`` / ``supylabel``. Tick labels that
  are words (categories, layer names) label themselves;
- **text is large enough**: no visible text is smaller than
  :data:`fa_lib.plotting.MIN_FONT_SIZE` (the browser test turns this into pixels on
  screen);
- **colours stay apart for colour-blind readers**: within each panel, every two
  distinct colours of data (lines, markers, bars, histograms; composited on white) are
  at least :data:`fa_lib.plotting.MIN_DELTA_E` apart (CIE76 ΔE) in normal vision and in
  simulated deuteranopia and protanopia (Machado et al. 2009); no line or marker of data
  is near white (L* above :data:`MAX_LINE_LIGHTNESS`) and no sequential colour map of a
  heat map ends near white (L* above :data:`SEQUENTIAL_LIMIT`); the palette itself passes
  the same tests.

``python tests/test_figures.py DIR [NOTEBOOK ...]`` writes every figure (of the notebooks
named, e.g. ``depth``) to ``DIR/<name>.png`` and prints the measurements.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_PX = 2.0
"""How far (display pixels at the figure's dpi) a data point may lie outside its axes."""
DIVERGING = {"RdBu", "RdBu_r", "PuOr", "PuOr_r", "coolwarm", "bwr", "seismic", "RdYlBu"}
"""Diverging maps: their light middle marks the centre of the scale (e.g. 90°)."""
MAX_LINE_LIGHTNESS = 90.0
"""The lightest colour (CIELAB L*, composited on white) a line or marker of data may have:
viridis's pale yellow end (L* 90.9) fails; Okabe-Ito's yellow (89.1), the palette's
palest and last colour, passes."""
SEQUENTIAL_LIMIT = 85.0
"""The lightest end (CIELAB L*) a sequential colour map may have, well short of white's
100: viridis ends at 91 and is cut (fa_lib.plotting.sequential_cmap ends at 80)."""


def _notebooks() -> list[Path]:
    from fa_lib import catalogue

    return [ROOT / "book" / f"{n}.ipynb" for n in (*catalogue.notebooks(), catalogue.REPORT)]


class NotCached(Exception):  # noqa: N818 - a reason to skip, not an error
    """A notebook would have computed an experiment: the results cache is not warm."""


def run_notebook(path: Path) -> dict:
    """Run every code cell of the notebook ``path``; return the figures it glued, by name.

    The cells run in IPython's shell in this process, in the notebook's directory, with
    matplotlib's Agg backend and every computation refused (results come from the cache).

    Raises
    ------
    NotCached
        A cell would have computed an experiment.
    RuntimeError
        A cell failed.
    """
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell

    from fa_lib import book, cache

    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    # The Try-it cells display an answer computed afresh (not glued, not a figure of the
    # chapter's): they are left out here.
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
             and "try_it.show(" not in "".join(c["source"])]
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        with book.recording_figures() as figures, cache.observe(refuse=True):
            for i, cell in enumerate(cells):
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    result = shell.run_cell("".join(cell["source"]), silent=True)
                error = result.error_before_exec or result.error_in_exec
                if isinstance(error, cache.ComputeRefused):
                    raise NotCached(f"{path.name}: code cell {i} would compute an experiment")
                if error is not None:
                    raise RuntimeError(f"{path.name}: code cell {i} failed: {error!r}")
    finally:
        os.chdir(cwd)
    return dict(figures)


@pytest.fixture(scope="module")
def figures() -> dict:
    """Every glued figure of the book: ``"<notebook>/<name>"`` -> Figure."""
    out = {}
    for path in _notebooks():
        try:
            found = run_notebook(path)
        except NotCached as err:
            message = (f"{err}: the results cache is cold; run the notebooks first "
                       "(pytest book/) or python -m fa_lib reproduce --scale quick")
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        for name, fig in found.items():
            fig.canvas.draw()  # lays out the figure: tick labels and their sizes
            out[f"{path.stem}/{name}"] = fig
    assert len(out) >= 40, f"only {len(out)} figures glued"
    return out


# --------------------------------------------------------------------------- the checks


def _errorbar_parts(ax) -> set[int]:
    """ids of the caps and bars of the axes' error bars (not data points)."""
    from matplotlib.container import ErrorbarContainer

    parts: set[int] = set()
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            _, caps, bars = container.lines
            parts.update(id(a) for a in (*caps, *bars))
    return parts


def _is_reference(line, ax) -> bool:
    """A line placed partly in axes coordinates (axhline, axvline, axline)."""
    return not all(line.get_transform().contains_branch_seperately(ax.transData))


def data_points(ax):
    """(artist, display coordinates n x 2) of every line, marker set and step outline."""
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Polygon

    skip = _errorbar_parts(ax)
    ax.get_xlim(), ax.get_ylim()  # limits left stale by autoscaling are computed now
    log_x, log_y = ax.get_xscale() == "log", ax.get_yscale() == "log"

    def finite(xy: np.ndarray) -> np.ndarray:
        # a value that its log axis cannot show (<= 0) is not data outside the limits
        xy = np.array(xy, dtype=float)
        xy[(xy[:, 0] <= 0) if log_x else np.zeros(len(xy), bool), 0] = np.nan
        xy[(xy[:, 1] <= 0) if log_y else np.zeros(len(xy), bool), 1] = np.nan
        return xy

    for line in ax.get_lines():
        if not line.get_visible() or id(line) in skip or _is_reference(line, ax):
            continue
        xy = np.column_stack([np.asarray(line.get_xdata(), dtype=float),
                              np.asarray(line.get_ydata(), dtype=float)])
        if len(xy):
            yield line, line.get_transform().transform(finite(xy))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and id(coll) not in skip:
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if len(offsets):
                yield coll, coll.get_offset_transform().transform(finite(offsets))
    for patch in ax.patches:
        if isinstance(patch, Polygon) and not patch.get_fill() and patch.get_visible():
            yield patch, patch.get_transform().transform(finite(patch.get_xy()))


def outside_points(fig) -> list[str]:
    """Data outside its axes' limits, one line per artist."""
    problems = []
    for ax in fig.get_axes():
        if not ax.get_visible() or not ax.axison:
            continue
        box = ax.get_window_extent()
        for artist, xy in data_points(ax):
            ok = np.all(np.isfinite(xy), axis=1)
            xy = xy[ok]
            out = ((xy[:, 0] < box.x0 - TOLERANCE_PX) | (xy[:, 0] > box.x1 + TOLERANCE_PX)
                   | (xy[:, 1] < box.y0 - TOLERANCE_PX) | (xy[:, 1] > box.y1 + TOLERANCE_PX))
            if out.any():
                data = ax.transData.inverted().transform(xy[out][:3])
                problems.append(
                    f"{_panel(ax)}: {out.sum()} of {len(xy)} points of "
                    f"{type(artist).__name__} {artist.get_label()!r} outside "
                    f"x {_limits(ax.get_xlim())}, y {_limits(ax.get_ylim())}, e.g. "
                    + ", ".join(f"({x:.3g}, {y:.3g})" for x, y in data))
    return problems


def _limits(lim) -> str:
    return f"[{lim[0]:.3g}, {lim[1]:.3g}]"


def _panel(ax) -> str:
    title = ax.get_title() or ax.get_title(loc="left") or ""
    return f"panel {title.splitlines()[0][:40]!r}" if title else "a panel"


_NUMBER = re.compile(r"^[−\-+]?(\d[\d,]*\.?\d*|\.\d+)([eE][−\-+]?\d+)?\s*[%°]?$")


def _is_number(text: str) -> bool:
    """A tick label that is a number: ``0.5``, ``−3``, ``10^{-2}``, ``1,000``, ``90°``."""
    t = re.sub(r"\\mathdefault|\\times|[${}\\]", "", text).replace(" ", "")
    t = re.sub(r"^10\^([−\-+]?\d+)$", r"1e\1", t)
    t = re.sub(r"^(\d+(\.\d+)?)·?10\^([−\-+]?\d+)$", r"\1e\3", t)
    return bool(_NUMBER.match(t))


def _shows_numbers(axis) -> bool:
    labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
    return any(_is_number(t.get_text()) for t in labels)


def unlabelled_axes(fig) -> list[str]:
    """Axes whose numeric tick labels have no axis label (own, shared or the figure's)."""
    problems = []
    for ax in fig.get_axes():
        if not ax.get_visible() or not ax.axison:
            continue
        owner = ax.get_figure(root=False)  # a subfigure's supxlabel counts too
        for which, axis, shared, sup in (
            ("x", ax.xaxis, ax.get_shared_x_axes(), "_supxlabel"),
            ("y", ax.yaxis, ax.get_shared_y_axes(), "_supylabel"),
        ):
            if not axis.get_visible() or not _shows_numbers(axis):
                continue
            siblings = shared.get_siblings(ax)
            labelled = any(getattr(a, f"get_{which}label")().strip() for a in siblings)
            figure_label = any(getattr(f, sup, None) is not None
                               and getattr(f, sup).get_text().strip()
                               for f in {owner, fig})
            if not (labelled or figure_label):
                problems.append(f"{_panel(ax)}: the {which} axis shows numbers "
                                f"({', '.join(t.get_text() for t in axis.get_ticklabels()[:4])}"
                                ", ...) but has no label")
    return problems


def small_text(fig, minimum: float) -> list[str]:
    """Visible texts smaller than ``minimum`` points."""
    from matplotlib.text import Text

    small = {}
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() \
                and text.get_fontsize() < minimum - 0.01:  # "small": 0.833 x 12 pt
            small.setdefault(round(text.get_fontsize(), 1), []).append(text.get_text()[:30])
    return [f"{len(v)} text(s) of {size} pt, e.g. {v[:3]}" for size, v in sorted(small.items())]


def smallest_text(fig) -> float:
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else float("inf")


def _on_white(rgba) -> tuple[float, float, float]:
    r, g, b, a = rgba
    return (1 - a + a * r, 1 - a + a * g, 1 - a + a * b)


def panel_colours(ax) -> list[tuple[float, float, float]]:
    """The distinct colours of the data of a panel, as seen on white (alpha composited)."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    colours = []
    for artist, _ in data_points(ax):
        if hasattr(artist, "get_color") and not hasattr(artist, "get_offsets"):
            colours.append(to_rgba(artist.get_color(), artist.get_alpha()))
        elif hasattr(artist, "get_offsets"):
            colours += [tuple(c) for c in artist.get_facecolors()[:1]]
        else:
            colours.append(to_rgba(artist.get_edgecolor()))
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_fill() and patch.get_visible() \
                and patch is not ax.patch and patch.get_width() and patch.get_height():
            colours.append(to_rgba(patch.get_facecolor()))
    distinct: list[tuple[float, float, float]] = []
    for c in (_on_white(c) for c in colours):
        if all(np.max(np.abs(np.subtract(c, d))) > 0.02 for d in distinct):
            distinct.append(c)
    return distinct


def close_colours(fig, threshold: float) -> list[str]:
    """Panels with two data colours closer than ``threshold`` (CIE76 ΔE) in some vision."""
    from matplotlib.colors import to_hex

    from fa_lib import plotting

    problems = []
    for ax in fig.get_axes():
        colours = panel_colours(ax)
        d, vision, i, j = plotting.cvd_distance(colours)
        if d < threshold:
            hexes = [to_hex(c) for c in colours]
            problems.append(f"{_panel(ax)}: {hexes[i]} and {hexes[j]} are ΔE {d:.1f} apart "
                            f"({vision})")
    return problems


def pale_lines(fig) -> list[str]:
    """Lines and markers of data so light (CIELAB L*, on white) that they fade into the page.

    A cloud of many translucent points (alpha at most 0.5) is left out: where its points
    overlap they darken, which is what it shows.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_hex, to_rgba
    from matplotlib.lines import Line2D

    from fa_lib import plotting

    problems = []
    for ax in fig.get_axes():
        for artist, xy in data_points(ax):
            if (artist.get_alpha() or 1.0) <= 0.5 and len(xy) >= 100:
                continue  # a cloud of translucent points: their overlap draws the density
            if isinstance(artist, Line2D):
                rgba = to_rgba(artist.get_color(), artist.get_alpha())
            elif isinstance(artist, PathCollection) and len(artist.get_facecolors()):
                rgba = tuple(artist.get_facecolors()[0])
            else:
                continue
            rgb = _on_white(rgba)
            lightness = float(plotting.to_lab(np.array([rgb]))[0, 0])
            if lightness > MAX_LINE_LIGHTNESS:
                problems.append(f"{_panel(ax)}: {type(artist).__name__} "
                                f"{artist.get_label()!r} in {to_hex(rgb)}, L* {lightness:.0f}")
    return problems


def pale_maps(fig) -> list[str]:
    """Sequential colour maps of images and meshes that end near white."""
    from fa_lib import plotting

    problems = []
    for ax in fig.get_axes():
        for artist in [*ax.images, *ax.collections]:
            cmap = getattr(artist, "cmap", None)
            if cmap is None or artist.get_array() is None or cmap.name in DIVERGING:
                continue
            ends = plotting.to_lab(np.array([cmap(0.0)[:3], cmap(1.0)[:3]]))[:, 0]
            if ends.max() > SEQUENTIAL_LIMIT:
                problems.append(f"{_panel(ax)}: colour map {cmap.name!r} ends at L* "
                                f"{ends.max():.0f} (white: 100)")
    return problems


def min_panel_distance(fig) -> float:
    from fa_lib import plotting

    return min((plotting.cvd_distance(panel_colours(ax))[0] for ax in fig.get_axes()),
               default=float("inf"))


# --------------------------------------------------------------------------- the tests


def _collect(figures, check) -> list[str]:
    return [f"{name}: {p}" for name, fig in figures.items() for p in check(fig)]


def test_data_lies_inside_the_axes(figures):
    problems = _collect(figures, outside_points)
    assert not problems, "\n".join(problems)


def test_every_quantity_has_a_label(figures):
    problems = _collect(figures, unlabelled_axes)
    assert not problems, "\n".join(problems)


def test_no_text_is_too_small(figures):
    from fa_lib import plotting

    problems = _collect(figures, lambda f: small_text(f, plotting.MIN_FONT_SIZE))
    assert not problems, "\n".join(problems)


def test_colours_stay_apart_for_colour_blind_readers(figures):
    from fa_lib import plotting

    problems = _collect(figures, lambda f: close_colours(f, plotting.MIN_DELTA_E))
    problems += _collect(figures, pale_maps)
    problems += _collect(figures, pale_lines)
    least = min(min_panel_distance(f) for f in figures.values())
    print(f"\nleast ΔE between two colours of one panel: {least:.1f}")
    assert not problems, "\n".join(problems)


def test_the_palette_stays_apart_for_colour_blind_readers():
    from fa_lib import plotting

    d, vision, i, j = plotting.cvd_distance(plotting.PALETTE)
    assert d >= plotting.MIN_DELTA_E, (plotting.PALETTE[i], plotting.PALETTE[j], vision, d)
    # the first four, the most a panel usually needs, much further apart
    assert plotting.cvd_distance(plotting.palette(4))[0] > 24
    # sequential colours: not near white, and five layers apart
    lab = plotting.to_lab(np.array([c[:3] for c in plotting.sequential(6)]))
    assert lab[:, 0].max() < SEQUENTIAL_LIMIT
    assert plotting.cvd_distance([c[:3] for c in plotting.sequential(6)])[0] >= \
        plotting.MIN_DELTA_E
    cmap = plotting.sequential_cmap()
    assert plotting.to_lab(np.array([cmap(1.0)[:3]]))[0, 0] < SEQUENTIAL_LIMIT


def test_the_simulation_matches_machado():
    from fa_lib import plotting

    # pure red for a protanope and a deuteranope (Machado et al. 2009, severity 1)
    red = plotting.simulate_cvd(["#ff0000"], "protanopia")[0]
    assert red[0] < 0.5 and abs(red[0] - red[1]) < 0.15  # a dark olive, not red
    assert np.allclose(plotting.simulate_cvd(["#808080"], "deuteranopia")[0], 128 / 255,
                       atol=0.01)  # greys stay grey
    assert plotting.delta_e("#ffffff", "#000000") == pytest.approx(100.0, abs=0.01)
    # seaborn's orange and vermilion, the pair of Fig. 3, fail the threshold
    assert plotting.cvd_distance(["#de8f05", "#d55e00"])[0] < plotting.MIN_DELTA_E


def test_the_checks_catch_the_defects_they_are_for():
    # Synthetic figures with the defects of issue 28, and their fixed twins.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fa_lib import plotting

    # Extra 7.3: a shared y axis fixed by the first panel's set_ylim(bottom=0)
    fig, axes = plt.subplots(1, 2, sharey=True)
    axes[0].plot([0, 1], [0, 0])
    axes[0].set_ylim(bottom=0)
    axes[1].plot([0, 1], [20, 80])
    fig.canvas.draw()
    assert outside_points(fig) and not outside_points(_fixed_limits(fig))
    # Figs. 5F-G: numbers on an axis without a label; a shared label on the outer panel
    fig, axes = plt.subplots(2, 2, sharex=True, sharey="row")
    axes[1, 0].set_xlabel("x")
    axes[0, 0].set_ylabel("y")
    fig.canvas.draw()
    problems = unlabelled_axes(fig)  # x: one label for the shared axis; y: the top row's
    assert len(problems) == 1 and "the y axis" in problems[0]  # the bottom row has none
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([0, 1], ["$W_0$", "$W_1$"])  # words: they label themselves
    ax.set_ylabel("angle (°)")
    fig.canvas.draw()
    assert not unlabelled_axes(fig)
    # Fig. 3: seaborn's orange and vermilion side by side; the palette's first four
    fig, ax = plt.subplots()
    for colour in ("#de8f05", "#d55e00"):
        ax.plot([0, 1], [0, 1], color=colour)
    assert close_colours(fig, plotting.MIN_DELTA_E)
    fig, ax = plt.subplots()
    for colour in plotting.palette(4):
        ax.plot([0, 1], [0, 1], color=colour)
    assert not close_colours(fig, plotting.MIN_DELTA_E)
    # Extras 8.2-8.3: viridis's pale yellow end; the cut map
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color=plt.get_cmap("viridis")(1.0))
    assert pale_lines(fig)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color=plotting.sequential(3)[-1])
    assert not pale_lines(fig)
    fig, ax = plt.subplots()
    ax.pcolormesh(np.arange(9).reshape(3, 3), cmap="Blues")
    assert pale_maps(fig)
    fig, ax = plt.subplots()
    ax.pcolormesh(np.arange(9).reshape(3, 3), cmap=plotting.sequential_cmap())
    assert not pale_maps(fig)
    plt.close("all")


def _fixed_limits(fig):
    axes = fig.get_axes()
    axes[0].set_ylim(0, 90)
    fig.canvas.draw()
    return fig


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    from fa_lib import plotting

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    for path in _notebooks():
        if sys.argv[2:] and path.stem not in sys.argv[2:]:
            continue
        for name, fig in run_notebook(path).items():
            fig.canvas.draw()
            problems = (outside_points(fig) + unlabelled_axes(fig)
                        + small_text(fig, plotting.MIN_FONT_SIZE)
                        + close_colours(fig, plotting.MIN_DELTA_E) + pale_maps(fig)
                        + pale_lines(fig))
            w, h = fig.get_size_inches() * fig.dpi
            print(f"{path.stem}/{name}: {w:.0f} x {h:.0f} px, smallest text "
                  f"{smallest_text(fig):g} pt, least ΔE {min_panel_distance(fig):.1f}")
            for p in problems:
                print("   ", p)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                fig.savefig(out / f"{name}.png", bbox_inches="tight")
