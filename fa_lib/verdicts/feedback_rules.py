"""The claims of the chapter "Other feedback rules with weight normalisation", and its numbers.

The chapter is beyond the paper: its own hypotheses
(:data:`fa_lib.experiments.feedback_rules.HYPOTHESES`) are decided in its tables; the
claims it checks are the published statements of
:data:`fa_lib.experiments.feedback_rules.LITERATURE` and the completeness of its design
(:func:`claims`). Every number and sentence its text quotes is computed here too
(:func:`setup_values`, :func:`values`, :func:`verdict_values`; glued by the notebook with
the prefix ``fr_``), from the chapter's runs read from the results cache (:func:`load`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fa_lib import config, stats, tables
from fa_lib.claims import REPRODUCED, Claim
from fa_lib.experiments import feedback_rules as fr
from fa_lib.verdicts.common import complete, markdown, mean_sd

CHAPTER = fr.CHAPTER

THRESHOLDS = fr.THRESHOLDS
"""The margins of the chapter's checks (:data:`fa_lib.experiments.feedback_rules.THRESHOLDS`,
where its hypotheses and :data:`~fa_lib.experiments.feedback_rules.LITERATURE` state them):
``close_to_bp`` (points of test accuracy), ``kp_aligned`` and ``wm_aligned`` (degrees)
for the published statements."""

PAPER_VERDICTS = {"dfa": False, "usf": True, "kp": True, "wm": True}
"""Whether each published statement held in the first paper-scale run (DFA: 2 of 10
networks stay behind); a paper-scale build asserts the same verdicts."""

AUTHORS = {"nokland2016direct": "Nøkland 2016", "liao2016important": "Liao et al. 2016",
           "akrout2019deep": "Akrout et al. 2019"}
"""The short citation of each source of :data:`~fa_lib.experiments.feedback_rules.LITERATURE`."""

Runs = Mapping[str, Mapping[str, np.ndarray]]
"""Run name -> the arrays the run recorded."""


def load() -> dict[str, Mapping[str, np.ndarray]]:
    """Every run of the chapter (:func:`fa_lib.experiments.feedback_rules.names`), by name."""
    return {name: fr.results(name) for name in fr.names()}


def accuracy_runs(runs: Runs) -> dict[str, Mapping[str, np.ndarray]]:
    """The accuracy runs of both designs among ``runs`` (main runs, then own-rate runs)."""
    return {n: runs[n] for n in (*fr.main_names(), *fr.own_names())
            if not n.startswith("flex_") and n in runs}


def flexibility_runs(runs: Runs) -> dict[str, Mapping[str, np.ndarray]]:
    """The flexibility runs of both designs among ``runs``."""
    return {n: runs[n] for n in (*fr.flex_names(), *fr.own_names())
            if n.startswith("flex_") and n in runs}


# ------------------------------------------------------------------------------ criteria


def close_to_bp(difference: float) -> bool:
    """A rule's mean final accuracy minus BP's is above ``-close_to_bp`` points (NaN fails)."""
    return bool(difference > -THRESHOLDS["close_to_bp"])


def aligned(angles: np.ndarray, limit: float) -> bool:
    """Every layer's final ``W_l ∠ B_l^T`` (mean over repetitions) is below ``limit`` degrees."""
    a = np.asarray(angles, dtype=float)
    return bool(a.size > 0 and np.all(a < limit))


def undefined_values(runs: Runs) -> list[str]:
    """The values of ``runs`` that should be defined and are not (NaN), as ``"run: value"``.

    A diverged run is left out (its values end at the divergence). An accuracy run
    must have every final accuracy, every update angle of a repetition that made updates
    in the last epoch (the output layer's aside) and, where ``B`` has ``W^T``'s shape,
    every ``W ∠ B^T``; a flexibility run must have every phase accuracy.
    """
    undefined = []
    for n, res in accuracy_runs(runs).items():
        if int(res["diverged_at"]) >= 0:
            continue
        if not np.all(np.isfinite(fr.final_accuracy(res))):
            undefined.append(f"{n}: accuracy")
        rule = fr.rule_of(n)
        alive = ~fr.silent(res, rule)
        if rule != "bp" and not np.all(np.isfinite(fr.update_angles(res, rule)[alive][:, :-1])):
            undefined.append(f"{n}: update angle")
        if rule not in ("bp", "dfa") and not np.all(np.isfinite(fr.feedback_angles(res))):
            undefined.append(f"{n}: W ∠ Bᵀ")
    for n, res in flexibility_runs(runs).items():
        if int(res["diverged_at"]) < 0 and not np.all(
                np.isfinite(fr.phase_accuracy(res)["drop"])):
            undefined.append(f"{n}: phase accuracies")
    return undefined


# -------------------------------------------------------------------------------- claims


def literature_claims(runs: Runs) -> list[Claim]:
    """The published statements of :data:`~fa_lib.experiments.feedback_rules.LITERATURE`.

    At paper scale each must keep the verdict of the first paper-scale run
    (:data:`PAPER_VERDICTS`); at the quick scale each is measured, and what is asserted is
    that the values it compares are defined. A NaN among them fails the claim and what
    is asserted instead.
    """
    paper = config.scale() == "paper"
    bp = fr.final_accuracy(runs["bp"])
    found = []
    for p, (key, statement, criterion) in fr.LITERATURE.items():
        if p in ("kp", "wm"):
            angles = fr.feedback_angles(runs[p])
            values = np.mean(angles, axis=0)
            holds = aligned(values, THRESHOLDS["kp_aligned" if p == "kp" else "wm_aligned"])
            measured = ("final W_l ∠ B_l^T per layer: " + ", ".join(f"{x:.1f}°" for x in values)
                        + f" (n = {len(angles)})")
        else:
            acc = fr.final_accuracy(runs[p])
            values = np.array([np.mean(acc) - np.mean(bp)])
            holds = close_to_bp(values[0])
            measured = (f"{fr.LABELS[p]} {mean_sd(acc, '%')} vs BP {mean_sd(bp, '%')} "
                        f"(mean ± SD): {fr.LABELS[p]} − BP = {values[0]:+.1f} points")
        defined = bool(np.all(np.isfinite(values)))
        if paper:
            instead = ("as the first paper-scale run found, the statement "
                       + ("holds" if PAPER_VERDICTS[p] else "does not hold")
                       + ", with every compared value defined")
            instead_holds = defined and holds == PAPER_VERDICTS[p]
        else:
            instead = ("every compared value is defined (at this scale the statement is "
                       "measured; the paper-scale build decides it)")
            instead_holds = defined
        found.append(Claim(CHAPTER, f"{statement} ({fr.LABELS[p]}; {AUTHORS[key]}).", measured,
                           holds, criterion, instead=instead, instead_holds=instead_holds))
    return found


def design_claim(runs: Runs) -> Claim:
    """The claim that the whole design was computed, with every value that is defined.

    Every run of :func:`fa_lib.experiments.feedback_rules.names` must be in ``runs``, and
    :func:`undefined_values` must find nothing.
    """
    design = fr.names()
    missing = [n for n in design if n not in runs]
    undefined = undefined_values(runs)
    acc_runs = accuracy_runs(runs)
    diverged = [n for n in design if n in runs and int(runs[n]["diverged_at"]) >= 0]
    silent_runs = {n: int(np.sum(fr.silent(res, fr.rule_of(n)))) for n, res in acc_runs.items()
                   if np.any(fr.silent(res, fr.rule_of(n)))}
    return Claim(
        CHAPTER,
        "The whole design was computed: every run of every rule and normalisation, "
        "with every value that is defined.",
        f"{len(design)} runs ({len(fr.tuning())} learning-rate runs, {len(acc_runs)} accuracy "
        f"runs, {len(flexibility_runs(runs))} flexibility runs, both designs); missing: "
        f"{missing or 'none'}; undefined values: {undefined or 'none'}; diverged: "
        f"{diverged or 'none'}; repetitions whose network fell silent (no update in the last "
        f"epoch, so no update angle): {silent_runs or 'none'}",
        complete(missing, undefined),
        "no run missing, no NaN where a value is defined")


def claims(runs: Runs | None = None) -> list[Claim]:
    """Every claim the chapter checks: the published statements, then the design's completeness.

    Parameters
    ----------
    runs : mapping, optional
        Run name -> results (default: :func:`load`, from the results cache).
    """
    runs = load() if runs is None else runs
    return [*literature_claims(runs), design_claim(runs)]


# ------------------------------------------------------------------------ the text's numbers


def setup_values() -> dict[str, object]:
    """The chapter's settings at the current scale, by glue name (without the ``fr_`` prefix)."""
    s, flex = fr.config(), fr.flex_config()
    kp, wm, brsf = fr.pathway("kp"), fr.pathway("wm"), fr.pathway("brsf")
    return {
        "gamma": float(fr.GAMMA), "scale": config.scale(), "flex_gamma": float(fr.FLEX_GAMMA),
        "grid": ", ".join(f"{e:g}" for e in fr.ETA_GRID),
        "first_grid": ", ".join(f"{e:g}" for e in fr.FIRST_GRID),
        "eta_fa": f"{fr.BOOK_ETA['fa']:g}", "eta_bp": f"{fr.BOOK_ETA['bp']:g}",
        "flex_eta": f"{fr.FLEX_ETA:g}", "kp_decay": f"{kp.decay:g}", "wm_eta": f"{wm.eta_b:g}",
        "wm_decay": f"{wm.decay_b:g}", "wm_sd": f"{wm.noise_sd:g}", "wm_batch": str(wm.batch),
        "brsf_sd": f"{brsf.sd:g}",
        **{key: str(s[key]) for key in ("reps", "epochs", "tune_reps", "tune_epochs")},
        "tune_images": f"{s['tune_batches'] * 1000:,}", "holdout": f"{s['holdout']:,}",
        "flex_reps": str(flex["reps"]), "flex_phase": str(flex["phase_epochs"]),
        "scale_note": markdown(
            "" if config.scale() == "paper" else
            "At the quick scale the networks train for a few hundred steps only, so the verdicts "
            "below describe early training and can differ from the paper-scale ones."),
        "own_design": markdown(fr.OWN_RATE_DESIGN),
        "hypotheses": markdown("\n".join(f"- **{key}**: {text}."
                                          for key, text in fr.HYPOTHESES.items())),
    }


def _findings(runs: Runs) -> dict[str, object]:
    """The rates chosen, the hypotheses' verdicts of both designs and the flexibility outcomes."""
    tuned = {n: runs[n] for n in fr.tuning()}
    first = {p: ("—" if p == "bp" else stats.beyond(fr.angle_test(p, "wn", runs),
                                                     THRESHOLDS["angle_gain"]),
                 stats.beyond(fr.accuracy_test(p, "wn", runs), THRESHOLDS["acc_gain"]))
             for p in fr.RULES}
    second = {(p, v): (stats.beyond(fr.angle_test(p, v, runs, 2), THRESHOLDS["angle_gain"]),
                       stats.beyond(fr.accuracy_test(p, v, runs, 2), THRESHOLDS["acc_gain"]))
              for p in fr.TUNED for v in fr.variants(p) if v != "none"}
    return {
        "chosen": fr.best_rates(tuned), "chosen_wn": fr.best_rates(tuned, "wn"),
        "first": {key: [fr.LABELS[p] for p, v in first.items() if v[i] == verdict]
                  for key, i, verdict in (("lowered", 0, "supported"),
                                          ("not_lowered", 0, "rejected"),
                                          ("undecided", 0, "undecided"),
                                          ("raised", 1, "supported"))},
        "second": second,
        "outcome": {p: fr.flexibility_outcome(runs[f"flex_{p}"], runs[f"flex_{p}_wn"])
                    for p in fr.RULES},
        "flex2": {p: fr.flexibility_outcome(runs[f"flex_{p}"],
                                            runs[fr.own_rate_run(f"flex_{p}_wn", 2)])
                  for p in fr.TUNED},
    }


def _tune_note(runs: Runs, chosen: Mapping[str, float]) -> str:
    """The rates chosen on the validation split, at an end of the grid, or that do not learn."""
    tune = pd.DataFrame(fr.tuning_table({n: runs[n] for n in fr.tuning()}))
    best = tune.loc[tune.groupby("rule")["val_acc"].idxmax()].set_index("rule")
    edge = [p for p in fr.TUNED if chosen[p] in (fr.ETA_GRID[0], fr.ETA_GRID[-1])]
    no_learn = [p for p in fr.TUNED if not best.loc[p, "val_acc"] > THRESHOLDS["learns"]]
    return (
        "Chosen rates: " + ", ".join(
            f"{fr.LABELS[p]} {chosen[p]:g} ({best.loc[p, 'val_acc']:.1f}% validation accuracy)"
            for p in fr.TUNED) + ". "
        + ("The chosen rate is at an end of the grid for " + ", ".join(fr.LABELS[p] for p in edge)
           + ": a wider grid might do better. " if edge else "")
        + ("No rate of the grid lets " + ", ".join(fr.LABELS[p] for p in no_learn)
           + f" reach {THRESHOLDS['learns']:g}% validation accuracy: at this scale it does not "
           "learn with any rate tried. " if no_learn
           else f"Every rule reaches more than {THRESHOLDS['learns']:g}% at its best rate."))


def _own_text(f: Mapping[str, object]) -> str:
    """The second design's verdicts (WN at its own rate) and what changed from the first's."""

    def names_with(column: int, verdict: str) -> str:
        return ", ".join([f"{fr.LABELS[p]} ({fr.VARIANTS[v]})"
                          for (p, v), both in f["second"].items() if both[column] == verdict]
                         or ["no rule"])

    changed = [f"{fr.LABELS[p]}: {f['outcome'][p]['verdict']} → {o['verdict']}"
               for p, o in f["flex2"].items() if o["verdict"] != f["outcome"][p]["verdict"]]
    same_rate = [fr.LABELS[p] for p in fr.TUNED if f["chosen_wn"][p] == f["chosen"][p]]
    return (
        "With every WN variant at its own rate, WN lowers the first layer's update angle to "
        f"BP by more than {THRESHOLDS['angle_gain']:g}° for {names_with(0, 'supported')} "
        f"(rejected for {names_with(0, 'rejected')}), and raises the final accuracy by more "
        f"than {THRESHOLDS['acc_gain']:g} points for {names_with(1, 'supported')} (rejected "
        f"for {names_with(1, 'rejected')}). After the change of codes, WN at its own rate "
        "restores learning for "
        + (", ".join(fr.LABELS[p] for p, o in f["flex2"].items() if o["verdict"] == "supported")
           or "no rule")
        + "; the verdicts that differ from the first design's: " + ("; ".join(changed) or "none")
        + ". The rate chosen with WN (B as drawn) is the one chosen without it for "
        + (", ".join(same_rate) or "no rule") + ".")


def _summary(runs: Runs, f: Mapping[str, object]) -> pd.DataFrame:
    """Every rule without and with WN: rate, accuracy, flexibility and first-layer angle."""
    rows = []
    for p in fr.RULES:
        wn = fr.run_name(p, "wn")
        rows_p = [("no WN", p, f["chosen"][p], f["outcome"][p]["after"]),
                  ("WN", wn, f["chosen"][p], f["outcome"][p]["after_wn"])]
        if p in fr.TUNED:
            rows_p.append(("WN, own rate", fr.own_rate_run(wn, 2), f["chosen_wn"][p],
                           f["flex2"][p]["after_wn"]))
        for label, n, eta, after in rows_p:
            rows.append({
                "rule": fr.LABELS[p], "WN": label, "η": f"{eta:g}",
                "test accuracy (%)": mean_sd(fr.final_accuracy(runs[n])),
                "after the change of codes (%)": f"{after:.1f}",
                "dW0 ∠ dW0,BP (°)": "0" if p == "bp"
                else mean_sd(fr.update_angles(runs[n], p)[:, 0]),
            })
    return pd.DataFrame(rows)


def values(runs: Runs | None = None) -> dict[str, object]:
    """The sentences and the summary table the text quotes from ``runs`` (as :func:`claims`).

    Returns Markdown for ``{glue:md}`` and the table for ``{glue}`` by glue name, without the
    chapter's prefix ``fr_``.
    """
    runs = load() if runs is None else runs
    f = _findings(runs)
    first = {key: ", ".join(labels) or "no rule" for key, labels in f["first"].items()}
    return {
        "tune_note": markdown(_tune_note(runs, f["chosen"])),
        "angle_text": markdown(
            "With WN ($B$ as drawn), the first layer's update angle to BP falls by more than "
            f"{THRESHOLDS['angle_gain']:g}° for: {first['lowered']}; the hypothesis is "
            f"rejected for: {first['not_lowered']}; undecided for: {first['undecided']}. WN "
            f"raises the final test accuracy by more than {THRESHOLDS['acc_gain']:g} points "
            f"for: {first['raised']} (table of paired differences above)."),
        "own_text": markdown(_own_text(f)),
        "summary": tables.table(_summary(runs, f)),
        "summary_caption": markdown(
            f"Every rule without and with WN (γ = {fr.GAMMA:g}, B as drawn), at the rate chosen "
            "without WN and, for the rules tuned here, at the rate chosen with WN (own rate): "
            "final test accuracy and update angle to BP of the first layer (mean ± SD over the "
            f"repetitions, {fr.config()['epochs']} epochs), and the mean test accuracy at the end "
            f"of phase 2 of the Fig. 8 protocol (γ = {fr.FLEX_GAMMA:g}). η per batch of 1000; "
            f"the flexibility runs of FA and BP use η = {fr.FLEX_ETA:g}."),
    }


def verdict_values(chapter_claims: Sequence[Claim], runs: Runs | None = None
                   ) -> dict[str, object]:
    """The published statements with their verdicts, and what the chapter found, by glue name.

    Parameters
    ----------
    chapter_claims : sequence of Claim
        As :func:`claims` returns them.
    runs : mapping, optional
        Run name -> results (default: :func:`load`, from the results cache).
    """
    runs = load() if runs is None else runs
    f = _findings(runs)
    by_statement = {c.statement: c for c in chapter_claims}
    lines = []
    for p, (key, statement, criterion) in fr.LITERATURE.items():
        c = by_statement[f"{statement} ({fr.LABELS[p]}; {AUTHORS[key]})."]
        lines.append(f'- **{fr.LABELS[p]}** ({{cite}}`{key}`): "{statement}". Criterion: '
                     f"{criterion}. Measured: {c.measured}. **{c.verdict}**.")
    flex = {verdict: ", ".join(fr.LABELS[p] for p, o in f["outcome"].items()
                               if o["verdict"] == verdict)
            for verdict in ("supported", "no loss to restore", "rejected",
                            "does not learn phase 1")}
    first = {key: ", ".join(labels) or "no rule" for key, labels in f["first"].items()}
    n_holds = sum(c.verdict == REPRODUCED for c in chapter_claims)
    found = (
        f"At the {config.scale()} scale: WN lowers the first layer's update angle to BP by more "
        f"than {THRESHOLDS['angle_gain']:g}° for {first['lowered']} (rejected for "
        f"{first['not_lowered']}; undecided for {first['undecided']}), and raises the final "
        f"accuracy by more than {THRESHOLDS['acc_gain']:g} points for {first['raised']}. After "
        f"the change of codes, WN restores learning for {flex['supported'] or 'no rule'}; it is "
        f"not needed for {flex['no loss to restore'] or 'no rule'} (no loss without WN); it "
        f"does not restore it for {flex['rejected'] or 'no rule'}"
        + (f"; {flex['does not learn phase 1']} did not learn the first codes in one of the two "
           "runs. " if flex["does not learn phase 1"] else ". ")
        + _own_text(f) + " " + f"{n_holds} of the {len(chapter_claims)} checks hold (table "
        "below). " + ("" if config.scale() == "paper" else "These are quick-scale numbers: the "
                      "paper-scale build gives the chapter's verdicts."))
    return {"literature": markdown("\n".join(lines)), "found": markdown(found)}
