"""The hypotheses of the chapter "Alignment and depth in trained networks", and its numbers.

The chapter is beyond the paper: it tests its own pre-registered hypotheses
(:data:`fa_lib.experiments.deep_networks.HYPOTHESES`), each decided here once
(:func:`decisions`) and recorded as a :func:`fa_lib.claims.hypothesis` (:func:`claims`)
under its statement of :data:`fa_lib.experiments.deep_networks.STATEMENTS`. The
completeness of the design is a bookkeeping check, not a claim (:func:`check_design`).
The sentences its text quotes are computed here too, from the same decisions
(:func:`setup_values`, :func:`values`; glued by the notebook with the prefix ``dn_``),
from the chapter's runs read from the results cache (:func:`load`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fa_lib import claims as claims_mod
from fa_lib import config, stats, tables
from fa_lib.claims import REJECTED, SUPPORTED, UNDECIDED, Claim
from fa_lib.experiments import deep_networks as dn
from fa_lib.experiments import feedback_rules as fr
from fa_lib.verdicts.common import complete, markdown

__all__ = ["CHAPTER", "THRESHOLDS", "Decision", "check_design", "claims", "complete",
           "decisions", "gain_share", "load", "prediction_table", "product_errors",
           "rate_accuracy", "rate_table", "setup_values", "undefined_values", "update_angles",
           "values"]

CHAPTER = dn.CHAPTER

THRESHOLDS = dn.THRESHOLDS
"""The margins of the chapter's hypotheses (:data:`fa_lib.experiments.deep_networks.THRESHOLDS`,
where the hypotheses state them)."""

PREDICTION_RULES = ("fa", "fa_wn")
"""The rules whose backward products hypothesis "prediction" tests (the control's are
left out: the hypothesis was written for FA without and with WN)."""

Runs = Mapping[str, Mapping[str, np.ndarray]]
"""Run name -> the arrays the run recorded."""


def load() -> dict[str, Mapping[str, np.ndarray]]:
    """Every run of the chapter (:func:`fa_lib.experiments.deep_networks.names`), by name.

    The learning-rate runs of the second design, the first design's runs and the second
    design's runs at the chosen rates.
    """
    return {name: dn.results(name) for name in dn.names()}


def update_angles(runs: Runs) -> dict[str, np.ndarray]:
    """Per FA run, the last-epoch update angle to BP per repetition and layer."""
    return {n: dn.last_epoch(res, "dw_bp") for n, res in runs.items() if "dw_bp" in res}


def product_errors(runs: Runs) -> dict[str, np.ndarray]:
    """Per FA run, measured minus predicted angle of every backward product.

    See :func:`fa_lib.experiments.deep_networks.product_error`.
    """
    return {n: dn.product_error(res) for n, res in runs.items() if "prod_bt" in res}


# ------------------------------------------------------------------ the design's bookkeeping


def undefined_values(runs: Runs) -> list[str]:
    """The values of ``runs`` that should be defined and are not (NaN), as ``"run: value"``.

    A diverged run is left out. Every run must have every final accuracy (a learning-rate
    run its validation accuracy); an FA run every product angle of a repetition whose
    network made updates in the last epoch.
    """
    dw, err = update_angles(runs), product_errors(runs)
    undefined = []
    for n, res in runs.items():
        if int(res["diverged_at"]) >= 0:
            continue
        if not np.all(np.isfinite(fr.accuracy_curve_of(res)[-1])):
            undefined.append(f"{n}: accuracy")
        if n in err:
            alive = ~np.all(np.isnan(dw[n]), axis=-1)
            if not np.all(np.isfinite(err[n][alive])):
                undefined.append(f"{n}: product angles")
    return undefined


def check_design(runs: Runs) -> list[str]:
    """Check that the whole design was computed: every run, every value that is defined.

    A bookkeeping check, not one of the chapter's claims: the notebook calls it before
    it asserts and saves the hypotheses.

    Parameters
    ----------
    runs : mapping
        The chapter's runs by name (:func:`load`).

    Returns
    -------
    list of str
        The runs that diverged (a result, not a gap in the design).

    Raises
    ------
    AssertionError
        Naming every run of :func:`fa_lib.experiments.deep_networks.names` (both designs
        and the learning-rate runs) that is missing and every value that should be
        defined and is not (:func:`undefined_values`).
    """
    missing = [n for n in dn.names() if n not in runs]
    undefined = undefined_values(runs)
    if not complete(missing, undefined):
        raise AssertionError(
            f"{CHAPTER}: the design was not computed in full: missing runs: "
            f"{', '.join(missing) or 'none'}; undefined values: {', '.join(undefined) or 'none'}.")
    return [n for n, res in runs.items() if int(res["diverged_at"]) >= 0]


# -------------------------------------------------------------------------------- tests


def _test(fn: Callable[..., stats.TTest], *args: np.ndarray) -> stats.TTest | None:
    """``fn(*args)``, or None when fewer than two values (pairs) are finite."""
    try:
        return fn(*args)
    except ValueError as e:
        if "at least 2" in str(e):
            return None
        raise


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def _paired(a: np.ndarray, b: np.ndarray) -> stats.TTest | None:
    return _test(lambda x, y: stats.paired(x, y, finite_only=True), a, b)


def _welch(a: np.ndarray, b: np.ndarray) -> stats.TTest | None:
    return _test(stats.ttest_ind, _finite(a), _finite(b))


def _beyond(t: stats.TTest | None, margin: float) -> str:
    return UNDECIDED if t is None else stats.beyond(t, margin)


def _all_of(outcomes: Sequence[str]) -> str:
    """Supported when every test is, rejected when any is, undecided otherwise (or if none)."""
    if outcomes and all(v == SUPPORTED for v in outcomes):
        return SUPPORTED
    return REJECTED if REJECTED in outcomes else UNDECIDED


def _ci(t: stats.TTest | None, unit: str) -> str:
    """``"+4.2° [99% CI +1.0, +7.4], n = 3"``; ``"not defined"`` without a test."""
    if t is None:
        return "not defined (fewer than two repetitions with a value)"
    return (f"{t.mean:+.1f}{unit} [99% CI {t.ci99[0]:+.1f}, {t.ci99[1]:+.1f}], "
            f"n = {t.n}")


def _points(x: float) -> str:
    """``"1 point"``, ``"2 points"``, ``"1.5 points"``."""
    return f"{x:g} point" + ("" if x == 1 else "s")


def _layers(h: int) -> str:
    return f"{h} hidden layer" + ("" if h == 1 else "s")


def _beyond_criterion(what: str, margin: str) -> str:
    return (f"99% CI of the mean {what}: supported when it lies wholly above {margin}, "
            f"rejected when wholly below, undecided when it contains it")


@dataclass(frozen=True)
class Decision:
    """One hypothesis decided: its outcome and what decided it.

    Attributes
    ----------
    key : str
        The hypothesis' key in :data:`fa_lib.experiments.deep_networks.HYPOTHESES`.
    outcome : {"supported", "rejected", "undecided"}
    measured : str
        The numbers (mean, 99% CI, n), plain text.
    criterion : str
        The pre-registered margin and the test, plain text.
    defined : bool
        Whether any of its tests had the values it needs (False: not checked).
    tests : dict
        The t-tests behind the outcome, by name (None where undefined), for the text.
    """

    key: str
    outcome: str
    measured: str
    criterion: str
    defined: bool
    tests: dict = field(default_factory=dict)

    def claim(self) -> Claim:
        """The decision as a :func:`fa_lib.claims.hypothesis` of the chapter."""
        return claims_mod.hypothesis(CHAPTER, dn.STATEMENTS[self.key], self.measured,
                                     self.outcome, self.criterion, asserted=self.defined)


def prediction_table(err: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Hypothesis "prediction", product by product: the test of every product's mean error.

    Parameters
    ----------
    err : mapping
        Per FA run, measured minus predicted product angle (:func:`product_errors`).

    Returns
    -------
    DataFrame
        One row per product with more than one factor of the rules of
        :data:`PREDICTION_RULES` at every depth: ``rule``, ``hidden layers``, ``layer ℓ``,
        ``measured − predicted (°)`` (mean [99% CI], n), ``verdict``
        (:func:`fa_lib.stats.within` the margin; undecided without two values) and the
        test itself (``test``, a :class:`~fa_lib.stats.TTest` or None).
    """
    rows = []
    for rule in PREDICTION_RULES:
        for h in dn.config()["hidden"]:
            e = err[dn.run_name(rule, h)]
            for ell in range(e.shape[1] - 1):
                t = _test(lambda x: stats.ttest_1samp(x, 0.0, finite_only=True), e[:, ell])
                rows.append({"rule": dn.RULES[rule], "hidden layers": h, "layer ℓ": ell + 1,
                             "measured − predicted (°)": _ci(t, "°"),
                             "verdict": UNDECIDED if t is None else
                             stats.within(t, THRESHOLDS["prediction"]),
                             "test": t})
    return pd.DataFrame(rows, columns=["rule", "hidden layers", "layer ℓ",
                                       "measured − predicted (°)", "verdict", "test"])


def _prediction(err: Mapping[str, np.ndarray]) -> Decision:
    table = prediction_table(err)
    outcomes = list(table["verdict"])
    count = {v: outcomes.count(v) for v in (SUPPORTED, REJECTED, UNDECIDED)}
    tests = [t for t in table["test"] if t is not None]
    margin = THRESHOLDS["prediction"]
    if tests:
        worst = int(np.argmax([abs(t.mean) if t is not None else -1.0 for t in table["test"]]))
        row = table.iloc[worst]
        measured = (f"{count[SUPPORTED]} of {len(table)} products within ±{margin:g}°, "
                    f"{count[REJECTED]} outside, {count[UNDECIDED]} undecided; furthest from "
                    f"its prediction: {row['rule']}, {_layers(row['hidden layers'])}, "
                    f"ℓ = {row['layer ℓ']}: {_ci(row['test'], '°')}")
    else:
        measured = "no product with more than one factor has a defined error at this scale"
    return Decision(
        "prediction", _all_of(outcomes), measured,
        f"for every product with more than one factor (FA and FA + WN, every depth), the 99% "
        f"CI of the mean measured − predicted angle (last epoch, over the repetitions) inside "
        f"±{margin:g}°: supported when every product's test is, rejected when any product's "
        f"CI lies wholly outside, undecided otherwise",
        bool(tests), {"products": table})


def _rise(dw: Mapping[str, np.ndarray], deepest: int) -> Decision:
    a = dw[dn.run_name("fa", deepest)]
    t = _paired(a[:, 0], a[:, deepest - 1]) if deepest >= 2 else None
    margin = THRESHOLDS["layer_rise"]
    return Decision(
        "rise", _beyond(t, margin),
        f"first − last hidden layer's update angle to BP, FA with {_layers(deepest)}: "
        f"{_ci(t, '°')}",
        _beyond_criterion("paired difference (first − last hidden layer, last epoch, over "
                          "the repetitions)", f"{margin:g}°"),
        t is not None, {"rise": t})


_TUNED_AT = "at the rates chosen per depth and rule, "
"""What the measured values of the second design's hypotheses begin with."""


def _wn(dw: Mapping[str, np.ndarray], hidden: Sequence[int], key: str = "wn",
        name: Callable[[str, int], str] = dn.run_name, at: str = "") -> Decision:
    """Hypothesis "wn" (or "wn_tuned": the runs ``name(rule, hidden)``, ``at`` the rates)."""
    margin = THRESHOLDS["angle_gain"]
    tests = {h: _paired(dw[name("fa", h)][:, 0], dw[name("fa_wn", h)][:, 0]) for h in hidden}
    outcomes = [_beyond(t, margin) for t in tests.values()]
    return Decision(
        key, _all_of(outcomes),
        f"{at}first hidden layer's update angle to BP, no WN − WN: "
        + "; ".join(f"{_layers(h)}: {_ci(t, '°')}" for h, t in tests.items()),
        _beyond_criterion("paired difference (no WN − WN, last epoch, over the repetitions) "
                          "at each depth", f"{margin:g}°")
        + "; overall supported when every depth is, rejected when any depth is, undecided "
          "otherwise",
        any(t is not None for t in tests.values()), tests)


def _gap(acc: Mapping[str, np.ndarray], deepest: int, shallow: int, key: str = "gap",
         name: Callable[[str, int], str] = dn.run_name, at: str = "") -> Decision:
    """Hypothesis "gap" (or "gap_tuned": the runs ``name(rule, hidden)``, ``at`` the rates)."""
    margin = THRESHOLDS["gap_growth"]
    deep = acc[name("bp", deepest)] - acc[name("fa", deepest)]
    flat = acc[name("bp", shallow)] - acc[name("fa", shallow)]
    t = _welch(deep, flat)
    return Decision(
        key, _beyond(t, margin),
        f"{at}BP − FA final test accuracy, {_layers(deepest)} minus {_layers(shallow)}: "
        f"{_ci(t, ' points')} (Welch)",
        _beyond_criterion(f"difference of FA's accuracy gap to BP ({deepest} hidden layers "
                          f"minus {shallow}; Welch, per-repetition gaps)", _points(margin)),
        t is not None, {"gap": t, "deep": float(np.nanmean(deep)),
                        "shallow": float(np.nanmean(flat))})


def _size(dw: Mapping[str, np.ndarray], acc: Mapping[str, np.ndarray], deepest: int
          ) -> tuple[Decision, Decision]:
    fa, scaled = dn.run_name("fa", deepest), dn.run_name("fa_bsize", deepest)
    t_angle = _paired(dw[fa][:, 0], dw[scaled][:, 0])
    t_acc = _paired(acc[scaled], acc[fa])
    m_angle, m_acc = THRESHOLDS["size_angle"], THRESHOLDS["size_acc"]
    angle = Decision(
        "size_angle", _beyond(t_angle, m_angle),
        f"first hidden layer's update angle to BP with {_layers(deepest)}, FA − FA with B "
        f"scaled: {_ci(t_angle, '°')}",
        _beyond_criterion("paired difference (FA − FA with B scaled, last epoch, over the "
                          "repetitions)", f"{m_angle:g}°"),
        t_angle is not None, {"angle": t_angle})
    accuracy = Decision(
        "size_acc", _beyond(t_acc, m_acc),
        f"final test accuracy with {_layers(deepest)}, FA with B scaled − FA: "
        f"{_ci(t_acc, ' points')}",
        _beyond_criterion("paired difference (FA with B scaled − FA, over the repetitions)",
                          _points(m_acc)),
        t_acc is not None, {"acc": t_acc})
    return angle, accuracy


def decisions(runs: Runs) -> dict[str, Decision]:
    """Decide every hypothesis of :data:`fa_lib.experiments.deep_networks.HYPOTHESES`.

    The one computation of the verdicts: the claims (:func:`claims`) and the text
    (:func:`values`) both read it.

    Parameters
    ----------
    runs : mapping
        The chapter's runs by name (every run of
        :func:`fa_lib.experiments.deep_networks.configs` and of
        :func:`~fa_lib.experiments.deep_networks.tuned_names`; the learning-rate runs are
        not needed).

    Returns
    -------
    dict
        Hypothesis key -> :class:`Decision`, in the order of ``HYPOTHESES``.

    Raises
    ------
    ValueError
        If a run of the design is missing.
    """
    missing = [n for n in [*dn.configs(), *dn.tuned_names()] if n not in runs]
    if missing:
        raise ValueError(f"{CHAPTER}: the hypotheses need every run; missing: {missing}.")
    hidden = dn.config()["hidden"]
    deepest, shallow = max(hidden), min(hidden)
    dw = update_angles(runs)
    acc = {n: dn.final_accuracy(res) for n, res in runs.items() if "test_acc" in res}
    size_angle, size_acc = _size(dw, acc, deepest)
    out = {"prediction": _prediction(product_errors(runs)), "rise": _rise(dw, deepest),
           "wn": _wn(dw, hidden), "gap": _gap(acc, deepest, shallow),
           "size_angle": size_angle, "size_acc": size_acc,
           "gap_tuned": _gap(acc, deepest, shallow, "gap_tuned", dn.tuned_name, _TUNED_AT),
           "wn_tuned": _wn(dw, hidden, "wn_tuned", dn.tuned_name, _TUNED_AT)}
    return {key: out[key] for key in dn.HYPOTHESES}


# -------------------------------------------------------------------------------- claims


def claims(runs: Runs | None = None) -> list[Claim]:
    """The chapter's hypotheses with their verdicts, as :func:`fa_lib.claims.hypothesis`.

    One per hypothesis of :data:`fa_lib.experiments.deep_networks.HYPOTHESES`, stated as
    in :data:`fa_lib.experiments.deep_networks.STATEMENTS`; not asserted ("not checked at
    this scale") when its test has no defined values.

    Parameters
    ----------
    runs : mapping, optional
        The chapter's runs by name; None reads them from the results cache (:func:`load`).

    Returns
    -------
    list of Claim
    """
    runs = load() if runs is None else runs
    return [d.claim() for d in decisions(runs).values()]


# ------------------------------------------------------------------------ the text's numbers


def setup_values() -> dict[str, object]:
    """The chapter's settings at the current scale, by glue name (without the ``dn_`` prefix).

    Returns
    -------
    dict
        Numbers and text for ``{glue:text}`` (``tune_grid``, ``tune_reps``,
        ``tune_epochs``, ``tune_batches``, ``holdout``: the second design's grid and
        learning-rate runs); Markdown for ``{glue:md}`` (``hypotheses``, the pre-registered
        list with its margins; ``control_criteria``; ``rate_design``, the second design as
        written before its runs; ``scale_note``).
    """
    s = dn.config()
    control = ("size_angle", "size_acc")
    later = {**dict.fromkeys(control, " *(Added with the feedback-magnitude control on "
                                      "2026-12-07, before its paper-scale runs.)*"),
             **dict.fromkeys(("gap_tuned", "wn_tuned"), " *(Added with the second design, a "
                                                        "rate for every depth, on 2026-12-07, "
                                                        "before any of its runs.)*")}
    return {
        "scale": config.scale(), "gamma": float(dn.GAMMA),
        "hidden": ", ".join(str(h) for h in s["hidden"]),
        "eta_fa": f"{dn.FA_ETA:g}", "eta_bp": f"{dn.BP_ETA:g}",
        "reps": str(s["reps"]), "epochs": str(s["epochs"]),
        "margin": float(THRESHOLDS["prediction"]),
        "hypotheses": markdown("\n".join(
            f"- **{key}**: {text}." + later.get(key, "") for key, text in dn.HYPOTHESES.items())),
        "tune_grid": ", ".join(f"{e:g}" for e in s["tune_etas"]),
        "tune_reps": str(s["tune_reps"]), "tune_epochs": str(s["tune_epochs"]),
        "tune_batches": str(s["tune_batches"]), "holdout": f"{s['holdout']:,}",
        "rate_design": markdown(dn.RATE_DESIGN),
        "control_criteria": markdown(
            f'"size_angle": the scaled $B$ lowers the first hidden layer\'s update angle to '
            f"BP by more than {THRESHOLDS['size_angle']:g}°; \"size_acc\": it raises the "
            f"final test accuracy by more than {_points(THRESHOLDS['size_acc'])}"),
        "scale_note": markdown(
            "" if config.scale() == "paper" else
            "At the quick scale the networks train for a few hundred steps and fewer depths, so "
            "the verdicts below describe early training."),
    }


def _follow_text(runs: Runs, dw: Mapping[str, np.ndarray]) -> str:
    """How closely the update angles follow the angles of the products carrying their errors."""
    xs, ys = [], []
    for rule in PREDICTION_RULES:
        for h in dn.config()["hidden"]:
            n = dn.run_name(rule, h)
            xs.append(dn.last_epoch(runs[n], "prod_bt").ravel())  # columns l = 1..d-1
            ys.append(dw[n][:, :h].ravel())  # dW_0 .. dW_{d-2}, made from delta_1 .. delta_{d-1}
    x, y = np.concatenate(xs), np.concatenate(ys)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return "Too few update and product angles are defined to compare them."
    r = float(np.corrcoef(x[ok], y[ok])[0, 1])
    diff = float(np.mean(y[ok] - x[ok]))
    return (
        f"Over every FA network without and with WN, every layer and repetition, the "
        f"last-epoch update angle $dW_\\ell \\angle dW_{{\\ell,\\mathrm{{BP}}}}$ and the angle "
        f"of the product that carries its error correlate with r = {r:.2f} "
        f"(n = {int(ok.sum())}). On average the update angle minus the product angle is "
        f"{diff:+.1f}°: "
        + ("the masks $f'(Z_\\ell)$ and the layer's input add to the product's misalignment."
           if diff > 0 else
           "the updates are better aligned with BP's than the products that carry their "
           "errors."))


def _verdict(outcome: str, defined: bool = True) -> str:
    return f"**{outcome}**" if defined else "**not checked at this scale**"


def _prediction_text(d: Decision, err: Mapping[str, np.ndarray]) -> str:
    """Hypothesis "prediction" over every product with more than one factor."""
    table = d.tests["products"]
    if table.empty:
        return ("At this scale no network has two hidden layers or more, so hypothesis "
                '"prediction" is not checked.')
    outcomes = list(table["verdict"])
    n, margin = len(outcomes), THRESHOLDS["prediction"]
    parts = []
    for outcome, words in ((SUPPORTED, f"lies within ±{margin:g}° of the prediction"),
                           (REJECTED, f"lies wholly outside ±{margin:g}°"),
                           (UNDECIDED, "straddles the margin's edge")):
        k = outcomes.count(outcome)
        if k:
            parts.append(f"{words} for {'all ' if k == n and n > 1 else ''}{k}")
    listing = _and(parts)
    fa_err = [float(np.mean(e)) for h in dn.config()["hidden"] if h >= 2
              for e in [_finite(err[dn.run_name("fa", h)][:, :-1])] if e.size]
    mean = (f"For FA without WN the mean error over its products is {np.mean(fa_err):+.1f}°"
            + (" (negative: the trained products are better aligned than independent factors "
               "with the same angles would be)." if np.mean(fa_err) < 0 else
               " (positive: the trained products are less aligned than independent factors "
               "with the same angles would be).")) if fa_err else ""
    product_s = "product" if n == 1 else "products"
    return (
        f"Of the {n} backward {product_s} with more than one factor (FA without and with WN, "
        f"every depth), the 99% confidence interval of the mean error {listing}. "
        f'Hypothesis "prediction" (every product within the margin) is '
        f"{_verdict(d.outcome, d.defined)}. "
        + mean)


def _depth_text(ds: Mapping[str, Decision]) -> str:
    """Hypotheses "rise", "wn" and "gap" in words."""
    deepest = max(dn.config()["hidden"])
    out = []
    rise = ds["rise"].tests["rise"]
    if rise is None:
        out.append(f'Hypothesis "rise" is not checked at this scale: the deepest FA network '
                   f"({_layers(deepest)}) has too few repetitions with defined angles.")
    else:
        out.append(
            f"In the deepest FA network ({_layers(deepest)}) the first hidden layer's update "
            f"angle to BP minus the last hidden layer's is {rise.mean:+.1f}° (99% CI "
            f"{rise.ci99[0]:+.1f}° to {rise.ci99[1]:+.1f}°, n = {rise.n}): hypothesis \"rise\" "
            f"(more than {THRESHOLDS['layer_rise']:g}°) is {_verdict(ds['rise'].outcome)}.")
    out += [_wn_text(ds["wn"]), _gap_text(ds["gap"])]
    return " ".join(out)


def _wn_text(d: Decision, lead: str = "") -> str:
    """Hypothesis "wn" or "wn_tuned" in words; ``lead`` begins the sentence (lower case)."""
    wn = {h: t for h, t in d.tests.items() if t is not None}
    if not wn:
        return (f'Hypothesis "{d.key}" is not checked at this scale: no depth has two '
                "repetitions with defined angles.")
    listing = _and([f"{t.mean:+.1f}° with {_layers(h)}" for h, t in wn.items()])
    text = (f"{lead}without WN minus with WN, the first hidden layer's update angle differs by "
            f"{listing}; hypothesis \"{d.key}\" (WN lowers it by more than "
            f"{THRESHOLDS['angle_gain']:g}° at every depth) is {_verdict(d.outcome)}.")
    return text[0].upper() + text[1:]


def _gap_text(d: Decision, lead: str = "") -> str:
    """Hypothesis "gap" or "gap_tuned" in words; ``lead`` begins the sentence."""
    hidden = dn.config()["hidden"]
    deepest, shallow = max(hidden), min(hidden)
    gap = d.tests
    if gap["gap"] is None:
        return (f'Hypothesis "{d.key}" is not checked at this scale: too few accuracies are '
                "defined.")
    t = gap["gap"]
    return (
        f"{lead}FA's accuracy gap to BP (BP's final test accuracy minus FA's) is "
        f"{gap['deep']:+.1f} points with {_layers(deepest)} and {gap['shallow']:+.1f} points "
        f"with {_layers(shallow)}; from the shallowest to the deepest network it grows by "
        f"{t.mean:+.1f} points (99% CI "
        f"{t.ci99[0]:+.1f} to {t.ci99[1]:+.1f}, Welch), so hypothesis \"{d.key}\" (more than "
        f"{_points(THRESHOLDS['gap_growth'])}) is {_verdict(d.outcome)}.")


def gain_share(runs: Runs) -> dict[str, float]:
    """How much of WN's accuracy gain at the largest depth the scaled-B control reaches.

    Parameters
    ----------
    runs : mapping
        The chapter's runs by name.

    Returns
    -------
    dict
        ``wn_gain`` (points: mean accuracy of FA + WN minus FA's), ``size_gain`` (the same
        for FA with ``B`` scaled) and ``share`` = ``size_gain / wn_gain``, NaN unless WN's
        gain is positive. Means over the repetitions, NaN left out.
    """
    deepest = max(dn.config()["hidden"])
    acc = {}
    for rule in ("fa", "fa_wn", "fa_bsize"):
        a = _finite(dn.final_accuracy(runs[dn.run_name(rule, deepest)]))
        acc[rule] = float(np.mean(a)) if a.size else float("nan")
    wn_gain, size_gain = acc["fa_wn"] - acc["fa"], acc["fa_bsize"] - acc["fa"]
    share = size_gain / wn_gain if wn_gain > 0 else float("nan")
    return {"wn_gain": wn_gain, "size_gain": size_gain, "share": share}


def _size_text(ds: Mapping[str, Decision], runs: Runs) -> str:
    """The control's two hypotheses and the share of WN's gain that it reaches, in words."""
    deepest = max(dn.config()["hidden"])
    out = []
    angle, acc = ds["size_angle"].tests["angle"], ds["size_acc"].tests["acc"]
    if angle is None:
        out.append('Hypothesis "size_angle" is not checked at this scale: too few repetitions '
                   "have a defined update angle.")
    else:
        out.append(
            f"With {_layers(deepest)}, scaling $B$ changes the first hidden layer's update "
            f"angle to BP by {-angle.mean:+.1f}° (99% CI {-angle.ci99[1]:+.1f}° to "
            f"{-angle.ci99[0]:+.1f}°, n = {angle.n}); hypothesis \"size_angle\" (lower by more "
            f"than {THRESHOLDS['size_angle']:g}°) is {_verdict(ds['size_angle'].outcome)}.")
    if acc is None:
        out.append('Hypothesis "size_acc" is not checked at this scale: too few repetitions '
                   "have a defined accuracy.")
    else:
        out.append(
            f"It changes the final test accuracy by {acc.mean:+.1f} points (99% CI "
            f"{acc.ci99[0]:+.1f} to {acc.ci99[1]:+.1f}, n = {acc.n}); hypothesis \"size_acc\" "
            f"(higher by more than {_points(THRESHOLDS['size_acc'])}) is "
            f"{_verdict(ds['size_acc'].outcome)}.")
    g = gain_share(runs)
    if not np.isfinite(g["wn_gain"]) or not np.isfinite(g["size_gain"]):
        out.append("The share of WN's accuracy gain that the scaled $B$ reaches is not "
                   "defined: a run has no defined accuracy at this depth.")
    elif not np.isfinite(g["share"]):
        out.append(
            f"WN does not raise FA's mean accuracy at this depth ({g['wn_gain']:+.1f} points), "
            "so there is no gain of WN to share out between the feedback's size and the rest.")
    else:
        share = g["share"]
        if share >= 1:
            reading = "the larger feedback alone gains at least as much as WN here."
        elif share >= 0:
            reading = ("the larger feedback alone accounts for "
                       + ("most" if share >= 0.75 else "part" if share >= 0.25 else "little")
                       + " of WN's gain here; the rest comes from what the control leaves out, "
                       "the normalisation of $W$'s columns and the equal norms of $B$'s columns.")
        else:
            reading = ("the scaled $B$ lowers the accuracy where WN raises it, so WN's gain here "
                       "does not come from the larger feedback.")
        out.append(
            f"The scaled $B$ reaches {100 * share:.0f}% of WN's accuracy gain at this depth "
            f"({g['size_gain']:+.1f} of WN's {g['wn_gain']:+.1f} points, means over the "
            f"repetitions): {reading} This share is a description, not a test: it has no "
            "confidence interval"
            + (", and WN's gain is small, so it is imprecise." if
               g["wn_gain"] < THRESHOLDS["size_acc"] else "."))
    return " ".join(out)


# ----------------------------------------------------------- the second design: a rate per depth


def _choices(runs: Runs) -> dict[tuple[str, int], dict]:
    """(rule, hidden) -> :func:`fa_lib.experiments.deep_networks.rate_choice` from ``runs``."""
    return {(rule, h): dn.rate_choice(rule, h, runs)
            for h in dn.config()["hidden"] for rule in dn.TUNED_RULES}


def rate_table(runs: Runs) -> pd.DataFrame:
    """The second design's rates: one row per depth, one column per rule.

    Parameters
    ----------
    runs : mapping
        The chapter's runs by name, the learning-rate runs among them.

    Returns
    -------
    DataFrame
        ``hidden layers`` and, per rule of
        :data:`~fa_lib.experiments.deep_networks.TUNED_RULES` (its label), the rate chosen
        with the median final validation accuracy of its tuning networks, ``"0.002: 91.3%"``;
        ``(book)`` marks the book's rate, ``*`` a choice among rates that all had a
        collapsed network.
    """
    choices, rows = _choices(runs), []
    for h in dn.config()["hidden"]:
        row: dict[str, object] = {"hidden layers": h}
        for rule in dn.TUNED_RULES:
            c = choices[(rule, h)]
            at = next(r for r in c["rows"] if r["eta"] == c["eta"])
            row[dn.RULES[rule]] = (f"{c['eta']:g}" + (" (book)" if c["eta"] == dn.BOOK_ETA[rule]
                                                      else "")
                                   + f": {at['median']:.1f}%" + ("" if c["stable"] else " *"))
        rows.append(row)
    return pd.DataFrame(rows)


def rate_accuracy(runs: Runs) -> pd.DataFrame:
    """Final test accuracy at the book's and at the chosen rates, per rule and depth.

    Returns
    -------
    DataFrame
        One row per rule of :data:`~fa_lib.experiments.deep_networks.TUNED_RULES`, depth and
        ``rates`` (``"book"``, ``"tuned"``): ``rule``, ``hidden``, ``rates``, ``mean`` and
        ``sd`` (%, over the repetitions, NaN left out).
    """
    rows = []
    for rule in dn.TUNED_RULES:
        for h in dn.config()["hidden"]:
            for rates, name in (("book", dn.run_name(rule, h)), ("tuned", dn.tuned_name(rule, h))):
                a = _finite(dn.final_accuracy(runs[name]))
                rows.append({"rule": rule, "hidden": h, "rates": rates,
                             "mean": float(np.mean(a)) if a.size else np.nan,
                             "sd": stats.sample_sd(a) if a.size > 1 else np.nan})
    return pd.DataFrame(rows)


def _rate_text(ds: Mapping[str, Decision], runs: Runs) -> str:
    """The rates chosen, the change of accuracy and hypotheses "gap_tuned", "wn_tuned"."""
    choices = _choices(runs)
    changed = {k: c["eta"] for k, c in choices.items() if c["eta"] != dn.BOOK_ETA[k[0]]}
    kept = len(choices) - len(changed)
    out = [f"The validation split kept the book's rate for {kept} of the {len(choices)} pairs "
           "of rule and depth" + ("." if not changed else "; it chose " + _and(
               [f"{eta:g} for {dn.RULES[rule]} with {_layers(h)}"
                for (rule, h), eta in changed.items()]) + ".")]
    unstable = [f"{dn.RULES[rule]} with {_layers(h)}"
                for (rule, h), c in choices.items() if not c["stable"]]
    if unstable:
        out.append(f"For {_and(unstable)} every rate of the grid had a collapsed tuning "
                   "network, and the rate with the fewest collapsed networks was chosen.")
    if changed:
        acc = rate_accuracy(runs).set_index(["rule", "hidden", "rates"])["mean"]
        diff = [acc[(rule, h, "tuned")] - acc[(rule, h, "book")] for rule, h in changed]
        diff = [d for d in diff if np.isfinite(d)]
        if diff:
            out.append("Where the rate changed, the mean final test accuracy changed by "
                       f"{min(diff):+.1f} to {max(diff):+.1f} points."
                       if len(diff) > 1 else
                       f"Where the rate changed, the mean final test accuracy changed by "
                       f"{diff[0]:+.1f} points.")
    lead = "at the rates chosen per depth, "
    out += [_gap_text(ds["gap_tuned"], lead[0].upper() + lead[1:]),
            _wn_text(ds["wn_tuned"], lead)]
    return " ".join(out)


def _found_text(ds: Mapping[str, Decision]) -> str:
    """Which hypotheses were supported, rejected, undecided or not checked, in one sentence."""
    groups: dict[str, list[str]] = {}
    for key, d in ds.items():
        groups.setdefault(d.outcome if d.defined else claims_mod.NOT_CHECKED, []).append(
            f'"{key}"')
    parts = []
    for verdict in (SUPPORTED, REJECTED, UNDECIDED, claims_mod.NOT_CHECKED):
        keys = groups.get(verdict, [])
        if keys:
            word = ("not checked at this scale" if verdict == claims_mod.NOT_CHECKED
                    else f"**{verdict}**")
            parts.append(f"{len(keys)} {'was' if len(keys) == 1 else 'were'} {word} "
                         f"({_and(keys)})")
    return f"Of the chapter's {len(ds)} pre-registered hypotheses, {_and(parts)}."


def _and(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def values(runs: Runs | None = None) -> dict[str, object]:
    """The sentences the chapter's text quotes from ``runs``, from :func:`decisions`.

    Parameters
    ----------
    runs : mapping, optional
        The chapter's runs by name (as :func:`claims` takes them); None reads them from
        the results cache (:func:`load`).

    Returns
    -------
    dict
        Markdown for ``{glue:md}`` (math in ``$...$``: the notebook renders it with the
        MyST format) by glue name, without the prefix ``dn_``: ``follow_text``,
        ``pred_text``, ``rise_text`` ("rise", "wn", "gap"), ``size_text`` (the control's
        hypotheses and the share of WN's accuracy gain it reaches, :func:`gain_share`),
        ``rate_text`` (the second design: the rates chosen, "gap_tuned" and "wn_tuned") and
        ``found_text`` (which hypotheses were supported, rejected or undecided); and a
        table for ``{glue}``, ``rate_table`` (:func:`rate_table`). ``runs`` must hold the
        learning-rate runs.
    """
    runs = load() if runs is None else runs
    ds = decisions(runs)
    dw = update_angles(runs)
    return {"follow_text": markdown(_follow_text(runs, dw)),
            "pred_text": markdown(_prediction_text(ds["prediction"], product_errors(runs))),
            "rise_text": markdown(_depth_text(ds)),
            "size_text": markdown(_size_text(ds, runs)),
            "rate_text": markdown(_rate_text(ds, runs)),
            "rate_table": tables.table(
                rate_table(runs),
                note="The rate chosen on the validation split for each depth and rule, with "
                     "the median final validation accuracy of its tuning networks; (book): "
                     "the first design's rate; *: every rate had a collapsed network."),
            "found_text": markdown(_found_text(ds))}
