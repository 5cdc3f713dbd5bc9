"""The claims of the chapter "Persistent error" (Sec. 2.1, Fig. 1, Supp. Notes 2-3).

The chapter's results come from :mod:`fa_lib.experiments.persistent_error` (through the
results cache): the open-loop simulation, the final angles of the six conditions of
Fig. 1B, C, the eigenvalues of Fig. 1D and the random-transform control. :func:`claims`
checks the paper's statements on them against :data:`THRESHOLDS`; the functions named
``*_values`` return the numbers (and the two tables) that the chapter's text quotes, by
their glue names without the chapter's prefix ``pe_``.

Every criterion is a function of the results alone (:func:`claims_from`), so that it can
be tried on hand-made results. Results holding NaN or infinite values make every claim
fail, saying so (:mod:`fa_lib.verdicts._finite`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from fa_lib import config, stats, tables
from fa_lib.claims import Claim
from fa_lib.experiments import persistent_error as pe
from fa_lib.verdicts._finite import nonfinite, not_computed

__all__ = [
    "CHAPTER", "THRESHOLDS", "Conditions", "Results", "claims", "claims_from", "condition_label",
    "condition_values", "contrast_values", "contrasts", "control_values", "convergence",
    "mc_values", "openloop_values", "results", "setup_values", "spectral_values",
    "variant_values",
]

CHAPTER = pe.CHAPTER

THRESHOLDS: Mapping[str, float] = {
    # open-loop simulation (Supp. Note 2)
    "sim_w1_final": 3.0,  # max over repetitions of the final W_1 ∠ B^T M, degrees
    "sim_w0_final": 5.0,  # max over repetitions of the final W_0 ∠ X^T E B, degrees
    "rate_lo": 1.7,  # angle(K/2) / angle(K): 2 for a 1/k approach
    "rate_hi": 2.3,
    "asym_gap": 0.5,  # |final W_1 ∠ B^T - B^T ∠ B^T M|, degrees
    # Fig. 1B: "more / less alignment" = mean difference of at least this many SEMs
    "min_t": 10.0,
    # Cond. 2 vs 5: equivalence margin for "same mean" (99% CI of the difference)
    "nh_margin": 0.5,
    # Cond. 5 vs 2: lower 99% bound of the SD ratio for "narrower histogram"
    "sd_ratio_min": 1.5,
    # Monte Carlo of E[M] = n_b n_i I: fitted log-log slope within -1/2 +- this
    "mc_slope_tol": 0.12,
    # Supp. Note 3 control: |mean - 90| and the SD band around the paper's 0.82 degrees
    "control_mean_margin": 0.2,
    "control_sd_lo": 0.74,
    "control_sd_hi": 0.90,
}
"""Criteria of the chapter's claims (degrees unless stated), in one place."""

TH = THRESHOLDS
CONDS = pe.CONDITIONS

Conditions = Mapping[int, Mapping[str, np.ndarray]]
"""Condition (1-6) -> its draws of Fig. 1B, C (``w1_bt``, ``dw0``, ``mc_n``, ``mc_err``)."""

STATEMENTS: Mapping[str, str] = {
    "w1": "W1[k] converges in direction to B^T E^T X X^T E (eq. 1 / S10) with constant X and E",
    "w0": "W0[k] converges in direction to X^T E B (eq. S7)",
    "below_90": "The final angles are always below 90 degrees (M = E^T X X^T E is positive "
                "semidefinite, Supp. Note 3)",
    "zeros": "n_o > n_i gives at least n_o - n_i zero eigenvalues of E^T X X^T E",
    "n_o": "More outputs relative to inputs (n_o > n_i) gives less alignment: Cond. 1 "
           "(n_o < n_i) better than Cond. 2 (n_o = n_i), Cond. 6 (n_o > n_i) worse; "
           "Cond. 4 (n_i = 900) better than Cond. 2",
    "n_b": "A larger n_b improves alignment (Cond. 3 vs. Cond. 2)",
    "n_h_mean": "A larger n_h leaves the mean final angle unchanged (Cond. 2 vs. 5; paper: "
                "t-test p > 0.5)",
    "n_h_sd": "A larger n_h narrows the histogram of the final angle (Cond. 2 vs. 5)",
    "mc": "E[E^T X X^T E] = n_b n_i I for iid N(0, 1) entries",
    "control": "A random transform A gives AB ∠ A = 90 degrees, SD about 0.82 (100 x 100, "
               "n = 1000)",
}
"""The paper's statements, in the chapter's order, by a short key."""

CRITERIA: Mapping[str, str] = {
    "w1": f"final angle < {TH['sim_w1_final']} deg in every repetition, 1/k approach "
          f"(ratio in [{TH['rate_lo']}, {TH['rate_hi']}]), W1 ∠ B^T within {TH['asym_gap']} deg "
          "of its limit",
    "w0": f"final angle < {TH['sim_w0_final']} deg in every repetition and a 1/k approach",
    "below_90": "every draw of every condition < 90 deg, both panels",
    "zeros": "count of eigenvalues < 1e-9 x largest >= n_o - min(n_i, n_b) in every condition "
             "(Cond. 6: >= 90)",
    "n_o": f"each difference > {TH['min_t']:.0f} standard errors in the stated direction",
    "n_b": f"Cond. 3 below Cond. 2 by > {TH['min_t']:.0f} standard errors",
    "n_h_mean": f"99% CI of the difference within +-{TH['nh_margin']} deg (equivalence), "
                "not p > 0.5",
    "n_h_sd": f"lower 99% bound of SD(n_h = 10) / SD(n_h = 100) > {TH['sd_ratio_min']}",
    "mc": f"the error falls like n^(-1/2): every fitted slope within -0.5 +- "
          f"{TH['mc_slope_tol']}",
    "control": f"|mean - 90| < {TH['control_mean_margin']} deg and SD in "
               f"[{TH['control_sd_lo']}, {TH['control_sd_hi']}] deg",
}
"""How each claim is decided, by the keys of :data:`STATEMENTS`."""


class Results(NamedTuple):
    """The chapter's results that its claims use."""

    sim: Mapping[str, np.ndarray]
    """The open-loop simulation (:func:`fa_lib.experiments.persistent_error.openloop_linear`):
    traces ``n_iter x reps`` and the per-repetition asymptotes."""
    conditions: Conditions
    """Condition -> its draws of Fig. 1B, C (``w1_bt``, ``dw0``, ``mc_n``, ``mc_err``)."""
    eigenvalues: Mapping[str, np.ndarray]
    """Fig. 1D: ``eig{c}`` and ``zeros`` (zero eigenvalues per condition)."""
    control: np.ndarray
    """The angles ``AB ∠ A`` of the control of Supp. Note 3."""


def results(cfg: pe.PersistentErrorConfig | None = None) -> Results:
    """The chapter's results at ``cfg`` (default: the current scale), from the cache."""
    cfg = pe.config() if cfg is None else cfg
    return Results(
        pe.run_openloop_sim(cfg),
        {c: pe.run_condition(c, cfg) for c in CONDS},
        pe.run_eigenvalues(cfg),
        pe.run_control(cfg)["angles"],
    )


def claims() -> list[Claim]:
    """Every claim the chapter checks, at the current scale, from the cached results."""
    return claims_from(results())


def _claim(key: str, measured: str, holds: bool) -> Claim:
    return Claim(CHAPTER, STATEMENTS[key], measured, holds, CRITERIA[key])


def _arrays(r: Results) -> dict[str, np.ndarray]:
    """Every array of the results, by a readable name (for :func:`nonfinite`)."""
    named = {f"openloop {k}": v for k, v in r.sim.items()}
    for c, res in r.conditions.items():
        named.update({f"cond{c} {k}": v for k, v in res.items()})
    named.update({f"eigenvalues {k}": v for k, v in r.eigenvalues.items()})
    return {**named, "control angles": r.control}


def claims_from(r: Results) -> list[Claim]:
    """The chapter's claims, decided on the results ``r`` (see :func:`results`).

    Parameters
    ----------
    r : Results
        The six conditions 1-6 of :data:`fa_lib.experiments.persistent_error.CONDITIONS`,
        the simulation, the eigenvalues and the control (of any sizes).

    Returns
    -------
    list of Claim
        In the chapter's order (:data:`STATEMENTS`); none holds if any result is NaN or
        infinite.
    """
    bad = nonfinite(_arrays(r))
    if bad:
        return [_claim(key, not_computed(bad), False) for key in STATEMENTS]
    return [
        *_openloop_claims(r.sim),
        _below_90_claim(r.conditions),
        _zeros_claim(r.eigenvalues["zeros"]),
        *_contrast_claims(r.conditions),
        _mc_claim(r.conditions),
        _control_claim(r.control),
    ]


# --------------------------------------------------------------------------- criteria


def convergence(sim: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """How the open loop approaches its limits, per repetition.

    Returns
    -------
    dict of ndarray, each of shape (reps,)
        ``w1_rate`` and ``w0_rate``: angle to the limit after ``K/2`` iterations over the
        angle after ``K`` (2 for a ``1/k`` approach); ``gap_w1``: ``|W_1 ∠ B^T - B^T ∠ B^T
        M|`` at the end (eq. S11); ``gap_dw0``: the same for ``dW_0,FA ∠ dW_0,BP``.
    """
    half = len(sim["w1_limit"]) // 2 - 1
    return {
        "w1_rate": sim["w1_limit"][half] / sim["w1_limit"][-1],
        "w0_rate": sim["w0_limit"][half] / sim["w0_limit"][-1],
        "gap_w1": np.abs(sim["w1_bt"][-1] - sim["asym_w1_bt"]),
        "gap_dw0": np.abs(sim["dw0"][-1] - sim["asym_dw0"]),
    }


def _one_over_k(final: np.ndarray, rate: np.ndarray, largest: float) -> bool:
    """Every repetition ends within ``largest`` degrees of its limit, approached like 1/k."""
    return bool(np.max(final) < largest and TH["rate_lo"] < np.min(rate)
                and np.max(rate) < TH["rate_hi"])


def _openloop_claims(sim: Mapping[str, np.ndarray]) -> list[Claim]:
    k, reps = np.shape(sim["w1_limit"])
    conv = convergence(sim)
    w1, w0 = sim["w1_limit"][-1], sim["w0_limit"][-1]
    w1_rate, w0_rate, gap_w1 = conv["w1_rate"], conv["w0_rate"], conv["gap_w1"]
    return [
        _claim(
            "w1",
            f"after {k} iterations W1 ∠ B^T E^T X X^T E = {w1.mean():.3f} deg "
            f"(max {w1.max():.3f}, n = {reps} repetitions); "
            f"angle(K/2)/angle(K) = {w1_rate.min():.2f}-{w1_rate.max():.2f}; "
            f"|W1 ∠ B^T - B^T ∠ B^T M| <= {gap_w1.max():.3f} deg",
            _one_over_k(w1, w1_rate, TH["sim_w1_final"]) and gap_w1.max() < TH["asym_gap"],
        ),
        _claim(
            "w0",
            f"after {k} iterations W0 ∠ X^T E B = {w0.mean():.3f} deg "
            f"(max {w0.max():.3f}, n = {reps}); "
            f"angle(K/2)/angle(K) = {w0_rate.min():.2f}-{w0_rate.max():.2f}",
            _one_over_k(w0, w0_rate, TH["sim_w0_final"]),
        ),
    ]


def _largest_angle(res: Conditions) -> float:
    """The largest final angle of any draw of any condition, both panels of Fig. 1B, C."""
    return float(max(max(r["w1_bt"].max(), r["dw0"].max()) for r in res.values()))


def _n_draws(res: Conditions) -> int:
    return len(res[1]["w1_bt"])


def _below_90_claim(res: Conditions) -> Claim:
    largest = _largest_angle(res)
    return _claim(
        "below_90",
        f"largest final W1 ∠ B^T or dW0 angle over {len(res)} x {_n_draws(res)} draws: "
        f"{largest:.2f} deg",
        largest < 90,
    )


def _zeros_claim(zeros: np.ndarray) -> Claim:
    count = dict(zip(CONDS, (int(z) for z in zeros), strict=True))
    forced = {c: pe.expected_zero_eigenvalues(d) for c, d in CONDS.items()}
    return _claim(
        "zeros",
        "zero eigenvalues per condition (forced n_o - min(n_i, n_b)): "
        + ", ".join(f"Cond. {c}: {count[c]} ({forced[c]})" for c in CONDS),
        all(count[c] >= forced[c] for c in CONDS) and count[6] >= 90,
    )


def contrasts(res: Conditions) -> dict[str, stats.TTest]:
    """Welch t-tests of the final ``W_1 ∠ B^T`` between the conditions the paper contrasts.

    Returns
    -------
    dict of str to TTest
        ``"ab"``: condition ``a`` minus condition ``b``, for ``"21"``, ``"62"``, ``"24"``,
        ``"23"`` (positive: ``b`` better aligned) and ``"52"``.
    """
    pairs = ((2, 1), (6, 2), (2, 4), (2, 3), (5, 2))
    return {f"{a}{b}": stats.ttest_ind(res[a]["w1_bt"], res[b]["w1_bt"]) for a, b in pairs}


def _contrast_claims(res: Conditions) -> list[Claim]:
    t = contrasts(res)
    t52, sdr = t["52"], stats.sd_ratio(res[5]["w1_bt"], res[2]["w1_bt"])
    mean = {c: res[c]["w1_bt"].mean() for c in CONDS}
    m = TH["nh_margin"]
    return [
        _claim(
            "n_o",
            f"mean W1 ∠ B^T: Cond. 1 {mean[1]:.2f}, Cond. 2 {mean[2]:.2f}, Cond. 4 "
            f"{mean[4]:.2f}, Cond. 6 {mean[6]:.2f} deg (n = {_n_draws(res)} each); Welch t: "
            f"2-1 {t['21'].t:.0f}, 6-2 {t['62'].t:.0f}, 2-4 {t['24'].t:.0f}",
            all(t[k].t > TH["min_t"] for k in ("21", "62", "24")),
        ),
        _claim(
            "n_b",
            f"mean W1 ∠ B^T: Cond. 2 {mean[2]:.2f} deg, Cond. 3 {mean[3]:.2f} deg; difference "
            f"{t['23'].mean:.2f} deg, Welch t = {t['23'].t:.0f}, n = {t['23'].n}",
            t["23"].t > TH["min_t"],
        ),
        _claim(
            "n_h_mean",
            f"difference Cond. 5 - Cond. 2 = {t52.mean:.3f} deg, 99% CI [{t52.ci99[0]:.3f}, "
            f"{t52.ci99[1]:.3f}], Welch t = {t52.t:.2f}, p = {t52.p:.3g}, n = {t52.n}",
            -m < t52.ci99[0] and t52.ci99[1] < m,
        ),
        _claim(
            "n_h_sd",
            f"SD Cond. 5 (n_h = 10) {res[5]['w1_bt'].std(ddof=1):.3f} deg, Cond. 2 (n_h = 100) "
            f"{res[2]['w1_bt'].std(ddof=1):.3f} deg; ratio {sdr.ratio:.2f}, 99% CI "
            f"[{sdr.ci[0]:.2f}, {sdr.ci[1]:.2f}]",
            sdr.ci[0] > TH["sd_ratio_min"],
        ),
    ]


def _mc(res: Conditions) -> tuple[dict[int, float], dict[int, float]]:
    """Fitted log-log slopes and final relative errors of the Monte Carlo mean of ``M``."""
    slopes = {c: pe.mc_slope(r["mc_n"], r["mc_err"]) for c, r in res.items()}
    return slopes, {c: float(r["mc_err"][-1]) for c, r in res.items()}


def _mc_claim(res: Conditions) -> Claim:
    slopes, final_err = _mc(res)
    return _claim(
        "mc",
        f"relative Frobenius error of the mean at n = {int(res[1]['mc_n'][-1])}: "
        + ", ".join(f"Cond. {c} {final_err[c]:.3f}" for c in res)
        + "; log-log slopes "
        + ", ".join(f"{slopes[c]:.2f}" for c in res),
        all(abs(s + 0.5) < TH["mc_slope_tol"] for s in slopes.values()),
    )


def _control_claim(angles: np.ndarray) -> Claim:
    tc = stats.ttest_1samp(angles, 90)
    return _claim(
        "control",
        str(tc),
        abs(tc.mean - 90) < TH["control_mean_margin"]
        and TH["control_sd_lo"] < tc.sd < TH["control_sd_hi"],
    )


# --------------------------------------------------------------------------- for the text


CONDITION = "condition $(n_i, n_h, n_o, n_b)$"
"""The header of the tables' column of conditions."""


def condition_label(c: int) -> str:
    """``"Cond. c (n_i, n_h, n_o, n_b)"``: a condition as the figures and tables name it."""
    d = CONDS[c]
    return f"Cond. {c} ({d.n_i}, {d.n_h}, {d.n_o}, {d.n_b})"


def setup_values(cfg: pe.PersistentErrorConfig) -> dict[str, object]:
    """The chapter's sizes and :data:`THRESHOLDS` (``th_<name>``), for its text."""
    from IPython.display import Markdown

    return {
        "scale": Markdown(config.scale()),
        "n_draws": cfg.n_draws,
        "n_control": cfg.n_control,
        "control_size": cfg.control_size,
        "sim_reps": cfg.sim_reps,
        "sim_iter": cfg.sim_iter,
        "sim_eta": cfg.sim_eta,
        "sim_dims": Markdown(", ".join(str(v) for v in cfg.sim_dims)),
        "nmax": max(c for c in cfg.checkpoints if c <= cfg.n_draws),
        **{f"th_{k}": v for k, v in THRESHOLDS.items()},
    }


def openloop_values(sim: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Final angles of the open loop (mean and largest over repetitions) and its rates."""
    conv = convergence(sim)
    return {
        "sim_w1_final": float(sim["w1_limit"][-1].mean()),
        "sim_w1_final_max": float(sim["w1_limit"][-1].max()),
        "sim_w0_final": float(sim["w0_limit"][-1].mean()),
        "sim_w0_final_max": float(sim["w0_limit"][-1].max()),
        "sim_w1_rate": float(conv["w1_rate"].mean()),
        "sim_w0_rate": float(conv["w0_rate"].mean()),
        "sim_gap_w1": float(conv["gap_w1"].max()),
        "sim_gap_dw0": float(conv["gap_dw0"].max()),
        "sim_w1bt_final": float(sim["w1_bt"][-1].mean()),
        "sim_dw0_final": float(sim["dw0"][-1].mean()),
    }


def condition_values(res: Conditions) -> dict[str, object]:
    """Per condition the mean and SD of both final angles, the largest, and their table.

    Returns
    -------
    dict
        ``w1_mean_<c>``, ``w1_sd_<c>``, ``dw0_mean_<c>``, ``dw0_sd_<c>`` for every condition
        ``c``, ``max_angle`` (of any draw, both panels) and ``summary`` (the table of
        Fig. 1B, C, a :class:`fa_lib.tables.Table`).
    """
    out: dict[str, object] = {}
    t1 = {c: stats.ttest_1samp(r["w1_bt"], 90) for c, r in res.items()}
    t0 = {c: stats.ttest_1samp(r["dw0"], 90) for c, r in res.items()}
    for c in res:
        out.update({f"w1_mean_{c}": t1[c].mean, f"w1_sd_{c}": t1[c].sd,
                    f"dw0_mean_{c}": t0[c].mean, f"dw0_sd_{c}": t0[c].sd})
    out["max_angle"] = _largest_angle(res)
    w1 = r"final $W_1 \angle B^T$, mean ± SD"
    dw0 = r"final $\Delta W_{0,FA} \angle \Delta W_{0,BP}$, mean ± SD"
    out["summary"] = tables.table(
        pd.DataFrame({
            CONDITION: [condition_label(c) for c in res],
            w1: [tables.pm(t1[c].mean, t1[c].sd, ".2f") for c in res],
            dw0: [tables.pm(t0[c].mean, t0[c].sd, ".2f") for c in res],
            "draws": [t1[c].n for c in res],
            "largest angle": [max(r["w1_bt"].max(), r["dw0"].max()) for r in res.values()],
        }),
        formats={"largest angle": ".2f"},
        units={w1: "°", dw0: "°", "largest angle": "°"},
    )
    return out


def spectral_values(eig: Mapping[str, np.ndarray], res: Conditions) -> dict[str, float]:
    """What the spectra of Fig. 1D predict, and the zero eigenvalues of Cond. 6.

    Returns
    -------
    dict
        ``spec_<c>``: the angle the spectrum of condition ``c`` predicts for a wide hidden
        layer (:func:`~fa_lib.experiments.persistent_error.spectral_angle`);
        ``spec_maxdev``: its largest distance to the mean of Fig. 1B; ``zeros_6`` and
        ``expected_6``: the zero eigenvalues of Cond. 6, found and forced.
    """
    spectral = {c: float(pe.spectral_angle(eig[f"eig{c}"])) for c in CONDS}
    return {
        **{f"spec_{c}": spectral[c] for c in CONDS},
        "spec_maxdev": float(max(abs(spectral[c] - res[c]["w1_bt"].mean()) for c in CONDS)),
        "zeros_6": int(eig["zeros"][list(CONDS).index(6)]),
        "expected_6": pe.expected_zero_eigenvalues(CONDS[6]),
    }


def contrast_values(res: Conditions) -> dict[str, float]:
    """Differences and Welch t of the contrasts (:func:`contrasts`), and the SD ratio 5/2."""
    t = contrasts(res)
    sdr = stats.sd_ratio(res[5]["w1_bt"], res[2]["w1_bt"])
    out = {}
    for name in ("21", "62", "24", "23"):
        out.update({f"diff_{name}": t[name].mean, f"t_{name}": t[name].t})
    t52 = t["52"]
    return {**out, "diff_52": t52.mean, "diff_52_lo": t52.ci99[0], "diff_52_hi": t52.ci99[1],
            "p_52": t52.p, "t_52": t52.t,
            "sdr": sdr.ratio, "sdr_lo": sdr.ci[0], "sdr_hi": sdr.ci[1]}


def mc_values(res: Conditions) -> dict[str, float]:
    """Range of the Monte Carlo slopes and of the final relative errors over conditions."""
    slopes, final_err = _mc(res)
    return {"slope_min": min(slopes.values()), "slope_max": max(slopes.values()),
            "err_max": max(final_err.values()), "err_min": min(final_err.values())}


def control_values(angles: np.ndarray) -> dict[str, float]:
    """Mean, SD, 99% CI, p (against 90 degrees) and n of the control ``AB ∠ A``."""
    tc = stats.ttest_1samp(angles, 90)
    return {"ctl_mean": tc.mean, "ctl_sd": tc.sd, "ctl_lo": tc.ci99[0], "ctl_hi": tc.ci99[1],
            "ctl_p": tc.p, "ctl_n": tc.n}


def variant_values(res: Conditions, fixed: Conditions) -> dict[str, object]:
    """The variant with one ``E``, ``X`` per condition against the draws of the code.

    Parameters
    ----------
    res, fixed : mapping of int to dict of ndarray
        Condition -> its draws, with ``E``, ``X``, ``B`` redrawn (``res``) and with only
        ``B`` redrawn (``fixed``).

    Returns
    -------
    dict
        ``variant``: the table of both (:class:`fa_lib.tables.Table`); ``var_maxdiff``:
        the largest change of a condition's mean ``W_1 ∠ B^T``.
    """
    def pm(d: Mapping[str, np.ndarray]) -> str:
        return tables.pm(d["w1_bt"].mean(), d["w1_bt"].std(ddof=1), ".2f")

    redrawn, kept = r"$W_1 \angle B^T$, $E$, $X$, $B$ redrawn", r"$W_1 \angle B^T$, $E$, $X$ fixed"
    dw0 = {r"$\Delta W_0$ angle, redrawn": res, r"$\Delta W_0$ angle, fixed": fixed}
    table = tables.table(
        pd.DataFrame({
            CONDITION: [condition_label(c) for c in CONDS],
            redrawn: [pm(res[c]) for c in CONDS],
            kept: [pm(fixed[c]) for c in CONDS],
            **{name: [d[c]["dw0"].mean() for c in CONDS] for name, d in dw0.items()},
        }),
        formats=dict.fromkeys(dw0, ".2f"),
        units={redrawn: "° mean ± SD", kept: "° mean ± SD", **dict.fromkeys(dw0, "° mean")},
    )
    maxdiff = max(abs(res[c]["w1_bt"].mean() - fixed[c]["w1_bt"].mean()) for c in CONDS)
    return {"variant": table, "var_maxdiff": float(maxdiff)}
