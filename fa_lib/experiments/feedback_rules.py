"""Chapter "Other feedback rules with weight normalisation" (beyond the paper).

Every feedback pathway of :mod:`fa_lib.pathways` (BP, FA, DFA, uSF, frSF, brSF,
Kolen-Pollack, weight mirror) on the MNIST set-up of the MNIST chapter (Methods 4.3:
15 x 15 inputs, four hidden layers of 50, ``tanh(ReLU)``, 5-hot codes, no biases, the
60 fixed mini-batches of 1000, summed updates), without WN and with neuron-wise WN
(gamma = 1; for a fixed random ``B`` both with ``B`` normalised and as drawn), and the
Fig. 8 protocol of the flexibility chapter (gamma = 0.6, ``B`` as drawn) for each rule.

Three stages, each a list of :class:`fa_lib.training.TrainConfig` run through the
results cache:

1. **Learning rates** (:func:`tuning`): every pathway but FA and BP at every rate of
   :data:`ETA_GRID` (per batch of 1000), without WN and with every WN variant, trained
   on the first 50,000 training images and evaluated on the last 10,000 (a validation
   split; the test set is never read). :func:`chosen_eta` picks the rate with the
   highest mean validation accuracy after the last epoch. FA and BP keep the rates the
   book already uses (:data:`fa_lib.experiments.mnist_alignment.FA_ETA`, ``BP_ETA``).
2. **Accuracy and alignment** (:func:`main_names`): each rule at the rate chosen
   without WN, every normalisation, recording the update angle to BP. FA and BP are
   the MNIST chapter's runs (:data:`SHARED`).
3. **Flexibility** (:func:`flex_names`): the flexibility chapter's protocol
   (:func:`fa_lib.experiments.flexibility.run_config`) for each rule at that rate,
   without WN and with WN gamma = 0.6; FA and BP are the flexibility chapter's Fig. 8
   runs (eta = 0.0003).
4. **WN at its own rate** (:func:`own_names`, names ``*_own``): the second design. The
   WN runs of stages 2 and 3 again, each at the rate chosen for that WN variant
   (:func:`chosen_eta` with ``variant``); a run whose rate is the one of stage 2 or 3
   is that run (:func:`same_as`).

The hypotheses and literature claims the chapter checks, with their criteria, are
:data:`HYPOTHESES` and :data:`LITERATURE`; :func:`fa_lib.stats.beyond` decides a hypothesis from the
99% confidence interval of a paired difference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from fa_lib import pathways, stats, training
from fa_lib.config import pick, scale, scale_context
from fa_lib.experiments import flexibility, mnist_alignment
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

CHAPTER = "feedback_rules"

RULES = ("bp", "fa", "dfa", "usf", "frsf", "brsf", "kp", "wm")
"""The feedback pathways compared, in the order of the chapter's tables."""
LABELS = {"bp": "BP", "fa": "FA", "dfa": "DFA", "usf": "uSF", "frsf": "frSF", "brsf": "brSF",
          "kp": "Kolen-Pollack", "wm": "Weight mirror"}
"""Display names of the pathways."""
FIXED_RANDOM_B = ("fa", "dfa", "frsf")
"""Pathways with a fixed random ``B`` (frSF: its magnitudes): WN runs with ``B`` normalised
(Methods 4.4) and as drawn."""
TUNED = ("dfa", "usf", "frsf", "brsf", "kp", "wm")
"""Pathways whose learning rate is chosen on the validation split."""
BOOK_ETA = {"fa": mnist_alignment.FA_ETA, "bp": mnist_alignment.BP_ETA}
"""The rates the book already uses for FA and BP (the authors' code for Figs. 6-7)."""
FLEX_BOOK = {"fa": "fa", "fa_wn": "fa_wn", "bp": "bp", "bp_wn": "bp_wn"}
"""Flexibility runs of FA and BP: the flexibility chapter's Fig. 8 runs (eta = 0.0003)."""
ETA_GRID = (0.0001, 0.0003, 0.0005, 0.001, 0.002, 0.005, 0.01)
"""Learning rates tried (per batch of 1000; the updates are summed over the batch). The
first paper-scale run tried :data:`FIRST_GRID` and chose its largest rate for uSF, frSF
and brSF; 0.005 and 0.01 were added after it."""
FIRST_GRID = (0.0001, 0.0003, 0.0005, 0.001, 0.002)
"""The grid of the first paper-scale run (2026-12-03)."""
GAMMA = 1.0
"""WN gamma of the accuracy runs (the MNIST chapter's Fig. 6)."""
FLEX_GAMMA = flexibility.GAMMA
"""WN gamma of the flexibility runs (Fig. 8: 0.6, ``B`` as drawn)."""
FLEX_ETA = flexibility.AUTHORS_ETA
"""Learning rate of the flexibility chapter's FA and BP runs (per batch of 1000)."""
accuracy_curve = flexibility.accuracy_curve
phase_accuracy = flexibility.phase_accuracy
PARAMS: dict[str, dict] = {"kp": {"decay": 1e-3},
                           "wm": {"eta_b": 2e-4, "decay_b": 0.01, "noise_sd": 1.0, "batch": 50}}
"""Parameters of the pathways that have them (the chapter's "Paper vs this book" box
says where they come from)."""
VARIANTS = {"none": "no WN", "wn": "WN, B as drawn", "wn_bn": "WN, B normalised"}
"""The normalisations of the accuracy runs: run name suffix -> label."""

_SIZES = ("reps", "epochs", "n_batches", "n_test")  # the MNIST chapter's
PAPER = {**{k: mnist_alignment.PAPER[k] for k in _SIZES}, "tune_reps": 3, "tune_epochs": 30,
         "tune_batches": 50, "holdout": 10000}
QUICK = {**{k: mnist_alignment.QUICK[k] for k in _SIZES}, "tune_reps": 2, "tune_epochs": 5,
         "tune_batches": 10, "holdout": 2000}


def config() -> dict:
    """Return the sizes of this chapter at the current scale (:func:`fa_lib.config.scale`).

    Repetitions, epochs, mini-batches and test images are the MNIST chapter's (its FA
    and BP runs are shared); ``tune_*`` size the learning-rate runs, ``holdout`` the
    validation split (the last ``holdout`` training images).
    """
    return dict(pick(PAPER, QUICK))


def flex_config() -> dict:
    """The flexibility chapter's sizes at the current scale.

    The flexibility runs of this chapter share them
    (:func:`fa_lib.experiments.flexibility.config`).
    """
    return flexibility.config()

THRESHOLDS = {
    "angle_gain": 3.0,  # degrees: "WN lowers the first-layer update angle to BP by more than"
    "acc_gain": 1.0,  # points: "WN raises the final test accuracy by more than"
    "learns": mnist_alignment.THRESHOLDS["learned_accuracy"],  # % validation/test accuracy
    "close_to_bp": 3.0,  # points of test accuracy: "close to BP" (literature claims)
    "kp_aligned": 5.0,  # degrees: Kolen-Pollack's B "comes into alignment with W^T"
    "wm_aligned": 15.0,  # degrees: the weight mirror's B "comes into alignment with W^T"
    "drop": flexibility.THRESHOLDS["drop"],
    "restored": flexibility.THRESHOLDS["restored"],
    "restored_ratio": flexibility.THRESHOLDS["restored_ratio"],
}
"""The margins of the chapter's hypotheses and checks (degrees or percentage points)."""

HYPOTHESES = {
    "angle": ("WN lowers the first-hidden-layer update angle to BP (last epoch) by more than "
              f"{THRESHOLDS['angle_gain']:g}°, for rule X"),
    "acc": ("WN raises the final test accuracy by more than "
            f"{THRESHOLDS['acc_gain']:g} percentage points, for rule X"),
    "flex": ("Rule X learns the first codes without and with WN (phase-1 accuracy above "
             f"{THRESHOLDS['learns']:g}%); without WN it stays more than "
             f"{THRESHOLDS['drop']:g} points below its phase-1 accuracy after the change of codes, "
             f"and WN (gamma = {FLEX_GAMMA:g}) restores learning: its loss is below "
             f"{THRESHOLDS['restored']:g} points and below {THRESHOLDS['restored_ratio']:g} of "
             "the loss without WN (the flexibility chapter's criterion)"),
}
"""The chapter's own questions, written before the paper-scale runs. "angle" and "acc"
are decided by the 99% CI of the paired difference over repetitions (:func:`fa_lib.stats.beyond`):
*supported* when the whole interval lies beyond the margin, *rejected* when it lies on
the other side, *undecided* otherwise. WN means gamma = 1 with ``B`` as drawn; for the
fixed random ``B`` the runs with ``B`` normalised are tested as well."""

OWN_RATE_DESIGN = (
    "The first design tests WN at the rate chosen without it. Its first paper-scale run "
    "(2026-12-03) found that this rate can be too large with WN: with WN, some rules lost "
    "most of their accuracy or did not learn the first codes of the Fig. 8 protocol. "
    "Whether that is WN or the rate, the first design cannot tell. The "
    "second design, added on 2026-12-05 before any of its runs, asks the same three "
    "questions (same margins and tests) with every WN variant at the rate chosen for it on "
    "the same validation split, from the same grid, against the runs without WN at theirs."
)
"""Why and when the second design (WN at its own rate) was added, before its runs."""

LITERATURE = {
    "dfa": ("nokland2016direct",
            "DFA trains deep networks on MNIST almost as well as BP",
            f"DFA's final test accuracy (no WN) at most {THRESHOLDS['close_to_bp']:g} points "
            "below BP's (means over the repetitions)"),
    "usf": ("liao2016important",
            "sign-concordant feedback with uniform magnitudes (uSF) performs about as well "
            "as BP",
            f"uSF's final test accuracy (no WN) at most {THRESHOLDS['close_to_bp']:g} points "
            "below BP's (means over the repetitions)"),
    "kp": ("akrout2019deep",
           "Kolen-Pollack learning brings the feedback weights into alignment with W^T "
           "(forward and feedback weights receive identical adjustments and decay)",
           f"final W_l ∠ B_l^T (no WN) below {THRESHOLDS['kp_aligned']:g}° in every layer "
           "(mean over repetitions)"),
    "wm": ("akrout2019deep",
           "the weight mirror brings the feedback weights into alignment with W^T",
           f"final W_l ∠ B_l^T (no WN) below {THRESHOLDS['wm_aligned']:g}° in every layer "
           "(mean over repetitions)"),
}
"""Published statements the runs can check: pathway -> (bib key, statement, criterion)."""


def pathway(name: str) -> pathways.Pathway:
    """The pathway ``name`` with this chapter's parameters (:data:`PARAMS`)."""
    return pathways.get(name, **PARAMS.get(name, {}))


# ----------------------------------------------------------------------- learning rates


def variants(name: str) -> tuple[str, ...]:
    """The normalisations run for pathway ``name`` (keys of :data:`VARIANTS`)."""
    return ("none", "wn", "wn_bn") if name in FIXED_RANDOM_B else ("none", "wn")


def run_name(name: str, variant: str = "none") -> str:
    """The run name of pathway ``name`` with normalisation ``variant``."""
    return name if variant == "none" else f"{name}_{variant}"


def _rule(name: str, variant: str, eta: float) -> Rule:
    if variant not in VARIANTS:
        raise ValueError(f"unknown normalisation {variant!r}; expected one of {tuple(VARIANTS)}.")
    return Rule(pathway(name), eta=eta, wn_gamma=None if variant == "none" else GAMMA,
                normalise_b=variant == "wn_bn")


def tune_name(name: str, eta: float, variant: str = "none") -> str:
    """The name of a learning-rate run on the validation split.

    Pathway ``name`` with normalisation ``variant`` at rate ``eta``:
    ``tune_usf_eta0.001``, ``tune_dfa_wn_bn_eta0.001``.
    """
    return f"tune_{run_name(name, variant)}_eta{eta:g}"


@functools.cache
def _tuning(at: str) -> dict[str, TrainConfig]:
    with scale_context(at):
        sizes = config()
    return {tune_name(p, eta, v): TrainConfig(
        rule=_rule(p, v, eta), reps=sizes["tune_reps"], epochs=sizes["tune_epochs"],
        n_batches=sizes["tune_batches"], holdout=sizes["holdout"])
        for p in TUNED for v in variants(p) for eta in ETA_GRID}


def tuning() -> dict[str, TrainConfig]:
    """The learning-rate runs at the current scale.

    Every tuned pathway, without WN and with every WN variant of :func:`variants`, at every
    rate of :data:`ETA_GRID`.
    """
    return dict(_tuning(scale()))


def tuning_results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays of learning-rate run ``name`` of :func:`tuning` (cached or computed)."""
    return training.named_run(CHAPTER, tuning(), name, stop_on_divergence=True,
                              progress=progress)


def validation_accuracy(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition, the validation accuracy (%) after the last epoch (NaN if diverged)."""
    acc = 100.0 * np.asarray(res["val_acc"], dtype=float)[-1]
    return np.where(int(res["diverged_at"]) >= 0, np.nan, acc)


def tuning_table(tuned: Mapping[str, Mapping[str, np.ndarray]], variant: str = "none"
                 ) -> list[dict]:
    """One row per (pathway, rate): mean and SD of the final validation accuracy.

    Normalisation ``variant``; ``tuned`` maps the names of :func:`tuning` to their
    results. Pathways without ``variant`` (``"wn_bn"`` exists for a fixed random ``B``
    only) have no rows.
    """
    rows = []
    for p in TUNED:
        if variant not in variants(p):
            continue
        for eta in ETA_GRID:
            res = tuned[tune_name(p, eta, variant)]
            acc = validation_accuracy(res)
            rows.append({"rule": p, "variant": variant, "eta": eta, "val_acc": float(np.mean(acc)),
                         "val_acc_sd": stats.sample_sd(acc) if np.all(np.isfinite(acc))
                         else float("nan"), "diverged_at": int(res["diverged_at"])})
    return rows


def _best(name: str, tuned: Mapping[str, Mapping[str, np.ndarray]], variant: str) -> float:
    scores = [float(np.mean(validation_accuracy(tuned[tune_name(name, eta, variant)])))
              for eta in ETA_GRID]
    finite = [x if np.isfinite(x) else -np.inf for x in scores]
    if max(finite) == -np.inf:
        raise ValueError(f"{run_name(name, variant)}: every learning rate of {ETA_GRID} "
                         "diverged; widen the grid.")
    return ETA_GRID[int(np.argmax(finite))]


def best_rates(tuned: Mapping[str, Mapping[str, np.ndarray]], variant: str = "none"
               ) -> dict[str, float]:
    """The rate of every pathway: the book's for FA and BP, else the best of the grid.

    With normalisation ``variant``. The best rate has the highest mean final validation
    accuracy (a diverged run never wins; ties go to the smaller rate). ``tuned`` maps the
    names of :func:`tuning` to their results. Pathways without ``variant`` are left out.

    Raises
    ------
    ValueError
        When every rate of the grid diverged for a pathway.
    """
    rates = {**BOOK_ETA,
             **{p: _best(p, tuned, variant) for p in TUNED if variant in variants(p)}}
    return {p: rates[p] for p in RULES if p in rates}


def chosen_eta(name: str, variant: str = "none") -> float:
    """The learning rate of pathway ``name`` with ``variant``, as :func:`best_rates` chooses it.

    Reads the learning-rate runs of the current scale, computing them if they are not
    cached (once per scale).

    Raises
    ------
    ValueError
        For an unknown pathway or normalisation, or when every rate of the grid diverged.
    """
    return _chosen_eta(name, variant, scale())


@functools.cache
def _chosen_eta(name: str, variant: str, at: str) -> float:
    if name in BOOK_ETA:
        return BOOK_ETA[name]
    if name not in TUNED:
        raise ValueError(f"unknown rule {name!r}; expected one of {RULES}.")
    if variant not in variants(name):
        raise ValueError(f"rule {name!r} has no normalisation {variant!r}; expected one of "
                         f"{variants(name)}.")
    names = [tune_name(name, eta, variant) for eta in ETA_GRID]
    with scale_context(at):
        return _best(name, {n: tuning_results(n) for n in names}, variant)


# ------------------------------------------------------------------------ the main runs


SHARED: dict[str, tuple[str, str]] = {
    "fa": ("mnist_alignment", "fa"), "fa_wn": ("mnist_alignment", "fa_wn_b_as_drawn"),
    "fa_wn_bn": ("mnist_alignment", "fa_wn"), "bp": ("mnist_alignment", "bp"),
    "bp_wn": ("mnist_alignment", "bp_wn"),
    **{f"flex_{k}": ("flexibility", v) for k, v in FLEX_BOOK.items()},
}
"""Runs of this chapter that are other chapters' runs: name -> (chapter, run)."""


def _main_config(name: str, variant: str, eta: float) -> TrainConfig:
    sizes = config()
    return TrainConfig(rule=_rule(name, variant, eta), reps=sizes["reps"], epochs=sizes["epochs"],
                       n_batches=sizes["n_batches"], n_test=sizes["n_test"], record_bp=True)


def _flex_config(name: str, wn: bool, eta: float) -> TrainConfig:
    return flexibility.run_config(pathway(name), eta, FLEX_GAMMA if wn else None)


def main_names() -> list[str]:
    """The accuracy runs, in the order of :data:`RULES` and :func:`variants`."""
    return [run_name(p, v) for p in RULES for v in variants(p)]


def flex_names() -> list[str]:
    """The flexibility runs: ``flex_<rule>`` and ``flex_<rule>_wn``."""
    return [f"flex_{p}{s}" for p in RULES for s in ("", "_wn")]


OWN_RATE = "_own"
"""Suffix of the runs of the second design (WN at the rate chosen with it)."""


def own_names() -> list[str]:
    """The runs of the second design: every WN run of a tuned pathway, at its own rate.

    Accuracy runs ``<rule>_<variant>_own`` and flexibility runs ``flex_<rule>_wn_own``.
    """
    return [*(run_name(p, v) + OWN_RATE for p in TUNED for v in variants(p) if v != "none"),
            *(f"flex_{p}_wn{OWN_RATE}" for p in TUNED)]


def own_rate_run(name: str, design: int) -> str:
    """The WN run ``name`` (``"usf_wn"``, ``"flex_dfa_wn"``) of the first or second design."""
    if design not in (1, 2):
        raise ValueError(f"design must be 1 or 2, not {design!r}.")
    if design == 2 and name.removeprefix("flex_") in {run_name(p, v) for p in TUNED
                                                      for v in variants(p) if v != "none"}:
        return name + OWN_RATE
    return name


def config_of(name: str, eta: Mapping[str, float] | None = None) -> TrainConfig:
    """The configuration of run ``name`` at the current scale.

    A learning-rate, accuracy or flexibility run, of either design.

    Building the configuration of a tuned pathway's run reads the learning-rate runs
    (:func:`chosen_eta`), computing them if they are not cached, unless ``eta`` gives the
    pathway's rate, for every design (the benchmarks' budget does: the cost of a run does
    not depend on it).
    """

    def rate(p: str, variant: str = "none") -> float:
        return eta[p] if eta is not None and p in eta else chosen_eta(p, variant)

    tuned = tuning()
    if name in tuned:
        return tuned[name]
    if name in SHARED:
        chapter, other = SHARED[name]
        module = mnist_alignment if chapter == "mnist_alignment" else flexibility
        return module.configs()[other]
    own = name.endswith(OWN_RATE) and name in own_names()
    base = name.removesuffix(OWN_RATE) if own else name
    if base in flex_names():
        rule = base.removeprefix("flex_").removesuffix("_wn")
        wn = base.endswith("_wn")
        return _flex_config(rule, wn, rate(rule, "wn" if own else "none"))
    for p in RULES:
        for v in variants(p):
            if base == run_name(p, v):
                return _main_config(p, v, rate(p, v if own else "none"))
    raise ValueError(f"unknown run {name!r}; expected a name of tuning(), main_names(), "
                     "flex_names() or own_names().")


def same_as(name: str) -> str:
    """The run whose results run ``name`` shares (one computation for both).

    Itself, or for a run of the second design (:func:`own_names`) whose rate is the first
    design's, that run.

    Reads the learning-rate runs (:func:`chosen_eta`) for a run of the second design.
    """
    if name.endswith(OWN_RATE) and name in own_names():
        base = name.removesuffix(OWN_RATE)
        if config_of(name) == config_of(base):
            return base
    return name


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` (cached, or trained now).

    Runs shared with another chapter (:data:`SHARED`) are that chapter's cache entries.
    A divergence of a tuned pathway's run is recorded (``diverged_at``), not raised.
    """
    if name in tuning():
        return tuning_results(name, progress)
    if name in SHARED:
        chapter, other = SHARED[name]
        module = mnist_alignment if chapter == "mnist_alignment" else flexibility
        return module.results(other, progress=progress)
    name = same_as(name)
    cfg = config_of(name)
    return training.named_run(CHAPTER, {name: cfg}, name, stop_on_divergence=True,
                              progress=progress)


def own_configs(eta: Mapping[str, float] | None = None) -> dict[str, TrainConfig]:
    """Every run this chapter computes itself (not :data:`SHARED`), by name.

    ``eta`` as in :func:`config_of`. Runs of the second design count even where they
    turn out to be first-design runs (:func:`same_as`): an upper bound of the work.
    """
    return {n: config_of(n, eta) for n in names() if n not in SHARED}


def names() -> list[str]:
    """Every run of the chapter.

    Learning rates first, then accuracy, then flexibility, then the second design.
    """
    return [*tuning(), *main_names(), *flex_names(), *own_names()]


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale, in the order of :func:`names`."""
    # results is looked up when called, so that a wrapper of it (a test's recorder) is used
    return {name: (lambda progress=False, name=name: results(name, progress=progress))
            for name in names()}

KINDS: dict[str, str] = training.KINDS
"""The kind of the numbers of every array of the chapter's cache entries (training runs,
:data:`fa_lib.training.KINDS`), which sets how :mod:`fa_lib.record` compares them."""


# ---------------------------------------------------------------------------- summaries


def final_accuracy(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition, the test accuracy (%) after the last epoch."""
    return mnist_alignment.final_accuracy(res)


def rule_of(name: str) -> str:
    """The pathway of run ``name`` (``"dfa_wn_bn"`` -> ``"dfa"``, ``"flex_kp"`` -> ``"kp"``)."""
    for part in name.split("_"):
        if part in RULES:
            return part
    raise ValueError(f"run {name!r} names no rule of {RULES}.")


def update_angles(res: Mapping[str, np.ndarray], rule: str) -> np.ndarray:
    """Per repetition and layer ``l = 0..d-1``, the last-epoch mean of ``dW_l ∠ dW_l,BP``.

    ``rule`` is the run's pathway (:func:`rule_of`). BP's own runs do not record the
    angle: it is 0 by definition. NaN for a repetition whose network made no update in
    the whole last epoch (every unit of a layer silent).
    """
    if "dw_bp" not in res:
        if rule != "bp":
            raise ValueError(f"a run of {rule!r} did not record the update angle to BP.")
        return np.zeros(np.shape(res["norm_w"])[1:])
    return mnist_alignment.last_epoch_mean(res, "dw_bp")


def silent(res: Mapping[str, np.ndarray], rule: str) -> np.ndarray:
    """Per repetition, whether the network made no update in the whole last epoch.

    Its update angles are then undefined (NaN): every unit of some layer is silent
    (``Z <= 0``, so ``f' = 0``) for every batch, and the error reaches no weight below it.
    """
    return np.all(np.isnan(update_angles(res, rule)), axis=-1)


def feedback_angles(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition and layer ``l = 1..d-1``, the last-epoch mean of ``W_l ∠ B_l^T``.

    NaN for DFA, whose ``D_l`` has another shape.
    """
    return mnist_alignment.last_epoch_mean(res, "w_bt")


def angle_test(name: str, variant: str, runs: Mapping[str, Mapping[str, np.ndarray]],
               design: int = 1) -> stats.TTest:
    """Paired difference (no WN - WN ``variant``) of the first-layer update angle to BP.

    The WN run is that of the first design (the rate chosen without WN) or of the second
    (its own rate, :func:`own_rate_run`); ``runs`` maps run names to results. A repetition
    whose network fell silent in the last epoch (no update, so no angle) is left out of
    the pairs.
    """
    a = update_angles(runs[run_name(name)], name)[:, 0]
    b = update_angles(runs[own_rate_run(run_name(name, variant), design)], name)[:, 0]
    return stats.paired(a, b, finite_only=True)


def accuracy_test(name: str, variant: str, runs: Mapping[str, Mapping[str, np.ndarray]],
                  design: int = 1) -> stats.TTest:
    """Paired difference (WN ``variant`` - no WN) of the final test accuracy (points).

    ``design`` and ``runs`` as in :func:`angle_test`.
    """
    return stats.paired(final_accuracy(runs[own_rate_run(run_name(name, variant), design)]),
                        final_accuracy(runs[run_name(name)]))


def flexibility_outcome(plain: Mapping[str, np.ndarray], wn: Mapping[str, np.ndarray],
                        last: int | None = None) -> dict:
    """The Fig. 8 question for one rule: loss after the change without and with WN.

    The loss of a run is its mean phase-1 accuracy minus its mean phase-2 accuracy
    (each the mean of the last epochs of the phase,
    :func:`fa_lib.experiments.flexibility.phase_accuracy`, over ``last`` epochs: default
    the flexibility chapter's), in points.

    Returns
    -------
    dict
        ``loss`` and ``loss_wn`` (means over repetitions), ``paired`` (the paired
        difference of the losses, no WN - WN), ``stays_below`` (without WN the loss
        exceeds ``THRESHOLDS["drop"]``), ``restored`` (with WN the loss is below
        ``THRESHOLDS["restored"]`` and below ``restored_ratio`` of the loss without),
        ``learned`` (both runs end phase 1 above ``THRESHOLDS["learns"]``) and ``verdict``:
        ``"does not learn phase 1"`` when a run never learned the first codes (a small
        loss then means nothing), else ``"supported"`` when both hold, ``"no loss to
        restore"`` when the rule keeps learning without WN, and ``"rejected"`` otherwise.
    """
    pa, pw = flexibility.phase_accuracy(plain, last), flexibility.phase_accuracy(wn, last)
    loss, loss_wn = -pa["drop"], -pw["drop"]
    m, mw = float(np.mean(loss)), float(np.mean(loss_wn))
    stays = m > THRESHOLDS["drop"]
    restored = mw < THRESHOLDS["restored"] and mw < THRESHOLDS["restored_ratio"] * m
    n = min(len(loss), len(loss_wn))
    first = min(np.mean(pa["before_last"]), np.mean(pw["before_last"]))
    learned = bool(first > THRESHOLDS["learns"])
    return {"loss": m, "loss_wn": mw, "paired": stats.paired(loss[:n], loss_wn[:n]),
            "before": float(np.mean(pa["before_last"])),
            "before_wn": float(np.mean(pw["before_last"])),
            "after": float(np.mean(pa["after_last"])), "after_wn": float(np.mean(pw["after_last"])),
            "stays_below": stays, "restored": restored, "learned": learned,
            "verdict": ("does not learn phase 1" if not learned else
                        "supported" if stays and restored else
                        "no loss to restore" if not stays else "rejected")}
