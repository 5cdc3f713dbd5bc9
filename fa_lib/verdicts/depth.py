"""The claims of the chapter "Depth" (Sec. 2.4, Fig. 5).

The chapter's results are the two ensembles of :mod:`fa_lib.experiments.depth` (through
the results cache): the heat-map ensemble (``theta_1``, ``theta_2`` on 0-180 degrees) and
the histogram ensemble (on 0-90). :func:`claims` checks the paper's statements on them
against :data:`THRESHOLDS`; the functions named ``*_values`` return the numbers that the
chapter's text quotes, by their glue names.

Every criterion is a function of the ensembles alone (:func:`claims_from`), so that it
can be tried on hand-made ones. Ensembles holding NaN or infinite values make every claim
fail, saying so (:mod:`fa_lib.verdicts._finite`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from fa_lib import config
from fa_lib.claims import Claim
from fa_lib.experiments import depth
from fa_lib.verdicts._finite import nonfinite, not_computed

__all__ = [
    "CHAPTER", "THRESHOLDS", "Results", "band_values", "claims", "claims_from",
    "heatmap_values", "order_values", "results", "setup_values", "slice_values",
    "spread_values",
]

CHAPTER = depth.CHAPTER

THRESHOLDS: Mapping[str, float] = {
    "below_both_fraction": 1e-3,
    "below_both_lowest": 80.0,
    "edge_rms": 3.0,
    "edge_r": 0.99,
    "middle_mean_dev": 0.5,
    "middle_bin_dev": 5.0,
    "middle_q99": 10.0,
    "nonlin_mean_margin": 0.5,
    "nonlin_sd_ratio": 1.2,
}
"""Pass criteria of the chapter's claims (degrees unless a ratio or a fraction).

- ``below_both_*``: ``theta_3 < min(theta_1, theta_2)`` in fewer than 0.1% of the
  draws, and only when both angles exceed 80 degrees (the authors' code's band).
- ``edge_*``: for ``theta_1`` within 5 degrees of 0 (180), ``theta_3`` deviates
  from ``theta_2`` (``180 - theta_2``) by an RMS below 3 degrees, with correlation
  above 0.99.
- ``middle_*``: for ``theta_1`` within 5 degrees of 90, the mean ``theta_3`` lies
  within 0.5 degrees of 90, the mean in every 5-degree ``theta_2`` bin within 5
  degrees of 90, and 99% of the draws within 10 degrees of 90.
- ``nonlin_*``: in every histogram band the 99% CI of the mean paired difference
  ``theta_3 - theta_3^nonlin`` lies within +-0.5 degrees, while the pooled
  within-bin SD of the heat map and the SD in the 80-90 band grow by more than 20%.
"""

T = THRESHOLDS

TEXT_BAND = 85.0
"""The lower edge of the band where the text sees ``theta_3`` below both factor angles."""

STATEMENTS: Mapping[str, str] = {
    "edge": "If theta_1 is close to 0 or 180 degrees, theta_3 is determined by theta_2 "
            "(theta_3 ~ theta_2, or 180 - theta_2) (Fig. 5A, B, D).",
    "middle": "If theta_1 is close to 90 degrees, theta_3 is about 90 degrees regardless of "
              "theta_2 (Fig. 5A, B, D).",
    "order": "There is no fixed inequality between theta_1, theta_2 and theta_3 (theta_3 can "
             "lie between, above or below them), but the product tends to be less aligned than "
             "the worse-aligned factor (Fig. 5A, B).",
    "below": "theta_3 below both theta_1 and theta_2 is rare and occurs only when both are just "
             "below 90 degrees (authors' code: 80 < theta_1, theta_2 < 90).",
    "text85": "theta_3 below both theta_1 and theta_2 occurred only for 85 < theta_1, theta_2 "
              "< 90 (text).",
    "nonlin": "The ReLU nonlinearity (eq. 12) changes the variance of theta_3 but not its mean "
              "(t-test p > 0.1) (Fig. 5C, F, G).",
}
"""The paper's statements, in the chapter's order, by a short key."""

CRITERIA: Mapping[str, str] = {
    "edge": "theta_1 within 5 deg of 0 (180): RMS of theta_3 - theta_2 (theta_3 - (180 - "
            f"theta_2)) < {T['edge_rms']} deg and correlation > {T['edge_r']}",
    "middle": f"|mean - 90| < {T['middle_mean_dev']} deg, every theta_2-bin mean within "
              f"{T['middle_bin_dev']} deg of 90, 99% of draws within {T['middle_q99']} deg of 90",
    "order": "all three orders occur, and theta_3 > max(theta_1, theta_2) in more than half "
             "the draws",
    "below": f"fraction < {T['below_both_fraction']:.1%} and every event has both angles "
             f"> {T['below_both_lowest']:.0f} deg",
    "text85": "every event in both ensembles has both angles > 85 deg",
    "nonlin": "every group's 99% CI of the paired mean difference within "
              f"+-{T['nonlin_mean_margin']} deg; pooled within-bin SD and 'both 80-90' SD "
              f"larger by a factor > {T['nonlin_sd_ratio']}",
}
"""How each claim is decided, by the keys of :data:`STATEMENTS`."""

INSTEAD = {
    "text85": f"every event in both ensembles has both angles > {T['below_both_lowest']:.0f} "
              "deg (the authors' code's band; the tail reaches lower with more draws)",
}
"""What the chapter asserts where a statement does not hold at every scale."""


class Results(NamedTuple):
    """The chapter's two ensembles.

    Each holds ``theta1``, ``theta2``, ``theta3`` and ``theta3_nonlin``, in degrees, one
    value per draw.
    """

    heatmap: Mapping[str, np.ndarray]
    """Factor angles on 0-180 degrees (Fig. 5A, C)."""
    histograms: Mapping[str, np.ndarray]
    """Factor angles on 0-90 degrees (Fig. 5B, D, F, G)."""


def results(cfg: depth.DepthConfig | None = None) -> Results:
    """The chapter's ensembles at ``cfg`` (default: the current scale), from the cache."""
    cfg = depth.config() if cfg is None else cfg
    return Results(depth.run_heatmap(cfg), depth.run_histograms(cfg))


def claims() -> list[Claim]:
    """Every claim the chapter checks, at the current scale, from the cached results."""
    return claims_from(results(), depth.config().bin_width)


def _claim(key: str, measured: str, holds: bool, instead_holds: bool | None = None) -> Claim:
    instead = {"instead": INSTEAD[key], "instead_holds": bool(instead_holds)} \
        if key in INSTEAD else {}
    return Claim(CHAPTER, STATEMENTS[key], measured, holds, CRITERIA[key], **instead)


def claims_from(r: Results, bin_width: float = 5.0) -> list[Claim]:
    """The chapter's claims, decided on the ensembles ``r`` (see :func:`results`).

    Parameters
    ----------
    r : Results
        The two ensembles, of any sizes (each band of
        :data:`fa_lib.experiments.depth.BANDS` needs 3 draws of the histogram ensemble,
        and the heat-map ensemble 2 draws within 5 degrees of 0 and of 180, and 3 of 90).
    bin_width : float
        Width in degrees of the heat-map bins (for the pooled within-bin SD).

    Returns
    -------
    list of Claim
        In the chapter's order (:data:`STATEMENTS`); none holds if any angle is NaN or
        infinite.
    """
    bad = nonfinite({f"{name} {k}": v for name, ensemble in r._asdict().items()
                     for k, v in ensemble.items()})
    if bad:
        return [_claim(key, not_computed(bad), False, False) for key in STATEMENTS]
    heat, hist = r
    return [
        _edge_claim(_edges(heat)),
        _middle_claim(_middle(heat)),
        *_below_claims(hist, heat),
        _nonlin_claim(hist, heat, bin_width),
    ]


# --------------------------------------------------------------------------- criteria


def _angles(ensemble: Mapping[str, np.ndarray], key: str = "theta3") -> tuple[np.ndarray, ...]:
    """``theta1``, ``theta2`` and ``key`` (default ``theta3``) of an ensemble."""
    return ensemble["theta1"], ensemble["theta2"], ensemble[key]


def _edges(heat: Mapping[str, np.ndarray], key: str = "theta3") -> dict[str, dict[str, float]]:
    return depth.edge_slice(*_angles(heat, key))


def _middle(heat: Mapping[str, np.ndarray]) -> dict[str, object]:
    return depth.middle_slice(*_angles(heat))


def _edge_claim(edge: Mapping[str, Mapping[str, float]]) -> Claim:
    return _claim(
        "edge",
        "; ".join(
            f"theta_1 {k}: RMS(theta_3 - ref) = {v['rms']:.2f} deg, mean {v['mean']:+.3f}, "
            f"SD {v['sd']:.2f}, r = {v['r']:.4f}, n = {v['n']}"
            for k, v in edge.items()
        ),
        all(v["rms"] < T["edge_rms"] and v["r"] > T["edge_r"] for v in edge.values()),
    )


def _middle_claim(mid: Mapping[str, object]) -> Claim:
    test = mid["test"]
    return _claim(
        "middle",
        f"|theta_1 - 90| < 5: {test}; 99% of |theta_3 - 90| < {mid['q99_abs']:.2f} deg; "
        f"largest |mean - 90| over 5-deg bins of theta_2: {mid['max_bin_dev']:.2f} deg",
        abs(test.mean - 90) < T["middle_mean_dev"]
        and mid["max_bin_dev"] < T["middle_bin_dev"]
        and mid["q99_abs"] < T["middle_q99"],
    )


def _lowest(*below: Mapping[str, float]) -> float:
    """The lowest ``min(theta_1, theta_2)`` of any event of these ``below_both`` results.

    NaN if none of them has an event.
    """
    lowest = [b["lowest"] for b in below]
    return float(np.nanmin(lowest)) if not np.all(np.isnan(lowest)) else float("nan")


def _occurs(fraction: float, n: int) -> bool:
    """Whether a fraction of ``n`` draws counts one draw at least.

    ``order_fractions`` gives "between" as one minus the other two, which is a rounding
    error away from 0 when no draw lies between.
    """
    return fraction * n >= 0.5


def _below_claims(hist: Mapping[str, np.ndarray], heat: Mapping[str, np.ndarray]) -> list[Claim]:
    order = depth.order_fractions(*_angles(hist))
    below = depth.below_both(*_angles(hist))
    below_heat = depth.below_both(*_angles(heat))
    lowest_all = _lowest(below, below_heat)
    return [
        _claim(
            "order",
            f"theta_3 above both: {100 * order['above both']:.2f}%, between: "
            f"{100 * order['between']:.2f}%, below both: {100 * order['below both']:.4f}% "
            f"of n = {below['n']} draws (theta_1, theta_2 on 0-90)",
            order["above both"] > 0.5 and _occurs(order["between"], below["n"])
            and _occurs(order["below both"], below["n"]),
        ),
        _claim(
            "below",
            f"{below['events']} of {below['n']} draws ({100 * below['fraction']:.4f}%); lowest "
            f"min(theta_1, theta_2) among them {below['lowest']:.2f} deg "
            f"(heat-map ensemble, signed fold: {below_heat['events']} of {below_heat['n']}, "
            f"lowest {below_heat['lowest']:.2f} deg)",
            below["fraction"] < T["below_both_fraction"]
            and below["lowest"] > T["below_both_lowest"],
        ),
        _claim(
            "text85",
            f"lowest min(theta_1, theta_2) with theta_3 below both: {below['lowest']:.2f} deg "
            f"(histogram ensemble, n = {below['n']}), {below_heat['lowest']:.2f} deg (heat-map "
            f"ensemble, n = {below_heat['n']}); {100 * below['fraction_above_85']:.0f}% of the "
            "events above 85",
            lowest_all > TEXT_BAND,
            lowest_all > T["below_both_lowest"],
        ),
    ]


def _binned(heat: Mapping[str, np.ndarray], bin_width: float) -> tuple[dict, dict]:
    """Heat-map bins (``depth.binned_stats``) of the linear and the nonlinear ``theta_3``."""
    return (depth.binned_stats(*_angles(heat), bin_width),
            depth.binned_stats(*_angles(heat, "theta3_nonlin"), bin_width))


def _sd_ratio(heat: Mapping[str, np.ndarray], bin_width: float) -> float:
    """Pooled within-bin SD of the nonlinear ``theta_3`` over that of the linear one."""
    lin, non = _binned(heat, bin_width)
    return depth.pooled_sd(non) / depth.pooled_sd(lin)


def _worst_ci(tab: pd.DataFrame) -> float:
    """The largest absolute end of the bands' 99% CIs of the paired mean difference."""
    return float(np.max(np.abs(tab[["CI99 lo", "CI99 hi"]].to_numpy())))


def _nonlin_claim(
    hist: Mapping[str, np.ndarray], heat: Mapping[str, np.ndarray], bin_width: float
) -> Claim:
    tab = depth.band_table(hist)
    worst, ratio = _worst_ci(tab), _sd_ratio(heat, bin_width)
    sd_ratio = tab["SD ratio"]
    return _claim(
        "nonlin",
        f"paired mean theta_3 - theta_3^nonlin in {len(tab)} groups: largest |mean| "
        f"{tab['mean diff'].abs().max():.3f} deg, all 99% CIs within +-{worst:.3f} deg; Welch "
        f"p > 0.1 in {(tab['p Welch'] > 0.1).sum()} of {len(tab)} groups (min p = "
        f"{tab['p Welch'].min():.2g}); SD ratio nonlin/lin: pooled within-bin {ratio:.2f}, "
        f"'both 80-90' {sd_ratio['both 80-90']:.2f}, 'both < 10' {sd_ratio['both < 10']:.2f}; "
        f"n = {len(hist['theta3'])} (histograms), {len(heat['theta3'])} (heat map)",
        worst < T["nonlin_mean_margin"]
        and ratio > T["nonlin_sd_ratio"]
        and sd_ratio["both 80-90"] > T["nonlin_sd_ratio"],
    )


# --------------------------------------------------------------------------- for the text


def setup_values(cfg: depth.DepthConfig) -> dict[str, object]:
    """The scale, the ensembles' sizes, draws per heat-map bin and the equivalence margin."""
    return {
        "scale": config.scale(),
        "n_heatmap": cfg.n_heatmap,
        "n_hist": cfg.n_hist,
        "per_bin": cfg.n_heatmap / (180 / cfg.bin_width) ** 2,
        "margin": T["nonlin_mean_margin"],
    }


def heatmap_values(heat: Mapping[str, np.ndarray], bin_width: float) -> dict[str, float]:
    """How the heat maps compare with ``arccos(cos theta_1 cos theta_2)`` and each other.

    Keys: ``heat_min_count`` (draws in the emptiest bin), ``pred_rms`` (RMS over the bins
    of the linear mean minus the prediction), ``resid_sd_lin`` and ``resid_sd_non`` (SD
    per draw of ``theta_3`` minus the prediction), ``bin_diff_rms`` (RMS of the nonlinear
    minus the linear bin mean) and ``bin_diff_noise`` (what the sampling noise of the
    paired differences alone gives).
    """
    lin, non = _binned(heat, bin_width)
    edges = lin["edges"]
    centres = (edges[:-1] + edges[1:]) / 2
    pred = depth.predicted_theta3(centres[:, None], centres[None, :])
    per_draw = depth.predicted_theta3(heat["theta1"], heat["theta2"])
    paired = depth.binned_stats(heat["theta1"], heat["theta2"],
                                heat["theta3_nonlin"] - heat["theta3"], bin_width)
    return {
        "heat_min_count": int(lin["count"].min()),
        "pred_rms": float(np.sqrt(np.mean((lin["mean"] - pred) ** 2))),
        "resid_sd_lin": float(np.std(heat["theta3"] - per_draw)),
        "resid_sd_non": float(np.std(heat["theta3_nonlin"] - per_draw)),
        "bin_diff_rms": float(np.sqrt(np.mean((non["mean"] - lin["mean"]) ** 2))),
        "bin_diff_noise": float(np.sqrt(np.mean(paired["sd"] ** 2 / paired["count"]))),
    }


def spread_values(heat: Mapping[str, np.ndarray], bin_width: float) -> dict[str, float]:
    """Pooled within-bin SD of the linear and the nonlinear ``theta_3``, and their ratio."""
    lin, non = _binned(heat, bin_width)
    return {"sd_pooled_lin": depth.pooled_sd(lin), "sd_pooled_non": depth.pooled_sd(non),
            "sd_pooled_ratio": _sd_ratio(heat, bin_width)}


def slice_values(heat: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``theta_3`` where ``theta_1`` is near 0 or 180 degrees, and where it is near 90.

    Returns
    -------
    dict
        ``edge0_*`` and ``edge180_*``: ``n``, ``rms`` and correlation ``r`` of ``theta_3``
        with its reference (``theta_2``, ``180 - theta_2``), ``sdref`` (SD of the
        reference); ``edge0_rms_non``: the RMS of the nonlinear ``theta_3`` near 0;
        ``mid_*``: ``n``, ``mean``, ``sd``, ``q99`` (99th percentile of
        ``|theta_3 - 90|``) and ``bin_dev`` (the largest distance of a ``theta_2`` bin's
        mean to 90) near 90.
    """
    out: dict[str, float] = {}
    for key, res in zip(("0", "180"), _edges(heat).values(), strict=True):
        out.update({f"edge{key}_n": res["n"], f"edge{key}_rms": res["rms"],
                    f"edge{key}_r": res["r"], f"edge{key}_sdref": res["sd_reference"]})
    mid = _middle(heat)
    return {**out, "edge0_rms_non": _edges(heat, "theta3_nonlin")["near 0"]["rms"],
            "mid_n": mid["test"].n, "mid_mean": mid["test"].mean, "mid_sd": mid["test"].sd,
            "mid_q99": mid["q99_abs"], "mid_bin_dev": mid["max_bin_dev"]}


def order_values(hist: Mapping[str, np.ndarray], heat: Mapping[str, np.ndarray]) -> dict:
    """Where ``theta_3`` falls relative to the factor angles, and the draws below both.

    Keys: ``frac_above``, ``frac_between``, ``frac_below`` (percent of the histogram
    ensemble); ``below_events``, ``below_lowest``, ``below_above85`` (percent of the
    events above 85 degrees) for the histogram ensemble, ``below_heat_*`` for the heat-map
    ensemble, ``below_non_*`` for the nonlinear ``theta_3``; ``text85_verdict``: whether the
    text's 85-degree band holds, as Markdown.
    """
    from IPython.display import Markdown

    order = depth.order_fractions(*_angles(hist))
    below = depth.below_both(*_angles(hist))
    below_heat = depth.below_both(*_angles(heat))
    below_non = depth.below_both(*_angles(hist, "theta3_nonlin"))
    holds = _lowest(below, below_heat) > TEXT_BAND
    return {
        "frac_above": 100 * order["above both"],
        "frac_between": 100 * order["between"],
        "frac_below": 100 * order["below both"],
        "below_events": below["events"],
        "below_lowest": below["lowest"],
        "below_above85": 100 * below["fraction_above_85"],
        "below_heat_lowest": below_heat["lowest"],
        "below_heat_events": below_heat["events"],
        "below_non_lowest": below_non["lowest"],
        "below_non_events": below_non["events"],
        "text85_verdict": Markdown("holds" if holds else "**does not hold**"),
    }


def band_values(hist: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Linear against nonlinear ``theta_3`` in the authors' groups (bands) of the histograms.

    Keys: ``band_worst_ci`` (largest end of the 99% CIs of the paired difference),
    ``band_max_absdiff`` (largest paired mean difference), ``band_sd_ratio_80`` and
    ``band_sd_ratio_10`` (SD ratio nonlinear / linear in "both 80-90" and "both < 10"),
    ``n_p_above`` (bands with Welch's p > 0.1), ``n_bands`` and ``min_p``.
    """
    tab = depth.band_table(hist)
    return {
        "band_worst_ci": _worst_ci(tab),
        "band_max_absdiff": float(tab["mean diff"].abs().max()),
        "band_sd_ratio_80": float(tab.loc["both 80-90", "SD ratio"]),
        "band_sd_ratio_10": float(tab.loc["both < 10", "SD ratio"]),
        "n_p_above": int((tab["p Welch"] > 0.1).sum()),
        "n_bands": len(tab),
        "min_p": float(tab["p Welch"].min()),
    }
