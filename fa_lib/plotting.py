"""One plotting style for the book: traces with SEM bands, histograms, heat maps.

Figures are drawn at the width of the book's text column: at most :data:`MAX_WIDTH`
inches wide, with fonts of at least 10 pt (``"small"``) at that size, and saved at
:data:`DPI` dots per inch, so that a figure shown in the column (about 770 px) has text of
at least 10 px, and opened at full size (the book links every figure to its image file)
stays sharp. Ordered quantities (a layer, a time constant) take colours from a sequential
colour map (:func:`sequential`); unordered conditions take the colour-blind palette
(:func:`palette`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from fa_lib import stats

MAX_WIDTH = 9.0
"""The widest figure (inches): the book's text column is about 770 px wide."""

DPI = 150
"""Dots per inch of the saved figures (a 9-inch figure is 1350 px wide)."""

FONT_SIZE = 12.0
"""The base font size (pt); ``"small"`` (legends) is 10 pt, the smallest text used."""


def use_style() -> None:
    """Set the book's seaborn / matplotlib style (call once at the top of a chapter)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
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


def palette(n: int) -> list:
    """``n`` colours of the book's palette (for unordered conditions)."""
    return sns.color_palette("colorblind", n)


def sequential(n: int, cmap: str = "viridis") -> list:
    """``n`` colours of a sequential colour map, dark to light, for an ordered quantity.

    The light yellow end of the map is left out, so that every colour shows on white.
    """
    colormap = plt.get_cmap(cmap)
    if n == 1:
        return [colormap(0.0)]
    return [colormap(0.85 * i / (n - 1)) for i in range(n)]


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
