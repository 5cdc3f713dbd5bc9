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
5. **A stable rate** (:func:`stable_names`, names ``*_stable``): the third design
   (:data:`STABLE_DESIGN`). Every tuned pathway and normalisation is tuned again over
   the main runs' horizon with more networks (:func:`stable_tuning_names`), at the rate
   of stage 1 and the grid points below it, and the rate with the best median
   validation accuracy among those without a collapsed network (:func:`collapsed`,
   :func:`stable_choice`) is used for every run of stages 2 and 3 again.
6. **Pre-registered variants**: Kolen-Pollack with ``B`` rescaled as WN rescales ``W``
   (normalisation ``wn_bf``, run in every stage) and DFA with Nøkland's feedback scale
   (:data:`EXTRA`, at DFA's stable rates).

The hypotheses and literature claims the chapter checks, with their criteria, are
:data:`HYPOTHESES`, :data:`LATER_HYPOTHESES` and :data:`LITERATURE`;
:func:`fa_lib.stats.beyond` decides a hypothesis from the 99% confidence interval of a
paired difference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fa_lib import cache, pathways, readout, stats, training
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
VARIANTS = {"none": "no WN", "wn": "WN, B as drawn", "wn_bn": "WN, B normalised",
            "wn_bf": "WN, B rescaled as W"}
"""The normalisations of the accuracy runs: run name suffix -> label. ``wn_bf`` is
Kolen-Pollack's only: ``B`` receives WN's rescaling of ``W`` at every step
(:class:`fa_lib.pathways.KolenPollack`, ``follow_wn``), added on 2026-12-07 before any
of its runs."""

_SIZES = ("reps", "epochs", "n_batches", "n_test")  # the MNIST chapter's
PAPER = {**{k: mnist_alignment.PAPER[k] for k in _SIZES}, "tune_reps": 3, "tune_epochs": 30,
         "tune_batches": 50, "holdout": 10000,
         "stable_reps": 5, "stable_epochs": 100, "stable_batches": 50}
QUICK = {**{k: mnist_alignment.QUICK[k] for k in _SIZES}, "tune_reps": 2, "tune_epochs": 5,
         "tune_batches": 10, "holdout": 2000,
         "stable_reps": 2, "stable_epochs": 10, "stable_batches": 10}


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
    "collapse_below": 50.0,  # %: a network "collapses" when it ends below this accuracy,
    "collapse_lost": 10.0,  # points: or ends this far below its best epoch (or diverges)
    "speed_gain": 5.0,  # epochs: "WN reaches 90% test accuracy sooner by more than"
    "readout_gain": 1.0,  # points: "WN raises the first hidden layer's read-out by more than"
    "scale_same": 1.0,  # points: "DFA's accuracy does not depend on its feedback scale" (±)
    "drop": flexibility.THRESHOLDS["drop"],
    "restored": flexibility.THRESHOLDS["restored"],
    "restored_ratio": flexibility.THRESHOLDS["restored_ratio"],
}
"""The margins of the chapter's hypotheses and checks (degrees or percentage points)."""

HYPOTHESES = {
    "angle": ("WN lowers the first-hidden-layer update angle to BP (last epoch) by more than "
              f"{THRESHOLDS['angle_gain']:g}°, for rule X"),
    "acc": ("WN raises the final test accuracy by more than "
            f"{THRESHOLDS['acc_gain']:g} percentage point"
            f"{'' if THRESHOLDS['acc_gain'] == 1 else 's'}, for rule X"),
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

LATER_HYPOTHESES = {
    "readout": ("WN (B as drawn) raises the test accuracy of a linear read-out of the first "
                f"hidden layer by more than {THRESHOLDS['readout_gain']:g} point, for rule X "
                "(third design; logistic regression fit on the validation images)"),
    "speed": ("WN (B as drawn) reaches 90% test accuracy sooner, by more than "
              f"{THRESHOLDS['speed_gain']:g} epochs, for rule X (third design; a network that "
              "never reaches it counts as one epoch past the end)"),
    "kp_bf_aligned": ("With WN and B rescaled as W at every step, Kolen-Pollack's feedback "
                      f"comes back into alignment: W_l ∠ B_l^T below {THRESHOLDS['kp_aligned']:g}° "
                      "in every layer (third design)"),
    "kp_bf_acc": ("With WN and B rescaled as W, Kolen-Pollack's final test accuracy is within "
                  f"±{THRESHOLDS['acc_gain']:g} point of its accuracy without WN (third design)"),
    "dfa_scale": ("DFA's final test accuracy without WN does not depend on its feedback scale: "
                  "with Nøkland's D (uniform on ±1/√n_l) it is within "
                  f"±{THRESHOLDS['scale_same']:g} point of DFA with D drawn N(0, 0.1²), at DFA's "
                  "stable rate"),
    "dfa_scale_wn": ("The same with WN (D as drawn): within "
                     f"±{THRESHOLDS['scale_same']:g} point, at the stable rate of DFA with WN"),
}
"""The questions added on 2026-12-07 with the third design and the variants, before any of
their runs. "speed" is decided like "acc" (the paired difference's 99% CI beyond the margin);
"kp_bf_aligned" is supported when every layer's 99% CI lies below the margin and rejected
when some layer's lies above it; "kp_bf_acc", "dfa_scale" and "dfa_scale_wn" are supported
when the paired difference's 99% CI lies inside ±margin (:func:`fa_lib.stats.within`)."""

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
    if name in FIXED_RANDOM_B:
        return ("none", "wn", "wn_bn")
    return ("none", "wn", "wn_bf") if name == "kp" else ("none", "wn")


def run_name(name: str, variant: str = "none") -> str:
    """The run name of pathway ``name`` with normalisation ``variant``."""
    return name if variant == "none" else f"{name}_{variant}"


def _rule(name: str, variant: str, eta: float) -> Rule:
    if variant not in VARIANTS:
        raise ValueError(f"unknown normalisation {variant!r}; expected one of {tuple(VARIANTS)}.")
    path = pathway(name)
    if variant == "wn_bf":
        path = pathways.get(name, **{**PARAMS.get(name, {}), "follow_wn": True})
    return Rule(path, eta=eta, wn_gamma=None if variant == "none" else GAMMA,
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


def _main_config(name: str, variant: str, eta: float, nokland: bool = False) -> TrainConfig:
    sizes = config()
    cfg = TrainConfig(rule=_rule(name, variant, eta), reps=sizes["reps"], epochs=sizes["epochs"],
                      n_batches=sizes["n_batches"], n_test=sizes["n_test"], record_bp=True,
                      record_final=True)
    if nokland:
        path = pathways.get(name, uniform_from=cfg.init_sd)
        cfg = cfg.replace(rule=cfg.rule.replace(pathway=path))
    return cfg


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


# ------------------------------------------------------- the third design: a stable rate

STABLE = "_stable"
"""Suffix of the runs of the third design (every run at its stable rate, :func:`stable_eta`)."""
STABLE_STEPS = 3
"""Rates tried per rule and normalisation in the third design's tuning: the rate the short
tuning chose (:func:`chosen_eta`) and the grid points below it."""
STABLE_DESIGN = (
    "The first paper-scale run (2026-12-03 to 2026-12-05) chose rates on a short horizon "
    "(the best mean validation accuracy after a fraction of the training) and some networks "
    "collapsed later in training at those rates: DFA, chosen at 0.001 (0.002 already "
    "collapses in tuning), ended three of its ten networks below 90%, while DFA with WN and "
    "normalised D at 0.0005 lost none. The third design, written on 2026-12-07 before any of "
    "its runs, chooses every rate over the whole training horizon and against instability: "
    "for every tuned rule and normalisation, the rate chosen on the short horizon and the "
    f"{STABLE_STEPS - 1} grid points below it are trained for as many epochs as the main "
    "runs, with more networks, on the same validation split. A network collapses when it "
    "diverges, ends below {below:g}% validation accuracy, or ends more than {lost:g} points "
    "below its best epoch. The rate chosen is the one with the best median validation "
    "accuracy among those at which no network collapses (ties: the smaller rate); when every "
    "rate tried has a collapse, the smallest. Every run of the chapter is then made again at "
    "these rates (a run whose rate is unchanged is the earlier design's run) and the three "
    "questions are asked with the same margins and tests."
).format(below=THRESHOLDS["collapse_below"], lost=THRESHOLDS["collapse_lost"])
"""Why and when the third design (a stable rate) was added, before its runs, and its rule."""
DESIGNS = {1: "rate chosen without WN", 2: "WN at its own rate", 3: "stable rate"}
"""The chapter's three designs, by number."""


def stable_tune_name(name: str, step: int, variant: str = "none") -> str:
    """The name of a third-design tuning run: ``step`` grid points below the short choice.

    ``stable_dfa_s0`` (the rate the short tuning chose), ``stable_dfa_wn_bn_s2``.
    """
    return f"stable_{run_name(name, variant)}_s{step}"


def _stable_index() -> dict[str, tuple[str, str, int]]:
    return {stable_tune_name(p, k, v): (p, v, k)
            for p in TUNED for v in variants(p) for k in range(STABLE_STEPS)}


def stable_tuning_names() -> list[str]:
    """The third design's tuning runs, in the order of :data:`TUNED`, :func:`variants`, steps."""
    return list(_stable_index())


def step_eta(base: float, step: int) -> float:
    """The rate ``step`` grid points below ``base`` in :data:`ETA_GRID` (at least the first)."""
    return ETA_GRID[max(ETA_GRID.index(base) - int(step), 0)]


def _stable_tune_config(name: str, variant: str, eta: float) -> TrainConfig:
    sizes = config()
    return TrainConfig(rule=_rule(name, variant, eta), reps=sizes["stable_reps"],
                       epochs=sizes["stable_epochs"], n_batches=sizes["stable_batches"],
                       holdout=sizes["holdout"])


def accuracy_curve_of(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Accuracy (%) after every epoch (row 0: before training), per repetition.

    The validation accuracy of a tuning run, else the test accuracy.
    """
    return 100.0 * np.asarray(res["val_acc" if "val_acc" in res else "test_acc"], dtype=float)


def collapsed(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition, whether the network collapsed (the third design's criterion).

    It collapsed when the run diverged, when its final accuracy
    (:func:`accuracy_curve_of`) is below ``THRESHOLDS["collapse_below"]`` or NaN, or when
    it ends more than ``THRESHOLDS["collapse_lost"]`` points below its best epoch.
    """
    curve = accuracy_curve_of(res)
    if int(res["diverged_at"]) >= 0:
        return np.ones(curve.shape[1], dtype=bool)
    final = curve[-1]
    best = np.max(np.where(np.isnan(curve[1:]), -np.inf, curve[1:]), axis=0)
    with np.errstate(invalid="ignore"):
        low = ~(final >= THRESHOLDS["collapse_below"])
        return low | (final < best - THRESHOLDS["collapse_lost"])


def rate_row(eta: float, res: Mapping[str, np.ndarray]) -> dict:
    """The outcome of one tuning run at rate ``eta``: what a rate choice compares.

    ``eta``, ``median``, ``mean`` and ``sd`` of the final accuracy (%,
    :func:`accuracy_curve_of`; NaN when no network has one, as in a diverged run),
    ``collapsed`` (networks,
    :func:`collapsed`) and ``networks``.
    """
    final = accuracy_curve_of(res)[-1]
    if int(res["diverged_at"]) >= 0:  # a diverged run's networks have no final accuracy
        final = np.full_like(final, np.nan)
    some = bool(np.any(np.isfinite(final)))
    return {"eta": eta, "median": float(np.nanmedian(final)) if some else float("nan"),
            "mean": float(np.nanmean(final)) if some else float("nan"),
            "sd": stats.sample_sd(final) if np.all(np.isfinite(final)) else float("nan"),
            "collapsed": int(np.sum(collapsed(res))), "networks": int(final.size)}


def best_stable(rows: Sequence[Mapping]) -> float | None:
    """The rate with the best median among the rows without a collapsed network.

    Ties go to the smaller rate; None when every row has a collapse (each design says
    what it does then).
    """
    ok = [r for r in rows if r["collapsed"] == 0 and np.isfinite(r["median"])]
    if not ok:
        return None
    best = max(r["median"] for r in ok)
    return min(r["eta"] for r in ok if r["median"] == best)


def stable_choice(name: str, variant: str, tuned: Mapping[str, Mapping[str, np.ndarray]],
                  base: float) -> dict:
    """The third design's choice for pathway ``name`` with ``variant``.

    Parameters
    ----------
    tuned : mapping
        The third design's tuning runs by name (:func:`stable_tuning_names`).
    base : float
        The rate the short tuning chose (:func:`chosen_eta`), the first of the rates tried.

    Returns
    -------
    dict
        ``eta`` (the rate chosen: :func:`best_stable`, else the smallest rate tried),
        ``stable`` (whether no network collapsed at it) and ``rows`` (:func:`rate_row` per
        rate tried).
    """
    rows, seen = [], set()
    for k in range(STABLE_STEPS):
        eta = step_eta(base, k)
        if eta not in seen:
            seen.add(eta)
            rows.append(rate_row(eta, tuned[stable_tune_name(name, k, variant)]))
    eta = best_stable(rows)
    return {"eta": min(r["eta"] for r in rows) if eta is None else eta,
            "stable": eta is not None, "rows": rows}


def stable_eta(name: str, variant: str = "none") -> float:
    """The rate of pathway ``name`` with ``variant`` in the third design (:func:`stable_choice`).

    FA and BP keep the book's rates. Reads the tuning runs of both kinds at the current
    scale, computing them if they are not cached (once per scale).
    """
    if name in BOOK_ETA:
        return BOOK_ETA[name]
    return _stable_eta(name, variant, scale())


@functools.cache
def _stable_eta(name: str, variant: str, at: str) -> float:
    if name not in TUNED:
        raise ValueError(f"unknown rule {name!r}; expected one of {RULES}.")
    with scale_context(at):
        base = chosen_eta(name, variant)
        names = [stable_tune_name(name, k, variant) for k in range(STABLE_STEPS)]
        tuned = {n: results(n) for n in names}
        return stable_choice(name, variant, tuned, base)["eta"]


def stable_names() -> list[str]:
    """The runs of the third design: every tuned pathway's runs at their stable rates.

    Accuracy runs ``<rule>[_<variant>]_stable`` and flexibility runs
    ``flex_<rule>[_wn]_stable``.
    """
    return [*(run_name(p, v) + STABLE for p in TUNED for v in variants(p)),
            *(f"flex_{p}{s}{STABLE}" for p in TUNED for s in ("", "_wn"))]


EXTRA = {"dfa_nok": "none", "dfa_nok_wn": "wn"}
"""DFA with Nøkland's feedback scale (``D`` uniform on ``±1/sqrt(n_l)``, the same draw
mapped through the normal CDF, :class:`fa_lib.pathways.DFA`): run name -> normalisation,
at DFA's stable rates. Added on 2026-12-07, before any of its runs."""


def extra_names() -> list[str]:
    """The runs of the pre-registered variants that are not a normalisation (:data:`EXTRA`)."""
    return list(EXTRA)


READOUT = "readout_"
"""Prefix of the read-out experiments (:func:`readout_names`)."""


def readout_names() -> list[str]:
    """The linear read-outs: every rule without and with WN (``B`` as drawn), third design.

    ``readout_<run>``: the test accuracy of a linear read-out of each hidden layer of the
    run's final networks (:func:`fa_lib.readout.readout_accuracy`), added on 2026-12-07
    before any of its runs.
    """
    return [READOUT + design_run(run_name(p, v), 3) for p in RULES for v in ("none", "wn")]


def readout_results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """The read-out ``name`` of :func:`readout_names` (cached, or computed from its run).

    Returns ``readout_acc``: per repetition and hidden layer ``l = 1..d-1``, the test
    accuracy of the read-out as a fraction (the runs' ``test_acc`` convention).
    """
    if name not in readout_names():
        raise ValueError(f"unknown read-out {name!r}; expected one of {readout_names()}.")
    run = name.removeprefix(READOUT)
    cfg = config_of(same_as(run))
    key = {"run": cfg.as_dict(), "C": readout.C, "max_iter": readout.MAX_ITER,
           "n_fit": readout.n_fit(cfg)}

    def compute() -> dict[str, np.ndarray]:
        res = results(run, progress)
        return {"readout_acc": readout.readout_accuracy(res, cfg) / 100.0}

    return cache.cached(f"{CHAPTER}-{name}", key, compute)


def design_run(name: str, design: int) -> str:
    """The run ``name`` (``"usf"``, ``"usf_wn"``, ``"flex_dfa_wn"``) of design 1, 2 or 3.

    Design 2 changes the WN runs of the tuned pathways (:func:`own_names`), design 3 every
    run of the tuned pathways (:func:`stable_names`); every other run is the first design's.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {tuple(DESIGNS)}, not {design!r}.")
    if design == 2 and name + OWN_RATE in own_names():
        return name + OWN_RATE
    if design == 3 and name + STABLE in stable_names():
        return name + STABLE
    return name


def config_of(name: str, eta: Mapping[str, float] | None = None) -> TrainConfig:
    """The configuration of run ``name`` at the current scale.

    A learning-rate, accuracy or flexibility run, of any design, or a run of
    :data:`EXTRA`.

    Building the configuration of a tuned pathway's run reads the learning-rate runs
    (:func:`chosen_eta`, :func:`stable_eta`), computing them if they are not cached, unless
    ``eta`` gives the pathway's rate, for every design (the benchmarks' budget does: the
    cost of a run does not depend on it).
    """

    def rate(p: str, variant: str = "none", design: int = 1) -> float:
        if eta is not None and p in eta:
            return eta[p]
        return stable_eta(p, variant) if design == 3 else chosen_eta(p, variant)

    tuned = tuning()
    if name in tuned:
        return tuned[name]
    if name in SHARED:
        chapter, other = SHARED[name]
        module = mnist_alignment if chapter == "mnist_alignment" else flexibility
        return module.configs()[other]
    index = _stable_index()
    if name in index:
        p, v, k = index[name]
        return _stable_tune_config(p, v, step_eta(rate(p, v), k))
    if name in EXTRA:
        return _main_config("dfa", EXTRA[name], rate("dfa", EXTRA[name], 3), nokland=True)
    design = 2 if name in own_names() else 3 if name in stable_names() else 1
    base = name.removesuffix(OWN_RATE if design == 2 else STABLE if design == 3 else "")
    if base in flex_names():
        rule = base.removeprefix("flex_").removesuffix("_wn")
        wn = base.endswith("_wn")
        return _flex_config(rule, wn, rate(rule, "wn" if wn and design > 1 else "none", design))
    for p in RULES:
        for v in variants(p):
            if base == run_name(p, v):
                return _main_config(p, v, rate(p, v if design > 1 else "none", design))
    raise ValueError(f"unknown run {name!r}; expected a name of names().")


def same_as(name: str) -> str:
    """The run whose results run ``name`` shares (one computation for both).

    Itself, or for a run of a later design whose configuration is an earlier design's
    run's, that run; for a third-design tuning run whose rate is at the grid's end, the
    run of the same rate.

    Reads the learning-rate runs (:func:`chosen_eta`) for a run of a later design.
    """
    index = _stable_index()
    if name in index:
        p, v, k = index[name]
        for j in range(k):
            other = stable_tune_name(p, j, v)
            if config_of(other) == config_of(name):
                return other
        return name
    if name in own_names():
        base = name.removesuffix(OWN_RATE)
        return base if config_of(name) == config_of(base) else name
    if name in stable_names():
        base = name.removesuffix(STABLE)
        for other in (base, *([base + OWN_RATE] if base + OWN_RATE in own_names() else [])):
            if config_of(other) == config_of(name):
                return same_as(other)
    return name


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` (cached, or trained now).

    Runs shared with another chapter (:data:`SHARED`) are that chapter's cache entries.
    A divergence of a tuned pathway's run is recorded (``diverged_at``), not raised.
    """
    if name in tuning():
        return tuning_results(name, progress)
    if name.startswith(READOUT):
        return readout_results(name, progress)
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

    ``eta`` as in :func:`config_of`. Runs of the later designs count even where they
    turn out to be earlier runs (:func:`same_as`): an upper bound of the work.
    """
    return {n: config_of(n, eta) for n in names()
            if n not in SHARED and not n.startswith(READOUT)}


def names() -> list[str]:
    """Every run of the chapter.

    Learning rates first (both tunings), then accuracy, then flexibility, then the
    second and third designs, then the pre-registered variants of :data:`EXTRA`, then the
    read-outs.
    """
    return [*tuning(), *stable_tuning_names(), *main_names(), *flex_names(), *own_names(),
            *stable_names(), *extra_names(), *readout_names()]


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale, in the order of :func:`names`."""
    # results is looked up when called, so that a wrapper of it (a test's recorder) is used
    return {name: (lambda progress=False, name=name: results(name, progress=progress))
            for name in names()}

KINDS: dict[str, str] = {**training.KINDS, "readout_acc": "accuracy"}
"""The kind of the numbers of every array of the chapter's cache entries (training runs,
:data:`fa_lib.training.KINDS`, and the read-outs), which sets how :mod:`fa_lib.record`
compares them."""


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

    Both runs are those of ``design`` (:func:`design_run`: design 2 changes the WN run,
    design 3 both); ``runs`` maps run names to results. A repetition whose network fell
    silent in the last epoch (no update, so no angle) is left out of the pairs.
    """
    a = update_angles(runs[design_run(run_name(name), design)], name)[:, 0]
    b = update_angles(runs[design_run(run_name(name, variant), design)], name)[:, 0]
    return stats.paired(a, b, finite_only=True)


def accuracy_test(name: str, variant: str, runs: Mapping[str, Mapping[str, np.ndarray]],
                  design: int = 1) -> stats.TTest:
    """Paired difference (WN ``variant`` - no WN) of the final test accuracy (points).

    ``design`` and ``runs`` as in :func:`angle_test`; a repetition of a diverged run (no
    accuracy) is left out of the pairs.
    """
    return stats.paired(final_accuracy(runs[design_run(run_name(name, variant), design)]),
                        final_accuracy(runs[design_run(run_name(name), design)]),
                        finite_only=True)


def epochs_to(res: Mapping[str, np.ndarray], level: float) -> np.ndarray:
    """Per repetition, the first epoch after which the test accuracy is at least ``level`` %.

    A network that never reaches it counts as one epoch past the end (``epochs + 1``), so
    that it can be compared; :func:`reached` says which did.
    """
    curve = accuracy_curve_of(res)[1:]
    with np.errstate(invalid="ignore"):
        hit = curve >= level
    first = np.argmax(hit, axis=0) + 1.0
    return np.where(hit.any(axis=0), first, curve.shape[0] + 1.0)


def reached(res: Mapping[str, np.ndarray], level: float) -> np.ndarray:
    """Per repetition, whether the test accuracy reached ``level`` % after some epoch."""
    with np.errstate(invalid="ignore"):
        return np.any(accuracy_curve_of(res)[1:] >= level, axis=0)


def speed_test(name: str, variant: str, runs: Mapping[str, Mapping[str, np.ndarray]],
               level: float = 90.0, design: int = 3) -> stats.TTest:
    """Paired difference (no WN - WN ``variant``) of the epochs to ``level`` %.

    Epochs as :func:`epochs_to` counts them; ``design`` as in :func:`angle_test`.
    """
    return stats.paired(epochs_to(runs[design_run(run_name(name), design)], level),
                        epochs_to(runs[design_run(run_name(name, variant), design)], level),
                        finite_only=True)


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
