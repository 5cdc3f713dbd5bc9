"""The claims of the chapter "ACF and weight normalisation" (Sec. 2.3, Figs. 4 and S1), as code.

:func:`claims` computes every claim the chapter checks from its cached results
(:mod:`fa_lib.experiments.acf_weight_normalisation`), :func:`values` the numbers its text
quotes (glued with the prefix ``acfwn_``). The criteria are the small functions
:func:`below0`, :func:`above0`, :func:`not_below`, :func:`trend_holds` and the
``*_holds`` functions, with the numbers of :data:`THRESHOLDS`. :func:`fig4_table` and
:func:`s1_table` are the chapter's tables of final angles.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fa_lib import config, stats, tables
from fa_lib.book import describe, pstr
from fa_lib.claims import Claim
from fa_lib.experiments import acf_weight_normalisation as m
from fa_lib.verdicts import common

CHAPTER = m.CHAPTER

THRESHOLDS: dict[str, float] = {
    "n_sem": 3.0,  # a difference "below 0" / "above 0" by more than this many SEMs
    "shape_err": 0.05,  # largest |mean normalised ACF - beta^|tau|| (Fig. 4E)
    "rho": -0.7,  # Spearman rho of the swept coefficient and the final angle: below this
    "rho_p": 1e-3,  # ... with p below this
    "step_sems": 2.0,  # no step of the coefficient raises the mean final angle by more SEMs
    "aln_repeated": 80.0,  # degrees: case 1, upper end of the 99% CI of T^1_aln (E repeated)
    "near_90": 2.0,  # degrees: case 1, T^1_aln (E redrawn) and T^1_sup within 90 ± this
    "dw1_hardly": 85.0,  # degrees: case 1, dW1∠B^T above this ("hardly aligns") ...
    "w1_aligned": 80.0,  # degrees: ... while W1∠B^T is below this
    "gamma_same": 1e-6,  # degrees: with B normalised, gamma = 0.7 and 1 give the same angles
    "gain_fraction": 0.5,  # the gain at beta = beta_X = 1 is below this part of the least inner one
}
"""The numbers the criteria compare with."""

SWEEP_TEXT = {"beta": "β", "beta_x": "β_X"}
"""How the chapter writes the swept coefficient in tables and measurements."""

S1_CLAIMS = (
    "Case 1",
    "Without WN the Frobenius",
    "Widening the error",
    "WN (gamma = 1, B as drawn) increases",
    "A smaller gamma",
)
"""The beginnings of the statements of the Fig. S1 claims about Supplementary Note 1."""


# ---------------------------------------------------------------------------
# The criteria
# ---------------------------------------------------------------------------


def below0(d: stats.TTest, z: float = THRESHOLDS["n_sem"]) -> bool:
    """A (paired) difference below 0 by more than ``z`` SEMs (t < -z); NaN gives False."""
    return common.below(d, 0.0, z)


def above0(d: stats.TTest, z: float = THRESHOLDS["n_sem"]) -> bool:
    """A (paired) difference above 0 by more than ``z`` SEMs (t > z); NaN gives False."""
    return common.above(d, 0.0, z)


def not_below(t: stats.TTest, target: float = 90.0, z: float = THRESHOLDS["n_sem"]) -> bool:
    """The mean is not below ``target`` by more than ``z`` SEMs; NaN gives False."""
    return common.above(t, target, -z)


def below(t: stats.TTest, target: float = 90.0, z: float = THRESHOLDS["n_sem"]) -> bool:
    """The mean is below ``target`` by more than ``z`` SEMs; NaN gives False."""
    return common.below(t, target, z)


def trend_holds(t: m.Trend) -> bool:
    """More autocorrelation, more alignment: a strong negative Spearman rho and no rise.

    ``rho < THRESHOLDS["rho"]`` with ``p < THRESHOLDS["rho_p"]``, and no step of the
    coefficient raises the mean final angle by more than ``THRESHOLDS["step_sems"]`` SEMs.
    """
    return bool(t.rho < THRESHOLDS["rho"] and t.p < THRESHOLDS["rho_p"]
                and t.no_increase(THRESHOLDS["step_sems"]))


def repeated_error_holds(t_rep: stats.TTest, aln_fresh: np.ndarray, sup: np.ndarray) -> bool:
    """Case 1: ``T^1_aln`` aligns where ``E`` repeats, not where it was redrawn; ``T^1_sup`` not.

    Parameters
    ----------
    t_rep : TTest
        ``T^1_aln ∠ B^T`` where ``E[k] = E[k-1]``, against 90°.
    aln_fresh, sup : ndarray
        Per run: ``T^1_aln ∠ B^T`` where ``E`` was redrawn, ``T^1_sup ∠ B^T``.
    """
    near = THRESHOLDS["near_90"]
    return bool(t_rep.ci99[1] < THRESHOLDS["aln_repeated"]
                and abs(np.mean(aln_fresh) - 90) < near and abs(np.mean(sup) - 90) < near)


def sums_holds(t_sum_sup: stats.TTest, sum_aln: np.ndarray, t_rep: stats.TTest,
               dw1: np.ndarray, w1: np.ndarray) -> bool:
    """Case 1: the sum of ``T^1_sup`` does not align, the sum of ``T^1_aln`` does; so does ``W_1``.

    ``ΣT^1_sup`` not below 90° by more than 3 SEM, ``ΣT^1_aln`` below ``T^1_aln`` (E
    repeated) by more than 3 SEM, ``dW_1 ∠ B^T`` above 85° while ``W_1 ∠ B^T`` is below 80°.
    """
    z = THRESHOLDS["n_sem"]
    return bool(not_below(t_sum_sup)
                and np.mean(sum_aln) + z * stats.sem(sum_aln) < t_rep.mean
                and np.mean(dw1) > THRESHOLDS["dw1_hardly"]
                and np.mean(w1) < THRESHOLDS["w1_aligned"])


# ---------------------------------------------------------------------------
# The chapter's results and statistics
# ---------------------------------------------------------------------------


def finals(runs: Mapping[str, Mapping[str, np.ndarray]], window: int) -> tuple[dict, dict]:
    """Final angles and silent nets of both sweeps of Fig. 4 (:func:`m.fig4_final`).

    Returns
    -------
    final : dict
        ``(sweep, metric, variant)`` -> ``n_betas x reps`` final angles (``dw0`` NaN for a
        net that went silent).
    silent : dict
        ``(sweep, variant)`` -> ``n_betas`` counts of silent nets.
    """
    final, silent = {}, {}
    for sw in m.SWEEPS:
        fz = m.fig4_final(runs[sw], window)
        for v, name in enumerate(m.VARIANTS):
            for metric in m.TRACE_KEYS:
                final[sw, metric, name] = fz[metric][v]
            silent[sw, name] = fz["silent"][v]
    return final, silent


def shape_error(acf: Mapping[str, np.ndarray], max_lag: int) -> float:
    """Fig. 4E: largest deviation of the mean normalised ACF from ``beta^|tau|``."""
    shape = acf["acf"] / acf["acf"][..., [max_lag]]  # each sequence's ACF / ACF(0)
    return float(np.abs(shape.mean(axis=1) - acf["shape"]).max())


def paired_wn(final: Mapping, sw: str, name: str, i: int, metric: str = "w1_bt") -> stats.TTest:
    """WN variant minus no WN, run by run (negative: WN aligns more); silent nets left out."""
    a, b = final[sw, metric, name][i], final[sw, metric, "none"][i]
    ok = ~np.isnan(a) & ~np.isnan(b)
    return stats.paired(a[ok], b[ok])


@dataclass(frozen=True)
class Results:
    """The chapter's cached results and the statistics its claims and text use.

    Attributes
    ----------
    acf : dict
        The correlograms of Fig. 4E.
    final, silent : dict
        Fig. 4 at the code's learning rates (:func:`finals`).
    final_text, silent_text : dict
        Fig. 4 at the text's learning rate (:func:`finals`).
    trends : dict
        ``(sweep, metric, variant)`` -> :class:`fa_lib.experiments.acf_weight_normalisation.Trend`.
    diffs : dict
        ``(sweep, variant, i)`` -> paired final ``W_1 ∠ B^T``, WN variant minus no WN.
    dw0_diffs : dict
        The same for the final ``dW_0`` angle, at the inner values ``0 < beta < 1``.
    s1, st : dict
        The Fig. S1 runs and their per-repetition summaries.
    """

    acf: dict
    final: dict
    silent: dict
    final_text: dict
    silent_text: dict
    trends: dict
    diffs: dict
    dw0_diffs: dict
    s1: dict
    st: dict

    @property
    def betas(self) -> tuple[float, ...]:
        """The values of the swept coefficient."""
        return m.config().fig4.betas

    @property
    def inner(self) -> list[int]:
        """The indices of the values ``0 < beta < 1``."""
        return [i for i, b in enumerate(self.betas) if 0 < b < 1]


def results() -> Results:
    """Read the chapter's results at the current scale (:func:`m.config`) and summarise them."""
    cfg = m.config()
    f4 = cfg.fig4
    final, silent = finals(m.fig4(f4), f4.final_window)
    final_text, silent_text = finals(m.fig4_text_eta(f4), f4.final_window)
    inner = [i for i, b in enumerate(f4.betas) if 0 < b < 1]
    s1 = m.s1_runs(cfg.s1)
    return Results(
        acf=m.correlograms(cfg.correlogram),
        final=final,
        silent=silent,
        final_text=final_text,
        silent_text=silent_text,
        trends={(sw, metric, name): m.trend(final[sw, metric, name], f4.betas)
                for sw in m.SWEEPS for metric in m.TRACE_KEYS for name in m.VARIANTS},
        diffs={(sw, name, i): paired_wn(final, sw, name, i)
               for sw in m.SWEEPS for name in ("wn", "wn_b") for i in range(len(f4.betas))},
        dw0_diffs={(sw, name, i): paired_wn(final, sw, name, i, "dw0")
                   for sw in m.SWEEPS for name in ("wn", "wn_b") for i in inner},
        s1=s1,
        st=m.s1_stats(s1, cfg.s1),
    )


def zero_tests(res: Results) -> tuple[dict[str, stats.TTest], stats.TTest]:
    """``beta = 0``: final ``W_1 ∠ B^T`` of every variant and no-WN ``dW_0`` angle, against 90°."""
    zero = res.betas.index(0.0)
    dw0 = res.final["beta", "dw0", "none"][zero]
    return ({name: stats.ttest_1samp(res.final["beta", "w1_bt", name][zero], 90.0)
             for name in m.VARIANTS},
            stats.ttest_1samp(dw0[~np.isnan(dw0)], 90.0))


def wn_gains(res: Results) -> np.ndarray:
    """The gains of WN (B as drawn) at ``0 < beta < 1``: minus the paired differences."""
    return np.array([-res.diffs["beta", "wn", i].mean for i in res.inner])


def b_gaps(res: Results) -> dict[str, np.ndarray]:
    """Per sweep, at ``0 < beta < 1``: mean final ``W_1 ∠ B^T`` with B normalised minus as drawn."""
    return {sw: np.array([res.trends[sw, "w1_bt", "wn_b"].means[i]
                          - res.trends[sw, "w1_bt", "wn"].means[i] for i in res.inner])
            for sw in m.SWEEPS}


def gamma_difference(s1: Mapping[str, Mapping[str, np.ndarray]]) -> float:
    """With B normalised: the largest difference of the angles of gamma = 1 and 0.7 (Fig. S1)."""
    return max(float(np.nanmax(np.abs(s1["case4_b"][k] - s1["case5_b"][k])))
               for k in ("w1_bt", "dw1", "t1_aln", "sum_t1_sup"))


# ---------------------------------------------------------------------------
# The claims
# ---------------------------------------------------------------------------


def _sem_crit(what: str) -> str:
    """``"<what> below 0 by more than 3 SEM"``."""
    return f"{what} below 0 by more than {THRESHOLDS['n_sem']:g} SEM"


def fig4e_claim(res: Results, cfg: m.CorrelogramConfig) -> Claim:
    """The claim of Fig. 4E: the ACF of eqs. 6-7 widens with beta."""
    err = shape_error(res.acf, cfg.max_lag)
    tol = THRESHOLDS["shape_err"]
    return Claim(
        CHAPTER,
        "Eqs. 6-7 give Gaussian AR(1) entries whose ACF widens with beta (Fig. 4E)",
        f"max |mean ACF(tau)/ACF(0) - beta^|tau|| = {err:.3f} over beta in "
        f"{{{', '.join(f'{b:g}' for b in cfg.betas)}}} and |tau| <= {cfg.max_lag} "
        f"({cfg.reps} sequences of {cfg.n_steps} per beta)",
        bool(err < tol),
        f"the measured normalised ACF matches beta^|tau| within {tol} at every lag",
    )


def _trend_claim(res: Results, sw: str, statement: str, reps: int) -> Claim:
    """More autocorrelation of the error (``beta``) or input (``beta_x``) gives more alignment."""
    t = res.trends[sw, "w1_bt", "none"]
    what = {"beta": "beta", "beta_x": "beta_X"}[sw]
    return Claim(
        CHAPTER,
        statement,
        f"final W1∠B^T by {what}: {', '.join(f'{x:.1f}' for x in t.means)}° (SEM <= "
        f"{t.sems.max():.1f}°, n = {reps} per {what}); Spearman rho = {t.rho:.2f}, "
        f"{pstr(t.p)}; dW0 FA∠BP: rho = {res.trends[sw, 'dw0', 'none'].rho:.2f}",
        trend_holds(t),
        f"Spearman rho < {THRESHOLDS['rho']} with p < {THRESHOLDS['rho_p']:g}, and no step in "
        f"{what} raises the mean final angle by more than {THRESHOLDS['step_sems']:g} SEM",
    )


def _wn_gain_claim(res: Results, sw: str, statement: str) -> Claim:
    """WN (B as drawn) improves alignment at every inner value of one sweep."""
    rows = [res.diffs[sw, "wn", i] for i in res.inner]
    rows_dw0 = [res.dw0_diffs[sw, "wn", i] for i in res.inner]
    what = {"beta": "beta", "beta_x": "beta_X"}[sw]
    return Claim(
        CHAPTER,
        statement,
        "paired final W1∠B^T, WN minus no WN: " + "; ".join(
            f"{SWEEP_TEXT[sw]} = {res.betas[i]:g}: {d.mean:+.1f}° (99% CI [{d.ci99[0]:.1f}, "
            f"{d.ci99[1]:.1f}], n = {d.n}, {pstr(d.p)}), dW0 {e.mean:+.1f}°"
            for i, d, e in zip(res.inner, rows, rows_dw0, strict=True)),
        all(below0(d) for d in rows),
        f"at every 0 < {what} < 1 the " + _sem_crit("paired difference is"),
    )


def fig4_claims(res: Results, cfg: m.Fig4Config) -> list[Claim]:
    """The claims of Fig. 4A-D."""
    zero, zero_dw0 = zero_tests(res)
    one_i = res.betas.index(1.0)
    one, one_b = res.diffs["beta", "wn", one_i], res.diffs["beta", "wn_b", one_i]
    gains, gap = wn_gains(res), b_gaps(res)
    b_rows = [f"{SWEEP_TEXT[sw]} = {res.betas[i]:g}: {d.mean:+.1f}° (99% CI "
              f"[{d.ci99[0]:.1f}, {d.ci99[1]:.1f}])"
              for sw in m.SWEEPS for i in res.inner for d in [res.diffs[sw, "wn_b", i]]]
    return [
        _trend_claim(res, "beta", "More autocorrelation of the error gives more alignment "
                     "(Fig. 4A,B, beta_X = 1, no WN)", cfg.reps),
        _trend_claim(res, "beta_x", "More autocorrelation of the input gives more alignment "
                     "(Fig. 4C,D, beta = 0.8, no WN)", cfg.reps),
        Claim(
            CHAPTER,
            "An error without autocorrelation (beta = 0) gives no alignment (Fig. 4A,B)",
            "final W1∠B^T at beta = 0 (beta_X = 1): "
            + "; ".join(f"{m.VARIANT_LABELS[name]}: {describe(t)}" for name, t in zero.items())
            + f"; no WN, dW0 FA∠BP: {describe(zero_dw0)}",
            all(not_below(t) for t in zero.values()),
            "in every variant the mean final angle is not below 90° by more than "
            f"{THRESHOLDS['n_sem']:g} SEM (alignment would put it below 90°)",
        ),
        _wn_gain_claim(res, "beta", "WN (gamma = 1, B as drawn) improves alignment for "
                       "0 < beta < 1 (Fig. 4A,B, beta_X = 1)"),
        _wn_gain_claim(res, "beta_x", "WN (gamma = 1, B as drawn) improves alignment for "
                       "0 < beta_X < 1 (Fig. 4C,D, beta = 0.8)"),
        Claim(
            CHAPTER,
            "WN does not improve alignment when beta = beta_X = 1 (Fig. 4A,B)",
            f"paired final W1∠B^T at beta = beta_X = 1, WN minus no WN: {one.mean:+.2f}° "
            f"(99% CI [{one.ci99[0]:.2f}, {one.ci99[1]:.2f}], n = {one.n}, {pstr(one.p)}); B "
            f"normalised: {one_b.mean:+.2f}° (99% CI [{one_b.ci99[0]:.2f}, "
            f"{one_b.ci99[1]:.2f}]); smallest gain for 0 < beta < 1: {gains.min():.1f}°",
            not below0(one),  # "does not improve": no significant decrease of the angle
            "the paired difference is not below 0 by more than "
            f"{THRESHOLDS['n_sem']:g} SEM",
            instead="the gain of WN at beta = beta_X = 1 is less than "
            f"{THRESHOLDS['gain_fraction']:g} of the smallest gain for 0 < beta < 1",
            instead_holds=bool(-one.mean < THRESHOLDS["gain_fraction"] * gains.min()),
        ),
        Claim(
            CHAPTER,
            "WN improves alignment for 0 < beta, beta_X < 1 with B normalised as in Methods 4.4",
            "paired final W1∠B^T, WN with B normalised minus no WN: " + "; ".join(b_rows)
            + f"; B normalised minus B as drawn: at least "
            f"{min(gap['beta'].min(), gap['beta_x'].min()):+.1f}°",
            all(below0(res.diffs[sw, "wn_b", i]) for sw in m.SWEEPS for i in res.inner),
            "at every 0 < beta < 1 and 0 < beta_X < 1 the paired difference is below 0 by more "
            f"than {THRESHOLDS['n_sem']:g} SEM",
            instead="with B normalised WN aligns less than with B as drawn at every "
            "0 < beta < 1 and 0 < beta_X < 1",
            instead_holds=all(g.min() > 0 for g in gap.values()),
        ),
    ]


def s1_claims(res: Results, cfg: m.FigS1Config) -> list[Claim]:
    """The claims of Fig. S1 (Supplementary Note 1)."""
    st = res.st
    c1 = st["case1"]
    t_rep = stats.ttest_1samp(c1["aln_repeated"], 90.0)
    t_sum_sup = stats.ttest_1samp(c1["sum_sup"], 90.0)
    sum_aln = c1["sum_aln"]
    grow = {name: st[name] for name in ("case1", "case2")}
    d21 = stats.paired(st["case2"]["w1"], c1["w1"])
    t_sup2 = stats.ttest_1samp(st["case2"]["sum_sup"], 90.0)
    d32, d41 = stats.paired(st["case3"]["w1"], st["case2"]["w1"]), stats.paired(
        st["case4"]["w1"], c1["w1"])
    dw_32, dw_41 = stats.paired(st["case3"]["dw1"], st["case2"]["dw1"]), stats.paired(
        st["case4"]["dw1"], c1["dw1"])
    d54, dw_54 = (stats.paired(st["case5"][k], st["case4"][k]) for k in ("w1", "dw1"))
    d3b, d4b = stats.paired(st["case3_b"]["w1"], st["case2"]["w1"]), stats.paired(
        st["case4_b"]["w1"], c1["w1"])
    same = gamma_difference(res.s1)
    n_sem = f"{THRESHOLDS['n_sem']:g} SEM"
    return [
        Claim(
            CHAPTER,
            "Case 1 (E redrawn every 2 iterations): T^1_aln aligns with B^T in the half of the "
            "iterations where E repeats, T^1_sup does not (Supp. Note 1)",
            f"T^1_aln∠B^T where E[k] = E[k-1]: {describe(t_rep)}; where E was redrawn: "
            f"{np.mean(c1['aln_fresh']):.2f}°; T^1_sup∠B^T: {np.mean(c1['sup']):.2f}° "
            f"(means over iterations, n = {cfg.reps} runs)",
            repeated_error_holds(t_rep, c1["aln_fresh"], c1["sup"]),
            f"99% CI of T^1_aln∠B^T (E repeated) below {THRESHOLDS['aln_repeated']:g}°; "
            f"T^1_aln (E redrawn) and T^1_sup within {THRESHOLDS['near_90']:g}° of 90°",
        ),
        Claim(
            CHAPTER,
            "Case 1: the sum of T^1_sup gives no alignment, the sum of T^1_aln aligns more than "
            "each T^1_aln, and dW1 hardly aligns at each iteration while W1 does",
            f"final ΣT^1_sup∠B^T: {describe(t_sum_sup)}; final ΣT^1_aln∠B^T: "
            f"{np.mean(sum_aln):.1f}° ± {stats.sem(sum_aln):.1f}° (SEM) vs T^1_aln (E repeated) "
            f"{t_rep.mean:.1f}°; dW1∠B^T (2nd half) {np.mean(c1['dw1']):.1f}°; final W1∠B^T "
            f"{np.mean(c1['w1']):.1f}°",
            sums_holds(t_sum_sup, sum_aln, t_rep, c1["dw1"], c1["w1"]),
            f"ΣT^1_sup not below 90° by more than {n_sem}; ΣT^1_aln below T^1_aln by more than "
            f"{n_sem}; dW1∠B^T above {THRESHOLDS['dw1_hardly']:g}° while W1∠B^T is below "
            f"{THRESHOLDS['w1_aligned']:g}°",
        ),
        Claim(
            CHAPTER,
            "Without WN the Frobenius norms of the weights blow up (cases 1 and 2)",
            "; ".join(
                f"{n}: ‖W0‖ x{np.mean(v['growth_w0']):.2f}, ‖W1‖ x{np.mean(v['growth_w1']):.1f} "
                f"(final/initial), growing in {int(np.sum(v['grows']))} of {cfg.reps} runs"
                for n, v in grow.items())
            + "; with WN ‖W0‖, ‖W1‖ stay at gamma sqrt(n_h), gamma sqrt(n_o)",
            all(np.all(v["grows"]) for v in grow.values()),
            "in every run both norms are larger at each quarter of the run than at the one "
            "before",
        ),
        Claim(
            CHAPTER,
            "Widening the error's ACF from one lag to two (case 2 vs case 1) makes the sum of "
            "T^1_sup align and increases the alignment of W1",
            f"final ΣT^1_sup∠B^T, case 2: {describe(t_sup2)}; final W1∠B^T case 2 minus case "
            f"1: {d21.mean:+.1f}° (99% CI [{d21.ci99[0]:.1f}, {d21.ci99[1]:.1f}], n = {d21.n}, "
            f"{pstr(d21.p)})",
            below(t_sup2) and below(d21, 0.0),
            f"ΣT^1_sup below 90° by more than {n_sem}; " + _sem_crit("paired difference"),
        ),
        Claim(
            CHAPTER,
            "WN (gamma = 1, B as drawn) increases the alignment of W1 and of dW1 (case 3 vs 2, "
            "case 4 vs 1)",
            f"final W1∠B^T, WN minus no WN: case 3 - 2 {d32.mean:+.1f}° ({pstr(d32.p)}), case "
            f"4 - 1 {d41.mean:+.1f}° ({pstr(d41.p)}); dW1∠B^T (2nd half): {dw_32.mean:+.1f}°, "
            f"{dw_41.mean:+.1f}° (n = {d32.n})",
            all(below0(d) for d in (d32, d41, dw_32, dw_41)),
            _sem_crit("every paired difference"),
        ),
        Claim(
            CHAPTER,
            "A smaller gamma (0.7, case 5 vs case 4) gives slightly more alignment of W1 and dW1",
            f"case 5 minus case 4: final W1∠B^T {d54.mean:+.2f}° (99% CI [{d54.ci99[0]:.2f}, "
            f"{d54.ci99[1]:.2f}], {pstr(d54.p)}); dW1∠B^T (2nd half) {dw_54.mean:+.2f}° (99% "
            f"CI [{dw_54.ci99[0]:.2f}, {dw_54.ci99[1]:.2f}], {pstr(dw_54.p)}), n = {d54.n}",
            bool(d54.mean < 0) and below(dw_54, 0.0),
            _sem_crit("dW1∠B^T paired difference")
            + " and the mean W1∠B^T difference below 0",
        ),
        Claim(
            CHAPTER,
            "With B normalised as in Methods 4.4, WN also increases the alignment of W1 "
            "(case 3 vs 2, case 4 vs 1)",
            f"final W1∠B^T, WN with B normalised minus no WN: case 3 - 2 {d3b.mean:+.1f}° "
            f"({pstr(d3b.p)}), case 4 - 1 {d4b.mean:+.1f}° ({pstr(d4b.p)}), n = {d3b.n}; with "
            f"B normalised, gamma = 0.7 and gamma = 1 give the same angles (max difference "
            f"{same:.1e}°)",
            all(below0(d) for d in (d3b, d4b)),
            _sem_crit("both paired differences"),
            instead="with B normalised WN aligns W1 less than with B as drawn (cases 3 and 4), "
            "and gamma drops out: gamma = 0.7 and gamma = 1 give the same angles",
            instead_holds=bool(same < THRESHOLDS["gamma_same"]) and all(
                np.mean(st[f"case{i}_b"]["w1"]) > np.mean(st[f"case{i}"]["w1"]) for i in (3, 4)),
        ),
    ]


def claims(res: Results | None = None) -> list[Claim]:
    """Every claim the chapter checks, in its order, from ``res`` (default: :func:`results`)."""
    res = results() if res is None else res
    cfg = m.config()
    return [fig4e_claim(res, cfg.correlogram), *fig4_claims(res, cfg.fig4),
            *s1_claims(res, cfg.s1)]


# ---------------------------------------------------------------------------
# The numbers of the text
# ---------------------------------------------------------------------------


def setup_values() -> dict[str, object]:
    """The sizes and settings that the chapter's tables and text quote (glue prefix ``acfwn_``)."""
    cfg = m.config()
    f4, ac, s1 = cfg.fig4, cfg.correlogram, cfg.s1
    return {
        "scale": config.scale(),
        "sizes": f"({f4.sizes[0]}, {f4.sizes[1]}, {f4.sizes[2]}, {f4.n_b})",
        "reps": f4.reps,
        "betas": ", ".join(f"{b:g}" for b in f4.betas),
        "b_eta": f"{f4.beta_sweep.eta:g}",
        "b_iter": f"{f4.beta_sweep.n_iter:,}",
        "x_eta": f"{f4.beta_x_sweep.eta:g}",
        "x_iter": f"{f4.beta_x_sweep.n_iter:,}",
        "text_eta": f"{f4.text_eta:g}",
        "text_reps": f4.text_reps,
        "gamma": f"{f4.gamma:g}",
        "window": f4.final_window,
        "dtype": f4.dtype,
        "ac_n": f"{ac.n_steps:,}",
        "ac_reps": ac.reps,
        "ac_lag": ac.max_lag,
        "s1_sizes": f"({s1.sizes[0]}, {s1.sizes[1]}, {s1.sizes[2]}, {s1.n_b})",
        "s1_reps": s1.reps,
        "s1_iter": f"{s1.n_iter:,}",
        "s1_eta": f"{s1.eta:g}",
        "s1_window": s1.final_window,
    }


def sweep_values(res: Results, reps: int) -> dict[str, object]:
    """Per sweep and variant: final angles by value, trends, silent nets, WN differences."""
    out: dict[str, object] = {}
    for sw in m.SWEEPS:
        for name in m.VARIANTS:
            for i in range(len(res.betas)):
                f = res.final[sw, "w1_bt", name][i]
                out[f"{sw}_{name}_{i}"] = np.mean(f)
                out[f"{sw}_{name}_{i}_sd"] = np.std(f, ddof=1)
                out[f"{sw}_{name}_{i}_dw0"] = np.nanmean(res.final[sw, "dw0", name][i])
            t = res.trends[sw, "w1_bt", name]
            out |= {f"{sw}_{name}_rho": t.rho, f"{sw}_{name}_p": pstr(t.p),
                    f"{sw}_{name}_rho_dw0": res.trends[sw, "dw0", name].rho,
                    f"{sw}_{name}_silent": int(res.silent[sw, name].sum())}
        for name in ("wn", "wn_b"):
            for i in range(len(res.betas)):
                out[f"{sw}_{name}_{i}_diff"] = res.diffs[sw, name, i].mean
    out["n_nets"] = reps * len(res.betas)
    return out


def zero_values(res: Results, reps: int) -> dict[str, object]:
    """``beta = 0``: the final angles and phrases of the text (drift above 90°, silent nets)."""
    zero, zero_dw0 = zero_tests(res)
    above = {name: t.ci99[0] > 90 for name, t in zero.items()}
    i0 = res.betas.index(0.0)
    n_sil = {name: int(res.silent["beta", name][i0]) for name in m.VARIANTS}
    dw0_wn = res.final["beta", "dw0", "wn"][i0]
    n_alive = int(np.sum(~np.isnan(dw0_wn)))
    end = (f"it ends at {np.nanmean(dw0_wn):.1f}° (mean of the {n_alive} nets that never "
           "went silent)" if n_alive else "no net is left to give it a value at the end")
    return {
        **{f"zero_{name}": describe(t) for name, t in zero.items()},
        "zero_dw0": describe(zero_dw0),
        "zero_none_phrase": "slightly above 90°: it turns a little away from" if above["none"]
        else "within the noise of 90°, as orthogonal as at the start, to",
        "zero_wn_phrase": "drifts above 90°" if above["wn"]
        else "stays within the noise of 90° at this scale",
        "zero_silent": f"{n_sil['wn']} of {reps} nets with B as drawn and {n_sil['wn_b']} with "
        f"B normalised end with all ten output units silent, against {n_sil['none']} without WN"
        if n_sil["wn"] + n_sil["wn_b"] > 0
        else f"none of the nets goes silent at this scale ({reps} repetitions)",
        "zero_wn_phrase2": "ends above 90°, turned away from B" if above["wn"]
        else "ends within the noise of 90°",
        "zero_dw0_wn": "here that trace is noisy, because its nets fall silent one after "
        "another, and " + end if n_sil["wn"] else "here " + end,
    }


def wn_values(res: Results) -> dict[str, object]:
    """WN at ``beta = beta_X = 1`` and with B normalised: differences and phrases of the text."""
    one_i = res.betas.index(1.0)
    one, one_b = res.diffs["beta", "wn", one_i], res.diffs["beta", "wn_b", one_i]
    out: dict[str, object] = {
        "one_diff": one.mean, "one_lo": one.ci99[0], "one_hi": one.ci99[1],
        "one_diff_b": one_b.mean, "inner_gain_min": wn_gains(res).min(),
        "one_phrase": "also improves it, if by little" if below0(one)
        else ("makes it worse" if above0(one) else "does not change it beyond the noise"),
        "one_verdict": "is not one here" if below0(one) else "holds",
    }
    gap = b_gaps(res)
    for sw in m.SWEEPS:
        vs_none = np.array([res.diffs[sw, "wn_b", i].mean for i in res.inner])
        rows = [res.diffs[sw, "wn_b", i] for i in res.inner]
        out |= {
            f"{sw}_gap_min": gap[sw].min(),
            f"{sw}_wnb_vs_none_min": vs_none.min(),
            f"{sw}_wnb_vs_none_max": vs_none.max(),
            f"{sw}_wnb_phrase": "aligns more than" if all(below0(d) for d in rows)
            else ("aligns less than" if all(above0(d) for d in rows)
                  else "is neither consistently better nor worse than"),
        }
    return out


def text_eta_values(res: Results, cfg: m.Fig4Config) -> dict[str, object]:
    """Fig. 4 at the text's learning rate: trends, WN gains and silent nets."""
    final, silent = res.final_text, res.silent_text
    gain = {sw: np.array([np.mean(final[sw, "w1_bt", "wn"][i] - final[sw, "w1_bt", "none"][i])
                          for i in res.inner]) for sw in m.SWEEPS}
    rho = {sw: m.trend(final[sw, "w1_bt", "none"], cfg.betas).rho for sw in m.SWEEPS}
    n_wn = int(sum(silent[sw, "wn"].sum() for sw in m.SWEEPS))
    n_none = int(sum(silent[sw, "none"].sum() for sw in m.SWEEPS))
    by_value = "; ".join(f"{SWEEP_TEXT[sw]} = {b:g}: {int(silent[sw, 'wn'][i])}"
                         for sw in m.SWEEPS for i, b in enumerate(cfg.betas)
                         if silent[sw, "wn"][i] > 0)
    same_picture = all(rho[sw] < THRESHOLDS["rho"] and np.all(gain[sw] < 0) for sw in m.SWEEPS)
    out: dict[str, object] = {
        "text_silent": f"At this learning rate {n_wn} of the {2 * cfg.text_reps * len(cfg.betas)}"
        f" WN nets with B as drawn go silent ({by_value}), against {n_none} without WN."
        if n_wn else "No WN net goes silent at this learning rate.",
        "text_phrase": "The picture is the same at the text's learning rate" if same_picture
        else "At the text's learning rate the picture is not the same",
    }
    for sw in m.SWEEPS:
        out |= {f"text_{sw}_gain_max": gain[sw].max(), f"text_{sw}_gain_min": gain[sw].min(),
                f"text_{sw}_rho": rho[sw]}
    return out


def s1_values(res: Results) -> dict[str, object]:
    """Fig. S1: the mean of every per-run summary, and the runs with B normalised."""
    st = res.st
    out: dict[str, object] = {f"s1_{name}_{key}": np.nanmean(x) for name, v in st.items()
                              for key, x in v.items() if key != "grows"}
    d3b = stats.paired(st["case3_b"]["w1"], st["case2"]["w1"])
    d4b = stats.paired(st["case4_b"]["w1"], st["case1"]["w1"])
    return out | {
        "s1_same": gamma_difference(res.s1), "s1_d3b": d3b.mean, "s1_d4b": d4b.mean,
        "s1_b_phrase": "also increases" if max(d3b.mean, d4b.mean) < 0
        else ("lowers" if min(d3b.mean, d4b.mean) > 0 else "does not consistently change"),
    }


def values(res: Results | None = None) -> dict[str, object]:
    """Every number the chapter's text quotes, by name (glue prefix ``acfwn_``).

    From ``res`` (default: :func:`results`): :func:`setup_values`, Fig. 4E's error,
    :func:`sweep_values`, :func:`zero_values`, :func:`wn_values`, :func:`text_eta_values`
    and :func:`s1_values`.
    """
    res = results() if res is None else res
    cfg = m.config()
    with warnings.catch_warnings():  # a value whose nets all went silent: mean of nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        return (setup_values()
                | {"shape_err": shape_error(res.acf, cfg.correlogram.max_lag)}
                | sweep_values(res, cfg.fig4.reps) | zero_values(res, cfg.fig4.reps)
                | wn_values(res) | text_eta_values(res, cfg.fig4) | s1_values(res))


def verdict_values(chapter_claims: Sequence[Claim]) -> dict[str, object]:
    """What the closing section says of the verdicts (glue prefix ``acfwn_``)."""
    s1_ok = [c.verdict for c in chapter_claims if c.statement.startswith(S1_CLAIMS)]
    not_ok = [c.statement for c in chapter_claims if c.verdict != "reproduced"]
    return {
        "s1_verdict": "holds, case by case" if all(v == "reproduced" for v in s1_ok)
        else "holds only in part (see the table)",
        "s1_n_checked": len(s1_ok),
        "n_claims": len(chapter_claims),
        "n_reproduced": sum(c.verdict == "reproduced" for c in chapter_claims),
        "not_reproduced": "; ".join(f"“{s}”" for s in not_ok) or "none",
    }


# ---------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------

SWEEP_MATH = {"beta": r"$\beta$", "beta_x": r"$\beta_X$"}
W1_BT = r"$W_1 \angle B^T$"
DW0 = r"$\Delta W_{0,FA} \angle \Delta W_{0,BP}$"


def fig4_table(final: Mapping, silent: Mapping, betas: Sequence[float]) -> tables.Table:
    """Fig. 4A-D: the final angles per sweep, value and variant (:func:`finals`)."""
    w1, dw0 = f"final {W1_BT}", f"final {DW0}"
    rows = [
        {"sweep": SWEEP_MATH[sw], "value": f"{b:g}", "variant": m.VARIANT_LABELS[name],
         w1: tables.pm(np.mean(final[sw, "w1_bt", name][i]),
                       stats.sem(final[sw, "w1_bt", name][i])),
         dw0: np.nanmean(final[sw, "dw0", name][i]),
         "silent nets": int(silent[sw, name][i])}
        for sw in m.SWEEPS for i, b in enumerate(betas) for name in m.VARIANTS
    ]
    return tables.table(pd.DataFrame(rows), formats={dw0: ".1f"},
                        units={w1: "° mean ± SEM", dw0: "° mean"})


def s1_table(st: Mapping[str, Mapping[str, np.ndarray]]) -> tables.Table:
    """Fig. S1: the angles and norms of every run, mean ± SEM (:func:`m.s1_stats`)."""

    def ms(x: np.ndarray) -> str:
        return tables.pm(np.nanmean(x), stats.sem(x[~np.isnan(x)]))

    angles = {
        W1_BT: "w1", r"$\Sigma T^1_{1,aln} \angle B^T$": "sum_aln",
        r"$\Sigma T^1_{1,sup} \angle B^T$": "sum_sup",
        r"$\Delta W_1 \angle B^T$ (2nd half)": "dw1",
        r"$T^1_{1,aln} \angle B^T$, $E$ repeated": "aln_repeated",
        r"$T^1_{1,aln} \angle B^T$, $E$ redrawn": "aln_fresh",
        r"$T^1_{1,sup} \angle B^T$": "sup",
    }
    norms = {r"$\|W_0\|$ final/initial": "growth_w0", r"$\|W_1\|$ final/initial": "growth_w1"}
    rows = [
        {"run": name if not name.endswith("_b") else name[:-2] + ", B normalised",
         **{column: ms(v[key]) for column, key in angles.items()},
         **{column: np.mean(v[key]) for column, key in norms.items()}}
        for name, v in st.items()
    ]
    return tables.table(pd.DataFrame(rows), formats=dict.fromkeys(norms, ".2f"),
                        units=dict.fromkeys(angles, "° mean ± SEM"))
