"""The "Try it" sections of the four MNIST chapters: one small training answer per setting.

The companion of :mod:`fa_lib.try_it` (same :class:`~fa_lib.try_it.TryResult`,
:class:`~fa_lib.try_it.Knob` and :func:`~fa_lib.try_it.show`) for the chapters that
train networks on MNIST. Each ``try_<chapter>(**knobs, size=..., seed=0)`` trains the
chapter's own networks (:func:`fa_lib.training.run` on the chapter's configuration, the
chapter's rules and summaries) on a fixed small subset of MNIST for a few epochs, with
``size`` stacked repetitions, in a few seconds on one core, and compares the measured
numbers with the chapter's claim and criterion. The data are read as the chapters read
them (:mod:`fa_lib.mnist`, ``FA_MNIST_DIR``), only the subset a run uses
(:func:`subset`); nothing is cached or recorded.

The subsets keep the chapters' step size: the updates are summed over a batch, so a
learning rate quoted for a batch of 1000 is scaled to the smaller batch
(:func:`fa_lib.experiments.flexibility.scaled_eta`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fa_lib import mnist, plotting, stats, training
from fa_lib.experiments import deep_networks as dn
from fa_lib.experiments import feedback_rules as fr
from fa_lib.experiments import flexibility as fx
from fa_lib.experiments import mnist_alignment as ma
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig
from fa_lib.try_it_core import Knob, TryResult, choice, new_figure, whole
from fa_lib.verdicts import mnist_alignment as ma_verdicts

__all__ = [
    "KNOBS", "SUBSET", "subset", "try_deep_networks", "try_feedback_rules", "try_flexibility",
    "try_mnist_alignment",
]

SUBSET = {"n_batches": 20, "batch_size": 250, "n_test": 1000, "epochs": 10}
"""The size of the answers of the MNIST, feedback-rules and deep-networks chapters: the
first 20 mini-batches of 250 training images (5,000 images, in the original order, the
same every epoch), 10 epochs, test accuracy on the first 1,000 test images."""

FLEX_SUBSET = {"n_batches": 60, "batch_size": 100, "n_test": 1000, "phase_epochs": 8,
               "last": 3}
"""The size of the flexibility answer: 60 mini-batches of 100 (6,000 images), 8 epochs per
phase, a phase's accuracy the mean of its last 3 epochs (test: the first 1,000 images)."""

FLEX_ETA = 0.001
"""The flexibility answer's learning rate (per batch of 1000): the chapter's 0.0003 needs
about 100 epochs per phase to show the loss after the change; at 0.001 eight suffice."""

ETAS = (0.0001, 0.0003, 0.0005, 0.001, 0.005)
"""The learning rates of the MNIST chapter's Fig. S2 (per batch of 1000): its knob."""

MAX_HIDDEN = 8
"""The most hidden layers of :func:`try_deep_networks` (the chapter's deepest)."""

_OFF_ON = [("off", False), ("on", True)]


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def _sized(cfg: TrainConfig, size: int, seed: int, subset: Mapping[str, int]) -> TrainConfig:
    """``cfg`` on the subset, with ``size`` repetitions and its rate scaled to the batch."""
    eta = fx.scaled_eta(cfg.rule.eta, subset["batch_size"])
    return cfg.replace(rule=cfg.rule.replace(eta=eta), reps=size, seed=seed,
                       **{k: subset[k] for k in ("n_batches", "batch_size", "n_test")})


def subset(cfg: TrainConfig) -> mnist.MNIST:
    """The MNIST images that a run of ``cfg`` reads, preprocessed as in Methods 4.3.

    The first ``n_batches * batch_size`` training images and the first ``n_test`` test
    images, read from ``FA_MNIST_DIR`` by :func:`fa_lib.mnist.load_raw` and preprocessed
    by :func:`fa_lib.mnist.preprocess` (pixels / 255, ``image_size`` squared): what
    :func:`fa_lib.training.load_data` gives for those images, without preprocessing the
    other 60,000 (a few tenths of a second instead of about two).

    Parameters
    ----------
    cfg : TrainConfig
        A run with ``n_test`` set.

    Returns
    -------
    fa_lib.mnist.MNIST
    """
    if cfg.n_test is None or cfg.holdout:
        raise ValueError("subset needs a run with n_test set and no holdout.")
    raw = mnist.load_raw()
    n = cfg.n_batches * cfg.batch_size
    x = {k: mnist.preprocess(raw[k][:m], cfg.image_size, np.dtype(cfg.dtype))
         for k, m in ((mnist.TRAIN_IMAGES, n), (mnist.TEST_IMAGES, cfg.n_test))}
    return mnist.MNIST(x_train=x[mnist.TRAIN_IMAGES],
                       y_train=raw[mnist.TRAIN_LABELS][:n].astype(np.int64),
                       x_test=x[mnist.TEST_IMAGES],
                       y_test=raw[mnist.TEST_LABELS][:cfg.n_test].astype(np.int64))


def _train_all(cfgs: Mapping[str, TrainConfig]) -> dict[str, dict[str, np.ndarray]]:
    """Train every run (all on the same subset); a divergence is recorded, not raised."""
    data = subset(next(iter(cfgs.values())))
    return {k: training.run(c, data, stop_on_divergence=True, progress=False)
            for k, c in cfgs.items()}


def _epochs_axis(n_iter: int, n_batches: int) -> np.ndarray:
    return np.arange(1, n_iter + 1) / n_batches


def _layer_mean(x: np.ndarray, layers: list[int] | None = None) -> np.ndarray:
    """Mean over the layer axis (the last) of a record, NaN where no layer has a value."""
    x = np.asarray(x, dtype=float)
    if layers is not None:
        x = x[..., layers]
    return ma.mean_over_iterations(np.moveaxis(x, -1, 0))


def _accuracy_panel(ax: Any, runs: Mapping[str, Mapping[str, np.ndarray]],
                    colours: Mapping[str, str]) -> None:
    for label, res in runs.items():
        acc = 100.0 * np.asarray(res["test_acc"], dtype=float)
        plotting.trace_band(ax, acc, label, color=colours[label], x=np.arange(len(acc)))
    ax.axhline(ma.THRESHOLDS["learned_accuracy"], color="0.5", ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)


def _pm(x: np.ndarray, unit: str = "°") -> str:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not x.size:
        return "undefined"
    sd = f" ± {np.std(x, ddof=1):.1f}{unit}" if x.size > 1 else ""
    return f"{np.mean(x):.1f}{unit}{sd} (mean ± SD, n = {x.size})"


def _paired_text(t: stats.TTest) -> str:
    return f"{t.mean:+.1f}° (99% CI [{t.ci99[0]:.1f}°, {t.ci99[1]:.1f}°])"


def _wn_lowers(t: stats.TTest, what: str) -> str:
    """How WN moves ``what`` (an angle), from the paired difference no WN minus WN."""
    lo, hi = t.ci99
    return (f"WN {'lowers' if t.mean >= 0 else 'raises'} {what} by {abs(t.mean):.1f}° "
            f"(no WN minus WN: 99% CI [{lo:.1f}°, {hi:.1f}°])")


def _size_text(cfg: TrainConfig, eta: float, extra: str = "") -> str:
    images = cfg.n_batches * cfg.batch_size
    return (f"{cfg.reps} repetitions of the {'-'.join(map(str, cfg.sizes))} net, "
            f"{images:,} training images ({cfg.n_batches} mini-batches of {cfg.batch_size}), "
            f"{cfg.epochs} epochs{extra}, $\\eta$ = {eta:g} per batch of 1000 "
            f"({cfg.rule.eta:g} per batch of {cfg.batch_size}), test accuracy on the first "
            f"{cfg.n_test:,} test images")


# --------------------------------------------------------------------------- MNIST alignment


def try_mnist_alignment(
    rule: str = "fa",
    wn: bool = True,
    eta: float | None = None,
    *,
    size: int = 3,
    seed: int = 0,
) -> TryResult:
    """Test accuracy and alignment angles of the MNIST chapter's network (Sec. 2.5, Fig. 6).

    The chapter's five-layer network (225-50-50-50-50-50, ``tanh(ReLU)``, 5-hot codes,
    no biases, float32) learns by FA or BP without WN and, with ``wn``, also with
    neuron-wise WN (gamma = 1, ``B`` normalised at the start: the chapter's ``fa_wn``
    and ``bp_wn``) from the same weights and batches (a paired comparison), on
    :data:`SUBSET`.

    Parameters
    ----------
    rule : {"fa", "bp"}
    wn : bool
        Also train with WN.
    eta : float, optional
        Learning rate per batch of 1000, one of :data:`ETAS`; default the chapter's
        (FA 0.0005, BP 0.0004, the authors' code).
    size : int
        Repetitions (3 by default; 2-8).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``acc`` (final test accuracy, %), ``w_bt`` (last-epoch
        ``W_l ∠ B_l^T``, mean over ``l = 1..4``) and for FA ``dw_bp`` (last-epoch
        ``dW_l ∠ dW_l,BP``, mean over ``l = 0..3``); with ``wn`` the same with the suffix
        ``_wn``.
    """
    rule = choice("rule", rule, ("fa", "bp"))
    wn = _flag("wn", wn)
    if eta is not None:
        eta = choice("eta", eta, ETAS)
    size = whole("size", size, 2, 8)
    seed = whole("seed", seed, 0)
    names = [rule] + ([f"{rule}_wn"] if wn else [])
    base = ma.fig6()
    cfgs = {}
    for n in names:
        cfg = base[n].replace(epochs=SUBSET["epochs"], record_final=False, record_terms=False,
                              n_traces=0)
        if eta is not None:
            cfg = cfg.replace(rule=cfg.rule.replace(eta=eta))
        cfgs[n] = _sized(cfg, size, seed, SUBSET)
    book_eta = base[rule].rule.eta if eta is None else eta
    runs = _train_all(cfgs)
    nb = SUBSET["n_batches"]
    labels = {n: ("BP" if rule == "bp" else "FA") + (" + WN" if n.endswith("_wn") else "")
              for n in names}
    colours = dict(zip(labels.values(), plotting.palette(2), strict=False))
    fig, axes = new_figure(2)
    _accuracy_panel(axes[0], {labels[n]: runs[n] for n in names}, colours)
    for n in names:
        res, c = runs[n], colours[labels[n]]
        x = _epochs_axis(res["w_bt"].shape[0], nb)
        plotting.trace_band(axes[1], _layer_mean(res["w_bt"]),
                            rf"{labels[n]}: $W_\ell\angle B_\ell^T$", color=c, x=x)
        if "dw_bp" in res:
            plotting.trace_band(axes[1], _layer_mean(res["dw_bp"], list(ma.LAYERS_FA)),
                                rf"{labels[n]}: $\Delta W_\ell\angle\Delta W_{{\ell,BP}}$",
                                color=c, x=x, linestyle="--")
    axes[1].axhline(90, color="0.5", ls=":", lw=1)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("angle, mean over layers (degrees)")
    axes[1].set_ylim(0, 120)
    axes[1].legend(fontsize=7)
    numbers: dict[str, float] = {}
    parts = []
    for n in names:
        res, suffix = runs[n], "_wn" if n.endswith("_wn") else ""
        acc = ma.final_accuracy(res)
        w_bt = ma.layer_mean(res, "w_bt", n_batches=nb)
        numbers[f"acc{suffix}"] = float(np.mean(acc))
        numbers[f"w_bt{suffix}"] = float(np.nanmean(w_bt))
        part = (f"{labels[n]} ends at {_pm(acc, '%')} test accuracy "
                f"({'above' if ma_verdicts.learns(acc) else 'not above'} the chapter's "
                f"{ma.THRESHOLDS['learned_accuracy']:g}% in every repetition), with "
                f"$W_\\ell\\angle B_\\ell^T$ {_pm(w_bt)}")
        if rule == "fa":
            dw = ma.layer_mean(res, "dw_bp", ma.LAYERS_FA, n_batches=nb)
            numbers[f"dw_bp{suffix}"] = float(np.nanmean(dw))
            part += f" and $\\Delta W_\\ell\\angle\\Delta W_{{\\ell,BP}}$ {_pm(dw)}"
        parts.append(part)
    verdict = "; ".join(parts) + " (last epoch, mean over the layers)."
    if rule == "fa":
        w_test = stats.ttest_1samp(ma.layer_mean(runs["fa"], "w_bt", n_batches=nb), 90.0)
        aligned = ma_verdicts.aligned(w_test)
        verdict += (f" Without WN $W_\\ell$ {'aligns' if aligned else 'does not align'} with "
                    f"$B_\\ell^T$ (criterion: the mean below 90° by more than "
                    f"{ma_verdicts.THRESHOLDS['aligned_sems']:g} SEM)")
        if wn:
            cmp = ma.compare(ma.layer_mean(runs["fa_wn"], "dw_bp", ma.LAYERS_FA, n_batches=nb),
                             ma.layer_mean(runs["fa"], "dw_bp", ma.LAYERS_FA, n_batches=nb))
            verdict += (f"; WN changes the update angle to BP by {_paired_text(cmp.diff)} "
                        "(WN minus no WN). The "
                        "paper: WN improves the update directions; the chapter's criterion, "
                        "a smaller angle with WN in every repetition, "
                        f"{'holds' if cmp.a_below_b_always else 'does not hold'} here.")
        else:
            verdict += (". The paper: FA's forward weights come into alignment with the "
                        "feedback and its updates with BP's; switch WN on for the chapter's "
                        "comparison.")
    else:
        verdict += (" BP does not read $B$, so nothing aligns it with $W^T$ (the angle stays "
                    "near 90°): the paper's reference, whose accuracy FA approaches "
                    f"(criterion: above {ma.THRESHOLDS['learned_accuracy']:g}%).")
    return TryResult(fig, numbers, verdict, _size_text(cfgs[rule], book_eta))


# --------------------------------------------------------------------------- flexibility


def try_flexibility(
    gamma: float = 0.6,
    label_smoothing: bool = False,
    rule: str = "fa",
    *,
    size: int = 3,
    seed: int = 0,
) -> TryResult:
    """The flexibility protocol (Sec. 2.6, Fig. 8): new codes halfway, without and with WN.

    The chapter's runs (:func:`fa_lib.experiments.flexibility.run_config`): the network
    learns MNIST with 5-hot codes for ``P`` epochs, then every repetition draws new codes
    and learns them for ``P`` more; once without WN and once with WN of ``gamma`` (``B``
    as drawn, the authors' Fig. 8 code), from the same weights and batches, on
    :data:`FLEX_SUBSET` at :data:`FLEX_ETA`. The measure is the chapter's: the loss
    after the change, a run's phase-1 minus its phase-2 accuracy
    (:func:`fa_lib.experiments.feedback_rules.flexibility_outcome`).

    Parameters
    ----------
    gamma : float
        WN gamma, in [0.1, 3].
    label_smoothing : bool
        Train both runs on the smoothed targets of the authors' code (zeros -> 0.05).
    rule : {"fa", "bp"}
    size : int
        Repetitions (3 by default; 2-8).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``loss`` and ``loss_wn`` (points of test accuracy lost after the
        change), ``before``, ``before_wn``, ``after``, ``after_wn`` (%), ``saturated`` and
        ``saturated_wn`` (fraction of last-layer entries silent or saturated at the change,
        Fig. 8B).
    """
    if isinstance(gamma, bool) or not isinstance(gamma, int | float | np.number) \
            or not 0.1 <= float(gamma) <= 3.0:
        raise ValueError(f"gamma must be a number in [0.1, 3]; got {gamma!r}.")
    gamma = float(gamma)
    label_smoothing = _flag("label_smoothing", label_smoothing)
    rule = choice("rule", rule, fx.METHODS)
    size = whole("size", size, 2, 8)
    seed = whole("seed", seed, 0)
    p, last = FLEX_SUBSET["phase_epochs"], FLEX_SUBSET["last"]
    ls = fx.LS_CODE if label_smoothing else None
    cfgs = {}
    for key, g in (("plain", None), ("wn", gamma)):
        cfg = fx.run_config(rule, FLEX_ETA, g, label_smoothing=ls)
        cfg = cfg.replace(epochs=2 * p, relabel_epoch=p, snapshot_epoch=p,
                          rule=cfg.rule.replace(eta=FLEX_ETA))
        cfgs[key] = _sized(cfg, size, seed, FLEX_SUBSET)
    runs = _train_all(cfgs)
    out = fr.flexibility_outcome(runs["plain"], runs["wn"], last)
    states = {k: fx.unit_states(r["z_snapshot"])["either"] if np.all(
        np.isfinite(r["z_snapshot"])) else np.full(size, np.nan) for k, r in runs.items()}
    name = rule.upper()
    labels = {"plain": name, "wn": f"{name} + WN ($\\gamma$ = {gamma:g})"}
    fig, (ax,) = new_figure()
    for (k, res), c in zip(runs.items(), plotting.palette(2), strict=True):
        epochs, acc = fx.accuracy_curve(res)
        plotting.trace_band(ax, acc, labels[k], color=c, x=epochs)
    ax.axvline(p, color="0.5", ls=":", lw=1)
    ax.set_xlabel("epoch (new codes after the dotted line)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("label smoothing " + ("on" if label_smoothing else "off"), fontsize=10)
    th = fr.THRESHOLDS
    says = {
        "supported": "the chapter's claim holds here",
        "rejected": "the chapter's claim does not hold here",
        "no loss to restore": ("there is no loss to restore: without WN the network "
                               "relearns the new codes at this size"),
        "does not learn phase 1": ("a run did not learn the first codes (above "
                                   f"{th['learns']:g}%), so its loss means nothing"),
    }[out["verdict"]]
    verdict = (
        f"Phase 1 ends at {out['before']:.1f}% without WN and {out['before_wn']:.1f}% with WN; "
        f"after the change of codes {name} loses {out['loss']:.1f} points without WN and "
        f"{out['loss_wn']:.1f} with WN (paired difference "
        f"{out['paired'].mean:+.1f} points, 99% CI [{out['paired'].ci99[0]:.1f}, "
        f"{out['paired'].ci99[1]:.1f}]); at the change {np.nanmean(states['plain']):.0%} of the "
        f"last layer's entries are silent or saturated without WN, "
        f"{np.nanmean(states['wn']):.0%} with WN. The paper: without WN the network stays "
        "below its first accuracy after the codes change, and WN restores learning; the "
        f"chapter's criterion (a loss above {th['drop']:g} points without WN, below "
        f"{th['restored']:g} and below {th['restored_ratio']:g} of it with WN, both runs "
        f"learning the first codes): {says}."
    )
    numbers = {"loss": out["loss"], "loss_wn": out["loss_wn"], "before": out["before"],
               "before_wn": out["before_wn"], "after": out["after"],
               "after_wn": out["after_wn"],
               "saturated": float(np.nanmean(states["plain"])),
               "saturated_wn": float(np.nanmean(states["wn"]))}
    cfg = cfgs["plain"]
    return TryResult(fig, numbers, verdict, _size_text(
        cfg, FLEX_ETA, f" ({p} per phase; a phase's accuracy the mean of its last {last})"))


# --------------------------------------------------------------------------- feedback rules


def try_feedback_rules(
    rule: str = "kp",
    wn: bool = True,
    *,
    size: int = 3,
    seed: int = 0,
) -> TryResult:
    """One feedback rule of the chapter without WN and with WN (gamma = 1, ``B`` as drawn).

    The feedback-rules chapter's accuracy runs (the MNIST chapter's network, each pathway
    with the chapter's parameters, :func:`fa_lib.experiments.feedback_rules.pathway`),
    without WN and, with ``wn``, with neuron-wise WN (the chapter's ``wn`` variant), from
    the same weights and batches, on :data:`SUBSET`. The rate is the book's for FA and
    BP (0.0005, 0.0004) and FA's for the others (the chapter tunes one per rule on a
    validation split, too long for an answer).

    Parameters
    ----------
    rule : str
        One of :data:`fa_lib.experiments.feedback_rules.RULES`: ``"bp"``, ``"fa"``,
        ``"dfa"``, ``"usf"``, ``"frsf"``, ``"brsf"`` (sign-symmetric), ``"kp"``
        (Kolen-Pollack), ``"wm"`` (weight mirror).
    wn : bool
        Also train with WN.
    size : int
        Repetitions (3 by default; 2-8).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``acc`` (final test accuracy, %), ``dw0`` (last-epoch
        ``dW_0 ∠ dW_0,BP``, the first hidden layer's update angle; 0 for BP) and, but for
        DFA, ``w_bt`` (last-epoch ``W_l ∠ B_l^T``, mean over the layers); with ``wn`` the
        same with the suffix ``_wn``.
    """
    rule = choice("rule", rule, fr.RULES)
    wn = _flag("wn", wn)
    size = whole("size", size, 2, 8)
    seed = whole("seed", seed, 0)
    eta = fr.BOOK_ETA.get(rule, fr.BOOK_ETA["fa"])
    variants = ["none"] + (["wn"] if wn else [])
    cfgs = {}
    for v in variants:
        r = Rule(fr.pathway(rule), eta=eta, wn_gamma=None if v == "none" else fr.GAMMA)
        cfg = TrainConfig(rule=r, epochs=SUBSET["epochs"], record_bp=rule != "bp")
        cfgs[v] = _sized(cfg, size, seed, SUBSET)
    runs = _train_all(cfgs)
    nb = SUBSET["n_batches"]
    name = fr.LABELS[rule]
    labels = {v: name + ("" if v == "none" else " + WN") for v in variants}
    colours = dict(zip(labels.values(), plotting.palette(2), strict=False))
    fig, axes = new_figure(2)
    _accuracy_panel(axes[0], {labels[v]: runs[v] for v in variants}, colours)
    numbers: dict[str, float] = {}
    parts = []
    for v in variants:
        res, c, suffix = runs[v], colours[labels[v]], "" if v == "none" else "_wn"
        x = _epochs_axis(res["w_bt"].shape[0], nb)
        if "dw_bp" in res:
            plotting.trace_band(axes[1], res["dw_bp"][:, :, 0],
                                rf"{labels[v]}: $\Delta W_0\angle\Delta W_{{0,BP}}$",
                                color=c, x=x, linestyle="--")
        if np.any(np.isfinite(res["w_bt"])):
            plotting.trace_band(axes[1], _layer_mean(res["w_bt"]),
                                rf"{labels[v]}: $W_\ell\angle B_\ell^T$", color=c, x=x)
        acc = fr.final_accuracy(res)
        dw0 = fr.update_angles(res, rule)[:, 0]
        numbers[f"acc{suffix}"] = float(np.mean(acc))
        numbers[f"dw0{suffix}"] = float(np.nanmean(dw0)) if np.any(np.isfinite(dw0)) \
            else float("nan")
        part = (f"{labels[v]} ends at {_pm(acc, '%')} test accuracy, "
                f"$\\Delta W_0\\angle\\Delta W_{{0,BP}}$ {_pm(dw0)}")
        if rule != "dfa":
            fb = np.nanmean(fr.feedback_angles(res), axis=-1)
            numbers[f"w_bt{suffix}"] = float(np.nanmean(fb))
            part += f", $W_\\ell\\angle B_\\ell^T$ {_pm(fb)}"
        parts.append(part)
    axes[1].axhline(90, color="0.5", ls=":", lw=1)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("angle (degrees)")
    axes[1].set_ylim(0, 120)
    axes[1].legend(fontsize=7)
    th = fr.THRESHOLDS
    verdict = "; ".join(parts) + " (last epoch)."
    if wn and rule != "bp":
        a = fr.update_angles(runs["none"], rule)[:, 0]
        b = fr.update_angles(runs["wn"], rule)[:, 0]
        t = stats.paired(a, b, finite_only=True) if np.sum(np.isfinite(a - b)) > 1 else None
        if t is None:
            verdict += " The update angle is undefined in too many networks to compare."
        else:
            decided = stats.beyond(t, th["angle_gain"])
            change = _wn_lowers(t, "the first hidden layer's update angle to BP")
            verdict += (f" {change}: the chapter's hypothesis "
                        f"(by more than {th['angle_gain']:g}°; criterion: the 99% CI of the paired "
                        f"difference beyond it) is {decided} here.")
    elif rule == "bp":
        verdict += (" BP is the reference: its update angle to BP is 0 by definition and it "
                    "does not read $B$; the paper's claim concerns FA, whose update "
                    "directions WN improves.")
    else:
        verdict += (" The paper's claim is that WN improves FA's update directions; switch "
                    "WN on to test the chapter's hypothesis for this rule.")
    if rule in ("kp", "wm"):
        key = fr.LITERATURE[rule][0]
        fb = fr.feedback_angles(runs["none"])
        ok = bool(np.all(np.nanmean(fb, axis=0) < th[f"{rule}_aligned"]))
        verdict += (f" The literature {{cite:p}}`{key}`: {fr.LABELS[rule]} brings the feedback "
                    "weights into alignment with $W^T$; criterion: the final "
                    f"$W_\\ell\\angle B_\\ell^T$ (no WN) below {th[f'{rule}_aligned']:g}° in "
                    f"every layer, which {'holds' if ok else 'does not hold'} after "
                    f"{SUBSET['epochs']} epochs.")
    return TryResult(fig, numbers, verdict, _size_text(cfgs["none"], eta))


# --------------------------------------------------------------------------- deep networks


def try_deep_networks(
    hidden: int = 4,
    wn: bool = True,
    *,
    size: int = 3,
    seed: int = 0,
) -> TryResult:
    """FA with ``hidden`` hidden layers of 50, without WN and with WN (gamma = 1, ``B`` normalised).

    The deep-networks chapter's FA runs (:func:`fa_lib.experiments.deep_networks.config_of`,
    its rules ``fa`` and ``fa_wn``) at another depth, from the same weights and batches,
    on :data:`SUBSET`, recording the update angle to BP in every layer and the angle of
    the backward products (eqs. 10-11) with its prediction from the factors
    (:func:`~fa_lib.experiments.deep_networks.predicted_products`).

    Parameters
    ----------
    hidden : int
        Hidden layers, 1-8.
    wn : bool
        Also train with WN.
    size : int
        Repetitions (3 by default; 2-8).
    seed : int

    Returns
    -------
    TryResult
        ``numbers``: ``acc`` (final test accuracy, %), ``dw0`` and ``dw_last``
        (last-epoch update angle to BP of the first and of the last hidden layer) and
        ``product_error`` (last-epoch measured minus predicted angle of the longest
        backward product, ``B_{d-1}...B_1``; NaN with one hidden layer, whose product is
        one factor); with ``wn`` the same with the suffix ``_wn``.
    """
    hidden = whole("hidden", hidden, 1, MAX_HIDDEN)
    wn = _flag("wn", wn)
    size = whole("size", size, 2, 8)
    seed = whole("seed", seed, 0)
    rules = ["fa"] + (["fa_wn"] if wn else [])
    shallow = dn.config()["hidden"][0]
    cfgs = {r: _sized(dn.config_of(dn.run_name(r, shallow)).replace(
        depth=hidden + 1, epochs=SUBSET["epochs"]), size, seed, SUBSET) for r in rules}
    runs = _train_all(cfgs)
    nb = SUBSET["n_batches"]
    colours = dict(zip(rules, plotting.palette(2), strict=False))
    fig, axes = new_figure(2)
    _accuracy_panel(axes[0], {dn.RULES[r]: runs[r] for r in rules},
                    {dn.RULES[r]: colours[r] for r in rules})
    numbers: dict[str, float] = {}
    dws = {}
    parts = []
    for r in rules:
        res, suffix = runs[r], "" if r == "fa" else "_wn"
        dw = ma.last_epoch_mean(res, "dw_bp", nb)[:, :hidden]  # hidden layers l = 0..d-2
        dws[r] = dw
        layers = np.arange(hidden)
        mean = np.nanmean(dw, axis=0)
        axes[1].errorbar(layers, mean, yerr=stats.sem(dw) if size > 1 else None, marker="o",
                         color=colours[r], label=dn.RULES[r], capsize=3)
        acc = ma.final_accuracy(res)
        err = float("nan")
        if hidden > 1:
            measured = np.asarray(res["prod_bt"], dtype=float)[-nb:, :, 0]
            predicted = dn.predicted_products(np.asarray(res["w_bt"], dtype=float)[-nb:])[..., 0]
            err = float(np.nanmean(ma.mean_over_iterations(measured - predicted)))
        numbers.update({f"acc{suffix}": float(np.mean(acc)), f"dw0{suffix}": float(mean[0]),
                        f"dw_last{suffix}": float(mean[-1]), f"product_error{suffix}": err})
        parts.append(f"{dn.RULES[r]} ends at {_pm(acc, '%')} test accuracy, with an update "
                     f"angle to BP of {mean[0]:.1f}° in the first hidden layer and "
                     f"{mean[-1]:.1f}° in the last")
    axes[1].axhline(90, color="0.5", ls=":", lw=1)
    axes[1].set_xticks(np.arange(hidden))
    axes[1].set_xlabel(r"layer $\ell$ of $\Delta W_\ell$ (0: into the first hidden layer)")
    axes[1].set_ylabel(r"$\Delta W_\ell\angle\Delta W_{\ell,BP}$, last epoch (°)")
    axes[1].set_ylim(0, 120)
    axes[1].legend(fontsize=8)
    th = dn.THRESHOLDS
    verdict = "; ".join(parts) + "."
    if hidden > 1:
        verdict += (f" The longest backward product's angle is {numbers['product_error']:+.1f}° "
                    "from the depth chapter's prediction $\\arccos\\prod_k\\cos(B_k\\angle "
                    f"W_k^T)$ (the chapter's margin: ±{th['prediction']:g}°).")
    if wn:
        t = stats.paired(dws["fa"][:, 0], dws["fa_wn"][:, 0], finite_only=True) \
            if np.sum(np.isfinite(dws["fa"][:, 0] - dws["fa_wn"][:, 0])) > 1 else None
        decided = "undecided" if t is None else stats.beyond(t, th["angle_gain"])
        verdict += (" " + ("The change WN makes to the first hidden layer's update angle is "
                           "undefined" if t is None
                           else _wn_lowers(t, "the first hidden layer's update angle"))
                    + f": the chapter's hypothesis (by more than {th['angle_gain']:g}° at "
                    "every depth; criterion: the 99% CI of the paired difference beyond it) "
                    f"is {decided} at {hidden} hidden layer{'s' if hidden > 1 else ''} here.")
    else:
        verdict += (" The chapter's hypotheses: the update angle grows from the last hidden "
                    f"layer to the first (by more than {th['layer_rise']:g}° in the deepest "
                    "network) and WN lowers the first one at every depth; switch WN on to "
                    "compare.")
    return TryResult(fig, numbers, verdict, _size_text(cfgs["fa"], cfgs["fa"].rule.eta
                                                      * cfgs["fa"].batch_size / fx.PAPER_BATCH))


# --------------------------------------------------------------------------- the controls


KNOBS: Mapping[str, tuple[Callable[..., TryResult], tuple[Knob, ...]]] = {
    "mnist_alignment": (try_mnist_alignment, (
        Knob("rule", "rule", "fa", options=[("FA", "fa"), ("BP", "bp")]),
        Knob("wn", "also with WN", True, options=_OFF_ON),
        Knob("eta", "η (batch 1000)", ma.FA_ETA, options=list(ETAS)),
    )),
    "flexibility": (try_flexibility, (
        Knob("gamma", "WN γ", 0.6, low=0.25, high=2.5, step=0.05),
        Knob("label_smoothing", "label smoothing", False, options=_OFF_ON),
        Knob("rule", "rule", "fa", options=[("FA", "fa"), ("BP", "bp")]),
    )),
    "feedback_rules": (try_feedback_rules, (
        Knob("rule", "rule", "kp", options=[(fr.LABELS[r], r) for r in fr.RULES]),
        Knob("wn", "also with WN", True, options=_OFF_ON),
    )),
    "deep_networks": (try_deep_networks, (
        Knob("hidden", "hidden layers", 4, low=1, high=MAX_HIDDEN, step=1),
        Knob("wn", "also with WN", True, options=_OFF_ON),
    )),
}
"""Chapter -> its function and its controls, in order (read by :func:`fa_lib.try_it.show`
and :func:`fa_lib.try_it.answer`). The MNIST chapter's ``eta`` control starts at FA's
rate, the function's default for FA. ``fa_lib.try_it.answer(chapter)`` for every key is
the default answer of a chapter (what a benchmark times)."""
