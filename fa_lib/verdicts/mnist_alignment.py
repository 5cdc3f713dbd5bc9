"""Claims of the chapter "MNIST alignment" (Sec. 2.5, Figs. 6, 7 and S2; Supp. Note 4).

:func:`claims` checks the chapter's claims on the runs of
:mod:`fa_lib.experiments.mnist_alignment` (read from the results cache, or computed);
:func:`values` computes the numbers and sentences that the chapter's text quotes. The
criteria are the small functions below, of per-repetition values. A NaN (a run that
diverged, an angle without a value) supports no claim: a criterion of values with a
NaN is false, and the comparisons and t-tests (``m.compare``, ``m.window_test``)
refuse a NaN with a ValueError that names it.

``m`` is :mod:`fa_lib.experiments.mnist_alignment` throughout.

Claims whose effect needs the paper's training length (thousands of iterations) are
asserted only when the scale says so (:func:`long_asserted`); at the quick scale
they are measured and recorded, "not checked at this scale".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fa_lib import claims as claims_mod
from fa_lib import config, tables
from fa_lib.claims import Claim
from fa_lib.experiments import mnist_alignment as m
from fa_lib.stats import TTest

__all__ = [
    "CHAPTER", "THRESHOLDS", "acf_max_lag", "aligned", "aligned_all_along",
    "aligned_early_only", "best_is_bp", "claims", "learns", "load", "lowest",
    "long_asserted", "may_not_converge", "no_consistent_effect", "norms_grow_last_most",
    "ordered_towards_input", "periodic", "severely_reduced", "stuck", "values",
]

CHAPTER = m.CHAPTER

THRESHOLDS = {
    "aligned_sems": 3.0,  # "aligned": the mean angle is below 90 degrees by more than this many SEM
    "no_alignment_floor": 88.0,  # "not aligned": the mean angle is above this (degrees)
    "learned_accuracy": m.THRESHOLDS["learned_accuracy"],  # % final test accuracy: below, a
    # run "does not learn" (chance: 10); the experiments module's, which other chapters use
    "silent_output": 0.9,  # fraction of output units silent (Z_d <= 0): the network is stuck
    "acf_peak": 0.5,  # normalised ACF of delta at multiples of the epoch: "considerable"
    "acf_off_ratio": 0.25,  # ... and its mean at the other lags below this fraction of the peaks
    "severe_drop": 10.0,  # percentage points of test accuracy: "severely reduced"
}
"""The margins of the chapter's criteria (degrees, %, or ACF / ACF(0)). The drop that
makes an epoch a collapse of the test accuracy, which the BP claim reports, is the
experiments module's too (``m.THRESHOLDS["collapse"]``, used by ``m.collapses``)."""

def long_asserted() -> bool:
    """Whether the claims whose effect needs the paper's training length are asserted.

    At the current scale (``m.config()["long_effects"]``).
    """
    return bool(m.config()["long_effects"])


# ---------------------------------------------------------------------------- criteria


def ordered_towards_input(angles: np.ndarray) -> bool:
    """Whether the angle decreases strictly from layer 0 on, in every repetition.

    Parameters
    ----------
    angles : ndarray, shape (R, layers)
    """
    return bool(np.all(np.diff(angles, axis=1) < 0))


def norms_grow_last_most(growth: np.ndarray) -> bool:
    """Whether every norm grows and the last layer's by the largest factor, in every repetition.

    Parameters
    ----------
    growth : ndarray, shape (R, layers)
        Final over initial Frobenius norm.
    """
    return bool(np.all(growth > 1)
                and np.all(np.argmax(growth, axis=1) == growth.shape[1] - 1))


def no_consistent_effect(cmp: m.Comparison) -> bool:
    """Whether ``a`` is neither below nor above ``b`` in every repetition (all values finite)."""
    finite = bool(np.all(np.isfinite(cmp.a)) and np.all(np.isfinite(cmp.b)))
    return finite and not cmp.a_below_b_always and not cmp.a_above_b_always


def lowest(means: Mapping[str, float], name: str) -> bool:
    """Whether ``means[name]`` lies below every other value of ``means``."""
    return all(means[name] < v for n, v in means.items() if n != name)


def best_is_bp(means: Mapping[str, float]) -> bool:
    """Whether the largest of ``means`` (all finite; the first on a tie) is a BP run's."""
    if not np.all(np.isfinite(list(means.values()))):
        return False
    return max(means, key=lambda n: means[n]).startswith("bp")


def learns(acc: np.ndarray) -> bool:
    """Whether the final test accuracy (%) is above ``learned_accuracy`` in every repetition."""
    return bool(np.all(acc > THRESHOLDS["learned_accuracy"]))


def stuck(acc: np.ndarray, silent: np.ndarray) -> bool:
    """Whether no repetition learns, each with more than ``silent_output`` of its outputs silent.

    Parameters
    ----------
    acc : ndarray, shape (R,)
        Final test accuracy (%).
    silent : ndarray, shape (R, layers)
        Fraction of silent units in the last epoch; the last layer is the output.
    """
    return bool(np.all(acc < THRESHOLDS["learned_accuracy"])
                and np.all(silent[:, -1] > THRESHOLDS["silent_output"]))


def periodic(at: np.ndarray, off: np.ndarray) -> bool:
    """Whether the normalised ACF peaks at the multiples of the period and nowhere else.

    Parameters
    ----------
    at, off : ndarray, shape (layers,)
        Mean correlogram at the non-zero multiples of the period and at the other lags
        (``m.periodic_peaks``).
    """
    return bool(np.all(at > THRESHOLDS["acf_peak"])
                and np.all(np.abs(off) < THRESHOLDS["acf_off_ratio"] * at))


def aligned(t: TTest) -> bool:
    """Whether the mean angle lies more than ``aligned_sems`` standard errors below 90°."""
    return t.sems_below(90.0) > THRESHOLDS["aligned_sems"]


def aligned_early_only(early: TTest, late: TTest) -> bool:
    """Whether the angle is :func:`aligned` early and above ``no_alignment_floor`` late."""
    return aligned(early) and late.mean > THRESHOLDS["no_alignment_floor"]


def aligned_all_along(first: TTest, last: TTest) -> bool:
    """Whether the angle is :func:`aligned` both early and late."""
    return aligned(first) and aligned(last)


def severely_reduced(acc: np.ndarray, reference: np.ndarray) -> bool:
    """Whether ``acc`` is below ``reference`` in every repetition, and far below on average.

    Paired by repetition (``m.compare``); on average: the means over all the
    repetitions of each differ by more than ``severe_drop`` percentage points.
    """
    return (m.compare(acc, reference).a_below_b_always
            and np.mean(reference) - np.mean(acc) > THRESHOLDS["severe_drop"])


def may_not_converge(accs: Iterable[np.ndarray]) -> bool:
    """Whether some run leaves every repetition below ``learned_accuracy`` (%)."""
    return any(np.all(a < THRESHOLDS["learned_accuracy"]) for a in accs)


# ------------------------------------------------------------------------- the results


def load() -> dict[str, Mapping[str, np.ndarray]]:
    """The results of every run that the claims and the text use, by run name."""
    names = dict.fromkeys([*m.fig6(), *m.fig7_runs().values(), *m.s2_grid().values()])
    return {name: m.results(name) for name in names}


def acf_max_lag(n_iter: int) -> int:
    """The largest lag of the correlograms of Fig. 7A, B: three and a half epochs, at most."""
    s = m.config()
    return min(3 * s["n_batches"] + s["n_batches"] // 2, n_iter - 1)


def _fig7(runs: Mapping[str, Mapping[str, np.ndarray]]
          ) -> tuple[dict[str, Mapping[str, np.ndarray]], int, tuple[int, int], tuple[int, int]]:
    """The Fig. 7 runs (``"fa"``, ``"fa_wn"``), their iterations, and the early and late windows."""
    s = m.config()
    f7 = {key: runs[name] for key, name in m.fig7_runs().items()}
    n7 = f7["fa"]["w_bt"].shape[0]
    return f7, n7, (0, s["early"]), (n7 - s["late_epochs"] * s["n_batches"], n7)


def _peaks(res: Mapping[str, np.ndarray], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``m.periodic_peaks`` of the correlograms of ``key`` (Fig. 7A, B)."""
    s = m.config()
    lags, correlogram = m.correlograms(res, key, acf_max_lag(res["w_bt"].shape[0]))
    return m.periodic_peaks(lags, correlogram, s["n_batches"])


def _mean_dw(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition, the last-epoch dW_FA∠dW_BP averaged over the layers where FA differs."""
    return m.layer_mean(res, "dw_bp", m.LAYERS_FA)


def _per_layer(x: np.ndarray, spec: str, unit: str = "") -> str:
    """``"mean ± SD"`` of every column of ``x`` (repetitions x layers), and n."""
    return ", ".join(f"{mu:{spec}} ± {sd:{spec}}{unit}"
                     for mu, sd in zip(x.mean(0), x.std(0, ddof=1), strict=True)
                     ) + f" (mean ± SD, n = {len(x)})"


def _mean_sd(a: np.ndarray) -> str:
    """``"mean ± SD%"`` of final accuracies, one decimal."""
    return f"{np.mean(a):.1f} ± {np.std(a, ddof=1):.1f}%"


# -------------------------------------------------------------------------- the claims


def claims(runs: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> list[Claim]:
    """Every claim the chapter checks, at the current scale.

    Parameters
    ----------
    runs : mapping, optional
        Run name -> results, as :func:`load` returns them (default: loaded now).

    Returns
    -------
    list of Claim
    """
    runs = load() if runs is None else runs
    return [*_fig6_claims(runs), *_fig7_claims(runs), *_s2_claims(runs)]


def _angle_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Fig. 6A-G: angles and norms."""
    fa_dw = m.last_epoch_mean(runs["fa"], "dw_bp")[:, :4]
    norms = runs["fa"]["norm_w"]
    growth = norms[-1] / norms[0]  # R x layers

    def dw(statement: str, a: str, b: str, labels: tuple[str, str], criterion: str,
           asserted: bool) -> Claim:
        cmp = m.compare(_mean_dw(runs[a]), _mean_dw(runs[b]))
        return Claim(CHAPTER, statement,
                     "layer-mean last-epoch dW_FA∠dW_BP: " + cmp.text(*labels),
                     cmp.a_below_b_always, criterion, asserted)

    return [
        Claim(CHAPTER, "In the baseline FA network, the update directions get worse layer by "
              "layer towards the input (Fig. 6D).",
              "last-epoch dW_FA∠dW_BP, l = 0..3: " + _per_layer(fa_dw, ".1f", "°"),
              ordered_towards_input(fa_dw),
              "the angle decreases strictly from l = 0 to l = 3 in every repetition",
              asserted=long_asserted()),
        Claim(CHAPTER, "In the baseline, the Frobenius norms of the forward weights grow during "
              "training, the last layer's most (Fig. 6G).",
              "|W_l|_F final / initial, l = 0..4: " + _per_layer(growth, ".2f"),
              norms_grow_last_most(growth),
              "every norm grows, and the last layer's grows by the largest factor, in every "
              "repetition"),
        dw("Matching the norm of B_l to that of W_l every iteration improves the update "
           "directions (Fig. 6C, D).", "fa_match_b", "fa", ("matched", "baseline"),
           "smaller with matching in every repetition", long_asserted()),
        dw("Neuron-wise WN (gamma = 1, B normalised at the start, Methods 4.4) improves the "
           "update directions (Fig. 6A, B vs C, D).", "fa_wn", "fa", ("WN", "baseline"),
           "smaller with WN in every repetition", True),
        dw("WN improves the update directions also when B is left as drawn (the authors' code "
           "for Figs. 4, 8, S1, S3).", "fa_wn_b_as_drawn", "fa", ("WN, B as drawn", "baseline"),
           "smaller with WN in every repetition", long_asserted()),
        dw("Neuron-wise WN aligns the update directions (a little) better than layer-wise "
           "normalisation to 7.07 (Fig. 6A, B).", "fa_wn", "fa_layer_norm",
           ("neuron-wise", "layer-wise"), "smaller with neuron-wise WN in every repetition",
           True),
    ]


def _width_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Fig. 6E, F: width 100, without and with WN."""
    mean_dw = {n: _mean_dw(runs[n]) for n in ("fa", "fa_w100", "fa_w100_wn")}
    cmp_dw = m.compare(mean_dw["fa_w100"], mean_dw["fa"])
    cmp_wb = m.compare(m.layer_mean(runs["fa_w100"], "w_bt"), m.layer_mean(runs["fa"], "w_bt"))
    cmp = m.compare(mean_dw["fa_w100_wn"], mean_dw["fa_w100"])
    gap = np.mean(mean_dw["fa_w100"]) - np.mean(mean_dw["fa"])
    gain = np.mean(mean_dw["fa_w100"]) - np.mean(mean_dw["fa_w100_wn"])
    return [
        Claim(CHAPTER, "A wider network (100 units) aligns worse than width 50 (Fig. 6E, F vs "
              "C, D).",
              "layer-mean last-epoch W∠B^T: " + cmp_wb.text("width 100", "width 50")
              + "; dW_FA∠dW_BP: " + cmp_dw.text("width 100", "width 50"),
              cmp_wb.a_above_b_always and cmp_dw.a_above_b_always,
              "both angles larger at width 100 in every repetition", asserted=long_asserted()),
        Claim(CHAPTER, "At width 100, WN (gamma = 1) improves the alignment, recovering much "
              "of what the width cost (Fig. 6E, F).",
              "layer-mean last-epoch dW_FA∠dW_BP: " + cmp.text("WN", "no WN")
              + f"; width 100 without WN is {gap:.2f}° worse than width 50, WN gains "
              f"{gain:.2f}°",
              cmp.a_below_b_always, "smaller with WN in every repetition",
              asserted=long_asserted()),
    ]


def _accuracy_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Fig. 6H and of the text's learning rate: test accuracies."""
    acc = {name: m.final_accuracy(runs[name]) for name in ("fa", "fa_wn", "bp", "bp_wn")}
    fa_wn = m.compare(acc["fa_wn"], acc["fa"])
    bp_wn = m.compare(acc["bp_wn"], acc["bp"])
    drops = {name: m.collapses(runs[name]) for name in ("bp_wn", "bp")}
    labels = {"bp": "BP", "fa": "FA", "fa_wn": "FA + WN (B normalised)", "bp_wn": "BP + WN"}
    means = {n: np.mean(acc[n]) for n in labels}
    r_text = runs["fa_eta_text"]
    text_acc = m.final_accuracy(r_text)
    silent = 1.0 - m.last_epoch_mean(r_text, "active")  # R x layers
    floor = THRESHOLDS["learned_accuracy"]
    return [
        Claim(CHAPTER, "WN lowers the test error of FA (Fig. 6H).",
              "final test accuracy: " + fa_wn.text("FA + WN", "FA", unit="%"),
              fa_wn.a_above_b_always, "higher accuracy with WN in every repetition"),
        Claim(CHAPTER, "WN raises the test error of BP (Fig. 6H, text).",
              "final test accuracy: " + bp_wn.text("BP + WN", "BP", unit="%")
              + f"; epochs more than {m.THRESHOLDS['collapse']:g} points below the best "
              f"earlier one: BP + WN {drops['bp_wn'][0]}, BP {drops['bp'][0]} "
              f"(of {drops['bp'][1]})",
              bp_wn.a_below_b_always, "lower accuracy with WN in every repetition",
              asserted=long_asserted(),
              instead="no consistent effect: the accuracy with WN is higher in some "
              "repetitions and lower in others",
              instead_holds=no_consistent_effect(bp_wn)),
        Claim(CHAPTER, "BP without WN has the lowest test accuracy of the four curves of "
              "Fig. 6H (text).",
              "mean final test accuracy: "
              + ", ".join(f"{labels[n]} {means[n]:.2f}%" for n in ("bp", "fa", "fa_wn", "bp_wn")),
              lowest({n: means[n] for n in ("bp", "fa", "fa_wn", "bp_wn")}, "bp"),
              "mean accuracy of BP below those of FA, FA + WN and BP + WN",
              asserted=long_asserted(),
              instead="a BP run (with or without WN) has the highest mean accuracy of the four",
              instead_holds=best_is_bp({n: means[n] for n in ("bp", "bp_wn", "fa", "fa_wn")})),
        Claim(CHAPTER, "The network of Figs. 6-7 trains with FA at the text's eta = 0.005 "
              "(Methods 4.3).",
              f"final test accuracy {_mean_sd(text_acc)} "
              f"(range {text_acc.min():.1f}-{text_acc.max():.1f}%, n = {len(text_acc)}; "
              f"{means['fa']:.1f}% at eta = {m.FA_ETA:g}); silent units in the last epoch, "
              "l = 1..5: " + ", ".join(f"{100 * v:.0f}%" for v in silent.mean(axis=0))
              + f"; {_nonfinite_at(int(r_text['diverged_at']))}",
              learns(text_acc), f"final test accuracy above {floor:g}% in every repetition",
              instead=f"the network gets stuck: final test accuracy below {floor:g}% in every "
              f"repetition, more than {THRESHOLDS['silent_output']:.0%} of the output units "
              "silent in the last epoch",
              instead_holds=stuck(text_acc, silent)),
    ]


def _nonfinite_at(iteration: int) -> str:
    """Where the weights first became NaN or infinite (``diverged_at``; -1: never), in words."""
    return "no NaN/Inf" if iteration < 0 else f"first NaN/Inf at iteration {iteration:,}"


def _fig6_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Fig. 6 and of the text's learning rate."""
    return [*_angle_claims(runs), *_width_claims(runs), *_accuracy_claims(runs)]


def _fig7_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Fig. 7: autocorrelation and alignment terms."""
    s = m.config()
    f7, n7, early, late = _fig7(runs)
    at, off = _peaks(f7["fa"], "trace_delta")
    sems, floor = THRESHOLDS["aligned_sems"], THRESHOLDS["no_alignment_floor"]

    def test(key: str, window: tuple[int, int], name: str = "fa") -> TTest:
        return m.window_test(f7[name], key, *window)

    def by_wn(key: str, window: tuple[int, int]) -> m.Comparison:
        per = {n: m.window_mean(f7[n], key, *window).mean(axis=-1) for n in f7}
        return m.compare(per["fa_wn"], per["fa"])

    def below(t: TTest) -> str:
        return f"{t} ({t.sems_below(90.0):.1f} SEM below 90)"

    t1_early, t1_late = test("t1_aln", early), test("t1_aln", late)
    t1_wn, t1_by_wn = test("t1_aln", early, "fa_wn"), by_wn("t1_aln", early)
    t60_first, t60_last = test("t60_aln", early), test("t60_aln", late)
    sup_all, sup_late = test("t1_sup", (0, n7)), test("t1_sup", late)
    dw_by_wn, sup_by_wn = by_wn("dw_bt", late), by_wn("t1_sup", late)
    last = f"mean over l = 1..4 and the last {s['late_epochs']} epochs: "
    return [
        Claim(CHAPTER, "Elements of delta_FA show considerable autocorrelation only at lags "
              "that are multiples of the number of mini-batches, 60 (Fig. 7B).",
              f"normalised ACF at the non-zero multiples of {s['n_batches']} (lags up to "
              f"{acf_max_lag(n7)}), l = 1..5: " + ", ".join(f"{a:.2f}" for a in at)
              + "; mean at the other lags: " + ", ".join(f"{o:+.3f}" for o in off),
              periodic(at, off),
              f"ACF/ACF(0) > {THRESHOLDS['acf_peak']} at the multiples, and |mean| at the "
              f"other lags below {THRESHOLDS['acf_off_ratio']} times that, in every layer"),
        Claim(CHAPTER, "T^1_aln aligns with B^T only early in training (k < 250), not after "
              "(Fig. 7C).",
              f"angle, mean over l = 1..4 per repetition: k < {s['early']}: {below(t1_early)}; "
              f"last {s['late_epochs']} epochs: {t1_late}",
              aligned_early_only(t1_early, t1_late),
              f"early: more than {sems:g} SEM below 90°; late: mean above {floor:g}°"),
        Claim(CHAPTER, "With WN too, T^1_aln aligns with B^T early in training (Fig. 7D, "
              "green dots).",
              f"angle over k < {s['early']}, mean over l = 1..4 per repetition, with WN: "
              f"{below(t1_wn)}; " + t1_by_wn.text("WN", "no WN"),
              aligned(t1_wn), f"more than {sems:g} SEM below 90°",
              instead="with WN, T^1_aln is less aligned early in training than without, in "
              "every repetition",
              instead_holds=t1_by_wn.a_above_b_always),
        Claim(CHAPTER, "T^60_aln aligns with B^T all along (Fig. 7C).",
              f"angle, mean over l = 1..4 per repetition: 60 <= k < {s['early']}: "
              f"{t60_first}; last {s['late_epochs']} epochs: {t60_last}",
              aligned_all_along(t60_first, t60_last),
              f"more than {sems:g} SEM below 90° early and late"),
        Claim(CHAPTER, "T^1_sup aligns with B^T (Fig. 7C).",
              f"angle, mean over l = 1..4 per repetition, whole run: {below(sup_all)}; "
              f"last {s['late_epochs']} epochs: {below(sup_late)}",
              aligned(sup_all), f"whole run: more than {sems:g} SEM below 90°"),
        Claim(CHAPTER, "WN improves the alignment of dW_FA with B^T (Fig. 7C vs D).",
              "dW_FA∠B^T, " + last + dw_by_wn.text("WN", "no WN"),
              dw_by_wn.a_below_b_always, "smaller with WN in every repetition"),
        Claim(CHAPTER, "WN improves the alignment of T^1_sup with B^T (Fig. 7C vs D).",
              "T^1_sup∠B^T, " + last + sup_by_wn.text("WN", "no WN"),
              sup_by_wn.a_below_b_always, "smaller with WN in every repetition"),
    ]


def _s2_claims(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[Claim]:
    """The claims of Supp. Note 4 (Fig. S2): small gamma, large learning rates."""
    s = m.config()
    gmin = min(s["gammas"])
    g_small = m.final_accuracy(runs[m.s2_grid()[("gamma", gmin, True)]])
    reference = m.final_accuracy(runs["fa_wn"])
    big = {(e, wn): m.final_accuracy(runs[m.s2_grid()[("eta", e, wn)]])
           for e in s["etas"] if e > m.FA_ETA for wn in (False, True)}
    floor = THRESHOLDS["learned_accuracy"]
    return [
        Claim(CHAPTER, "With small gamma the performance is severely reduced (Supp. Note 4, "
              "Fig. S2).",
              f"final test accuracy, gamma = {gmin:g} vs 1: "
              + m.compare(g_small, reference).text(f"gamma {gmin:g}", "gamma 1", unit="%"),
              severely_reduced(g_small, reference),
              f"lower in every repetition, by more than {THRESHOLDS['severe_drop']:g} "
              "percentage points on average"),
        Claim(CHAPTER, "With eta > 0.0005 the network may not converge (Supp. Note 4).",
              "final test accuracy: " + "; ".join(
                  f"eta {e:g}{' + WN' if wn else ''}: {_mean_sd(a)}" for (e, wn), a in big.items()),
              may_not_converge(big.values()),
              f"some eta > 0.0005 leaves every repetition below {floor:g}% accuracy"),
    ]


# ---------------------------------------------------------------------- the text's numbers


def values(chapter_claims: Sequence[Claim] | None = None,
           runs: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, object]:
    """The numbers and sentences the chapter's text quotes, by glue name (without ``mn_``).

    Parameters
    ----------
    chapter_claims : sequence of Claim, optional
        As :func:`claims` returns them (default: computed now).
    runs : mapping, optional
        Run name -> results, as :func:`load` returns them (default: loaded now).

    Returns
    -------
    dict
        Numbers, and :class:`IPython.display.Markdown` for the text's ``{glue:md}``.
    """
    runs = load() if runs is None else runs
    chapter_claims = claims(runs) if chapter_claims is None else chapter_claims
    return {**_settings(), **_fig6_values(runs), **_fig7_values(runs), **_s2_values(runs),
            **_verdict_values(chapter_claims)}


def _settings() -> dict[str, object]:
    """The chapter's settings at the current scale."""
    s = m.config()
    from IPython.display import Markdown

    base = m.fig6()["fa"]
    keys = ("reps", "epochs", "n_batches", "terms_every", "n_traces", "s2_reps", "early",
            "late_epochs")
    return {
        "scale": Markdown(config.scale()), **{key: s[key] for key in keys},
        "n_iter": base.n_iter,
        "n_test": Markdown(f"{s['n_test']:,}" if s["n_test"] else "all 10,000"),
        "fa_eta": m.FA_ETA, "bp_eta": m.BP_ETA, "text_eta": m.TEXT_ETA,
        "layer_norm": m.LAYER_NORM, "init_sd": base.init_sd, "batch": base.batch_size,
        "dtype": Markdown(base.dtype),
        "gammas": Markdown(", ".join(f"{g:g}" for g in s["gammas"])),
        "etas": Markdown(", ".join(f"{e:g}" for e in s["etas"])),
        "widths": Markdown(", ".join(str(w) for w in s["widths"])),
        "late_iter": s["late_epochs"] * s["n_batches"],
        "fig7_runs": Markdown(
            "the baseline FA and FA + WN runs of Fig. 6" if s["fig7_epochs"] is None
            else f"at this scale two extra runs of {s['fig7_epochs']} epochs, without and with "
            "WN, since the other runs are too short to show the terms' late behaviour"),
        "th_floor": THRESHOLDS["no_alignment_floor"], "th_sems": THRESHOLDS["aligned_sems"],
        "drop_level": m.THRESHOLDS["collapse"],
    }


def _fig6_values(runs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, object]:
    """The angles, norms and accuracies of Fig. 6 and of the text's learning rate."""
    from IPython.display import Markdown

    short = {"fa": "fa", "fa_match_b": "mb", "fa_wn": "wn", "fa_layer_norm": "ln",
             "fa_wn_b_as_drawn": "wnb"}
    out: dict[str, object] = {"wb_fa": float(np.mean(m.layer_mean(runs["fa"], "w_bt")))}
    for name, label in short.items():
        dw = m.last_epoch_mean(runs[name], "dw_bp").mean(axis=0)
        out |= {f"dw{ell}_{label}": float(dw[ell])
                for ell in (range(4) if name in ("fa", "fa_match_b") else (0, 3))}
    norms = runs["fa"]["norm_w"]
    growth = norms[-1].mean(axis=0) / norms[0].mean(axis=0)
    out |= {f"growth{ell}": float(growth[ell]) for ell in range(5)}
    for label, name in (("w100", "fa_w100"), ("w50", "fa"), ("w100wn", "fa_w100_wn")):
        out[f"{label}_dw"] = float(np.mean(_mean_dw(runs[name])))
        out[f"{label}_wb"] = float(np.mean(m.layer_mean(runs[name], "w_bt")))
    for name in ("fa", "fa_wn", "bp", "bp_wn"):
        acc = m.final_accuracy(runs[name])
        out[f"acc_{name}"] = float(np.mean(acc))
        out[f"acc_sd_{name}"] = float(np.std(acc, ddof=1))
    for name in ("bp", "bp_wn"):
        out[f"drops_{name}"], out["drop_total"] = m.collapses(runs[name])
    r_text = runs["fa_eta_text"]
    div = int(r_text["diverged_at"])
    for key, name in (("silent_out", "fa_eta_text"), ("silent_out_fa", "fa")):
        out[key] = float(100 * (1 - np.mean(m.last_epoch_mean(runs[name], "active")[:, -1])))
    return out | {
        "acc_fa_eta_text": float(np.mean(m.final_accuracy(r_text))),
        "eta_text_nan": Markdown("No weight became NaN or infinite." if div < 0
                                 else f"The weights became NaN or infinite at iteration {div}."),
    }


def _fig7_values(runs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, object]:
    """The correlograms' peaks and the angles of the terms of Fig. 7."""
    s = m.config()
    f7, n7, early, late = _fig7(runs)
    out: dict[str, object] = {
        "dw_sup_gap": float(np.nanmean(np.abs(f7["fa"]["dw_bt"] - f7["fa"]["t1_sup"]))),
        # the grid of the terms visits only these mini-batches (one track each, Fig. 7C, D)
        "terms_tracks": len(np.unique(np.arange(0, n7, s["terms_every"]) % s["n_batches"])),
    }
    for key, label in (("trace_delta", ""), ("trace_L", "_L")):
        at, off = _peaks(f7["fa"], key)
        out |= {f"acf{label}_peak": float(np.mean(at)), f"acf{label}_off": float(np.mean(off))}
    for key, label in (("t1_aln", "t1"), ("t60_aln", "t60"), ("t1_sup", "sup"),
                       ("dw_bt", "dwbt")):
        for suffix, name, window in (("early", "fa", early), ("late", "fa", late),
                                     ("late_wn", "fa_wn", late)):
            out[f"{label}_{suffix}"] = float(np.mean(m.window_mean(f7[name], key, *window)))
    return out


def _s2_values(runs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, object]:
    """The accuracies of Fig. S2 at the smallest gamma and at the largest learning rate."""
    s = m.config()
    gmin, emax = min(s["gammas"]), max(s["etas"])

    def acc(point: tuple[str, float, bool]) -> float:
        return float(np.mean(m.final_accuracy(runs[m.s2_grid()[point]])))

    return {"s2_gmin": gmin, "s2_acc_gmin": acc(("gamma", gmin, True)),
            "s2_acc_emax": acc(("eta", emax, False)), "s2_acc_emax_wn": acc(("eta", emax, True))}


def _verdict_values(chapter_claims: Sequence[Claim]) -> dict[str, object]:
    """The counts and lists of "What was reproduced", and the scale note of the box."""
    from IPython.display import Markdown

    verdicts = [c.verdict for c in chapter_claims]
    unchecked = [c.statement for c in chapter_claims if c.verdict == claims_mod.NOT_CHECKED]
    note = ("At this (paper) scale every check below is asserted." if long_asserted() else
            "At this quick scale the runs are far shorter than the paper's; the effects of the "
            "following checks only appear after thousands of iterations, so they are computed "
            "and recorded in the table but not asserted: "
            + "; ".join(f"*{claim.rstrip('.')}*" for claim in unchecked) + ".")
    lists = {key: Markdown("\n".join(f"- {c.statement}" for c in chapter_claims
                                     if c.verdict == verdict) or "- none")
             for key, verdict in (("holds", claims_mod.REPRODUCED),
                                  ("fails", claims_mod.NOT_REPRODUCED))}
    return {"scale_note": Markdown(note), "n_claims": len(chapter_claims),
            "n_unchecked": verdicts.count(claims_mod.NOT_CHECKED),
            "n_holds": verdicts.count(claims_mod.REPRODUCED),
            "list_holds": lists["holds"], "list_fails": lists["fails"]}


RUN_LABELS = {
    "fa": "FA", "fa_wn": "FA + WN", "fa_match_b": "FA, B-norm matched",
    "fa_layer_norm": "FA, layer-wise norm", "fa_wn_b_as_drawn": "FA + WN, B as drawn",
    "bp": "BP", "bp_wn": "BP + WN", "fa_eta_text": "FA, text's η", "fa_w100": "FA",
    "fa_w100_wn": "FA + WN", "fa_w100_wn_b_as_drawn": "FA + WN, B as drawn",
}
"""How the table of final results names the runs of Figs. 6-7 and their variants."""


def _math_header(column: str) -> str:
    """A column of :func:`fa_lib.experiments.mnist_alignment.summary_row` with its math."""
    column = {"eta": "$\\eta$", "WN gamma": "WN $\\gamma$"}.get(column, column)
    column = re.sub(r"^dW(\d) FA∠BP$", r"$\\Delta W_{\1,FA} \\angle \\Delta W_{\1,BP}$", column)
    return re.sub(r"^W(\d)∠B\dᵀ$", r"$W_\1 \\angle B_\1^T$", column)


def final_table(runs: Mapping[str, Mapping[str, np.ndarray]]) -> tables.Table:
    """The final test accuracy and last-epoch angles of every run of Fig. 6 (mean over reps)."""
    final = pd.DataFrame([m.summary_row(name, runs[name]) for name in m.fig6()])
    shown = final.drop(columns=["method"])
    shown.insert(1, "test accuracy", [
        tables.pm(a, s, ".2f")
        for a, s in zip(shown["accuracy mean (%)"], shown["accuracy SD (%)"], strict=True)])
    shown["run"] = [RUN_LABELS.get(r, r) for r in shown["run"]]
    shown = shown.drop(columns=["accuracy mean (%)", "accuracy SD (%)"])
    shown = shown.rename(columns=_math_header)
    angles = [c for c in shown.columns if "angle" in c]
    return tables.table(
        shown,
        formats={"$\\eta$": "{:g}", "WN $\\gamma$": "{:g}", **dict.fromkeys(angles, ".1f"),
                 "diverged at": tables.sentinel(-1, "never", ",d")},
        units={"test accuracy": "% mean ± SD", "diverged at": "iteration",
               **dict.fromkeys(angles, "°")},
        missing_note="no WN (WN γ, B normalised), not recorded (angles)")
