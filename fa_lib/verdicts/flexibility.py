"""The flexibility chapter's claims (Sec. 2.6, Fig. 8, Supp. Note 4 and Fig. S3), and its numbers.

Every claim and every number the chapter's text quotes is computed here from the
chapter's runs (:func:`fa_lib.experiments.flexibility.results`, read from the results
cache): :func:`claims` for the "Reproduced?" table, :func:`setup_values`,
:func:`values` and :func:`verdict_values` for the text (glued by the notebook with the
prefix ``fx_``). The criteria are small functions of the per-repetition statistics
(:func:`stays_below`, :func:`restored`, :func:`almost_matches`, :func:`mostly_inactive`,
:func:`ls_improves`, :func:`less_sensitive`); a NaN in their data (a diverged run) makes
them fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fa_lib import config, stats, tables
from fa_lib.claims import REPRODUCED, Claim
from fa_lib.experiments import flexibility as fx
from fa_lib.verdicts.common import count, markdown, mean_sd

CHAPTER = fx.CHAPTER

THRESHOLDS = fx.THRESHOLDS
"""The margins of the claims (:data:`fa_lib.experiments.flexibility.THRESHOLDS`, where the
run summaries use ``collapse``): ``drop``, ``restored``, ``restored_ratio``, ``matches``
(points of test accuracy), ``most`` (a fraction of the entries of ``Z_5``) and
``ls_share`` (a fraction of the Fig. S3 grid points)."""

CHANCE = 20.0
"""Test accuracy (%) below which a run at the text's learning rate "does not learn" in
the text (chance is 10%)."""
MOSTLY_SILENT = 0.1
"""The text calls the inactive entries of ``Z_5`` "almost all silent" when the saturated
share is below this fraction of the silent share, for BP and FA without WN."""

Runs = Mapping[str, Mapping[str, np.ndarray]]
"""Run name -> the arrays the run recorded."""


def load() -> dict[str, Mapping[str, np.ndarray]]:
    """Every run of the chapter (:func:`fa_lib.experiments.flexibility.configs`), by name."""
    return {name: fx.results(name) for name in fx.configs()}


def gamma_name(gamma: float | None) -> str:
    """A WN gamma as the chapter writes it: ``"none"`` for no WN (None or NaN), else ``"0.6"``."""
    return "none" if gamma is None or gamma != gamma else f"{gamma:g}"


def loss(phase: Mapping[str, np.ndarray]) -> float:
    """Points of test accuracy lost after the change: minus the mean of ``phase["drop"]``."""
    return float(-np.mean(phase["drop"]))


# ------------------------------------------------------------------------------ criteria


def stays_below(drop: np.ndarray) -> bool:
    """Phase 2 ends below phase 1 in every repetition, by more than ``drop`` points on average.

    Parameters
    ----------
    drop : array_like, shape (R,)
        Per repetition, phase-2 minus phase-1 accuracy (points).
    """
    d = np.asarray(drop, dtype=float)
    return bool(np.all(d < 0) and -np.mean(d) > THRESHOLDS["drop"])


def restored(loss_wn: float, loss_plain: float) -> bool:
    """WN restores learning after the change of codes.

    Its mean loss ``loss_wn`` (points) is below ``restored`` points and below
    ``restored_ratio`` times the loss without WN, ``loss_plain``.
    """
    return bool(loss_wn < THRESHOLDS["restored"]
                and loss_wn < THRESHOLDS["restored_ratio"] * loss_plain)


def almost_matches(gap_wn: float, plain_ci99_high: float) -> bool:
    """FA + WN ends within ``matches`` points of BP + WN, and without WN FA is inferior to BP.

    Parameters
    ----------
    gap_wn : float
        Mean FA + WN minus mean BP + WN after the change (points).
    plain_ci99_high : float
        Upper end of the 99% CI of FA minus BP without WN (below 0: FA is inferior).
    """
    return bool(abs(gap_wn) < THRESHOLDS["matches"] and plain_ci99_high < 0)


def mostly_inactive(plain: Sequence[np.ndarray], wn: Sequence[np.ndarray]) -> bool:
    """Most entries of ``Z_5`` silent or saturated without WN, more than with WN.

    Parameters
    ----------
    plain, wn : sequence of array_like, shape (R,)
        Per run (BP, FA), the share of silent or saturated entries per repetition, without
        and with WN. The share must exceed ``most`` in every repetition without WN, and its
        mean the mean with WN, for every run.
    """
    return bool(all(np.all(np.asarray(p, dtype=float) > THRESHOLDS["most"]) for p in plain)
                and all(np.mean(p) > np.mean(w) for p, w in zip(plain, wn, strict=True)))


def ls_improves(gains: np.ndarray) -> bool:
    """Label smoothing raises the median at at least ``ls_share`` of the grid points.

    Parameters
    ----------
    gains : array_like, shape (points,)
        Median with minus median without label smoothing per grid point (points); a NaN
        (a grid point without a median) fails the claim.
    """
    g = np.asarray(gains, dtype=float)
    return bool(g.size > 0 and np.all(np.isfinite(g)) and np.mean(g > 0) >= THRESHOLDS["ls_share"])


def less_sensitive(spread_off: np.ndarray, spread_on: np.ndarray) -> bool:
    """The range of the medians over gamma is smaller with label smoothing, everywhere.

    Parameters
    ----------
    spread_off, spread_on : array_like, shape (methods x etas,)
        Range of the median final accuracy over the WN gammas without and with label
        smoothing, per method and learning rate.
    """
    off, on = np.asarray(spread_off, dtype=float), np.asarray(spread_on, dtype=float)
    return bool(off.size > 0 and np.all(on < off))


# -------------------------------------------------------------------------------- claims


def phases(runs: Runs) -> dict[str, dict[str, np.ndarray]]:
    """Per run, the phase accuracies (:func:`fa_lib.experiments.flexibility.phase_accuracy`)."""
    return {name: fx.phase_accuracy(res) for name, res in runs.items()}


def unit_states(runs: Runs) -> dict[str, dict[str, np.ndarray]]:
    """Per run of Fig. 8, the silent and saturated entries of ``Z_5`` at the change."""
    return {n: fx.unit_states(runs[n]["z_snapshot"]) for n in fx.fig8()}


def s3_tables(runs: Runs) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Fig. S3 grid, its label-smoothing pairs and its spreads over gamma.

    As :func:`~fa_lib.experiments.flexibility.s3_summary`,
    :func:`~fa_lib.experiments.flexibility.ls_pairs` and
    :func:`~fa_lib.experiments.flexibility.gamma_spread` compute them.
    """
    s3 = pd.DataFrame(fx.s3_summary(runs))
    rows = s3.to_dict("records")
    return s3, pd.DataFrame(fx.ls_pairs(rows)), pd.DataFrame(fx.gamma_spread(rows))


def _phase_change(phase: Mapping[str, dict[str, np.ndarray]], name: str) -> str:
    a = phase[name]
    before, after = mean_sd(a["before_last"], "%"), mean_sd(a["after_last"], "%")
    return (f"{fx.LABELS[name]}: {before} -> {after} "
            f"(change {np.mean(a['drop']):+.1f}, lower in {int(np.sum(a['drop'] < 0))} of "
            f"{len(a['drop'])} repetitions)")


def _restored_criterion(both: bool) -> str:
    return (f"with WN the mean loss after the change is below {THRESHOLDS['restored']:g} points "
            f"and below {THRESHOLDS['restored_ratio']:g} x the loss without WN"
            + (", for both methods" if both else ""))


def _gaps(phase: Mapping[str, dict[str, np.ndarray]]) -> dict[str, object]:
    """FA minus BP after the change, with and without WN, and FA + WN minus FA."""
    after = {n: phase[n]["after_last"] for n in fx.fig8()}
    return {"gap_wn": np.mean(after["fa_wn"]) - np.mean(after["bp_wn"]),
            "gap": np.mean(after["fa"]) - np.mean(after["bp"]),
            "lift": np.mean(after["fa_wn"]) - np.mean(after["fa"]),
            "cmp_wn": stats.ttest_ind(after["fa_wn"], after["bp_wn"]),
            "cmp": stats.ttest_ind(after["fa"], after["bp"])}


def _match_claim(phase: Mapping[str, dict[str, np.ndarray]], paper: bool) -> Claim:
    g = _gaps(phase)
    cmp_wn, cmp = g["cmp_wn"], g["cmp"]
    measured = (
        f"after the change, FA minus BP: {g['gap_wn']:+.1f} points with WN (Welch t = "
        f"{cmp_wn.t:.2f}, p = {cmp_wn.p:.2g}, 99% CI [{cmp_wn.ci99[0]:.1f}, "
        f"{cmp_wn.ci99[1]:.1f}]), {g['gap']:+.1f} without (t = {cmp.t:.2f}, p = {cmp.p:.2g}, "
        f"99% CI [{cmp.ci99[0]:.1f}, {cmp.ci99[1]:.1f}]); n = {fx.config()['reps']} per run")
    if paper:  # not reproduced at paper scale (see the text); what holds instead
        instead = (f"FA + WN ends below BP + WN, and more than {THRESHOLDS['restored']:g} "
                   "points above FA without WN")
        instead_holds = g["gap_wn"] < 0 and g["lift"] > THRESHOLDS["restored"]
    else:  # quick scale: the gap changes by several points from seed to seed
        instead, instead_holds = "FA + WN ends above FA without WN", g["lift"] > 0
    return Claim(
        CHAPTER,
        "With WN, FA almost matches BP after the change of codes; without WN it is inferior "
        "(Fig. 8A).",
        measured, almost_matches(g["gap_wn"], cmp.ci99[1]),
        f"|mean FA + WN - mean BP + WN| after the change below {THRESHOLDS['matches']:g} "
        "points, and the 99% CI of FA - BP without WN below 0",
        asserted=paper, instead=instead, instead_holds=bool(instead_holds))


def _states_claim(states: Mapping[str, dict[str, np.ndarray]]) -> Claim:
    measured = "; ".join(
        f"{fx.LABELS[n]}: silent {100 * np.mean(states[n]['silent']):.1f} ± "
        f"{100 * np.std(states[n]['silent'], ddof=1):.1f}%, saturated "
        f"{100 * np.mean(states[n]['saturated']):.2f}%, mean f' "
        f"{np.mean(states[n]['mean_df']):.3f}" for n in fx.fig8())
    return Claim(
        CHAPTER,
        "Without WN most last-layer units are saturated or silent (f'(Z_5) = 0) at epoch 100, "
        "more than with WN (Fig. 8B).",
        measured + f" of the entries of Z_5 (mean ± SD, n = {fx.config()['reps']})",
        mostly_inactive([states[n]["either"] for n in ("bp", "fa")],
                        [states[n + "_wn"]["either"] for n in ("bp", "fa")]),
        f"silent + saturated above {100 * THRESHOLDS['most']:g}% of the entries in every "
        "repetition without WN, and above the share with WN on average")


def _s3_claims(runs: Runs, paper: bool) -> list[Claim]:
    s3, pairs, spread = s3_tables(runs)
    found = [Claim(
        CHAPTER,
        "Label smoothing improves flexibility: higher final accuracy after the change (Supp. "
        "Note 4, Fig. S3).",
        "median final accuracy without -> with LS: " + "; ".join(
            f"{r['method']} eta {r['eta']:g} gamma {gamma_name(r['gamma'])}: "
            f"{r['median_off']:.1f} -> {r['median_on']:.1f}%" for _, r in pairs.iterrows())
        + f" (n = {fx.config()['s3_reps']} per point)",
        ls_improves(pairs["gain"] if len(pairs) else []),
        f"the median is higher with LS at at least {100 * THRESHOLDS['ls_share']:g}% of the grid "
        "points")]
    if len(spread) and spread["n_gammas"].min() >= 3:  # a sweep over gamma (paper scale)
        wide = spread.pivot_table(index=["method", "eta"], columns="label smoothing",
                                  values="spread")
        extra = {}
        if paper:  # not reproduced at paper scale: with LS the range is wider everywhere
            extra = {"instead": "with LS the range over gamma is wider for every method and eta",
                     "instead_holds": bool(np.all(wide[True] > wide[False]))}
        found.append(Claim(
            CHAPTER,
            "Label smoothing makes flexibility less sensitive to gamma (Supp. Note 4, Fig. S3).",
            "range of the median final accuracy over the WN gammas, without / with LS: "
            + "; ".join(f"{m.upper()} eta {e:g}: {row[False]:.1f} / {row[True]:.1f} points"
                        for (m, e), row in wide.iterrows()),
            less_sensitive(wide[False], wide[True]),
            "smaller range with LS for every method and eta", **extra))
    return found


def claims(runs: Runs | None = None) -> list[Claim]:
    """Every claim the chapter checks, at the current scale.

    Parameters
    ----------
    runs : mapping, optional
        Run name -> results (default: :func:`load`, from the results cache).

    Returns
    -------
    list of Claim
        Fig. 8A (three claims), FA + WN with ``B`` normalised, Fig. 8B, and Fig. S3 (label
        smoothing; its sensitivity to gamma only where the grid sweeps gamma). "FA almost
        matches BP" is asserted at paper scale only.
    """
    runs = load() if runs is None else runs
    paper = config.scale() == "paper"
    phase = phases(runs)
    lost = {n: loss(phase[n]) for n in phase}
    welch = {m: stats.ttest_ind(phase[f"{m}_wn"]["after_last"], phase[m]["after_last"])
             for m in ("bp", "fa")}
    return [
        Claim(CHAPTER,
              "Without WN, test accuracy in the second phase does not reach that of the first, "
              "for BP and FA (Fig. 8A).",
              "; ".join(_phase_change(phase, n) for n in ("bp", "fa"))
              + " (phase means of the last epochs, mean ± SD)",
              stays_below(phase["bp"]["drop"]) and stays_below(phase["fa"]["drop"]),
              f"phase 2 below phase 1 in every repetition, by more than "
              f"{THRESHOLDS['drop']:g} points on average"),
        Claim(CHAPTER,
              "WN restores the ability to learn the new codes, for BP and FA (Fig. 8A).",
              "; ".join(_phase_change(phase, n) for n in ("bp_wn", "fa_wn"))
              + "; phase-2 accuracy with minus without WN: " + "; ".join(
                  f"{m.upper()} {w.mean:+.1f} points (Welch t = {w.t:.2f}, p = {w.p:.2g})"
                  for m, w in welch.items()),
              restored(lost["bp_wn"], lost["bp"]) and restored(lost["fa_wn"], lost["fa"]),
              _restored_criterion(both=True)),
        _match_claim(phase, paper),
        Claim(CHAPTER,
              "WN restores the ability to learn the new codes for FA also with B normalised at "
              "the start (Methods 4.4).",
              _phase_change(phase, "fa_wn_b_normalised") + "; without WN: "
              + _phase_change(phase, "fa"),
              restored(lost["fa_wn_b_normalised"], lost["fa"]), _restored_criterion(both=False)),
        _states_claim(unit_states(runs)),
        *_s3_claims(runs, paper),
    ]


# ------------------------------------------------------------------------ the text's numbers


def setup_values() -> dict[str, object]:
    """The chapter's settings at the current scale, by glue name (without the ``fx_`` prefix)."""
    s, base = fx.config(), fx.fig8()["fa"]
    n_paper = (len(fx.PAPER["s3_methods"]) * len(fx.PAPER["s3_etas"])
               * len(fx.PAPER["s3_gammas"]) * len(fx.PAPER["s3_ls"]))
    sizes = ("reps", "phase_epochs", "n_batches", "batch_size", "last", "s3_reps", "text_reps")
    return {
        "scale": markdown(config.scale()),
        **{key: s[key] for key in sizes},
        "n_test": markdown(f"{s['n_test']:,}" if s["n_test"] else "all 10,000"),
        "eta": fx.AUTHORS_ETA, "eta_used": base.rule.eta, "text_eta": fx.TEXT_ETA,
        "text_eta_used": fx.fig8_variants()["fa_text_eta"].rule.eta, "gamma": fx.GAMMA,
        "init_sd": base.init_sd, "epochs": base.epochs,
        "images": s["n_batches"] * s["batch_size"], "sat_df": fx.SATURATION_DF,
        "sat_z": float(np.arccosh(1 / np.sqrt(fx.SATURATION_DF))),
        "s3_gammas": markdown(", ".join(gamma_name(g) for g in s["s3_gammas"])),
        "s3_etas": markdown(", ".join(f"{e:g}" for e in s["s3_etas"])),
        "s3_methods": markdown(", ".join(m.upper() for m in s["s3_methods"])),
        "s3_points": len(fx.s3_grid()),
        "ls": markdown(f"zeros → {fx.LS_CODE[0]:g}, ones → {fx.LS_CODE[1]:g}"),
        "s3_n_paper": n_paper, "s3_factor": n_paper // len(fx.fig8()),
    }


def _fig8_values(runs: Runs, phase: Mapping[str, dict[str, np.ndarray]]) -> dict[str, object]:
    """Phase accuracies, losses and the last layer's state of Fig. 8; the FA - BP gaps."""
    states = unit_states(runs)
    out: dict[str, object] = {}
    for n in fx.fig8():
        out[f"{n}_before"] = float(np.mean(phase[n]["before_last"]))
        out[f"{n}_after"] = float(np.mean(phase[n]["after_last"]))
        out[f"lost_{n}"] = loss(phase[n])
        out[f"silent_{n}"] = 100 * float(np.mean(states[n]["silent"]))
        out[f"sat_{n}"] = 100 * float(np.mean(states[n]["saturated"]))
        out[f"df_{n}"] = float(np.mean(states[n]["mean_df"]))
    mostly_silent = all(np.mean(states[n]["saturated"]) < MOSTLY_SILENT
                        * np.mean(states[n]["silent"]) for n in ("bp", "fa"))
    # Glued Markdown is rendered as CommonMark: no math, so the symbols are written out.
    out["mech"] = markdown(
        "the entries whose *f′* vanishes are almost all silent (*z* ≤ 0, where *f′* = 0 "
        "exactly), not saturated at the top of tanh." if mostly_silent
        else "silent and saturated entries both contribute to the vanishing *f′*.")
    g = _gaps(phase)
    cmp_wn, cmp = g["cmp_wn"], g["cmp"]
    out["gap_wn"], out["gap"] = float(g["gap_wn"]), float(g["gap"])
    matches = abs(g["gap_wn"]) < THRESHOLDS["matches"]
    verdict = (
        f"With our margin of {THRESHOLDS['matches']:g} points the claim "
        + ("holds" if matches else "does not reproduce")
        + f" at this scale: FA + WN ends {abs(g['gap_wn']):.1f} points "
        + ("below" if g["gap_wn"] < 0 else "above")
        + f" BP + WN (99% CI of the difference [{cmp_wn.ci99[0]:.1f}, {cmp_wn.ci99[1]:.1f}]). "
        + ("Without WN FA is inferior to BP, as the paper says." if cmp.ci99[1] < 0
           else "The contrast the paper draws does not appear either: without WN FA is not "
           f"inferior to BP (99% CI of the difference [{cmp.ci99[0]:.1f}, {cmp.ci99[1]:.1f}])."))
    out["match_verdict"] = markdown(verdict if config.scale() == "paper" else "")
    return out


def _variant_values(phase: Mapping[str, dict[str, np.ndarray]]) -> dict[str, object]:
    """FA + WN with ``B`` normalised, and the four runs at the text's learning rate."""
    text = {n: phase[n + "_text_eta"] for n in fx.fig8()}
    dead = [fx.LABELS[n] for n in fx.fig8() if np.mean(text[n]["before_last"]) < CHANCE]
    alive = [n for n in fx.fig8() if np.mean(text[n]["before_last"]) >= CHANCE]
    parts = []
    if dead:
        parts.append(" and ".join(dead) + f" do{'es' if len(dead) == 1 else ''} not learn "
                     f"(below {CHANCE:g}% in phase 1)")
    if alive:
        parts.append("; ".join(
            f"{fx.LABELS[n]} reaches {np.mean(text[n]['before_last']):.1f}% in phase 1 "
            f"({np.mean(phase[n]['before_last']):.1f}% at the code's rate) and "
            f"{np.mean(text[n]['after_last']):.1f}% after the change" for n in alive))
    return {
        "fa_wn_b_normalised_before": float(np.mean(phase["fa_wn_b_normalised"]["before_last"])),
        "lost_bn": loss(phase["fa_wn_b_normalised"]),
        "bn_diff": loss(phase["fa_wn_b_normalised"]) - loss(phase["fa_wn"]),
        "lost_wn": loss(phase["fa_wn"]),
        "text_summary": markdown(
            ", ".join(f"{fx.LABELS[n]} {np.mean(text[n]['before_last']):.1f}%" for n in fx.fig8())
            + f" (n = {fx.config()['text_reps']})"),
        "text_verdict": markdown(
            "; ".join(parts) + "." + (
                f" The paper's {' and '.join(dead)} curve{'s' if len(dead) > 1 else ''} "
                "cannot have been made with the text's rate (the authors' notebook uses 0.0003)."
                if dead else "")),
    }


def _s3_verdict(s3: pd.DataFrame, pairs: pd.DataFrame) -> str:
    """Where label smoothing helps, per WN gamma, and whether some gamma does not learn."""
    by_gamma = fx.ls_gain_by_gamma(pairs.to_dict("records"))
    if len(by_gamma) <= 1:
        return ""
    verdict = ("Averaged over methods and learning rates, label smoothing changes the median by "
               + ", ".join(f"{g['mean_gain']:+.1f} points "
                           + ("without WN" if g["gamma"] is None else f"at gamma {g['gamma']:g}")
                           for g in by_gamma) + ".")
    names = [gamma_name(g) for g in s3["gamma"]]
    best_before = s3.groupby(names)["median before"].max()
    lowest = best_before.drop("none").idxmin()
    no_wn_before = s3[[n == "none" for n in names]]["median before"]
    if best_before[lowest] < no_wn_before.min():
        verdict += (
            f" At gamma = {lowest} the network does not learn even the first codes: at the end "
            f"of phase 1 its medians reach at most {best_before[lowest]:.0f}%, below every grid "
            f"point without WN (at least {no_wn_before.min():.0f}%), with or without LS; that "
            "part of the range over gamma measures learning, not flexibility.")
    return verdict


def _collapse_note(s3: pd.DataFrame) -> str:
    """The repetitions of the grid that lose, before the change, what they had learned."""
    fall = THRESHOLDS["collapse"]
    hit = s3[s3["collapsed"] > 0]
    if not len(hit):
        return ("No repetition of the grid loses, before the change, what it had learned "
                f"(phase 1 never ends more than {fall:g} points below its best epoch), so the "
                "final accuracies measure the change of codes.")
    return (
        f"Some runs are unstable rather than inflexible: in {int(hit['collapsed'].sum())} of the "
        f"{int(s3['n'].sum())} repetitions of the grid, phase 1 ends more than {fall:g} points "
        "below its own best epoch, before the codes change (" + "; ".join(
            f"{r['method']} eta {r['eta']:g} gamma {gamma_name(r['gamma'])}"
            f"{', LS' if r['label smoothing'] else ''}: {r['collapsed']} of {r['n']}"
            for _, r in hit.iterrows())
        + "). Their low final accuracy measures this collapse, not the change of codes; the "
        "figure keeps them (median and range over all repetitions, as in the paper's figure).")


def _grid_size(sizes: Mapping) -> tuple[int, str]:
    """The points of one Fig. S3 panel for a scale's ``sizes``, and how they are made up."""
    methods, etas, gammas = (len(sizes[k]) for k in ("s3_methods", "s3_etas", "s3_gammas"))
    return methods * etas * gammas, (
        f"{count(methods, 'method')} × {count(etas, 'learning rate')} × "
        f"{count(gammas, 'setting')} of WN $\\gamma$, {count(sizes['s3_reps'], 'repetition')} each")


def _s3_values(runs: Runs) -> dict[str, object]:
    """Fig. S3: label smoothing per grid point, the spread over gamma, collapsed runs, cost."""
    s3, pairs, spread = s3_tables(runs)
    gammas = list(dict.fromkeys(gamma_name(g) for g in s3["gamma"]))
    sweep = len(spread) and spread["n_gammas"].min() >= 3
    note = ("Over the WN gammas the medians spread by " + "; ".join(
        f"{r['method']} eta {r['eta']:g}: {r['spread']:.1f} points "
        f"{'with' if r['label smoothing'] else 'without'} LS" for _, r in spread.iterrows())
        + "." if sweep else "This scale's grid has no sweep over gamma, so the sensitivity to "
        "gamma is checked at paper scale only.")
    n_shown, shown = _grid_size(fx.config())
    n_paper, paper = _grid_size(fx.PAPER)
    scale_note = (f"Each panel shows {count(n_shown, 'point')} ({shown}), WN $\\gamma$: "
                  f"{', '.join('no WN' if g == 'none' else g for g in gammas)}")
    if n_shown < n_paper:
        scale_note += (f"; at the {config.scale()} scale the grid is a small part of the "
                       f"paper's, which has {n_paper} points per panel ({paper})")
    scale_note += "."
    s3_runs = set(fx.s3_grid().values())
    return {
        "s3_note": markdown(note), "s3_verdict": markdown(_s3_verdict(s3, pairs)),
        "collapse_note": markdown(_collapse_note(s3)), "s3_scale_note": markdown(scale_note),
        "ls_pairs": len(pairs), "ls_better": int((pairs["gain"] > 0).sum()),
        "ls_gain": float(pairs["gain"].mean()),
        "fig8_minutes": float(sum(float(runs[n]["seconds"]) for n in fx.fig8()) / 60),
        "s3_runs": len(s3_runs),
        "s3_hours": float(sum(float(runs[n]["seconds"]) for n in s3_runs) / 3600),
    }


def values(runs: Runs | None = None) -> dict[str, object]:
    """The numbers and sentences the chapter's text quotes from ``runs`` (as :func:`claims`).

    Returns numbers for ``{glue:text}`` and Markdown for ``{glue:md}`` by glue name, without
    the chapter's prefix ``fx_``.
    """
    runs = load() if runs is None else runs
    phase = phases(runs)
    return {**_fig8_values(runs, phase), **_variant_values(phase), **_s3_values(runs)}


def verdict_values(chapter_claims: Sequence[Claim]) -> dict[str, object]:
    """How many claims reproduce, and which, by glue name (``n_claims``, ``list_holds``...)."""
    holds = [c.statement for c in chapter_claims if c.verdict == REPRODUCED]
    fails = [c.statement for c in chapter_claims if c.verdict != REPRODUCED]
    return {"n_claims": len(chapter_claims), "n_holds": len(holds),
            "list_holds": markdown("; ".join(holds) or "none."),
            "list_fails": markdown("; ".join(fails) or "none.")}


ETA, GAMMA = r"$\eta$", r"WN $\gamma$"
"""The headers of a learning rate and of the WN gamma in the chapter's tables."""


def fig8_table(runs: Runs) -> tables.Table:
    """Fig. 8 and its variants: accuracy before the change and at the end, the change."""
    acc = pd.DataFrame(fx.accuracy_table({n: runs[n] for n in fx.fig8_names()}))
    shown = acc.drop(columns=["method"])
    for col in [c for c in shown.columns if c.endswith(" mean (%)")]:
        sd = col.replace(" mean (%)", " SD (%)")
        shown[col] = [tables.pm(a, s) for a, s in zip(shown[col], shown[sd], strict=True)]
        shown = shown.drop(columns=[sd]).rename(columns={col: col.replace(" mean (%)", "")})
    epochs = [c for c in shown.columns if c.startswith("epoch ")]
    shown = shown.rename(columns={"change (last-epochs means, %)": "change",
                                  "eta (batch 1000)": f"{ETA} (batch 1000)",
                                  "WN gamma": GAMMA})
    return tables.table(
        shown,
        formats={f"{ETA} (batch 1000)": "{:.2g}", GAMMA: "{:g}", "change": "+.1f",
                 "diverged at": tables.sentinel(-1, "never", ",d")},
        units={**dict.fromkeys(epochs, "% mean ± SD"), "change": "points",
               "diverged at": "iteration"},
        missing_note="no WN (WN γ, B normalised)")


def s3_table(s3: pd.DataFrame) -> tables.Table:
    """Fig. S3 per grid point: accuracy before and after the change, collapsed repetitions."""
    accuracies = ["median before", "median", "min", "max"]
    shown = s3.assign(
        gamma=[gamma_name(g) for g in s3["gamma"]],
        **{"label smoothing": s3["label smoothing"].map({True: "on", False: "off"})},
    ).drop(columns=["run", "diverged at"]).rename(columns={"eta": ETA, "gamma": GAMMA})
    return tables.table(
        shown, formats={ETA: "{:g}", **dict.fromkeys(accuracies, ".1f")},
        units=dict.fromkeys(accuracies, "%"),
        note="Fig. S3 per grid point: test accuracy at the end of phase 1 (median before) and "
        "after the change (median, min, max over n repetitions), and the repetitions that "
        "collapsed before the change.")
