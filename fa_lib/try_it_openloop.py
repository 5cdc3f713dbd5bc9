"""The "Try it" answers of the open-loop chapters: one small answer per setting of the knobs.

Behind each chapter's controls is one function, ``try_<chapter>(**knobs, size=..., seed=0)``,
that runs the chapter's own computation (the functions of :mod:`fa_lib.experiments`) at a
small stated size, in about a second or a few on one core, and returns a
:class:`~fa_lib.try_it_core.TryResult`: a small figure, the measured numbers, and one
sentence that compares them with the chapter's claim and its criterion (the thresholds of
:mod:`fa_lib.verdicts`). Nothing here is cached or recorded: an answer is a quick look,
not a result of the book. :mod:`fa_lib.try_it` shows them with their controls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from fa_lib import activations, ensembles, linalg, plotting, stats
from fa_lib.experiments import acf_weight_normalisation as acf
from fa_lib.experiments import autocorrelation as ac
from fa_lib.experiments import depth
from fa_lib.experiments import persistent_error as pe
from fa_lib.openloop import Signal, run_openloop
from fa_lib.rule import Rule
from fa_lib.try_it_core import Knob, TryResult, choice, fraction, mean_sem, new_figure, whole
from fa_lib.verdicts import acf_weight_normalisation as acf_verdicts
from fa_lib.verdicts import autocorrelation as ac_verdicts
from fa_lib.verdicts import depth as depth_verdicts

__all__ = [
    "KNOBS", "OPENLOOP_ITER", "PE_LIMITS", "try_acf_weight_normalisation",
    "try_autocorrelation", "try_depth", "try_persistent_error",
]

OPENLOOP_ITER = 400
"""Iterations of the open-loop runs of the answers (the quick scale's Figs. 3 and 4A)."""

PE_LIMITS = {"n_i": 1000, "n_o": 100, "n_b": 500}
"""Largest ``n_i``, ``n_o``, ``n_b`` of :func:`try_persistent_error` (a few seconds at most)."""


# --------------------------------------------------------------------------- persistent error


def try_persistent_error(
    condition: int = 1,
    *,
    n_i: int | None = None,
    n_o: int | None = None,
    n_b: int | None = None,
    size: int = 200,
    seed: int = 0,
) -> TryResult:
    """Final ``W_1 ∠ B^T`` over random draws of the open loop with a persistent error (Fig. 1B).

    The dimensions start from one of the six conditions of Fig. 1 (:data:`CONDITIONS
    <fa_lib.experiments.persistent_error.CONDITIONS>`); ``n_i``, ``n_o`` and ``n_b`` replace
    the condition's values when given (``n_h`` stays the condition's). The draws are those
    of :func:`~fa_lib.experiments.persistent_error.draw_condition`: the limit
    ``B^T ∠ B^T E^T X X^T E`` (eq. S11) with ``E``, ``X``, ``B`` redrawn for every draw.

    Parameters
    ----------
    condition : int
        1-6.
    n_i, n_o, n_b : int, optional
        Inputs (1-1000), outputs (1-100) and batch size (1-500).
    size : int
        Number of draws (200 by default; 2-2000).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``mean_w1_bt``, ``sem_w1_bt``, ``max_w1_bt``, ``mean_dw0`` (eqs. 2-3)
        and ``spectral`` (the angle the spectrum of one draw of ``M`` predicts for a wide
        hidden layer, :func:`~fa_lib.experiments.persistent_error.spectral_angle`).
    """
    choice("condition", condition, list(pe.CONDITIONS))
    given = {"n_i": n_i, "n_o": n_o, "n_b": n_b}
    dims = pe.CONDITIONS[condition]._replace(**{
        k: whole(k, v, 1, PE_LIMITS[k]) for k, v in given.items() if v is not None})
    size = whole("size", size, 2, 2000)
    seed = whole("seed", seed, 0)
    res = pe.draw_condition(seed, dims, size)
    e, x, _ = pe.draw_one(seed, dims)
    spectral = float(pe.spectral_angle(pe.eigenvalues(pe.transform(e, x), dims)))
    w1, dw0 = res["w1_bt"], res["dw0"]
    fig, (ax,) = new_figure()
    bins = np.linspace(0, 90, 61)
    plotting.histograms(ax, {r"$W_1\angle B^T$ (Fig. 1B)": w1,
                             r"$\Delta W_{0,FA}\angle\Delta W_{0,BP}$ (Fig. 1C)": dw0},
                        bins=bins, xlabel="final angle (degrees)")
    ax.axvline(spectral, color="k", ls=":", lw=1, label="spectral prediction")
    ax.legend(fontsize=8)
    ax.set_title(f"$(n_i, n_h, n_o, n_b)$ = {tuple(dims)}", fontsize=10)
    top = float(max(w1.max(), dw0.max()))
    held = top < 90.0
    forced = pe.expected_zero_eigenvalues(dims)
    verdict = (
        f"The final $W_1\\angle B^T$ is {mean_sem(w1)} and the spectrum of $M$ predicts "
        f"{spectral:.1f}°; {'every' if held else 'not every'} draw ends below 90° (largest "
        f"{top:.1f}°), {'as' if held else 'against what'} Supp. Note 3 predicts for the "
        "positive semidefinite $M = E^TXX^TE$ (criterion: every draw below 90°). "
        f"Here $n_o/n_i$ = {dims.n_o / dims.n_i:.2g}"
        + (f" forces {forced} zero eigenvalues of $M$" if forced else "")
        + ": the paper's claim is that more outputs relative to inputs give less alignment "
        "and a larger batch more."
    )
    return TryResult(
        fig,
        {"mean_w1_bt": float(w1.mean()), "sem_w1_bt": float(stats.sem(w1)),
         "max_w1_bt": float(w1.max()), "mean_dw0": float(dw0.mean()), "spectral": spectral},
        verdict,
        f"{size} draws of $(n_i, n_h, n_o, n_b)$ = {tuple(dims)}",
    )


# --------------------------------------------------------------------------- autocorrelation


def _ar1(beta: float) -> Signal:
    """An AR(1) signal (eqs. 6-7); ``beta = 1`` is constant, ``beta = 0`` redrawn every time."""
    return Signal(beta=beta)


def try_autocorrelation(
    beta: float = 1.0,
    beta_x: float = 1.0,
    activation: str = "relu",
    *,
    size: int = 8,
    seed: int = 0,
) -> TryResult:
    """The open-loop two-layer net of Fig. 3 fed an AR(1) error and input (eqs. 6-7).

    ``E[k] = beta E[k-1] + (1 - beta) N[k-1]`` and likewise ``X[k]`` with ``beta_X``:
    ``beta = beta_X = 1`` is Fig. 3's case 1 (constant), ``beta = 0, beta_X = 1`` its case
    2 (``E`` redrawn every iteration). The widths, batch and learning rate are those of
    Fig. 3 (:class:`~fa_lib.experiments.autocorrelation.Fig3Config`), run for
    :data:`OPENLOOP_ITER` iterations with :func:`fa_lib.openloop.run_openloop`.

    Parameters
    ----------
    beta, beta_x : float
        AR(1) coefficients of ``E`` and ``X``, in [0, 1].
    activation : {"relu", "identity"}
        The nonlinearity of both layers.
    size : int
        Repetitions (8 by default; 2-32).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``mean_w1_bt``, ``sem_w1_bt`` (final ``W_1 ∠ B^T``), ``mean_dw0``
        (final ``dW_0,FA ∠ dW_0,BP``, live nets only) and ``t`` (the one-sample t statistic
        of the final ``W_1 ∠ B^T`` against 90°).
    """
    beta, beta_x = fraction("beta", beta), fraction("beta_x", beta_x)
    activation = choice("activation", activation, ("relu", "identity"))
    size = whole("size", size, 2, 32)
    seed = whole("seed", seed, 0)
    cfg = ac.Fig3Config()
    out = run_openloop(seed, size, OPENLOOP_ITER, (cfg.n_i, cfg.n_h, cfg.n_o), cfg.n_b,
                       Rule("fa", eta=cfg.eta), x=_ar1(beta_x), e=_ar1(beta),
                       activation=activation)
    final = ac.final_angles(out, cfg.smooth)
    t = stats.ttest_1samp(final["w1_bt"], 90.0)
    dw0 = final["dw0"][np.isfinite(final["dw0"])]
    fig, axes = new_figure(2)
    k = np.arange(1, OPENLOOP_ITER + 1)
    for ax, key, label, smooth in ((axes[0], "w1_bt", r"$W_1\angle B^T$", None),
                                   (axes[1], "dw0", r"$\Delta W_{0,FA}\angle\Delta W_{0,BP}$",
                                    cfg.smooth)):
        plotting.trace_band(ax, out[key], label, color=plotting.OKABE_ITO["blue"], x=k,
                            smooth=smooth)
        ax.axhline(90, color="0.5", ls=":", lw=1)
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel("angle (degrees)")
        ax.set_ylim(0, 120)
        ax.set_title(label, fontsize=10)
    margin, n_sem = ac_verdicts.THRESHOLDS["fig3_margin"], ac_verdicts.THRESHOLDS["aligned_sems"]
    if ac_verdicts.aligned(t):
        says = (f"aligns: the mean lies more than {n_sem:g} SEM below 90°, the criterion of "
                "the chapter's alignment claims")
    elif ac_verdicts.no_evidence_of_alignment(t, margin):
        says = (f"does not align: the 99% CI of the mean reaches 90° and the mean is within "
                f"{margin:g}° of it, the criterion of Fig. 3's case 2")
    else:
        says = "is undecided at this size: neither criterion holds (try more repetitions)"
    verdict = (
        f"With $\\beta$ = {beta:g}, $\\beta_X$ = {beta_x:g} and "
        f"{'ReLU' if activation == 'relu' else 'no nonlinearity'}, the final "
        f"$W_1\\angle B^T$ is {mean_sem(final['w1_bt'])} and the final "
        f"$\\Delta W_{{0,FA}}\\angle\\Delta W_{{0,BP}}$ "
        + (f"{np.mean(dw0):.1f}°" if dw0.size else "undefined (every net fell silent)")
        + f": $W_1$ {says}. The paper's claim: alignment needs an autocorrelated error and "
        "input, and an error redrawn every iteration ($\\beta$ = 0) gives none."
    )
    return TryResult(
        fig,
        {"mean_w1_bt": t.mean, "sem_w1_bt": float(stats.sem(final["w1_bt"])),
         "mean_dw0": float(np.mean(dw0)) if dw0.size else float("nan"), "t": t.t},
        verdict,
        f"{size} repetitions of the {cfg.n_i}-{cfg.n_h}-{cfg.n_o} net, batch {cfg.n_b}, "
        f"{OPENLOOP_ITER} iterations, $\\eta$ = {cfg.eta}",
    )


# --------------------------------------------------------------------------- ACF and WN


def try_acf_weight_normalisation(
    beta: float = 0.6,
    wn: bool = True,
    normalise_b: bool = False,
    *,
    size: int = 8,
    seed: int = 0,
) -> TryResult:
    """Fig. 4A's open loop at one ``beta``: FA without WN, and with WN when asked.

    The error is AR(1) with coefficient ``beta`` and the input constant (``beta_X = 1``),
    at the widths, batch, WN norm and learning rate of Fig. 4A (the chapter's
    :data:`~fa_lib.experiments.acf_weight_normalisation.PAPER`), for
    :data:`OPENLOOP_ITER` iterations; the final angle of a run is its mean over the last
    50 iterations (the quick scale's window). With ``wn`` the WN variant runs stacked with
    the variant without WN, from the same weights and draws (a paired comparison).

    Parameters
    ----------
    beta : float
        AR(1) coefficient of the error, in [0, 1].
    wn : bool
        Also run FA with neuron-wise weight normalisation (eq. 32, gamma = 1).
    normalise_b : bool
        With WN, normalise the columns of ``B`` too (Methods 4.4) instead of leaving ``B``
        as drawn (the authors' code); needs ``wn``.
    size : int
        Repetitions (8 by default; 2-32).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``none`` (mean final ``W_1 ∠ B^T`` without WN) and, with ``wn``,
        ``wn`` (with WN) and ``diff`` (the mean paired difference, WN minus no WN).
    """
    beta = fraction("beta", beta)
    for name, flag in (("wn", wn), ("normalise_b", normalise_b)):
        if not isinstance(flag, bool | np.bool_):
            raise ValueError(f"{name} must be True or False; got {flag!r}.")
    if normalise_b and not wn:
        raise ValueError("normalise_b normalises B for WN (Methods 4.4): it needs wn=True.")
    size = whole("size", size, 2, 32)
    seed = whole("seed", seed, 0)
    cfg = acf.PAPER.fig4
    sweep = cfg.beta_sweep
    window = acf.QUICK.fig4.final_window
    names = ["none"] + (["wn_b" if normalise_b else "wn"] if wn else [])
    rules = [acf.variant(n, sweep.eta, cfg.gamma) for n in names]
    out = run_openloop(seed, size, OPENLOOP_ITER, cfg.sizes, cfg.n_b, rules, e=_ar1(beta),
                       dtype=cfg.dtype)
    run = {k: out[k][:, :, None, :] for k in acf.TRACE_KEYS}
    final = acf.fig4_final(run, window)["w1_bt"][:, 0, :]
    tests = {n: stats.ttest_1samp(final[i], 90.0) for i, n in enumerate(names)}
    fig, (ax,) = new_figure()
    k = np.arange(1, OPENLOOP_ITER + 1)
    colours = plotting.palette(3)
    for i, n in enumerate(names):
        plotting.trace_band(ax, out["w1_bt"][:, i, :], acf.VARIANT_LABELS[n],
                            color=colours[acf.VARIANTS.index(n)], x=k)
    ax.axhline(90, color="0.5", ls=":", lw=1)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"$W_1\angle B^T$ (degrees)")
    ax.set_ylim(0, 120)
    ax.set_title(f"$\\beta$ = {beta:g}, $\\beta_X$ = 1", fontsize=10)
    ax.legend(fontsize=8)
    n_sem = acf_verdicts.THRESHOLDS["n_sem"]
    none = tests["none"]
    numbers = {"none": none.mean}
    verdict = f"Without WN the final $W_1\\angle B^T$ is {mean_sem(final[0])}"
    if beta == 0.0:
        ok = all(acf_verdicts.not_below(t) for t in tests.values())
        verdict += (f"{'' if not wn else f'; with WN {mean_sem(final[1])}'}. The paper: an "
                    "error without autocorrelation gives no alignment; criterion: no mean "
                    f"below 90° by more than {n_sem:g} SEM, which "
                    f"{'holds' if ok else 'does not hold'} here.")
    elif not wn:
        ok = acf_verdicts.below(none)
        verdict += (f", {'' if ok else 'not '}below 90° by more than {n_sem:g} SEM. The "
                    "paper: the more autocorrelated the error (larger $\\beta$), the more "
                    "alignment; switch WN on to see what it adds.")
    if wn:
        d = stats.paired(final[1], final[0])
        numbers.update(wn=tests[names[1]].mean, diff=d.mean)
        gain = acf_verdicts.below0(d)
        if beta == 1.0:
            claim = ("WN does not improve alignment when $\\beta = \\beta_X = 1$; criterion: "
                     f"the paired difference is not below 0 by more than {n_sem:g} SEM, which "
                     f"{'does not hold' if gain else 'holds'} here")
        elif beta > 0.0:
            claim = (f"WN improves alignment for 0 < $\\beta$ < 1; criterion: the paired "
                     f"difference is below 0 by more than {n_sem:g} SEM, which "
                     f"{'holds' if gain else 'does not hold'} here"
                     + (" (the chapter finds that with B normalised WN aligns less than "
                        "with B as drawn)" if normalise_b else ""))
        else:
            claim = ""
        if claim:
            verdict += (f"; with {acf.VARIANT_LABELS[names[1]]} it is "
                        f"{mean_sem(final[1])}, a paired difference of {d.mean:+.1f}° "
                        f"(99% CI [{d.ci99[0]:.1f}, {d.ci99[1]:.1f}]). The paper: {claim}.")
    return TryResult(
        fig, numbers, verdict,
        f"{size} repetitions of the {'-'.join(map(str, cfg.sizes))} net, batch {cfg.n_b}, "
        f"{OPENLOOP_ITER} iterations, $\\eta$ = {sweep.eta}, final angle = mean of the last "
        f"{window}",
    )


# --------------------------------------------------------------------------- depth


def _pairs_at_angle(rng: np.random.Generator, shape: tuple[int, ...],
                    theta: float) -> tuple[np.ndarray, np.ndarray]:
    """``B`` uniform on the unit sphere and ``W^T = cos(theta) B + sin(theta) A`` (Methods 4.8).

    ``A`` is the unit part of a :func:`fa_lib.ensembles.angle_pairs` ``W^T`` orthogonal to
    its ``B``, so ``B ∠ W^T`` is exactly ``theta`` degrees.
    """
    b, wt = ensembles.angle_pairs(rng, shape)
    a = wt - linalg.frobenius_inner(wt, b)[..., None, None] * b
    a = a / linalg.frobenius_norm(a)[..., None, None]
    rad = np.radians(theta)
    return b, np.cos(rad) * b + np.sin(rad) * a


def try_depth(theta1: float = 30.0, theta2: float = 60.0, *, size: int = 2000,
              seed: int = 0) -> TryResult:
    """``theta_3 = B_2 B_1 ∠ W_2^T W_1^T`` for factors at fixed angles (Sec. 2.4, Fig. 5).

    ``B_2`` (30 x 15) and ``B_1`` (15 x 40) uniform on the unit sphere as in the chapter,
    ``W_l^T`` at exactly ``theta_l`` from ``B_l``; ``theta_3`` of the linear products
    (:func:`~fa_lib.experiments.depth.theta3_linear`) and of the ReLU-masked ones (eq. 12,
    :func:`~fa_lib.experiments.depth.theta3_nonlinear`).

    Parameters
    ----------
    theta1, theta2 : float
        ``B_1 ∠ W_1^T`` and ``B_2 ∠ W_2^T`` in degrees, in [0, 180].
    size : int
        Draws (2000 by default; 10-20000).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``mean_theta3``, ``sd_theta3``, ``mean_theta3_nonlin``, ``predicted``
        (``arccos(cos theta_1 cos theta_2)``, :func:`~fa_lib.experiments.depth.predicted_theta3`)
        and ``above_both`` (the fraction of draws with ``theta_3 > max(theta_1, theta_2)``).
    """
    for name, v in (("theta1", theta1), ("theta2", theta2)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) \
                or not 0.0 <= float(v) <= 180.0:
            raise ValueError(f"{name} must be an angle in [0, 180] degrees; got {v!r}.")
    theta1, theta2 = float(theta1), float(theta2)
    size = whole("size", size, 10, 20_000)
    seed = whole("seed", seed, 0)
    cfg = depth.PAPER
    (p, q), (_, r) = cfg.shape_b2, cfg.shape_b1
    g = np.random.default_rng(seed)
    b2, w2t = _pairs_at_angle(g, (size, p, q), theta2)
    b1, w1t = _pairs_at_angle(g, (size, q, r), theta1)
    d2 = activations.RELU.df(g.standard_normal((size, p, q)))
    d1 = activations.RELU.df(g.standard_normal((size, p, r)))
    t3 = depth.theta3_linear(b2, w2t, b1, w1t)
    t3n = depth.theta3_nonlinear(b2, w2t, b1, w1t, d2, d1)
    pred = float(depth.predicted_theta3(theta1, theta2))
    above = float(np.mean(t3 > max(theta1, theta2)))
    below = float(np.mean(t3 < min(theta1, theta2)))
    fig, (ax,) = new_figure()
    lo, hi = float(min(t3.min(), t3n.min())), float(max(t3.max(), t3n.max()))
    plotting.histograms(ax, {r"$\theta_3$ linear (eqs. 10-11)": t3,
                             r"$\theta_3$ with ReLU masks (eq. 12)": t3n},
                        bins=np.linspace(lo - 0.5, hi + 0.5, 41),
                        xlabel=r"$\theta_3 = B_2B_1\angle W_2^TW_1^T$ (degrees)")
    for value, style, label in ((theta1, "--", r"$\theta_1$"), (theta2, "-.", r"$\theta_2$"),
                                (pred, ":", r"$\arccos(\cos\theta_1\cos\theta_2)$")):
        ax.axvline(value, color="k", ls=style, lw=1, label=label)
    ax.legend(fontsize=8)
    ax.set_title(f"$\\theta_1$ = {theta1:g}°, $\\theta_2$ = {theta2:g}°", fontsize=10)
    if above > 0.5:
        order = ("so the product is less aligned than the worse-aligned factor, as the paper "
                 "says it tends to be (the chapter's criterion, over its whole ensemble: in "
                 "more than half the draws)")
    elif below > 0.5:
        order = (f"and lies below both in {below:.0%}: past 90° a factor flips the sign of "
                 "the product; the paper finds no fixed inequality between the three angles")
    else:
        order = ("so there is no fixed inequality between the three angles here, as the "
                 "paper says")
    nonlin = float(np.mean(t3n) - np.mean(t3))
    verdict = (
        f"$\\theta_3$ = {np.mean(t3):.1f}° ± {np.std(t3, ddof=1):.1f}° (mean ± SD) against "
        f"{pred:.1f}° from $\\arccos(\\cos\\theta_1\\cos\\theta_2)$; it exceeds both "
        f"factor angles in {above:.0%} of the draws, {order}. The ReLU masks move the mean "
        f"by {nonlin:+.2f}° and scale the SD by "
        f"{np.std(t3n, ddof=1) / max(np.std(t3, ddof=1), 1e-12):.2f} (paper: they change the "
        f"variance, not the mean; criterion "
        f"±{depth_verdicts.THRESHOLDS['nonlin_mean_margin']:g}°)."
    )
    return TryResult(
        fig,
        {"mean_theta3": float(np.mean(t3)), "sd_theta3": float(np.std(t3, ddof=1)),
         "mean_theta3_nonlin": float(np.mean(t3n)), "predicted": pred, "above_both": above},
        verdict,
        f"{size} draws of $B_2$ {p} x {q} and $B_1$ {q} x {r}",
    )


# --------------------------------------------------------------------------- the controls


KNOBS: Mapping[str, tuple[Callable[..., TryResult], tuple[Knob, ...]]] = {
    "persistent_error": (try_persistent_error, (
        Knob("condition", "condition", 1, options=[
            (f"{c}: {tuple(d)}", c) for c, d in pe.CONDITIONS.items()]),
        Knob("n_i", "n_i", 100, low=1, high=PE_LIMITS["n_i"], step=1),
        Knob("n_o", "n_o", 10, low=1, high=PE_LIMITS["n_o"], step=1),
        Knob("n_b", "n_b", 100, low=1, high=PE_LIMITS["n_b"], step=1),
    )),
    "autocorrelation": (try_autocorrelation, (
        Knob("beta", "β (error)", 1.0, low=0.0, high=1.0, step=0.05),
        Knob("beta_x", "β_X (input)", 1.0, low=0.0, high=1.0, step=0.05),
        Knob("activation", "nonlinearity", "relu", options=["relu", "identity"]),
    )),
    "acf_weight_normalisation": (try_acf_weight_normalisation, (
        Knob("beta", "β (error)", 0.6, low=0.0, high=1.0, step=0.05),
        Knob("variant", "rule", "wn", options=[
            (acf.VARIANT_LABELS[v], v) for v in acf.VARIANTS]),
    )),
    "depth": (try_depth, (
        Knob("theta1", "θ_1", 30.0, low=0.0, high=180.0, step=1.0),
        Knob("theta2", "θ_2", 60.0, low=0.0, high=180.0, step=1.0),
    )),
}
"""Chapter -> its function and its controls, in order. The ACF chapter's ``variant`` knob
(no WN; WN with ``B`` as drawn; WN with ``B`` normalised) sets ``wn`` and ``normalise_b``;
the persistent-error chapter's ``condition`` knob sets the sliders to its dimensions."""
