"""The claims of the chapter "Alignment and depth in trained networks", and its numbers.

The chapter is beyond the paper: its own hypotheses
(:data:`fa_lib.experiments.deep_networks.HYPOTHESES`) are decided in its tables; the
claim it checks is the completeness of its design (:func:`claims`). The sentences its
text quotes are computed here too (:func:`setup_values`, :func:`values`; glued by the
notebook with the prefix ``dn_``), from the chapter's runs read from the results cache
(:func:`load`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fa_lib import config, stats
from fa_lib.claims import Claim
from fa_lib.experiments import deep_networks as dn
from fa_lib.verdicts.common import complete, markdown

CHAPTER = dn.CHAPTER

THRESHOLDS = dn.THRESHOLDS
"""The margins of the chapter's hypotheses (:data:`fa_lib.experiments.deep_networks.THRESHOLDS`,
where the hypotheses state them); the design's claim compares with none."""

Runs = Mapping[str, Mapping[str, np.ndarray]]
"""Run name -> the arrays the run recorded."""


def load() -> dict[str, Mapping[str, np.ndarray]]:
    """Every run of the chapter (:func:`fa_lib.experiments.deep_networks.configs`), by name."""
    return {name: dn.results(name) for name in dn.configs()}


def update_angles(runs: Runs) -> dict[str, np.ndarray]:
    """Per FA run, the last-epoch update angle to BP per repetition and layer."""
    return {n: dn.last_epoch(res, "dw_bp") for n, res in runs.items() if "dw_bp" in res}


def product_errors(runs: Runs) -> dict[str, np.ndarray]:
    """Per FA run, measured minus predicted angle of every backward product.

    See :func:`fa_lib.experiments.deep_networks.product_error`.
    """
    return {n: dn.product_error(res) for n, res in runs.items() if "prod_bt" in res}


# ------------------------------------------------------------------------------ criteria


def undefined_values(runs: Runs) -> list[str]:
    """The values of ``runs`` that should be defined and are not (NaN), as ``"run: value"``.

    A diverged run is left out. Every run must have every final accuracy; an FA run every
    product angle of a repetition whose network made updates in the last epoch.
    """
    dw, err = update_angles(runs), product_errors(runs)
    undefined = []
    for n, res in runs.items():
        if int(res["diverged_at"]) >= 0:
            continue
        if not np.all(np.isfinite(dn.final_accuracy(res))):
            undefined.append(f"{n}: accuracy")
        if n in err:
            alive = ~np.all(np.isnan(dw[n]), axis=-1)
            if not np.all(np.isfinite(err[n][alive])):
                undefined.append(f"{n}: product angles")
    return undefined


# -------------------------------------------------------------------------------- claims


def claims(runs: Runs | None = None) -> list[Claim]:
    """The chapter's claim: every rule at every depth computed, every defined value defined.

    Parameters
    ----------
    runs : mapping, optional
        The chapter's runs by name; None reads them from the results cache (:func:`load`).
    """
    runs = load() if runs is None else runs
    missing = [n for n in dn.configs() if n not in runs]
    undefined = undefined_values(runs)
    diverged = [n for n, res in runs.items() if int(res["diverged_at"]) >= 0]
    return [Claim(
        CHAPTER,
        "The whole design was computed: every rule at every depth, with every value "
        "that is defined.",
        f"{len(runs)} runs ({len(dn.config()['hidden'])} depths x {len(dn.RULES)} rules); missing: "
        f"{missing or 'none'}; undefined values: {undefined or 'none'}; diverged: "
        f"{diverged or 'none'}",
        complete(missing, undefined),
        "no run missing, no NaN where a value is defined")]


# ------------------------------------------------------------------------ the text's numbers


def setup_values() -> dict[str, object]:
    """The chapter's settings at the current scale, by glue name (without the ``dn_`` prefix)."""
    s = dn.config()
    return {
        "scale": config.scale(), "gamma": float(dn.GAMMA),
        "hidden": ", ".join(str(h) for h in s["hidden"]),
        "eta_fa": f"{dn.FA_ETA:g}", "eta_bp": f"{dn.BP_ETA:g}",
        "reps": str(s["reps"]), "epochs": str(s["epochs"]),
        "margin": float(THRESHOLDS["prediction"]),
        "hypotheses": markdown("\n".join(f"- **{key}**: {text}."
                                          for key, text in dn.HYPOTHESES.items())),
        "scale_note": markdown(
            "" if config.scale() == "paper" else
            "At the quick scale the networks train for a few hundred steps and fewer depths, so "
            "the verdicts below describe early training."),
    }


def _follow_text(runs: Runs, dw: Mapping[str, np.ndarray]) -> str:
    """How closely the update angles follow the angles of the products carrying their errors."""
    xs, ys = [], []
    for rule in ("fa", "fa_wn"):
        for h in dn.config()["hidden"]:
            n = dn.run_name(rule, h)
            xs.append(dn.last_epoch(runs[n], "prod_bt").ravel())  # columns l = 1..d-1
            ys.append(dw[n][:, :h].ravel())  # dW_0 .. dW_{d-2}, made from delta_1 .. delta_{d-1}
    x, y = np.concatenate(xs), np.concatenate(ys)
    ok = np.isfinite(x) & np.isfinite(y)
    r = float(np.corrcoef(x[ok], y[ok])[0, 1])
    return (
        f"Over every FA network, layer and repetition, the last-epoch update angle "
        f"$dW_\\ell \\angle dW_{{\\ell,BP}}$ and the angle of the product that carries its error "
        f"correlate with r = {r:.2f} (n = {int(ok.sum())}); the update angle is "
        f"{np.mean(y[ok] - x[ok]):+.1f}° from the product angle on average (the masks "
        "$f'(Z)$ and the layer's input add to the product's misalignment).")


def _prediction_text(err: Mapping[str, np.ndarray]) -> str:
    """Hypothesis "prediction" over every product with more than one factor."""
    hidden = dn.config()["hidden"]
    verdicts = [stats.within(stats.ttest_1samp(e[:, ell], 0.0, finite_only=True),
                             THRESHOLDS["prediction"])
                for rule in ("fa", "fa_wn") for h in hidden
                for e in [err[dn.run_name(rule, h)]] for ell in range(e.shape[1] - 1)]
    if not verdicts:
        return "At this scale no network has two hidden layers or more."
    share = {v: verdicts.count(v) for v in ("supported", "rejected", "undecided")}
    fa_err = [np.nanmean(err[dn.run_name("fa", h)][:, :-1]) for h in hidden if h >= 2]
    return (
        f"Over the {len(verdicts)} products with more than one factor (both rules, every depth), "
        f"the prediction holds within ±{THRESHOLDS['prediction']:g}° for {share['supported']}, "
        f"fails for {share['rejected']} and is undecided for {share['undecided']} (99% CI of "
        "the mean error over the repetitions). For FA without WN the mean error is "
        + (f"{np.mean(fa_err):+.1f}° " if fa_err else "not defined ")
        + "(negative: the trained products are better aligned than independent factors).")


def _depth_text(runs: Runs, dw: Mapping[str, np.ndarray]) -> str:
    """Hypotheses "rise", "wn" and "gap" (paired within repetitions, or Welch)."""
    hidden = dn.config()["hidden"]
    deepest, shallow = max(hidden), min(hidden)
    a = dw[dn.run_name("fa", deepest)]
    rise = stats.paired(a[:, 0], a[:, deepest - 1], finite_only=True)
    wn = [stats.beyond(stats.paired(dw[dn.run_name("fa", h)][:, 0],
                                    dw[dn.run_name("fa_wn", h)][:, 0], finite_only=True),
                       THRESHOLDS["angle_gain"]) for h in hidden]
    overall = ("supported" if all(v == "supported" for v in wn)
               else "rejected" if "rejected" in wn else "undecided")
    acc = {n: dn.final_accuracy(runs[dn.run_name(rule, h)])
           for n, rule, h in (("bp_deep", "bp", deepest), ("fa_deep", "fa", deepest),
                              ("bp_shallow", "bp", shallow), ("fa_shallow", "fa", shallow))}
    growth = stats.ttest_ind(acc["bp_deep"] - acc["fa_deep"], acc["bp_shallow"] - acc["fa_shallow"])
    return (
        f"In the deepest FA network ({deepest} hidden layers) the first layer's update angle "
        f"exceeds the last hidden layer's by {rise.mean:.1f}° (99% CI [{rise.ci99[0]:.1f}, "
        f'{rise.ci99[1]:.1f}]): hypothesis "rise" is '
        f"**{stats.beyond(rise, THRESHOLDS['layer_rise'])}**. WN lowers the first layer's angle "
        f"at every depth by more than {THRESHOLDS['angle_gain']:g}°: **{overall}**. FA's "
        f"accuracy gap to BP grows with depth by more than {THRESHOLDS['gap_growth']:g} points: "
        f"**{stats.beyond(growth, THRESHOLDS['gap_growth'])}**.")


def values(runs: Runs | None = None) -> dict[str, object]:
    """The sentences the chapter's text quotes from ``runs`` (as :func:`claims` takes them).

    Returns Markdown for ``{glue:md}`` by glue name, without the prefix ``dn_``.
    """
    runs = load() if runs is None else runs
    dw = update_angles(runs)
    return {"follow_text": markdown(_follow_text(runs, dw)),
            "pred_text": markdown(_prediction_text(product_errors(runs))),
            "rise_text": markdown(_depth_text(runs, dw))}
