"""One plotting style for the book: traces with SEM bands, histograms, heat maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from fa_lib import stats


def use_style() -> None:
    """Set the book's seaborn / matplotlib style (call once at the top of a chapter)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "axes.titleweight": "bold",
            "figure.constrained_layout.use": True,
        }
    )


def palette(n: int) -> list:
    """``n`` colours of the book's palette."""
    return sns.color_palette("colorblind", n)


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
) -> None:
    """Overlaid step histograms (as densities) of several named samples."""
    for (name, values), color in zip(samples.items(), palette(len(samples)), strict=True):
        ax.hist(
            np.ravel(values), bins=bins, density=True, histtype="stepfilled", alpha=0.3, color=color
        )
        ax.hist(np.ravel(values), bins=bins, density=True, histtype="step", color=color, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
