"""Chapter "Flexibility" (Sec. 2.6, Fig. 8, Fig. S3; Methods 4.3, 4.4, 4.9).

A five-layer network (225-50-50-50-50-50, ``f = tanh(ReLU)``) learns MNIST with
mutually exclusive 5-hot class codes for ``P`` epochs (phase 1); then every
repetition draws new codes (Methods 4.9) and learns them for ``P`` more epochs
(phase 2). Every run of the chapter is one :class:`fa_lib.training.TrainConfig`,
listed here once; :func:`results` runs it through the results cache
(``python -m fa_lib reproduce --only flexibility --jobs N`` computes missing runs in
parallel). The summaries
(phase accuracies, silent and saturated units, the Fig. S3 statistics) are
computed here, so the chapter only draws and checks.

Settings (see the chapter's "Paper vs this book" box):

- the authors' learning rate eta = 0.0003 is primary, the text's 0.003 a variant;
- WN gamma = 0.6 with ``B`` left as drawn (the authors' Fig. 8 code), and with the
  columns of ``B`` normalised to gamma (Methods 4.4) as a variant for FA;
- no biases, weights and ``B`` iid ``N(0, 0.1^2)``, float32, the 60 fixed mini-batches
  of 1000 in the original MNIST order;
- label smoothing as in the authors' code, ``Y* <- 0.95 Y* + 0.05`` (zeros -> 0.05,
  ones -> 1.0); the text says ones -> 0.95 (:data:`LS_TEXT`);
- Fig. S3: gamma in {none, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5} (the authors' list), eta in
  {0.0005, 0.0003}, label smoothing off / on, BP and FA; per run the mean of the last
  10 test accuracies, then median, min and max over the repetitions.

The quick scale keeps the number of iterations per epoch (60) and the size of
each step: the updates are summed over the batch, so a batch of 100 with
``eta x 10`` moves the weights as far per iteration as a batch of 1000 with
``eta`` (:func:`scaled_eta`); it sees 6,000 training images per epoch instead of
60,000 and trains for fewer epochs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from fa_lib import activations, stats, training
from fa_lib.config import pick, scale, scale_context
from fa_lib.pathways import Pathway
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

CHAPTER = "flexibility"

PAPER_BATCH = 1000
"""Samples per mini-batch in the paper; learning rates below are quoted for this batch."""
AUTHORS_ETA = 0.0003
"""Learning rate of the authors' Fig. 8 code (primary)."""
TEXT_ETA = 0.003
"""Learning rate of the text (Methods 4.3), run as a variant."""
GAMMA = 0.6
"""WN gamma of Fig. 8 (Methods 4.3)."""
LS_CODE = (0.05, 1.0)
"""Label smoothing of the authors' code: ``0.95 Y* + 0.05`` (zeros -> 0.05, ones -> 1.0)."""
LS_TEXT = (0.05, 0.95)
"""Label smoothing of the text (Supp. Note 4): zeros -> 0.05, ones -> 0.95."""
S3_GAMMAS: tuple[float | None, ...] = (None, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
"""WN gammas of Fig. S3 in the authors' code (``None``: no WN)."""
S3_ETAS = (0.0005, 0.0003)
"""Learning rates of Fig. S3 (for a batch of 1000)."""
S3_LS: tuple[tuple[float, float] | None, ...] = (None, LS_CODE)
"""Label smoothing off / on in Fig. S3."""
METHODS = ("bp", "fa")
SATURATION_DF = 0.01
"""A last-layer entry counts as saturated when ``0 < f'(z) < SATURATION_DF``
(``z > arccosh(10) = 2.99``), and as silent when ``z <= 0`` (``f'(z) = 0``)."""

PAPER = {"reps": 10, "phase_epochs": 100, "n_batches": 60, "batch_size": 1000, "n_test": None,
         "last": 10, "s3_reps": 10, "s3_gammas": S3_GAMMAS, "s3_etas": S3_ETAS,
         "s3_ls": S3_LS, "s3_methods": METHODS, "text_reps": 10}
QUICK = {"reps": 3, "phase_epochs": 30, "n_batches": 60, "batch_size": 100, "n_test": 2000,
         "last": 5, "s3_reps": 3, "s3_gammas": (None,), "s3_etas": (0.0003,),
         "s3_ls": S3_LS, "s3_methods": METHODS, "text_reps": 1}


def config() -> dict:
    """Return the sizes of this chapter at the current scale (:func:`fa_lib.config.scale`).

    Repetitions, epochs per phase, mini-batches per epoch and their size, test images
    (None: all 10,000), the number of final epochs averaged per phase (``last``), and the
    Fig. S3 grid.
    """
    return dict(pick(PAPER, QUICK))


THRESHOLDS = {
    "drop": 5.0,  # "stays below": phase 2 ends more than this many points below phase 1 (mean)
    "restored": 10.0,  # "restored": with WN the mean loss is below this many points ...
    "restored_ratio": 0.5,  # ... and below this fraction of the loss without WN
    "matches": 5.0,  # "FA almost matches BP": |FA - BP| after the change below this (points)
    "most": 0.5,  # "most units": fraction of silent or saturated entries of Z_d above this
    "ls_share": 0.75,  # "LS improves": higher median at at least this share of the grid points
    "collapse": 30.0,  # a run collapses: phase 1 ends this many points below its best epoch
}
"""The margins of the chapter's checks (percentage points of test accuracy, or fractions).
A phase's accuracy is the mean over its last ``config()["last"]`` epochs
(:func:`phase_accuracy`)."""


def scaled_eta(eta: float, batch_size: int | None = None) -> float:
    """The learning rate for ``batch_size`` that moves the weights as far as ``eta`` at 1000.

    The updates are summed over the batch (eq. 19), so ``eta * batch_size`` sets the
    size of a step: ``eta * PAPER_BATCH / batch_size`` (``eta`` itself at paper scale);
    ``batch_size`` defaults to the current scale's.
    """
    b = config()["batch_size"] if batch_size is None else int(batch_size)
    if not eta > 0 or b < 1:
        raise ValueError(f"eta must be > 0 and batch_size >= 1; got {eta!r} and {b!r}.")
    return float(eta) * PAPER_BATCH / b


def run_config(method: str | Pathway, eta: float, gamma: float | None, *,
               normalise_b: bool = False, label_smoothing: tuple[float, float] | None = None,
               reps: int | None = None) -> TrainConfig:
    """A run of the Fig. 8 protocol at the current scale: two phases, new codes at epoch ``P``.

    Parameters
    ----------
    method : str or Pathway
        The feedback pathway (any of :mod:`fa_lib.pathways`).
    eta : float
        Learning rate for a batch of 1000 (scaled to the scale's batch, :func:`scaled_eta`).
    gamma : float or None
        WN gamma (None: no WN); ``normalise_b`` as in :class:`fa_lib.rule.Rule`.
    label_smoothing : (float, float) or None
    reps : int, optional
        Repetitions (default: the scale's).
    """
    sizes = config()
    p = sizes["phase_epochs"]
    rule = Rule(method, eta=scaled_eta(eta, sizes["batch_size"]), wn_gamma=gamma,
                normalise_b=normalise_b)
    return TrainConfig(rule=rule, label_smoothing=label_smoothing,
                       epochs=2 * p, relabel_epoch=p, snapshot_epoch=p,
                       reps=sizes["reps"] if reps is None else reps,
                       n_batches=sizes["n_batches"], batch_size=sizes["batch_size"],
                       n_test=sizes["n_test"])


LABELS = {"bp": "BP", "bp_wn": "BP + WN", "fa": "FA", "fa_wn": "FA + WN",
          "fa_wn_b_normalised": "FA + WN, B normalised",
          **{f"{n}_text_eta": f"{lab}, eta = {TEXT_ETA:g}" for n, lab in
             {"bp": "BP", "bp_wn": "BP + WN", "fa": "FA", "fa_wn": "FA + WN"}.items()}}
"""Legend labels of the runs of Fig. 8 and its variants."""


def s3_name(method: str, eta: float, gamma: float | None,
            label_smoothing: tuple[float, float] | None) -> str:
    """The run name of a grid point of Fig. S3."""
    g = "none" if gamma is None else f"{gamma:g}"
    ls = "ls" if label_smoothing is not None else "nols"
    return f"s3_{method}_eta{eta:g}_g{g}_{ls}"


def _fig8() -> dict[str, TrainConfig]:
    return {
        "bp": run_config("bp", AUTHORS_ETA, None),
        "bp_wn": run_config("bp", AUTHORS_ETA, GAMMA),
        "fa": run_config("fa", AUTHORS_ETA, None),
        "fa_wn": run_config("fa", AUTHORS_ETA, GAMMA),
    }


def _variants(fig8: Mapping[str, TrainConfig], sizes: Mapping) -> dict[str, TrainConfig]:
    return {
        "fa_wn_b_normalised": run_config("fa", AUTHORS_ETA, GAMMA, normalise_b=True),
        **{f"{name}_text_eta": run_config(c.rule.name, TEXT_ETA, c.rule.wn_gamma,
                                          reps=sizes["text_reps"]) for name, c in fig8.items()},
    }


def _s3_grid(fig8: Mapping[str, TrainConfig], sizes: Mapping
             ) -> tuple[dict[str, TrainConfig], dict[tuple, str]]:
    runs: dict[str, TrainConfig] = {}
    grid: dict[tuple, str] = {}
    for method in sizes["s3_methods"]:
        for eta in sizes["s3_etas"]:
            for gamma in sizes["s3_gammas"]:
                for ls in sizes["s3_ls"]:
                    cfg = run_config(method, eta, gamma, label_smoothing=ls,
                                     reps=sizes["s3_reps"])
                    same = [n for n, c in fig8.items() if c == cfg]
                    name = same[0] if same else s3_name(method, eta, gamma, ls)
                    if not same:
                        runs[name] = cfg
                    grid[(method, eta, gamma, ls)] = name
    return runs, grid


@functools.cache
def _runs(at: str) -> dict[str, Mapping]:
    """The run lists of the chapter at scale ``at``, built once per scale."""
    with scale_context(at):
        sizes = config()
        fig8 = _fig8()
        variants = _variants(fig8, sizes)
        s3, s3_grid = _s3_grid(fig8, sizes)
    return {"fig8": fig8, "variants": variants, "s3": s3, "s3_grid": s3_grid,
            "configs": {**fig8, **variants, **s3}}


def fig8() -> dict[str, TrainConfig]:
    """Fig. 8A, B at the current scale.

    BP and FA without and with WN (gamma = 0.6, B as drawn), eta = 0.0003.
    """
    return dict(_runs(scale())["fig8"])


def fig8_variants() -> dict[str, TrainConfig]:
    """The variants of Fig. 8 at the current scale.

    FA + WN with the columns of B normalised to gamma (Methods 4.4), and the four runs of
    Fig. 8 at the text's learning rate (fewer repetitions at quick scale).
    """
    return dict(_runs(scale())["variants"])


def fig8_names() -> tuple[str, ...]:
    """The runs of Fig. 8 and its variants, in the order of the background paper-scale run."""
    runs = _runs(scale())
    return (*runs["fig8"], *runs["variants"])


def s3() -> dict[str, TrainConfig]:
    """Fig. S3 at the current scale: the runs that are not Fig. 8 runs."""
    return dict(_runs(scale())["s3"])


def s3_grid() -> dict[tuple, str]:
    """Fig. S3 at the current scale: the run of every grid point.

    Grid point ``(method, eta, gamma, label smoothing)`` -> run name (points that coincide
    with a Fig. 8 run use it).
    """
    return dict(_runs(scale())["s3_grid"])


def configs() -> dict[str, TrainConfig]:
    """Every run of the chapter at the current scale.

    Those of :func:`fig8`, :func:`fig8_variants` and :func:`s3`.
    """
    return dict(_runs(scale())["configs"])


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` of :func:`configs` (cached, or trained now).

    A divergence (NaN or Inf weights) stops the run and is recorded in ``diverged_at``
    rather than raised: the text's learning rate may diverge. ``progress`` shows a bar
    (default: when interactive).
    """
    return training.named_run(CHAPTER, configs(), name, stop_on_divergence=True,
                              progress=progress)


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale, in the order of :func:`configs`.

    Run name -> the notebook's call ``results(name)`` (``progress`` shows a bar).
    ``python -m fa_lib reproduce --only flexibility --jobs N`` computes them ``N`` at a time.
    """
    # results is looked up when called, so that a wrapper of it (a test's recorder) is used
    return {name: (lambda progress=False, name=name: results(name, progress=progress))
            for name in configs()}


KINDS: dict[str, str] = training.KINDS
"""The kind of the numbers of every array of the chapter's cache entries (training runs,
:data:`fa_lib.training.KINDS`), which sets how :mod:`fa_lib.record` compares them."""


# ---------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------


def phase_epochs(res: Mapping[str, np.ndarray]) -> int:
    """Epochs per phase ``P`` of a run (its test accuracy has ``2 P + 1`` entries)."""
    n = np.asarray(res["test_acc"]).shape[0]
    if n < 3 or (n - 1) % 2:
        raise ValueError(f"test_acc must have 2 P + 1 entries (two phases); got {n}.")
    return (n - 1) // 2


def accuracy_curve(res: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy (%) over epochs with the change of codes drawn as a drop at epoch ``P``.

    Returns
    -------
    epochs : ndarray, shape (2 P + 2,)
        ``0, 1, ..., P, P, P + 1, ..., 2 P``.
    acc : ndarray, shape (2 P + 2, R)
        After ``e`` epochs with the codes in force; the second entry at ``P`` is the
        accuracy with the new codes, before any training on them.
    """
    p = phase_epochs(res)
    acc = 100.0 * np.asarray(res["test_acc"], dtype=float)
    relabel = 100.0 * np.asarray(res["acc_relabel"], dtype=float)[None, :]
    epochs = np.concatenate([np.arange(p + 1), np.arange(p, 2 * p + 1)])
    return epochs, np.concatenate([acc[: p + 1], relabel, acc[p + 1:]])


def phase_accuracy(res: Mapping[str, np.ndarray], last: int | None = None
                   ) -> dict[str, np.ndarray]:
    """Per repetition, the test accuracy (%) at the end of each phase.

    Parameters
    ----------
    res : mapping
        Results of one run.
    last : int, optional
        Number of final epochs of a phase averaged (default: the current scale's ``last``).

    Returns
    -------
    dict of ndarray, shape (R,)
        ``before`` / ``after``: after epoch ``P`` / ``2 P``; ``before_last`` /
        ``after_last``: mean over the last ``last`` epochs of phase 1 / phase 2 (the
        Fig. S3 statistic for phase 2); ``drop``: ``after_last - before_last``;
        ``at_change``: with the new codes before training on them.
    """
    n = config()["last"] if last is None else int(last)
    p = phase_epochs(res)
    if not 1 <= n <= p:
        raise ValueError(f"last must be in [1, P = {p}]; got {n}.")
    acc = 100.0 * np.asarray(res["test_acc"], dtype=float)
    out = {"before": acc[p], "after": acc[2 * p],
           "before_last": acc[p - n + 1: p + 1].mean(axis=0),
           "after_last": acc[2 * p - n + 1:].mean(axis=0),
           "at_change": 100.0 * np.asarray(res["acc_relabel"], dtype=float)}
    out["drop"] = out["after_last"] - out["before_last"]
    return out


def collapsed(res: Mapping[str, np.ndarray], fall: float | None = None,
              last: int | None = None) -> np.ndarray:
    """Per repetition, whether phase 1 ends far below its own best test accuracy.

    A run that learns and then loses what it learned while the codes stay the same is
    unstable, not inflexible: its loss after the change says nothing about the change.

    Parameters
    ----------
    res : mapping
        Results of one run.
    fall : float, optional
        Points of test accuracy (default ``THRESHOLDS["collapse"]``); a repetition
        collapses when the mean of the last ``last`` epochs of phase 1 is more than
        ``fall`` below the best accuracy of phase 1.
    last : int, optional
        As in :func:`phase_accuracy`.

    Returns
    -------
    ndarray of bool, shape (R,)
    """
    fall = THRESHOLDS["collapse"] if fall is None else float(fall)
    if not fall > 0:
        raise ValueError(f"fall must be > 0 points; got {fall}.")
    p = phase_epochs(res)
    peak = 100.0 * np.max(np.asarray(res["test_acc"], dtype=float)[: p + 1], axis=0)
    return phase_accuracy(res, last)["before_last"] < peak - fall


def unit_states(z: np.ndarray, threshold: float = SATURATION_DF) -> dict[str, np.ndarray]:
    """Fractions of silent and saturated entries of ``Z_d``, per repetition (Fig. 8B).

    With ``f = tanh(ReLU)``, ``f'(z) = (z > 0) sech^2 z``: an entry is *silent* when
    ``z <= 0`` (``f'(z) = 0``), *saturated* when ``z > 0`` and ``f'(z) < threshold``;
    either way its error signal ``delta_d = E * f'(Z_d)`` (nearly) vanishes.

    Parameters
    ----------
    z : ndarray, shape (R, n, m)
        Internal states of the last layer (samples x units) per repetition.
    threshold : float
        The bound on ``f'`` below which a positive entry counts as saturated.

    Returns
    -------
    dict of ndarray, shape (R,)
        ``silent``, ``saturated``, ``either`` (their sum) and ``mean_df`` (mean ``f'``).
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 3:
        raise ValueError(f"z must be stacked (R, samples, units); got shape {z.shape}.")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1); got {threshold!r}.")
    if not np.all(np.isfinite(z)):
        raise ValueError("z holds NaN or Inf (a diverged run, or no snapshot was taken).")
    df = activations.get("tanh_relu").df(z)
    silent = np.mean(z <= 0, axis=(1, 2))
    saturated = np.mean((z > 0) & (df < threshold), axis=(1, 2))
    return {"silent": silent, "saturated": saturated, "either": silent + saturated,
            "mean_df": np.mean(df, axis=(1, 2))}


def accuracy_table(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[dict]:
    """One row per run: accuracy before the change and at the end (mean, SD, n).

    ``runs`` maps run names (keys of :func:`configs`) to their results.
    """
    rows = []
    every = configs()
    for name, res in runs.items():
        cfg = every[name]
        acc = phase_accuracy(res)
        rows.append({
            "run": LABELS.get(name, name), "method": cfg.rule.name.upper(),
            "eta (batch 1000)": cfg.rule.eta * cfg.batch_size / PAPER_BATCH,
            "WN gamma": cfg.rule.wn_gamma,
            "B normalised": cfg.rule.normalise_b if cfg.rule.wn_gamma is not None else None,
            "n": len(acc["before"]),
            f"epoch {cfg.relabel_epoch} mean (%)": float(np.mean(acc["before"])),
            f"epoch {cfg.relabel_epoch} SD (%)": stats.sample_sd(acc["before"]),
            f"epoch {cfg.epochs} mean (%)": float(np.mean(acc["after"])),
            f"epoch {cfg.epochs} SD (%)": stats.sample_sd(acc["after"]),
            "change (last-epochs means, %)": float(np.mean(acc["drop"])),
            "diverged at": int(res["diverged_at"]),
        })
    return rows


def s3_summary(runs: Mapping[str, Mapping[str, np.ndarray]], last: int | None = None
               ) -> list[dict]:
    """One row per grid point of Fig. S3: median, min and max of the final accuracy.

    Per run the mean of the last ``last`` test accuracies of phase 2 (the authors:
    10), then the median, minimum and maximum over the repetitions; ``median before``
    is the median of the same mean over phase 1 (before the change); ``collapsed``
    counts the repetitions that lost what they learned before the change
    (:func:`collapsed`).
    """
    rows = []
    for (method, eta, gamma, ls), name in s3_grid().items():
        acc = phase_accuracy(runs[name], last)
        final = acc["after_last"]
        rows.append({"method": method.upper(), "eta": eta, "gamma": gamma,
                     "label smoothing": ls is not None, "run": name, "n": len(final),
                     "median before": float(np.median(acc["before_last"])),
                     "median": float(np.median(final)), "min": float(np.min(final)),
                     "max": float(np.max(final)),
                     "collapsed": int(np.sum(collapsed(runs[name], last=last))),
                     "diverged at": int(runs[name]["diverged_at"])})
    return rows


def _gamma(g: float | None) -> float | None:
    """A row's gamma with "no WN" as None (a DataFrame turns None into NaN)."""
    return None if g is None or np.isnan(g) else float(g)


def ls_pairs(rows: Iterable[Mapping]) -> list[dict]:
    """Pair the Fig. S3 grid points without and with label smoothing.

    Parameters
    ----------
    rows : iterable of mapping
        Rows of :func:`s3_summary` (or of a DataFrame of them: a NaN gamma is no WN).

    Returns
    -------
    list of dict
        One per ``(method, eta, gamma)`` with both settings: ``median_off``,
        ``median_on`` and ``gain`` (``median_on - median_off``, points).
    """
    by_key: dict[tuple, dict] = {}
    for r in rows:
        key = (r["method"], r["eta"], _gamma(r["gamma"]))
        by_key.setdefault(key, {})["on" if r["label smoothing"] else "off"] = r["median"]
    return [{"method": k[0], "eta": k[1], "gamma": k[2], "median_off": v["off"],
             "median_on": v["on"], "gain": v["on"] - v["off"]}
            for k, v in by_key.items() if {"on", "off"} <= set(v)]


def ls_gain_by_gamma(pairs: Iterable[Mapping]) -> list[dict]:
    """Mean gain of label smoothing per WN gamma, over the methods and learning rates.

    Parameters
    ----------
    pairs : iterable of mapping
        Rows of :func:`ls_pairs` (a NaN gamma is no WN).

    Returns
    -------
    list of dict
        One per gamma in grid order (no WN first): ``gamma`` (None: no WN), ``n`` pairs
        and ``mean_gain`` (points).
    """
    gains: dict[float | None, list[float]] = {}
    for r in pairs:
        gains.setdefault(_gamma(r["gamma"]), []).append(float(r["gain"]))
    order = sorted(gains, key=lambda g: -np.inf if g is None else g)
    return [{"gamma": g, "n": len(gains[g]), "mean_gain": float(np.mean(gains[g]))}
            for g in order]


def gamma_spread(rows: Iterable[Mapping]) -> list[dict]:
    """Sensitivity to gamma: the range of the Fig. S3 medians over the WN gammas.

    Returns one row per ``(method, eta, label smoothing)``: ``spread`` = max - min of
    the median final accuracy over the gammas with WN (``gamma`` not None), and the
    number of gammas ``n_gammas``.
    """
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if _gamma(r["gamma"]) is not None:
            groups.setdefault((r["method"], r["eta"], r["label smoothing"]), []).append(r["median"])
    return [{"method": k[0], "eta": k[1], "label smoothing": k[2], "n_gammas": len(v),
             "spread": float(np.max(v) - np.min(v))} for k, v in groups.items()]
