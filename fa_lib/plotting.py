"""One plotting style for the book: traces with SEM bands, histograms, heat maps, colours.

Figures are drawn at the width of the book's text column: at most :data:`MAX_WIDTH`
inches wide, with no text smaller than :data:`MIN_FONT_SIZE` (``"small"``, legends) at
that size, and saved at :data:`DPI` dots per inch, so that a figure shown in the column
(about 770 px) has text of at least 10 px, and opened at full size (the book links every
figure to its image file; on a phone a hint under each figure says so) stays sharp.

Colours. Unordered conditions (rules, variants, cases) take the book's one categorical
palette, :data:`PALETTE` (Okabe & Ito's colours, :func:`palette`), in an order chosen
so that the first colours stay furthest apart for colour-blind readers: simulated for
deuteranopia and protanopia (:func:`simulate_cvd`, Machado et al. 2009), every pair of
its colours is at least :data:`MIN_DELTA_E` apart (CIE76 ΔE, :func:`delta_e`), which the
tests check for the palette and for the colours of every panel of the book. Grey
(:data:`GREY`) is kept for a baseline without weight normalisation and for reference
lines. Ordered quantities (a layer, a coefficient) take colours from a sequential map
without its near-white end (:func:`sequential`, :func:`sequential_cmap`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap, to_hex, to_rgb

from fa_lib import stats

MAX_WIDTH = 9.0
"""The widest figure (inches): the book's text column is about 770 px wide."""

DPI = 150
"""Dots per inch of the saved figures (a 9-inch figure is 1350 px wide)."""

FONT_SIZE = 12.0
"""The base font size (pt); ``"small"`` (legends) is 10 pt, the smallest text used."""

MIN_FONT_SIZE = 10.0
"""The smallest text of any figure (pt): ``"small"`` at :data:`FONT_SIZE` (tests check it)."""

OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "sky blue": "#56B4E9",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "yellow": "#F0E442",
}
"""Okabe & Ito's colour-blind safe colours (without their black), by name."""

PALETTE: tuple[str, ...] = tuple(OKABE_ITO.values())
"""The categorical palette, in the order :func:`palette` hands it out.

Ordered so that the first colours are furthest apart under deuteranopia and protanopia:
blue, orange, bluish green and sky blue differ by at least ΔE 24 in normal vision and
in both; the three closest pairs of the whole palette (orange and yellow, bluish green
and reddish purple, orange and vermillion, ΔE 17-18 for a deuteranope) only meet in a
panel of five or more categories. Yellow, the palest on white, comes last.
"""

GREY = "0.3"
"""The colour of a baseline category (no weight normalisation) beside palette colours."""

SEQUENTIAL_STOP = 0.85
"""Where the book's sequential maps end on viridis: before its pale yellow end."""

MIN_DELTA_E = 15.0
"""The least CIE76 ΔE between two categories of one panel, in normal vision and simulated
deuteranopia and protanopia (:func:`cvd_distance`); about six times a just noticeable
difference, and more than the 12.6 of the orange and vermilion that the book once used
side by side (seaborn's ``colorblind`` palette, for a deuteranope)."""


def use_style() -> None:
    """Set the book's seaborn / matplotlib style (call once at the top of a chapter).

    Matplotlib's colour cycle (``"C0"``, ``"C1"``, ...) is :data:`PALETTE`.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=list(PALETTE))
    plt.rcParams.update(
        {
            # The inline backend saves a figure at its own dpi (figure.dpi).
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "figure.figsize": (MAX_WIDTH, 4.0),
            "font.size": FONT_SIZE,
            "axes.titlesize": FONT_SIZE,
            "axes.labelsize": FONT_SIZE,
            "xtick.labelsize": 11.0,
            "ytick.labelsize": 11.0,
            "legend.fontsize": "small",
            "legend.title_fontsize": "small",
            "axes.titleweight": "bold",
            "figure.constrained_layout.use": True,
        }
    )


def palette(n: int) -> list[str]:
    """The first ``n`` colours of :data:`PALETTE` (for unordered conditions).

    Raises
    ------
    ValueError
        If ``n`` exceeds the palette: more categories than colours need another encoding
        (markers, line styles or panels).
    """
    if not 0 <= n <= len(PALETTE):
        raise ValueError(f"the palette has {len(PALETTE)} colours; {n} were asked for")
    return list(PALETTE[:n])


def sequential(n: int, cmap: str = "viridis") -> list:
    """``n`` colours of a sequential colour map, dark to light, for an ordered quantity.

    The map is cut at :data:`SEQUENTIAL_STOP`, so that its light end is not near white.
    """
    colormap = plt.get_cmap(cmap)
    if n == 1:
        return [colormap(0.0)]
    return [colormap(SEQUENTIAL_STOP * i / (n - 1)) for i in range(n)]


def sequential_cmap(cmap: str = "viridis") -> ListedColormap:
    """A sequential colour map for heat maps: ``cmap`` up to :data:`SEQUENTIAL_STOP`."""
    colours = plt.get_cmap(cmap)(np.linspace(0.0, SEQUENTIAL_STOP, 256))
    return ListedColormap(colours, name=f"{cmap}_book")


def tint(colour, amount: float = 0.15) -> tuple[float, float, float]:
    """``colour`` mixed with white: ``amount`` of the colour (a box's fill in a diagram)."""
    rgb = np.asarray(to_rgb(colour))
    return tuple(float(v) for v in 1.0 - amount * (1.0 - rgb))


VERDICT_COLOURS: dict[str, str] = {
    "reproduced": OKABE_ITO["blue"],
    "not reproduced": OKABE_ITO["orange"],
    "not checked": "#bbbbbb",
}
"""The report's verdicts in a chart: a neutral pair, blue and orange (not green and red,
which deuteranopes and protanopes confuse), and grey; the words are always beside them."""

VERDICT_FILLS: dict[str, str] = {
    "reproduced": to_hex(tint(OKABE_ITO["blue"], 0.3)),
    "not reproduced": to_hex(tint(OKABE_ITO["orange"], 0.4)),
    "not checked": "#f2f2f2",
}
"""The same as light backgrounds of table cells that hold the verdict's words."""


# Colour-vision deficiency: Machado, Oliveira & Fernandes (2009), severity 1 (dichromacy),
# applied to linear RGB; distances in CIELAB (D65), CIE76.
_MACHADO = {
    "normal": np.eye(3),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}
VISIONS = tuple(_MACHADO)
"""The visions :func:`cvd_distance` compares colours in."""


def _linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def simulate_cvd(colours, vision: str = "deuteranopia") -> np.ndarray:
    """Simulate how a reader with ``vision`` (a key of :data:`VISIONS`) sees colours.

    ``colours``: sRGB, ``n x 3`` in 0-1, or anything :func:`matplotlib.colors.to_rgb`
    reads. Returns the simulated sRGB colours, ``n x 3``.
    """
    rgb = np.array([to_rgb(c) for c in colours]) if not isinstance(colours, np.ndarray) \
        else np.asarray(colours, dtype=float)[..., :3]
    lin = np.clip(_linear(rgb) @ _MACHADO[vision].T, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours (``... x 3``, 0-1)."""
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = _linear(np.asarray(rgb, dtype=float)) @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(a, b) -> float:
    """CIE76 colour difference of two sRGB colours."""
    lab = to_lab(np.array([to_rgb(a), to_rgb(b)]))
    return float(np.linalg.norm(lab[0] - lab[1]))


def cvd_distance(colours: Sequence) -> tuple[float, str, int, int]:
    """The closest pair of ``colours`` in normal vision, deuteranopia or protanopia.

    Returns
    -------
    (float, str, int, int)
        The least CIE76 ΔE, the vision it occurs in and the indices of the pair
        (``inf`` for fewer than two colours).
    """
    best = (float("inf"), "", -1, -1)
    if len(colours) < 2:
        return best
    for vision in VISIONS:
        lab = to_lab(simulate_cvd(colours, vision))
        d = np.linalg.norm(lab[:, None, :] - lab[None, :, :], axis=-1)
        d[np.tril_indices(len(colours))] = np.inf
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] < best[0]:
            best = (float(d[i, j]), vision, int(i), int(j))
    return best


def legend_outside(ax_or_fig, handles=None, labels=None, loc: str = "right", **kwargs):
    """Put a legend outside the data: beside the axes (``loc="right"``) or below the figure.

    ``ax_or_fig`` is an Axes (legend to its right) or a Figure (legend below every panel,
    ``loc="lower center"``, laid out by constrained layout).
    """
    if isinstance(ax_or_fig, plt.Figure):
        fig = ax_or_fig
        if handles is None:
            handles, labels = fig.axes[0].get_legend_handles_labels()
        kwargs.setdefault("ncol", min(len(handles), 4))
        place = "outside lower center" if loc in ("lower center", "below") else f"outside {loc}"
        if labels is None:
            return fig.legend(handles=handles, loc=place, **kwargs)
        return fig.legend(handles, labels, loc=place, **kwargs)
    ax = ax_or_fig
    if handles is not None:
        kwargs["handles"] = handles
        if labels is not None:
            kwargs["labels"] = labels
    if loc == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), **kwargs)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), **kwargs)


def trace_band(
    ax: plt.Axes,
    traces: np.ndarray,
    label: str | None = None,
    color=None,
    smooth: int | None = None,
    x: np.ndarray | None = None,
    linestyle: str = "-",
) -> None:
    """Plot the mean over repetitions of ``traces`` (``n_iter x R``) with a ±SEM band.

    Parameters
    ----------
    ax : Axes
    traces : ndarray, shape (n_iter, R)
        NaN values (an iteration with no value, a repetition whose angle is
        undefined) are skipped: each point averages the repetitions that have one.
    smooth : int, optional
        Causal moving-average length applied to each trace first (60 in the paper).
    """
    traces = np.asarray(traces, dtype=float)
    if x is None:
        x = np.arange(traces.shape[0])
    mean, err, n = stats.mean_sem(traces, smooth)
    keep = n > 0
    line = ax.plot(np.asarray(x)[keep], mean[keep], label=label, color=color, linestyle=linestyle)[
        0
    ]
    if traces.shape[1] > 1:
        ok = n > 1
        ax.fill_between(
            np.asarray(x)[ok],
            (mean - err)[ok],
            (mean + err)[ok],
            color=line.get_color(),
            alpha=0.25,
            linewidth=0,
        )


def histograms(
    ax: plt.Axes,
    samples: Mapping[str, np.ndarray],
    bins: int | Sequence[float] = 60,
    xlabel: str = "angle (degrees)",
    colors: Sequence | None = None,
    legend: bool = True,
) -> None:
    """Overlaid step histograms (as densities, outlines only) of several named samples.

    Outlines do not hide each other as filled histograms do; a sample drawn later is
    drawn thinner, so that one lying on top of another still shows its neighbour.
    """
    if colors is None:
        colors = palette(len(samples))
    n = len(samples)
    for i, ((name, values), color) in enumerate(zip(samples.items(), colors, strict=True)):
        ax.hist(
            np.ravel(values),
            bins=bins,
            density=True,
            histtype="step",
            color=color,
            linewidth=2.4 - 1.2 * i / max(n - 1, 1),
            label=name,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if legend:
        ax.legend()
