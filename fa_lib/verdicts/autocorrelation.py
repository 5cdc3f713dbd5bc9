"""The claims of the chapter "Autocorrelation" (Sec. 2.2, Figs. 2 and 3), as code.

:func:`claims` computes every claim the chapter checks from its cached results
(:mod:`fa_lib.experiments.autocorrelation`), :func:`values` the numbers its text quotes
(glued with the prefix ``ac_``). The criteria are the small functions
:func:`no_alignment`, :func:`aligned`, :func:`no_evidence_of_alignment` and the
``*_holds`` functions, with the numbers of :data:`THRESHOLDS`. :func:`fig2_table`,
:func:`fig2d_table`, :func:`fig3_table` and :func:`extended_table` are the chapter's tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fa_lib import config, stats, tables
from fa_lib.book import describe, pstr
from fa_lib.claims import Claim
from fa_lib.experiments import autocorrelation as ac
from fa_lib.verdicts.common import below

CHAPTER = ac.CHAPTER

THRESHOLDS: dict[str, float] = {
    "fig2_margin": 0.5,  # degrees: "no alignment" in Fig. 2, the 99% CI of the mean in 90 ± this
    "fig3_margin": 5.0,  # degrees: "no alignment" of W_1 in Fig. 3 (no_evidence_of_alignment)
    "fig3_dw0_margin": 10.0,  # degrees: "no alignment" of dW_0 in case 2, final mean in 90 ± this
    "aligned_sems": 10.0,  # "alignment": the mean lies more than this many SEMs below 90 degrees
    "mask_margin": 0.25,  # degrees: the ReLU-mask angle's 99% CI of the mean in 45 ± this
    "mask_sd_paper": 0.66,  # degrees: the SD of the ReLU-mask angle that the text quotes
    "mean_m_rel": 0.05,  # largest relative Frobenius error of the Monte Carlo mean of M
    "skew_dev": 1e-6,  # degrees: largest |B^T ∠ B^T M_skew - 90| (rounding error only)
    "eig_rest": 1e-9,  # Cond. 6: every other eigenvalue of M_sym below this fraction of the top
}
"""The numbers the criteria compare with."""

FIG2_KEYS = ("linear", "sym", "nonlinear", "nonlinear_shared")
"""The Fig. 2 angles tested against 90 degrees."""

ALIGNED_CASES = ("constant", "e_every_2", "ex_mean_half")
"""The cases of Fig. 3 that align (1, 3 and 4); ``e_every_1`` (case 2) does not."""


# ---------------------------------------------------------------------------
# The criteria
# ---------------------------------------------------------------------------


def no_alignment(test: stats.TTest, margin: float, target: float = 90.0) -> bool:
    """Equivalence criterion for "no alignment": the 99% CI lies inside ``target ± margin``.

    A NaN in the test (mean or interval) gives False.
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin!r}.")
    return bool(target - margin < test.ci99[0] and test.ci99[1] < target + margin)


def aligned(test: stats.TTest, n_sem: float = THRESHOLDS["aligned_sems"],
            target: float = 90.0) -> bool:
    """Criterion for "alignment": the mean lies below ``target`` by more than ``n_sem`` SEMs."""
    return below(test, target, n_sem)


def no_evidence_of_alignment(test: stats.TTest, margin: float, target: float = 90.0) -> bool:
    """Criterion for "no alignment" with few repetitions (Fig. 3).

    The 99% CI of the mean reaches ``target`` (its upper end is at least ``target``:
    no evidence of a mean below it) and ``|mean - target| < margin``.
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin!r}.")
    return bool(test.ci99[1] >= target and abs(test.mean - target) < margin)


def aligned_more_holds(diff: stats.TTest, more: stats.TTest) -> bool:
    """Cond. 4 vs 3: the Welch 99% CI of ``more - less`` lies below 0 and ``more`` aligns."""
    return bool(diff.ci99[1] < 0 and aligned(more))


def weaker_alignment_holds(diff: stats.TTest, nonlinear: stats.TTest) -> bool:
    """Fig. 2D: the masked term is further from ``B^T`` (difference's CI above 0) but aligns."""
    return bool(diff.ci99[0] > 0 and aligned(nonlinear))


def relative_error(estimate: np.ndarray, expected: np.ndarray) -> float:
    """Relative Frobenius error ``|estimate - expected|_F / |expected|_F``."""
    expected = np.asarray(expected, dtype=float)
    return float(np.linalg.norm(np.asarray(estimate) - expected) / np.linalg.norm(expected))


def semidefinite_holds(eig: np.ndarray, top: float, rel: float = THRESHOLDS["eig_rest"]) -> bool:
    """Fig. 2E, Cond. 6: the largest eigenvalue is ``top`` and every other is below ``rel`` of it.

    ``eig`` is sorted in descending order; a NaN gives False.
    """
    eig = np.asarray(eig, dtype=float)
    return bool(np.isclose(eig[0], top) and np.max(np.abs(eig[1:])) <= rel * eig[0])


def sd_contains(sd_ci: tuple[float, float], sd: float) -> bool:
    """Whether the 99% CI of an SD contains ``sd``."""
    return bool(sd_ci[0] <= sd <= sd_ci[1])


# ---------------------------------------------------------------------------
# The chapter's results and statistics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    """The chapter's cached results and the statistics its claims and text use.

    Attributes
    ----------
    fig2 : dict
        Condition -> the arrays of :func:`fa_lib.experiments.autocorrelation.fig2`.
    tests : dict
        ``(condition, key)`` -> one-sample t-test against 90 degrees of a :data:`FIG2_KEYS` angle.
    mask : ndarray
        The ReLU-mask angles.
    fin, fin_text : dict
        Case -> final-angle t-tests of Fig. 3 at the code's and the text's eta
        (:func:`fa_lib.experiments.autocorrelation.final_summary`).
    dead, dead_text : dict
        Case -> number of dead nets at the end of Fig. 3, at both etas.
    extra : dict
        The traces of the extended run of case 2.
    """

    fig2: dict
    tests: dict
    mask: np.ndarray
    fin: dict
    fin_text: dict
    dead: dict
    dead_text: dict
    extra: dict


def fig2_tests(fig2: Mapping[int, Mapping[str, np.ndarray]]) -> dict[tuple[int, str], stats.TTest]:
    """One-sample t-tests against 90 degrees of the :data:`FIG2_KEYS` angles of every condition."""
    return {(c, key): stats.ttest_1samp(fig2[c][key], 90.0, finite_only=True)
            for c in fig2 for key in FIG2_KEYS}


def results() -> Results:
    """Read the chapter's results at the current scale (:func:`ac.config`) and test them."""
    cfg = ac.config()
    f3 = cfg["fig3"]
    fig2 = ac.fig2(cfg["fig2"])
    fig3, fig3_text = ac.fig3(f3), ac.fig3(f3, f3.eta_text)
    return Results(
        fig2=fig2,
        tests=fig2_tests(fig2),
        mask=ac.relu_mask_fact(cfg["mask"])["angle"],
        fin=ac.final_summary(fig3, f3.smooth),
        fin_text=ac.final_summary(fig3_text, f3.smooth),
        dead={k: int(v["dead"][-1].sum()) for k, v in fig3.items()},
        dead_text={k: int(v["dead"][-1].sum()) for k, v in fig3_text.items()},
        extra=ac.fig3_case2_extra(f3),
    )


def mean_sem(t: stats.TTest, unit: str = "°", digits: int = 1) -> str:
    """``"mean ± SEM"`` of a test, e.g. ``"61.2° ± 0.4°"``."""
    return f"{t.mean:.{digits}f}{unit} ± {t.sem:.{digits}f}{unit}"


def _with_ci(t: stats.TTest) -> str:
    """``describe`` without the interval, then the 99% CI to two decimals."""
    return describe(t, ci99=False) + f", 99% CI [{t.ci99[0]:.2f}, {t.ci99[1]:.2f}]"


def mean_m_error(fig2: Mapping[int, Mapping[str, np.ndarray]],
                 cfg: ac.Fig2Config) -> tuple[float, np.ndarray]:
    """Cond. 3: relative error of the Monte Carlo mean of ``M`` and its expectation."""
    ex = ac.condition(3).ex
    expected = ac.expected_transform_matrix(ex.mean, ex.mean, cfg.n_i, cfg.n_b, cfg.n_o)
    return relative_error(fig2[3]["mean_m"], expected), expected


def skew_deviation(fig2: Mapping[int, Mapping[str, np.ndarray]]) -> float:
    """Largest ``|B^T ∠ B^T M_skew - 90|`` over Conds. 1-5 (Cond. 6 has ``M_skew = 0``)."""
    return float(max(np.nanmax(np.abs(fig2[k]["skew"] - 90.0)) for k in range(1, 6)))


def mask_statistics(angles: np.ndarray,
                    size: int) -> tuple[stats.TTest, tuple[float, float], float]:
    """The ReLU-mask angles: t-test against 45°, 99% CI of the SD, delta-method SD."""
    return (stats.ttest_1samp(angles, 45.0, finite_only=True), stats.sd_ci99(angles),
            ac.relu_mask_theory(size**2)[1])


# ---------------------------------------------------------------------------
# The claims
# ---------------------------------------------------------------------------


def _no_alignment_claim(statement: str, t: stats.TTest) -> Claim:
    """A Fig. 2 "no alignment" claim (Conds. 1 and 2)."""
    margin = THRESHOLDS["fig2_margin"]
    return Claim(CHAPTER, statement, _with_ci(t), no_alignment(t, margin),
                 f"99% CI of the mean within 90 ± {margin}°")


def _aligned_claim(statement: str, t: stats.TTest) -> Claim:
    """A Fig. 2 "alignment" claim (Conds. 3 and 6)."""
    return Claim(CHAPTER, statement, describe(t, ci99=False), aligned(t),
                 f"mean more than {THRESHOLDS['aligned_sems']:g} SEM below 90°")


def _sci(x: float) -> str:
    """A power of ten as the text writes it: ``1e-6``."""
    return f"{x:.0e}".replace("e-0", "e-")


def fig2_claims(res: Results, cfg: ac.Fig2Config) -> list[Claim]:
    """The claims of Fig. 2A-C and E (the linear term)."""
    fig2, tests = res.fig2, res.tests
    t3, t4 = tests[3, "linear"], tests[4, "linear"]
    d = stats.ttest_ind(fig2[4]["linear"], fig2[3]["linear"])
    rel, expected = mean_m_error(fig2, cfg)
    ratio = {k: np.median(fig2[k]["ratio"]) for k in range(1, 7)}
    ratio_diffs = [stats.ttest_ind(fig2[a]["ratio"], fig2[b]["ratio"])
                   for a in (3, 4, 5, 6) for b in (1, 2)]
    skew_dev = skew_deviation(fig2)
    eig6 = fig2[6]["eig"]
    n_top = cfg.n_b**2 * cfg.n_i * cfg.n_o
    return [
        _no_alignment_claim(
            "Fig. 2, Cond. 1 (E, X, B iid N(0, 1)): no alignment of T^1[1] with B^T "
            "(one-sample t-test p > 0.5, n = 10000)", tests[1, "linear"]),
        _no_alignment_claim(
            "Fig. 2, Cond. 2 (as 1 with E[1] = E[0]): no alignment (one-sample t-test p > 0.5, "
            "n = 10000)", tests[2, "linear"]),
        _aligned_claim("Fig. 2, Cond. 3 (E, X iid N(0.5, 1), B iid N(0, 1)): alignment", t3),
        Claim(
            CHAPTER,
            "Fig. 2, Cond. 4 vs 3: the amount of alignment depends on the distribution of B "
            "(here B iid N(0.5, 1))",
            f"Cond. 4 {mean_sem(t4, digits=2)} vs Cond. 3 {mean_sem(t3, digits=2)} (mean ± SEM); "
            f"difference {d.mean:.2f}°, "
            f"99% CI [{d.ci99[0]:.2f}, {d.ci99[1]:.2f}], Welch t = {d.t:.0f}, {pstr(d.p)}",
            aligned_more_holds(d, t4),
            "Welch 99% CI of the difference excludes 0 (Cond. 4 aligned more)",
        ),
        Claim(
            CHAPTER,
            "Cond. 3: E(E[0]^T X[0] X[1]^T E[1]) = 0.0625 n_i n_b^2 J (Sec. 2.2)",
            f"Monte Carlo mean over {cfg.draws:,} draws vs 0.0625 n_i n_b^2 J = "
            f"{expected[0, 0]:.0f} J: relative Frobenius error {100 * rel:.2f}%",
            bool(rel < THRESHOLDS["mean_m_rel"]),
            f"relative error of the Monte Carlo mean below {THRESHOLDS['mean_m_rel']:.0%}",
        ),
        Claim(
            CHAPTER,
            "The more E[k-o], X[k-o] resemble E[k], X[k], the more M resembles a symmetric "
            "matrix (Sec. 2.2)",
            "median |B^T M_skew|/|B^T M_sym|: "
            + ", ".join(f"Cond. {k} {v:.3f}" for k, v in ratio.items()),
            all(d.ci99[1] < 0 for d in ratio_diffs),
            "mean ratio in each of Conds. 3-6 below Conds. 1 and 2 "
            "(Welch 99% CIs of the differences exclude 0)",
        ),
        Claim(
            CHAPTER,
            "Eq. 31: B^T ∠ B^T M_skew = 90° for any real skew-symmetric M_skew",
            f"largest |angle - 90°| over all {5 * cfg.draws:,} draws of Conds. 1-5: "
            f"{skew_dev:.1e}° (Cond. 6 has M_skew = 0)",
            bool(skew_dev < THRESHOLDS["skew_dev"]),
            f"|angle - 90°| below {_sci(THRESHOLDS['skew_dev'])}° on every draw "
            "(rounding error only)",
        ),
        *fig2d_claims(res),
        Claim(
            CHAPTER,
            "Fig. 2E, Cond. 6: an all-ones M is semidefinite with one positive eigenvalue "
            "and the rest zero",
            f"largest eigenvalue {eig6[0]:.0f} (n_b^2 n_i n_o = {n_top}); "
            f"largest |other eigenvalue| {np.max(np.abs(eig6[1:])):.1e}",
            semidefinite_holds(eig6, n_top),
            f"top eigenvalue = n_b^2 n_i n_o and all others below "
            f"{_sci(THRESHOLDS['eig_rest'])} of it",
        ),
        _aligned_claim("Fig. 2, Cond. 6: an all-ones transformation matrix leads to alignment",
                       res.tests[6, "linear"]),
    ]


def fig2d_claims(res: Results) -> list[Claim]:
    """The claims of Fig. 2D (random 0/1 masks for ``f'``)."""
    parts, ok = [], True
    for k in (3, 4, 5, 6):
        d = stats.ttest_ind(res.fig2[k]["nonlinear"], res.fig2[k]["linear"])
        t, lin = res.tests[k, "nonlinear"], res.tests[k, "linear"]
        ok &= weaker_alignment_holds(d, t)
        parts.append(
            f"Cond. {k}: {mean_sem(t, digits=2)} vs linear {mean_sem(lin, digits=2)} "
            f"(+{d.mean:.2f}°, 99% CI [{d.ci99[0]:.2f}, {d.ci99[1]:.2f}])"
        )
    t1, t2 = res.tests[1, "nonlinear"], res.tests[2, "nonlinear"]
    margin = THRESHOLDS["fig2_margin"]
    return [
        Claim(
            CHAPTER,
            "Fig. 2D: with random 0/1 masks for f'(.) (p = 0.5, independent) alignment "
            "decreases compared with the linear case but still happens",
            "; ".join(parts),
            ok,
            "in each of Conds. 3-6: nonlinear mean above the linear one (Welch 99% CI > 0) "
            f"and more than {THRESHOLDS['aligned_sems']:g} SEM below 90°",
        ),
        Claim(
            CHAPTER,
            "Fig. 2D (implied): with the masks, Conds. 1 and 2 still show no alignment",
            f"Cond. 1: {describe(t1, ci99=False)}; Cond. 2: {describe(t2, ci99=False)}",
            no_alignment(t1, margin) and no_alignment(t2, margin),
            f"99% CI of each mean within 90 ± {margin}°",
        ),
    ]


def mask_claims(res: Results, size: int) -> list[Claim]:
    """The claims of the ReLU-mask fact (mean 45°, SD about 0.66°)."""
    tm, (sd_lo, sd_hi), th_sd = mask_statistics(res.mask, size)
    margin, paper_sd = THRESHOLDS["mask_margin"], THRESHOLDS["mask_sd_paper"]
    return [
        Claim(
            CHAPTER,
            "ReLU: {f'(Z) * B} ∠ B = 45° on average (Z, B iid N(0, 1), 100 x 100, n = 1000)",
            describe(tm, ci99=False),
            no_alignment(tm, margin, target=45.0),
            f"99% CI of the mean within 45 ± {margin}°",
        ),
        Claim(
            CHAPTER,
            "ReLU-mask angle has SD about 0.66° (100 x 100, n = 1000)",
            f"SD {tm.sd:.3f}°, 99% CI [{sd_lo:.3f}, {sd_hi:.3f}]; delta method {th_sd:.3f}°",
            sd_contains((sd_lo, sd_hi), paper_sd),
            f"99% CI of the SD contains {paper_sd}°",
            instead=f"the SD is below {paper_sd}° (the whole 99% CI) and its 99% CI contains "
            "the delta-method SD sqrt(3 / (4N)) radians",
            instead_holds=bool(sd_hi < paper_sd) and sd_contains((sd_lo, sd_hi), th_sd),
        ),
    ]


def _aligned_case(fs: Mapping[str, Mapping[str, stats.TTest]], key: str,
                  eta: float) -> tuple[bool, str]:
    """Fig. 3: whether a case aligns both ``W_1`` and ``dW_0``, and what was measured."""
    w, d = fs[key]["w1_bt"], fs[key]["dw0"]
    return (
        aligned(w) and aligned(d),
        f"eta = {eta}: W1 ∠ B^T {describe(w, ci99=False)}; dW0 angle {describe(d, ci99=False)}",
    )


def case2_holds(fs: Mapping[str, Mapping[str, stats.TTest]]) -> tuple[bool, bool]:
    """Fig. 3, case 2: no alignment of ``W_1`` (:func:`no_evidence_of_alignment`) and of ``dW_0``.

    ``dW_0`` counts as not aligned when its final mean lies within ``90 ± fig3_dw0_margin``.
    """
    w, d = fs["e_every_1"]["w1_bt"], fs["e_every_1"]["dw0"]
    return (no_evidence_of_alignment(w, THRESHOLDS["fig3_margin"]),
            bool(abs(d.mean - 90) < THRESHOLDS["fig3_dw0_margin"]))


def others_below(fin: Mapping[str, Mapping[str, stats.TTest]]) -> float:
    """How far below 90° the final ``dW_0`` angle of the aligning cases lies, at least."""
    return min(90 - fin[k]["dw0"].mean for k in ALIGNED_CASES)


def fig3_claims(res: Results, cfg: ac.Fig3Config) -> list[Claim]:
    """The claims of Fig. 3 (the open-loop ReLU net), at both learning rates."""
    fin, fin_text = res.fin, res.fin_text
    crit = f"final means more than {THRESHOLDS['aligned_sems']:g} SEM below 90°"
    margin, dw0_margin = THRESHOLDS["fig3_margin"], THRESHOLDS["fig3_dw0_margin"]
    w, d = fin["e_every_1"]["w1_bt"], fin["e_every_1"]["dw0"]
    w_ok, d_ok = case2_holds(fin)
    statements = {
        "constant": "Fig. 3, case 1 (E and X constant): alignment of W1 with B^T and of dW0,FA "
        "with dW0,BP",
        "e_every_2": "Fig. 3, case 3 (E redrawn every two iterations): alignment",
        "ex_mean_half": "Fig. 3, case 4 (E and X redrawn every iteration from N(0.5, 1)): "
        "alignment",
    }
    aligned_claims = {}
    for key, statement in statements.items():
        ok, measured = _aligned_case(fin, key, cfg.eta)
        aligned_claims[key] = Claim(CHAPTER, statement, measured, ok, crit)
    text_ok = all(_aligned_case(fin_text, k, cfg.eta_text)[0] for k in ALIGNED_CASES)
    cases = list(enumerate(ac.CASES, 1))
    return [
        aligned_claims["constant"],
        Claim(
            CHAPTER,
            "Fig. 3, case 2 (E redrawn every iteration): no alignment of W1 with B^T (Fig. 3A)",
            f"eta = {cfg.eta}: {_with_ci(w)}",
            w_ok,
            f"upper end of the 99% CI of the final mean ≥ 90° and |mean - 90°| < {margin}°",
        ),
        Claim(
            CHAPTER,
            "Fig. 3, case 2 (E redrawn every iteration): no alignment of dW0,FA with dW0,BP "
            "(Fig. 3B)",
            f"eta = {cfg.eta}: {describe(d, ci99=False)} (live nets); "
            f"cases 1, 3, 4 are at least {others_below(fin):.0f}° below 90°",
            d_ok,
            f"|final mean - 90°| < {dw0_margin}°, i.e. none of the alignment of cases 1, 3 "
            "and 4 (see the extended run below for a weak drift)",
        ),
        aligned_claims["e_every_2"],
        aligned_claims["ex_mean_half"],
        Claim(
            CHAPTER,
            "Fig. 3 at the text's eta = 0.003: cases 1, 3, 4 align, case 2 does not",
            "final W1 ∠ B^T (mean ± SEM): "
            + ", ".join(f"case {i} {mean_sem(fin_text[k.key]['w1_bt'])}" for i, k in cases)
            + "; dW0 angle: "
            + ", ".join(f"case {i} {mean_sem(fin_text[k.key]['dw0'])}" for i, k in cases),
            text_ok and all(case2_holds(fin_text)),
            "the criteria of the four claims above, at eta = 0.003",
        ),
    ]


def claims(res: Results | None = None) -> list[Claim]:
    """Every claim the chapter checks, in its order, from ``res`` (default: :func:`results`)."""
    res = results() if res is None else res
    cfg = ac.config()
    return [*fig2_claims(res, cfg["fig2"]), *mask_claims(res, cfg["mask"].size),
            *fig3_claims(res, cfg["fig3"])]


# ---------------------------------------------------------------------------
# The numbers of the text
# ---------------------------------------------------------------------------


def setup_values() -> dict[str, object]:
    """The sizes and margins that the chapter's tables and text quote (glue prefix ``ac_``)."""
    cfg = ac.config()
    f2, mask, f3 = cfg["fig2"], cfg["mask"], cfg["fig3"]
    return {
        "f2_sizes": f"({f2.n_i}, {f2.n_h}, {f2.n_o}, {f2.n_b})",
        "f2_draws": f"{f2.draws:,}",
        "f2_n": f"{f2.draws:,}",
        "mask_size": f"{mask.size} x {mask.size}",
        "mask_draws": f"{mask.draws:,}",
        "f3_sizes": f"({f3.n_i}, {f3.n_h}, {f3.n_o}, {f3.n_b})",
        "f3_reps": f3.reps,
        "f3_iter": f"{f3.n_iter:,}",
        "f3_eta": str(f3.eta),
        "f3_eta_text": str(f3.eta_text),
        "f3_smooth": f3.smooth,
        "f3_reps_extra": f3.reps_extra,
        "f2_margin": str(THRESHOLDS["fig2_margin"]),
        "f3_margin": str(THRESHOLDS["fig3_margin"]),
        "f3_dw0_margin": str(THRESHOLDS["fig3_dw0_margin"]),
        "scale": config.scale(),
    }


def _test_values(prefix: str, t: stats.TTest) -> dict[str, object]:
    """Mean, SD, SEM, p and the 99% CI of a Fig. 2 test, named ``<prefix>_mean`` etc."""
    return {f"{prefix}_mean": t.mean, f"{prefix}_sd": t.sd, f"{prefix}_sem": t.sem,
            f"{prefix}_p": pstr(t.p), f"{prefix}_lo": t.ci99[0], f"{prefix}_hi": t.ci99[1]}


def extended_values(res: Results, cfg: ac.Fig3Config) -> dict[str, object]:
    """The extended run of case 2: its final angles, dead nets and the drift of ``dW_0``."""
    fx = ac.final_summary({"e_every_1": res.extra}, cfg.smooth)["e_every_1"]
    dx, wx = fx["dw0"], fx["w1_bt"]
    x_dead = int(res.extra["dead"][-1].sum())
    n_dead = x_dead + res.dead["e_every_1"] + res.dead_text["e_every_1"]
    drift = (f"the final W0 update direction of case 2 lies {90 - dx.mean:.1f}° ± {dx.sem:.1f}° "
             f"below 90° in the extended run ({pstr(dx.p)})")
    return {
        "x_dw0": describe(dx, ci99=False),
        "x_w1": describe(wx, ci99=False),
        "x_dead": x_dead,
        "x_verdict": "significantly below 90° (99% CI of the mean below 90°)"
        if dx.ci99[1] < 90
        else "not significantly different from 90° at this scale (99% CI contains 90°)",
        "beyond": f"{drift}, and {n_dead} of the {cfg.reps_extra + 2 * cfg.reps} case-2 nets "
        "we ran died (every output unit silent for the whole batch)",
    }


def values(res: Results | None = None) -> dict[str, object]:
    """Every number the chapter's text quotes, by name (glue prefix ``ac_``).

    From ``res`` (default: :func:`results`): :func:`setup_values`, the Fig. 2 statistics,
    the ReLU-mask statistics, the final angles of Fig. 3 and the extended run of case 2.
    """
    res = results() if res is None else res
    cfg = ac.config()
    f2, f3 = cfg["fig2"], cfg["fig3"]
    out = setup_values()
    for c in ac.CONDITIONS:
        for key in FIG2_KEYS:
            out |= _test_values(f"c{c.index}_{key}", res.tests[c.index, key])
        out[f"c{c.index}_ratio_median"] = np.median(res.fig2[c.index]["ratio"])
    rel, expected = mean_m_error(res.fig2, f2)
    eig6 = res.fig2[6]["eig"]
    tm, (sd_lo, sd_hi), th_sd = mask_statistics(res.mask, cfg["mask"].size)
    out |= {
        "em_rel": 100 * rel, "em_value": expected[0, 0],
        "skew_dev": f"{skew_deviation(res.fig2):.1e}",
        "eig6_top": eig6[0], "eig6_rest": f"{np.max(np.abs(eig6[1:])):.1e}",
        "mask_mean": tm.mean, "mask_sd": tm.sd, "mask_sd_lo": sd_lo, "mask_sd_hi": sd_hi,
        "mask_sd_theory": th_sd,
    }
    for tag, fs in (("", res.fin), ("t_", res.fin_text)):
        for c in ac.CASES:
            for m in ("w1_bt", "dw0"):
                t = fs[c.key][m]
                out |= {f"f3_{tag}{c.key}_{m}_mean": t.mean, f"f3_{tag}{c.key}_{m}_sem": t.sem,
                        f"f3_{tag}{c.key}_{m}_sd": t.sd}
    out |= {"f3_dead": res.dead["e_every_1"], "f3_t_dead": res.dead_text["e_every_1"],
            "f3_others": others_below(res.fin)}
    return out | extended_values(res, f3)


def verdict_values(chapter_claims: Sequence[Claim]) -> dict[str, int]:
    """How many claims were checked, reproduced and not (glue prefix ``ac_``)."""
    n_ok = sum(c.verdict == "reproduced" for c in chapter_claims)
    return {"n_claims": len(chapter_claims), "n_ok": n_ok, "n_not": len(chapter_claims) - n_ok}


# ---------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------

W1_BT = r"$W_1 \angle B^T$"
DW0 = r"$\Delta W_{0,FA} \angle \Delta W_{0,BP}$"


def _ci(t: stats.TTest) -> str:
    """The 99% CI of a test, ``"[a, b]"``, two decimals."""
    return f"[{tables.fmt(t.ci99[0], '.2f')}, {tables.fmt(t.ci99[1], '.2f')}]"


def fig2_table(fig2: Mapping[int, Mapping[str, np.ndarray]]) -> tables.Table:
    """Fig. 2A-C: the angles of the linear term and of ``B^T M_sym`` per condition."""
    tests = fig2_tests(fig2)
    linear, sym = r"$B^T \angle T^1_{1,aln}[1]$ (linear)", r"$B^T \angle B^T M_{sym}$"
    df = pd.DataFrame({
        "condition": [c.label for c in ac.CONDITIONS],
        linear: [describe(tests[c.index, "linear"], ci99=False) for c in ac.CONDITIONS],
        sym: [describe(tests[c.index, "sym"], ci99=False) for c in ac.CONDITIONS],
        r"median $\|B^T M_{skew}\|_F / \|B^T M_{sym}\|_F$": [
            np.median(fig2[c.index]["ratio"]) for c in ac.CONDITIONS],
    })
    ratio = df.columns[-1]
    return tables.table(df, formats={ratio: ".3f"},
                        units={linear: "mean ± SD", sym: "mean ± SD"}, wrap=["condition"])


def fig2d_table(fig2: Mapping[int, Mapping[str, np.ndarray]]) -> tables.Table:
    """Fig. 2D: the linear term against the terms with random masks for ``f'``."""
    tests = fig2_tests(fig2)
    columns = {"linear": "linear", "independent masks": "nonlinear",
               "shared hidden mask": "nonlinear_shared"}
    df = pd.DataFrame({
        "condition": [c.label for c in ac.CONDITIONS],
        **{column: [mean_sem(tests[c.index, key], digits=2) for c in ac.CONDITIONS]
           for column, key in columns.items()},
    })
    return tables.table(df, units=dict.fromkeys(columns, "mean ± SEM"), wrap=["condition"])


def fig3_table(fig3: Mapping[str, Mapping[str, np.ndarray]],
               fig3_text: Mapping[str, Mapping[str, np.ndarray]],
               cfg: ac.Fig3Config) -> tables.Table:
    """Fig. 3: the final angles and dead nets per case, at the code's and the text's eta."""
    w1, dw0 = f"{W1_BT} (final)", f"{DW0} (last {cfg.smooth})"

    def rows(results: Mapping[str, Mapping[str, np.ndarray]], eta: float) -> pd.DataFrame:
        fin = ac.final_summary(results, cfg.smooth)
        return pd.DataFrame({
            r"$\eta$": eta,
            "case": [c.label for c in ac.CASES],
            w1: [mean_sem(fin[c.key]["w1_bt"]) for c in ac.CASES],
            dw0: [mean_sem(fin[c.key]["dw0"]) for c in ac.CASES],
            "dead nets": [f"{int(results[c.key]['dead'][-1].sum())} of {cfg.reps}"
                          for c in ac.CASES],
        })

    df = pd.concat([rows(fig3, cfg.eta), rows(fig3_text, cfg.eta_text)])
    return tables.table(df, formats={r"$\eta$": "{:g}"},
                        units={w1: "mean ± SEM", dw0: "mean ± SEM"})


def extended_table(extra: Mapping[str, np.ndarray], cfg: ac.Fig3Config) -> tables.Table:
    """Fig. 3, case 2 run longer: the final angles, tested against 90°."""
    fin = ac.final_summary({"e_every_1": extra}, cfg.smooth)["e_every_1"]
    tests = {"W₁ ∠ Bᵀ": fin["w1_bt"], f"ΔW₀,FA ∠ ΔW₀,BP (last {cfg.smooth})": fin["dw0"]}
    df = pd.DataFrame({
        "final angle": list(tests),
        "mean ± SD (n, t, p)": [describe(t, ci99=False) for t in tests.values()],
        "99% CI": [_ci(t) for t in tests.values()],
    })
    return tables.table(df, units={"99% CI": "°"})
