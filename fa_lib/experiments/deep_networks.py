"""Chapter "Alignment and depth in trained networks" (beyond the paper).

FA without and with WN, and BP as the reference, on the MNIST chapter's set-up
(Methods 4.3: 15 x 15 inputs, hidden layers of 50, ``tanh(ReLU)``, 5-hot codes, no
biases, the 60 fixed mini-batches of 1000, summed updates, the authors' rates FA 0.0005
and BP 0.0004) with 1, 2, 3, 4, 6 and 8 hidden layers. The FA runs record, at every
iteration, the update angle to BP in every layer and the angle between the backward
products ``B_{d-1}...B_l`` and ``W_{d-1}^T...W_l^T`` (eqs. 10-11), which the depth
chapter's approximation predicts from the factors' angles,
``arccos(prod_k cos(B_k ∠ W_k^T))`` (:func:`predicted_products`).

WN is the MNIST chapter's primary WN run: gamma = 1, ``B`` normalised (Methods 4.4).
The BP run with four hidden layers is the MNIST chapter's ``bp``.

A feedback-magnitude control, ``fa_bsize``: normalising ``B``'s columns to gamma = 1
multiplies the feedback of every hidden layer by about 1.41 at the MNIST initial SD 0.1
(a column of 50 numbers of SD 0.1 has norm about 0.71), so part of what WN changes could
be the size of the error signals alone. The control is FA at FA's rate without WN, with
every ``B_l`` scaled as a whole to the Frobenius norm that the column-normalised ``B_l``
has (:attr:`fa_lib.rule.Rule.scale_b`): the feedback's size of the WN run, its own
directions. Its two hypotheses ("size_angle", "size_acc" of :data:`HYPOTHESES`) and
their margins were written on 2026-12-07, before any run of the control at the paper
scale (the paper record of 2026-12-05 holds the FA, FA + WN and BP runs, not this one).

A second design, **a rate for every depth** (:data:`RATE_DESIGN`), written on 2026-12-07
before any of its runs: the runs above use the MNIST chapter's rates, tuned for four
hidden layers, at every depth. For every depth and each of FA, FA + WN and BP, the rate
is chosen on the feedback-rules chapter's validation split
(:mod:`fa_lib.experiments.feedback_rules`: the last ``holdout`` training images, with its
short-horizon sizes ``tune_reps``, ``tune_epochs``, ``tune_batches``) from the grid
:func:`grid` (the scale's ``tune_etas`` and the rule's book rate), by :func:`rate_choice`;
the learning-rate runs are :func:`tuning` (``tune_<rule>_h<k>_eta<rate>``), the main runs
at the chosen rates :func:`tuned_names` (``<rule>_h<k>_tuned``; a run whose chosen rate is
the book's is the book's run, :func:`same_as`). Its two hypotheses, "gap_tuned" and
"wn_tuned", ask "gap" and "wn" again at these rates, with the same margins and tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from fa_lib import linalg, training
from fa_lib.config import pick, scale, scale_context
from fa_lib.experiments import feedback_rules, mnist_alignment
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

CHAPTER = "deep_networks"

RULES = {"fa": "FA", "fa_wn": "FA + WN", "bp": "BP", "fa_bsize": "FA, B scaled (no WN)"}
"""The rules compared: run-name prefix -> label. ``fa_bsize`` is the feedback-magnitude
control (FA without WN, ``B`` scaled to the column-normalised ``B``'s norm)."""
FA_ETA = mnist_alignment.FA_ETA
"""FA's learning rate (the MNIST chapter's, per batch of 1000)."""
BP_ETA = mnist_alignment.BP_ETA
"""BP's learning rate (the MNIST chapter's)."""
final_accuracy = mnist_alignment.final_accuracy
GAMMA = 1.0
"""WN gamma (``B`` normalised to it at the start, Methods 4.4)."""

_SIZES = ("reps", "epochs", "n_batches", "n_test")  # the MNIST chapter's
PAPER = {"hidden": (1, 2, 3, 4, 6, 8), **{k: mnist_alignment.PAPER[k] for k in _SIZES},
         "tune_etas": tuple(e for e in feedback_rules.ETA_GRID if 0.0001 <= e <= 0.005)}
QUICK = {"hidden": (1, 2, 4), **{k: mnist_alignment.QUICK[k] for k in _SIZES},
         "tune_etas": (0.0001, 0.0005, 0.002)}
_TUNE_SIZES = ("tune_reps", "tune_epochs", "tune_batches", "holdout")  # feedback rules'


def config() -> dict:
    """Return the sizes of this chapter at the current scale (:func:`fa_lib.config.scale`).

    ``hidden``: the numbers of hidden layers; ``tune_etas``: the grid of the second design
    (with each rule's book rate added, :func:`grid`); ``tune_reps``, ``tune_epochs``,
    ``tune_batches`` and ``holdout`` size its learning-rate runs and are the feedback-rules
    chapter's (:func:`fa_lib.experiments.feedback_rules.config`); the rest are the MNIST
    chapter's sizes.
    """
    tune = feedback_rules.config()
    return {**pick(PAPER, QUICK), **{k: tune[k] for k in _TUNE_SIZES}}

THRESHOLDS = {
    "prediction": 5.0,  # degrees: the prediction "holds" when the 99% CI of the error is inside ±
    "angle_gain": 3.0,  # degrees: "WN lowers the first-layer update angle by more than"
    "layer_rise": 5.0,  # degrees: "the update angle grows from the last to the first hidden layer"
    "gap_growth": 2.0,  # points: "FA falls further behind BP with depth by more than"
    "learns": mnist_alignment.THRESHOLDS["learned_accuracy"],
    # the feedback-magnitude control (2026-12-07, before its paper-scale runs)
    "size_angle": 3.0,  # degrees: "scaling B lowers the first-layer update angle by more than"
    "size_acc": 1.0,  # points: "scaling B raises the final test accuracy by more than"
}
"""The margins of the chapter's hypotheses (degrees or percentage points)."""

HYPOTHESES = {
    "prediction": ("The depth chapter's approximation holds in trained FA networks: at the "
                   "last epoch the measured angle of every backward product "
                   r"$B_{d-1}\cdots B_\ell \angle W_{d-1}^T\cdots W_\ell^T$ lies within "
                   f"±{THRESHOLDS['prediction']:g}° of "
                   r"$\arccos\prod_{k=\ell}^{d-1}\cos(B_k \angle W_k^T)$"),
    "rise": ("In the deepest FA network (no WN), the update angle to BP of the first hidden "
             f"layer exceeds that of the last hidden layer by more than "
             f"{THRESHOLDS['layer_rise']:g}°"),
    "wn": ("WN lowers FA's first-hidden-layer update angle to BP by more than "
           f"{THRESHOLDS['angle_gain']:g}° at every depth"),
    "gap": ("FA's test-accuracy gap to BP grows with depth: the gap with the most hidden "
            f"layers exceeds the gap with one hidden layer by more than "
            f"{THRESHOLDS['gap_growth']:g} points"),
    "size_angle": ("At the largest depth, scaling FA's $B$ to the norm of the normalised $B$ "
                   "(no WN) lowers the first hidden layer's update angle to BP by more than "
                   f"{THRESHOLDS['size_angle']:g}° (paired over the repetitions)"),
    "size_acc": ("At the largest depth, scaling FA's $B$ to the norm of the normalised $B$ "
                 "(no WN) raises FA's final test accuracy by more than "
                 f"{THRESHOLDS['size_acc']:g} point (paired over the repetitions)"),
    "gap_tuned": ("At the learning rates chosen for every depth and rule on the validation "
                  "split (second design), FA's test-accuracy gap to BP grows with depth: the "
                  "gap with the most hidden layers exceeds the gap with the fewest by more "
                  f"than {THRESHOLDS['gap_growth']:g} points"),
    "wn_tuned": ("At the learning rates chosen for every depth and rule on the validation "
                 "split (second design), WN lowers FA's first-hidden-layer update angle to BP "
                 f"by more than {THRESHOLDS['angle_gain']:g}° at every depth"),
}
"""The chapter's questions with their margins, in Markdown (math in ``$...$``). The first
four were written before the paper-scale runs; "size_angle" and "size_acc" (the
feedback-magnitude control, rule ``fa_bsize``) on 2026-12-07, before the control's
paper-scale runs; "gap_tuned" and "wn_tuned" (the second design, :data:`RATE_DESIGN`) on
2026-12-07, before any of its runs, decided as "gap" and "wn" are (same margins, same
tests) from the runs at the chosen rates (:func:`tuned_names`). Each is decided by a 99%
confidence interval (of the mean error, of a paired or of a Welch difference): *supported*
when the interval lies beyond the margin, *rejected* when it lies on the other side,
*undecided* otherwise."""

STATEMENTS = {
    "prediction": ("In trained FA networks the angle of every backward product lies within "
                   "the margin of the depth chapter's prediction from its factors' angles."),
    "rise": ("In the deepest FA network the first hidden layer's update angle to BP exceeds "
             "the last hidden layer's by more than the margin."),
    "wn": "WN lowers FA's first-hidden-layer update angle to BP by more than the margin at "
          "every depth.",
    "gap": ("FA's test-accuracy gap to BP grows with depth: the gap of the deepest network "
            "exceeds that of the shallowest by more than the margin."),
    "size_angle": ("At the largest depth, scaling B to the normalised B's norm (no WN) lowers "
                   "FA's first-hidden-layer update angle to BP by more than the margin."),
    "size_acc": ("At the largest depth, scaling B to the normalised B's norm (no WN) raises "
                 "FA's final test accuracy by more than the margin."),
    "gap_tuned": ("At the learning rates chosen for every depth on the validation split, FA's "
                  "test-accuracy gap to BP grows with depth: the gap of the deepest network "
                  "exceeds that of the shallowest by more than the margin."),
    "wn_tuned": ("At the learning rates chosen for every depth on the validation split, WN "
                 "lowers FA's first-hidden-layer update angle to BP by more than the margin "
                 "at every depth."),
}
"""The statement each hypothesis of :data:`HYPOTHESES` is recorded under, as a
:func:`fa_lib.claims.hypothesis`: plain words without numbers (the margin is in the
claim's criterion), so that the record matches it from scale to scale."""


def run_name(rule: str, hidden: int) -> str:
    """The run name of ``rule`` (a key of :data:`RULES`) with ``hidden`` hidden layers."""
    return f"{rule}_h{hidden}"


def _rule(rule: str, eta: float | None = None) -> Rule:
    """The learning rule of ``rule`` (a key of :data:`RULES`) at ``eta`` (None: the book's)."""
    fa = rule != "bp"
    if eta is None:
        eta = mnist_alignment.FA_ETA if fa else mnist_alignment.BP_ETA
    return Rule("fa" if fa else "bp", eta=eta,
                wn_gamma=GAMMA if rule == "fa_wn" else None, normalise_b=rule == "fa_wn",
                scale_b=GAMMA if rule == "fa_bsize" else None)


def _config(rule: str, hidden: int, sizes: Mapping, eta: float | None = None) -> TrainConfig:
    fa = rule != "bp"
    return TrainConfig(depth=hidden + 1, rule=_rule(rule, eta), reps=sizes["reps"],
                       epochs=sizes["epochs"], n_batches=sizes["n_batches"],
                       n_test=sizes["n_test"], record_bp=fa, record_products=fa)


SHARED = {run_name("bp", 4): "bp"}
"""Runs that are the MNIST chapter's: name -> its run name."""

RATE_DESIGN = (
    "The runs of the first design use, at every depth, the MNIST chapter's rates (FA "
    "{fa:g}, BP {bp:g}), which the authors chose for four hidden layers; FA's growing gap "
    "to BP and WN's gain could be those of a rate that suits one depth and not another. "
    "The second design, written on 2026-12-07 before any of its runs, gives every depth "
    "and each of FA, FA + WN and BP its own rate. Each rule is trained at every rate of "
    "the grid (the feedback-rules chapter's grid from 0.0001 to 0.005 at the paper scale, "
    "{paper_grid}; three of its rates at the quick scale, {quick_grid}) and at its book "
    "rate, on the feedback-rules chapter's validation split (trained on the training "
    "images but the last {holdout:,}, evaluated on those; the test set is never read) with "
    "that chapter's short-horizon sizes ({reps} networks per rate, {epochs} epochs of "
    "{batches} mini-batches of 1000 at the paper scale). A tuning network collapses when "
    "it diverges, ends below {below:g}% validation accuracy, or ends more than {lost:g} "
    "points below its best epoch (the feedback-rules chapter's criterion). The rate chosen "
    "is the one with the best median final validation accuracy among those at which no "
    "tuning network collapses (ties: the smaller rate); when every rate has a collapsed "
    "network, the one with the fewest, and among those the best median (ties: the smaller "
    "rate). Every rule is then trained at every depth at its chosen rate as the first "
    "design's runs are (a run whose chosen rate is the book's is the first design's run) "
    "and \"gap\" and \"wn\" are asked again at these rates, with the same margins and tests "
    "(\"gap_tuned\", \"wn_tuned\")."
).format(fa=FA_ETA, bp=BP_ETA, below=feedback_rules.THRESHOLDS["collapse_below"],
         lost=feedback_rules.THRESHOLDS["collapse_lost"],
         paper_grid=", ".join(f"{e:g}" for e in PAPER["tune_etas"]),
         quick_grid=", ".join(f"{e:g}" for e in QUICK["tune_etas"]),
         holdout=feedback_rules.PAPER["holdout"], reps=feedback_rules.PAPER["tune_reps"],
         epochs=feedback_rules.PAPER["tune_epochs"], batches=feedback_rules.PAPER["tune_batches"])
"""The second design (a rate for every depth) and its choice rule, written on 2026-12-07
before any of its runs."""
TUNED_RULES = ("fa", "fa_wn", "bp")
"""The rules whose rate the second design chooses per depth (the control keeps FA's)."""
BOOK_ETA = {"fa": FA_ETA, "fa_wn": FA_ETA, "bp": BP_ETA}
"""The first design's rate of each rule of :data:`TUNED_RULES`, at every depth."""
TUNED = "_tuned"
"""Suffix of the second design's main runs (``fa_h4_tuned``)."""

@functools.cache
def _configs(at: str) -> dict[str, TrainConfig]:
    with scale_context(at):
        sizes = config()
    return {run_name(rule, h): _config(rule, h, sizes) for h in sizes["hidden"] for rule in RULES}


def configs() -> dict[str, TrainConfig]:
    """Every run of the chapter at the current scale.

    Those of :data:`SHARED` are the MNIST chapter's.
    """
    return dict(_configs(scale()))


# ------------------------------------------------- the second design: a rate for every depth


def grid(rule: str) -> tuple[float, ...]:
    """The rates tried for ``rule``: the scale's ``tune_etas`` and its book rate, ascending."""
    return tuple(sorted({*config()["tune_etas"], BOOK_ETA[rule]}))


def tune_name(rule: str, hidden: int, eta: float) -> str:
    """The learning-rate run of ``rule`` with ``hidden`` hidden layers at ``eta``.

    :func:`fa_lib.experiments.feedback_rules.tune_name` of the run: ``tune_fa_wn_h4_eta0.002``.
    """
    return feedback_rules.tune_name(run_name(rule, hidden), eta)


@functools.cache
def _tuning(at: str) -> dict[str, TrainConfig]:
    with scale_context(at):
        sizes = config()
        return {tune_name(rule, h, eta): TrainConfig(
            depth=h + 1, rule=_rule(rule, eta), reps=sizes["tune_reps"],
            epochs=sizes["tune_epochs"], n_batches=sizes["tune_batches"],
            holdout=sizes["holdout"])
            for h in sizes["hidden"] for rule in TUNED_RULES for eta in grid(rule)}


def tuning() -> dict[str, TrainConfig]:
    """The second design's learning-rate runs at the current scale, by name.

    Every depth, rule of :data:`TUNED_RULES` and rate of :func:`grid`, on the validation
    split, with the feedback-rules chapter's short-horizon sizes (:func:`config`).
    """
    return dict(_tuning(scale()))


def tuned_name(rule: str, hidden: int) -> str:
    """The second design's main run of ``rule`` with ``hidden`` hidden layers: ``fa_h4_tuned``."""
    return run_name(rule, hidden) + TUNED


def _tuned_index() -> dict[str, tuple[str, int]]:
    return {tuned_name(rule, h): (rule, h) for h in config()["hidden"] for rule in TUNED_RULES}


def tuned_names() -> list[str]:
    """The second design's main runs at the current scale (names only: nothing is read)."""
    return list(_tuned_index())


def rate_choice(rule: str, hidden: int, tuned: Mapping[str, Mapping[str, np.ndarray]]
                ) -> dict:
    """The second design's choice of the rate of ``rule`` with ``hidden`` hidden layers.

    Parameters
    ----------
    tuned : mapping
        The learning-rate runs by name (at least those of :func:`tune_name` for this rule
        and depth, at every rate of :func:`grid`).

    Returns
    -------
    dict
        ``eta`` (the rate chosen, :data:`RATE_DESIGN`'s rule), ``stable`` (no tuning network
        collapsed at it, :func:`fa_lib.experiments.feedback_rules.collapsed`) and ``rows``:
        per rate, ``eta``, ``median`` and ``mean`` of the final validation accuracy (%, a
        diverged run's networks have none: NaN), ``collapsed`` and ``networks``.
    """
    rows = [feedback_rules.rate_row(eta, tuned[tune_name(rule, hidden, eta)])
            for eta in grid(rule)]
    eta = feedback_rules.best_stable(rows)
    if eta is None:  # every rate has a collapse: the fewest, then the best median
        eta = min(rows, key=lambda r: (r["collapsed"],
                                       -r["median"] if np.isfinite(r["median"]) else np.inf,
                                       r["eta"]))["eta"]
    return {"eta": eta, "stable": any(r["eta"] == eta and r["collapsed"] == 0 for r in rows),
            "rows": rows}


def chosen_eta(rule: str, hidden: int) -> float:
    """The second design's rate of ``rule`` with ``hidden`` hidden layers (:func:`rate_choice`).

    Reads the learning-rate runs of the current scale, computing them if they are not
    cached (once per scale).
    """
    return _chosen_eta(rule, int(hidden), scale())


@functools.cache
def _chosen_eta(rule: str, hidden: int, at: str) -> float:
    if rule not in TUNED_RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {TUNED_RULES}.")
    with scale_context(at):
        if hidden not in config()["hidden"]:
            raise ValueError(f"no depth of {hidden} hidden layers; expected one of "
                             f"{config()['hidden']}.")
        names = [tune_name(rule, hidden, eta) for eta in grid(rule)]
        return rate_choice(rule, hidden, {n: tuning_results(n) for n in names})["eta"]


def config_of(name: str, eta: Mapping[tuple[str, int], float] | None = None) -> TrainConfig:
    """The configuration of any run of :func:`names` at the current scale.

    Building that of a run of :func:`tuned_names` reads the learning-rate runs
    (:func:`chosen_eta`, computing them if they are not cached) unless ``eta`` gives its
    rate by ``(rule, hidden)`` (the cost of a run does not depend on it).
    """
    if name in (tuned := tuning()):
        return tuned[name]
    if name in (every := configs()):
        return every[name]
    index = _tuned_index()
    if name not in index:
        raise ValueError(f"unknown run {name!r}; expected a name of names().")
    rule, h = index[name]
    rate = eta[(rule, h)] if eta is not None and (rule, h) in eta else chosen_eta(rule, h)
    return _config(rule, h, config(), rate)


def same_as(name: str) -> str:
    """The run whose results run ``name`` shares (one computation for both).

    For a run of :func:`tuned_names` whose chosen rate is the book's, the first design's
    run (its configuration is that run's); otherwise ``name`` itself. Reads the
    learning-rate runs for a run of :func:`tuned_names`.
    """
    if name in _tuned_index():
        base = name.removesuffix(TUNED)
        return base if config_of(name) == config_of(base) else name
    return name


def own_configs(eta: Mapping[tuple[str, int], float] | None = None) -> dict[str, TrainConfig]:
    """Every run this chapter computes itself (not :data:`SHARED`), by name.

    ``eta`` as in :func:`config_of`. Runs of :func:`tuned_names` count even where they turn
    out to be the first design's runs (:func:`same_as`): an upper bound of the work.
    """
    return {n: config_of(n, eta) for n in names() if n not in SHARED}


def names() -> list[str]:
    """Every run of the chapter, without reading any result.

    The learning-rate runs (:func:`tuning`), then the first design's runs
    (:func:`configs`), then the second design's (:func:`tuned_names`).
    """
    return [*tuning(), *configs(), *tuned_names()]


def tuning_results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays of learning-rate run ``name`` of :func:`tuning` (cached or computed)."""
    return training.named_run(CHAPTER, tuning(), name, stop_on_divergence=True,
                              progress=progress)


def tuned_results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays of run ``name`` of :func:`tuned_names` (cached or computed).

    Reads the learning-rate runs (:func:`chosen_eta`); a run at the book's rate is the
    first design's run (:func:`same_as`).
    """
    if name not in _tuned_index():
        raise ValueError(f"unknown run {name!r}; expected one of {tuned_names()}.")
    other = same_as(name)
    if other != name:
        return results(other, progress=progress)
    return training.named_run(CHAPTER, {name: config_of(name)}, name, stop_on_divergence=True,
                              progress=progress)


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` of :func:`names` (cached, or trained now).

    A divergence is recorded (``diverged_at``), not raised: deep FA networks may diverge
    at the MNIST chapter's rate, and that is a result. The second design's runs are
    :func:`tuning_results` and :func:`tuned_results`.
    """
    if name in tuning():
        return tuning_results(name, progress=progress)
    if name in _tuned_index():
        return tuned_results(name, progress=progress)
    every = configs()
    if name in SHARED:
        if name not in every:
            raise ValueError(f"unknown run {name!r}; expected one of {sorted(every)}.")
        return mnist_alignment.results(SHARED[name], progress=progress)
    return training.named_run(CHAPTER, every, name, stop_on_divergence=True,
                              progress=progress)


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale, in the order of :func:`names`.

    Run name -> the notebook's call ``results(name)``. Listing them reads no result.
    """
    # each function is looked up when called, so that a wrapper (a test's recorder) is used
    return {**{name: (lambda progress=False, name=name: tuning_results(name, progress=progress))
               for name in tuning()},
            **{name: (lambda progress=False, name=name: results(name, progress=progress))
               for name in configs()},
            **{name: (lambda progress=False, name=name: tuned_results(name, progress=progress))
               for name in tuned_names()}}

KINDS: dict[str, str] = training.KINDS
"""The kind of the numbers of every array of the chapter's cache entries (training runs,
:data:`fa_lib.training.KINDS`), which sets how :mod:`fa_lib.record` compares them."""


def predicted_products(w_bt: np.ndarray) -> np.ndarray:
    """The approximation's angle of every backward product, from the factors' angles.

    Parameters
    ----------
    w_bt : ndarray, shape (..., d - 1)
        ``W_l ∠ B_l^T`` for ``l = 1..d-1`` (the last axis).

    Returns
    -------
    ndarray, shape (..., d - 1)
        Column ``l - 1``: ``arccos(prod_{k=l}^{d-1} cos(W_k ∠ B_k^T))`` in degrees.
    """
    w_bt = np.asarray(w_bt, dtype=float)
    d1 = w_bt.shape[-1]
    return np.stack([linalg.predicted_product_angle(w_bt[..., ell:], axis=-1)
                     for ell in range(d1)], axis=-1)


def last_epoch(res: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    """Per repetition (and layer), the mean of a per-iteration record over the last epoch."""
    return mnist_alignment.last_epoch_mean(res, key, config()["n_batches"])


def product_error(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per repetition and layer ``l = 1..d-1``: measured minus predicted product angle.

    Both are the last-epoch means (the prediction from each iteration's factors).
    """
    measured = np.asarray(res["prod_bt"], dtype=float)
    predicted = predicted_products(np.asarray(res["w_bt"], dtype=float))
    n = config()["n_batches"]
    return mnist_alignment.mean_over_iterations((measured - predicted)[-n:])


def epoch_means(x: np.ndarray, n_batches: int | None = None) -> np.ndarray:
    """Means of a per-iteration record over each epoch (the first axis), NaN ignored."""
    n = config()["n_batches"] if n_batches is None else int(n_batches)
    x = np.asarray(x, dtype=float)
    epochs = x.shape[0] // n
    return np.stack([mnist_alignment.mean_over_iterations(x[e * n:(e + 1) * n])
                     for e in range(epochs)])
