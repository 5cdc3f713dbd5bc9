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
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from fa_lib import linalg, training
from fa_lib.config import pick, scale, scale_context
from fa_lib.experiments import mnist_alignment
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
PAPER = {"hidden": (1, 2, 3, 4, 6, 8), **{k: mnist_alignment.PAPER[k] for k in _SIZES}}
QUICK = {"hidden": (1, 2, 4), **{k: mnist_alignment.QUICK[k] for k in _SIZES}}


def config() -> dict:
    """Return the sizes of this chapter at the current scale (:func:`fa_lib.config.scale`).

    ``hidden``: the numbers of hidden layers; the rest are the MNIST chapter's sizes.
    """
    return dict(pick(PAPER, QUICK))

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
}
"""The chapter's questions with their margins, in Markdown (math in ``$...$``). The first
four were written before the paper-scale runs; "size_angle" and "size_acc" (the
feedback-magnitude control, rule ``fa_bsize``) on 2026-12-07, before the control's
paper-scale runs. Each is decided by a 99% confidence interval (of the mean error, of a
paired or of a Welch difference): *supported* when the interval lies beyond the margin,
*rejected* when it lies on the other side, *undecided* otherwise."""

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
}
"""The statement each hypothesis of :data:`HYPOTHESES` is recorded under, as a
:func:`fa_lib.claims.hypothesis`: plain words without numbers (the margin is in the
claim's criterion), so that the record matches it from scale to scale."""


def run_name(rule: str, hidden: int) -> str:
    """The run name of ``rule`` (a key of :data:`RULES`) with ``hidden`` hidden layers."""
    return f"{rule}_h{hidden}"


def _config(rule: str, hidden: int, sizes: Mapping) -> TrainConfig:
    fa = rule != "bp"
    r = Rule("fa" if fa else "bp", eta=mnist_alignment.FA_ETA if fa else mnist_alignment.BP_ETA,
             wn_gamma=GAMMA if rule == "fa_wn" else None, normalise_b=rule == "fa_wn",
             scale_b=GAMMA if rule == "fa_bsize" else None)
    return TrainConfig(depth=hidden + 1, rule=r, reps=sizes["reps"], epochs=sizes["epochs"],
                       n_batches=sizes["n_batches"], n_test=sizes["n_test"],
                       record_bp=fa, record_products=fa)


SHARED = {run_name("bp", 4): "bp"}
"""Runs that are the MNIST chapter's: name -> its run name."""

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


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` of :func:`configs` (cached, or trained now).

    A divergence is recorded (``diverged_at``), not raised: deep FA networks may diverge
    at the MNIST chapter's rate, and that is a result.
    """
    every = configs()
    if name in SHARED:
        if name not in every:
            raise ValueError(f"unknown run {name!r}; expected one of {sorted(every)}.")
        return mnist_alignment.results(SHARED[name], progress=progress)
    return training.named_run(CHAPTER, every, name, stop_on_divergence=True,
                              progress=progress)


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale.

    Run name -> the notebook's call ``results(name)``.
    """
    # results is looked up when called, so that a wrapper of it (a test's recorder) is used
    return {name: (lambda progress=False, name=name: results(name, progress=progress))
            for name in configs()}

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
