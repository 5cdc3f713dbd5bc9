"""Figures of the chapters whose drawing code is too long for a cell the page shows.

A chapter's visible code is its science: the calls that compute (or read from the
results cache) what a figure shows. Where drawing a figure takes more than a few lines and
the chapter shows that cell, the drawing lives here, one function per figure, named after
what it shows; the cell calls it with the computed results. Presentation only: nothing
here computes a result (the results cache does not fingerprint this module), and every
figure is drawn in the book's style (:mod:`fa_lib.plotting`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from fa_lib import plotting, stats

__all__ = ["correlograms", "relu_mask_histogram"]


def correlograms(acf: Mapping[str, np.ndarray], betas: Sequence[float],
                 max_lag: int) -> plt.Figure:
    """Fig. 4E: the correlograms of scalar AR(1) sequences, one colour per ``beta``.

    Parameters
    ----------
    acf
        What :func:`fa_lib.experiments.acf_weight_normalisation.correlograms` returns:
        ``lags``, the measured ``acf`` (``n_betas x n_sequences x n_lags``), its exact
        ``expected`` value and the normalised ``shape`` ``beta^|tau|``.
    betas
        The AR(1) coefficients, in the order of ``acf``'s first axis.
    max_lag
        The largest lag (the ACF at lag 0 is at index ``max_lag``).

    Returns
    -------
    matplotlib.figure.Figure
        Left: the ACF of eq. 34 (markers: mean ± SEM over sequences; lines: its
        expectation). Right: each ACF divided by its value at lag 0, with ``beta^|tau|``.
    """
    lags = acf["lags"]
    shape = acf["acf"] / acf["acf"][..., [max_lag]]  # each sequence's ACF / ACF(0)
    colours = plotting.sequential(len(betas))  # an ordered quantity
    fig, axes = plt.subplots(1, 2, figsize=(plotting.MAX_WIDTH, 4.2))
    for i, b in enumerate(betas):
        for ax, measured, line in ((axes[0], acf["acf"][i], acf["expected"][i]),
                                   (axes[1], shape[i], acf["shape"][i])):
            ax.errorbar(lags, measured.mean(axis=0), yerr=stats.sem(measured, axis=0),
                        fmt="o", ms=4, color=colours[i], label=rf"$\beta$ = {b:g}")
            ax.plot(lags, line, color=colours[i], lw=1)
    axes[0].set(xlabel=r"lag $\tau$ (iterations)", ylabel=r"ACF($\tau$) (eq. 34)",
                title="ACF of AR(1) sequences (eq. 6)")
    axes[1].set(xlabel=r"lag $\tau$ (iterations)", ylabel=r"ACF($\tau$) / ACF(0)",
                title=r"normalised ACF and $\beta^{|\tau|}$")
    plotting.legend_outside(fig, loc="below", ncol=len(betas))
    plt.close(fig)
    return fig


def relu_mask_histogram(angles: np.ndarray, size: int, sd_theory: float,
                        sd_paper: float = 0.66) -> plt.Figure:
    """The angle between a ReLU-masked matrix and the matrix, against two normal laws.

    Parameters
    ----------
    angles
        The measured angles ``{f'(Z) ⊙ B} ∠ B`` (degrees), one per draw.
    size
        The side of the square matrices.
    sd_theory
        The SD of the normal law around 45° by the delta method
        (:func:`fa_lib.experiments.autocorrelation.relu_mask_theory`).
    sd_paper
        The SD the paper gives.

    Returns
    -------
    matplotlib.figure.Figure
        The histogram (density) of the angles with both normal densities.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(angles, bins=40, density=True, color=plotting.palette(1)[0], alpha=0.6,
            label=f"measured, n = {np.isfinite(angles).sum():,}")
    xs = np.linspace(np.nanmin(angles) - 0.5, np.nanmax(angles) + 0.5, 300)
    for sd, style, label in ((sd_theory, "-", f"normal, SD {sd_theory:.2f}° (delta method)"),
                             (sd_paper, "--", f"normal, SD {sd_paper:g}° (paper)")):
        ax.plot(xs, norm.pdf(xs, 45, sd), "k" + style, label=label)
    ax.set(xlabel=r"$\{f'(Z) \odot B\} \angle B$ (degrees)", ylabel="density",
           title=f"ReLU mask, {size} x {size} matrices")
    ax.legend(fontsize="small")
    plt.close(fig)
    return fig
