"""Chapter "MNIST alignment" (Sec. 2.5, Figs. 6, 7 and S2; Supp. Note 4).

Every run of the chapter is one :class:`fa_lib.training.TrainConfig`, listed
here once, at the paper's scale and at the quick scale; :func:`results` runs it
through the results cache. The summaries (final angles, final accuracies) are
computed here too, so the chapter only draws; its claims are checked in
:mod:`fa_lib.verdicts.mnist_alignment`.

Settings (see the chapter's "Paper vs this book" box): the authors' learning
rates (FA 0.0005, BP 0.0004) are the primary setting, the text's eta = 0.005 a
variant; weights and B iid N(0, 0.1^2); no biases; float32 as in the authors'
code; the 60 mini-batches of 1000 in the original MNIST order every epoch.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fa_lib import stats, training
from fa_lib.config import pick, scale, scale_context
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

CHAPTER = "mnist_alignment"

FA_ETA = 0.0005
"""Learning rate of FA in the authors' code for Figs. 6-7 (the text says 0.005)."""
BP_ETA = 0.0004
"""Learning rate of BP: the authors' code uses 0.0004 (REPRODUCTION.md: 0.0003-0.0004)."""
TEXT_ETA = 0.005
"""The learning rate of the text (Methods 4.3), run as a variant."""
LAYER_NORM = 7.07
"""Layer-wise normalisation constant (sqrt(50): the norm of 50 unit columns)."""

PAPER = {"reps": 10, "epochs": 100, "n_batches": 60, "n_test": None,
         "terms_every": 5, "n_traces": 4, "early": 250, "late_epochs": 10, "fig7_epochs": None,
         "s2_reps": 5, "long_effects": True,
         "gammas": (0.25, 0.5, 1.0, 2.0), "etas": (0.0001, 0.0003, 0.0005, 0.001, 0.005),
         "widths": (25, 50, 100)}
QUICK = {"reps": 3, "epochs": 15, "n_batches": 10, "n_test": 2000,
         "terms_every": 5, "n_traces": 4, "early": 250, "late_epochs": 10, "fig7_epochs": 80,
         "s2_reps": 2, "long_effects": False,
         "gammas": (0.25, 1.0), "etas": (0.0005, 0.005), "widths": (50, 100)}


def config() -> dict:
    """Return the sizes of this chapter at the current scale (:func:`fa_lib.config.scale`).

    Fig. 7 checks the terms over iterations ``k < early`` (the paper's 250) and over the
    last ``late_epochs`` epochs; at paper scale its runs are the baseline and WN runs of
    Fig. 6, at quick scale two separate runs of ``fig7_epochs`` epochs (the terms need a
    few hundred iterations to show their late behaviour, more than the other quick runs).
    Fig. S2 sweeps ``gammas`` (WN, B normalised), ``etas`` (with and without WN) and
    ``widths`` (with and without WN, n-hot codes with n = width // 10); every other
    setting is the baseline's. ``long_effects``: whether the checks of effects that need
    the paper's training length (thousands of iterations) are asserted; at quick scale
    they are recorded only.
    """
    return dict(pick(PAPER, QUICK))


THRESHOLDS = {
    "learned_accuracy": 50.0,  # % final test accuracy: below, a run "does not learn" (chance 10)
    "collapse": 5.0,  # percentage points below a repetition's best earlier test accuracy
}
"""The margins that computations use: :func:`collapses`, and the chapters feedback_rules and
deep_networks (whether a run learns). The other margins of the chapter's claims are
beside them, in :mod:`fa_lib.verdicts.mnist_alignment`."""


def _base(s2: bool = False, *, method: str = "fa", eta: float = FA_ETA,
          wn_gamma: float | None = None, normalise_b: bool | None = None,
          layer_norm: float | None = None, match_b: bool = False, **changes) -> TrainConfig:
    """Return a run of the chapter: the current scale's settings and a rule.

    With WN, ``B`` is normalised (Methods 4.4) unless ``normalise_b=False``.
    """
    sizes = config()
    reps = sizes["s2_reps"] if s2 else sizes["reps"]
    settings = {"reps": reps, "epochs": sizes["epochs"], "n_batches": sizes["n_batches"],
                "n_test": sizes["n_test"]}
    if normalise_b is None:
        normalise_b = wn_gamma is not None
    rule = Rule(method, eta=eta, wn_gamma=wn_gamma, normalise_b=normalise_b,
                layer_norm=layer_norm, match_b=match_b)
    return TrainConfig(**{**settings, "rule": rule, **changes})


def _fig6(sizes: Mapping) -> dict[str, TrainConfig]:
    terms = {"record_terms": True, "terms_every": sizes["terms_every"],
             "n_traces": sizes["n_traces"]}
    fig6_terms = terms if sizes["fig7_epochs"] is None else {}
    return {
        # Fig. 6C, D (and 7C): baseline FA; FA with B-norm matching.
        # (final weights: the read-out of the feedback-rules chapter, which shares these runs)
        "fa": _base(record_bp=True, record_final=True, **fig6_terms),
        "fa_match_b": _base(match_b=True, record_bp=True),
        # Fig. 6A, B (and 7D): neuron-wise WN gamma = 1 (B normalised / as drawn); layer-wise.
        "fa_wn": _base(wn_gamma=1.0, record_bp=True, record_final=True, **fig6_terms),
        "fa_wn_b_as_drawn": _base(wn_gamma=1.0, normalise_b=False, record_bp=True,
                                  record_final=True),
        "fa_layer_norm": _base(layer_norm=LAYER_NORM, record_bp=True),
        # Fig. 6E, F: width 100 (10-hot codes).
        "fa_w100": _base(width=100, record_bp=True),
        "fa_w100_wn": _base(width=100, wn_gamma=1.0, record_bp=True),
        "fa_w100_wn_b_as_drawn": _base(width=100, wn_gamma=1.0, normalise_b=False,
                                       record_bp=True),
        # Fig. 6H: BP with and without WN.
        "bp": _base(method="bp", eta=BP_ETA, record_final=True),
        "bp_wn": _base(method="bp", eta=BP_ETA, wn_gamma=1.0, record_final=True),
        # The text's learning rate.
        "fa_eta_text": _base(eta=TEXT_ETA, record_bp=True),
    }


def _fig7(sizes: Mapping) -> tuple[dict[str, str], dict[str, TrainConfig]]:
    if sizes["fig7_epochs"] is None:
        return {"fa": "fa", "fa_wn": "fa_wn"}, {}
    terms = {"record_terms": True, "terms_every": sizes["terms_every"],
             "n_traces": sizes["n_traces"]}
    return ({"fa": "fig7_fa", "fa_wn": "fig7_fa_wn"},
            {"fig7_fa": _base(epochs=sizes["fig7_epochs"], **terms),
             "fig7_fa_wn": _base(epochs=sizes["fig7_epochs"], wn_gamma=1.0, **terms)})


def _s2_grid(sizes: Mapping) -> tuple[dict[str, TrainConfig], dict[tuple[str, float, bool], str]]:
    """List the runs of Fig. S2, reusing the Fig. 6 runs where a grid point is one of them."""
    runs: dict[str, TrainConfig] = {}
    grid: dict[tuple[str, float, bool], str] = {}
    shared = {("eta", FA_ETA, False): "fa", ("eta", FA_ETA, True): "fa_wn",
              ("eta", TEXT_ETA, False): "fa_eta_text", ("gamma", 1.0, True): "fa_wn",
              ("width", 50, False): "fa", ("width", 50, True): "fa_wn",
              ("width", 100, False): "fa_w100", ("width", 100, True): "fa_w100_wn"}
    points = [("gamma", g, True) for g in sizes["gammas"]]
    points += [("eta", e, wn) for e in sizes["etas"] for wn in (False, True)]
    points += [("width", w, wn) for w in sizes["widths"] for wn in (False, True)]
    for sweep, value, wn in points:
        if (sweep, value, wn) in shared:
            grid[(sweep, value, wn)] = shared[(sweep, value, wn)]
            continue
        name = f"s2_{sweep}_{value:g}" + ("_wn" if wn else "")
        gamma = value if sweep == "gamma" else (1.0 if wn else None)
        changes = {"eta": value} if sweep == "eta" else {"width": value} if sweep == "width" else {}
        runs[name] = _base(s2=True, wn_gamma=gamma, record_bp=True, **changes)
        grid[(sweep, value, wn)] = name
    return runs, grid


@functools.cache
def _runs(at: str) -> dict[str, Mapping]:
    """The run lists of the chapter at scale ``at``, built once per scale."""
    with scale_context(at):
        sizes = config()
        fig6 = _fig6(sizes)
        fig7_runs, fig7 = _fig7(sizes)
        s2, s2_grid = _s2_grid(sizes)
    configs = {**fig6, **fig7, **s2}
    return {"fig6": fig6, "fig7": fig7, "fig7_runs": fig7_runs, "s2": s2, "s2_grid": s2_grid,
            "configs": configs,
            "diverging_ok": frozenset(n for n, c in configs.items() if c.rule.eta > FA_ETA)}


def fig6() -> dict[str, TrainConfig]:
    """The runs of Figs. 6 and 7 at the current scale.

    10 repetitions x 100 epochs at paper scale.
    """
    return dict(_runs(scale())["fig6"])


def fig7_runs() -> dict[str, str]:
    """Fig. 7 at the current scale: the runs recording the terms without and with WN.

    ``"fa"``, ``"fa_wn"`` -> run name: Fig. 6's at paper scale, those of :func:`fig7` at
    quick scale.
    """
    return dict(_runs(scale())["fig7_runs"])


def fig7() -> dict[str, TrainConfig]:
    """The extra runs of Fig. 7 at the current scale (none at paper scale)."""
    return dict(_runs(scale())["fig7"])


def s2() -> dict[str, TrainConfig]:
    """Fig. S2: the extra runs (fewer repetitions) at the current scale."""
    return dict(_runs(scale())["s2"])


def s2_grid() -> dict[tuple[str, float, bool], str]:
    """Fig. S2 at the current scale: the run of every grid point.

    Grid point ``(sweep, value, with WN)`` -> run name; points that coincide with a Fig. 6
    run use it.
    """
    return dict(_runs(scale())["s2_grid"])


def configs() -> dict[str, TrainConfig]:
    """Every run of the chapter at the current scale: :func:`fig6`, :func:`fig7`, :func:`s2`."""
    return dict(_runs(scale())["configs"])


def diverging_ok() -> frozenset[str]:
    """Runs above the authors' eta: a divergence is recorded (``diverged_at``), not raised."""
    return _runs(scale())["diverging_ok"]


PAPER_ORDER = (
    "fa", "fa_wn", "fa_match_b", "fa_layer_norm", "fa_wn_b_as_drawn", "bp", "bp_wn",
    "fa_eta_text", "fa_w100", "fa_w100_wn",
)
"""The order of the background paper-scale run: Fig. 6 and 7 first, then Fig. S2."""


def names() -> list[str]:
    """All run names at the current scale.

    In the order of :data:`PAPER_ORDER` and then the rest.
    """
    return [*PAPER_ORDER, *[n for n in configs() if n not in PAPER_ORDER]]


def results(name: str, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Return the arrays recorded by run ``name`` of :func:`configs` (cached, or trained now).

    Only the runs of :func:`diverging_ok` record a divergence instead of raising it;
    ``progress`` shows a bar (default: when interactive).
    """
    return training.named_run(CHAPTER, configs(), name,
                              stop_on_divergence=name in diverging_ok(), progress=progress)


def experiments() -> dict[str, Callable[..., dict[str, np.ndarray]]]:
    """The chapter's cached experiments at the current scale, in the order of :func:`names`.

    Run name -> the notebook's call ``results(name)`` (``progress`` shows a bar).
    """
    # results is looked up when called, so that a wrapper of it (a test's recorder) is used
    return {name: (lambda progress=False, name=name: results(name, progress=progress))
            for name in names()}


KINDS: dict[str, str] = training.KINDS
"""The kind of the numbers of every array of the chapter's cache entries (training runs,
:data:`fa_lib.training.KINDS`), which sets how :mod:`fa_lib.record` compares them."""


def last_epoch_mean(res: Mapping[str, np.ndarray], key: str, n_batches: int | None = None
                    ) -> np.ndarray:
    """Per repetition (and layer), the mean of a recorded trace over the last epoch.

    Parameters
    ----------
    res : mapping
        Results of one run.
    key : str
        A per-iteration record (``n_iter x R [x layers]``), e.g. ``"dw_bp"``.
    n_batches : int, optional
        Iterations per epoch (default: the current scale's).

    Returns
    -------
    ndarray, shape (R[, layers])
        NaN where the last epoch holds no value (e.g. a diverged run).
    """
    n = config()["n_batches"] if n_batches is None else int(n_batches)
    return mean_over_iterations(np.asarray(res[key], dtype=float)[-n:])


def mean_over_iterations(x: np.ndarray) -> np.ndarray:
    """Mean over the first axis ignoring NaN; NaN (without a warning) where all are NaN."""
    finite = np.isfinite(x)
    count = finite.sum(axis=0)
    total = np.where(finite, x, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def window_mean(res: Mapping[str, np.ndarray], key: str, start: int, stop: int) -> np.ndarray:
    """Per repetition (and layer), the NaN-ignoring mean of a trace over ``[start, stop)``."""
    x = np.asarray(res[key], dtype=float)[start:stop]
    if not np.any(np.isfinite(x)):
        raise ValueError(f"{key} holds no value in iterations [{start}, {stop}).")
    return mean_over_iterations(x)


def collapses(res: Mapping[str, np.ndarray], drop: float | None = None) -> tuple[int, int]:
    """Count the epochs whose test accuracy fell well below the best one before it.

    An epoch ``e >= 2`` of a repetition is a collapse when its test accuracy is more
    than ``drop`` percentage points (default ``THRESHOLDS["collapse"]``) below the
    best accuracy of that repetition at epochs ``1 .. e - 1``.

    Returns
    -------
    n_collapses, n_pairs : int
        Collapses, and the number of (repetition, epoch) pairs looked at.
    """
    drop = THRESHOLDS["collapse"] if drop is None else float(drop)
    acc = 100.0 * np.asarray(res["test_acc"])[1:]  # epochs 1..E
    if len(acc) < 2:
        return 0, 0
    best_before = np.maximum.accumulate(acc, axis=0)[:-1]
    return int(np.sum(acc[1:] < best_before - drop)), int(acc[1:].size)


def final_accuracy(res: Mapping[str, np.ndarray]) -> np.ndarray:
    """Test accuracy (%) after the last epoch, per repetition."""
    return 100.0 * np.asarray(res["test_acc"])[-1]


def summary_row(name: str, res: Mapping[str, np.ndarray]) -> dict:
    """Summarise one run: final test accuracy (mean, SD) and per-layer final angles."""
    cfg = configs()[name]
    acc = final_accuracy(res)
    rule = cfg.rule
    row = {"run": name, "method": rule.name.upper(), "width": cfg.width, "eta": rule.eta,
           "WN gamma": rule.wn_gamma, "B normalised": rule.normalise_b if rule.wn_gamma else None,
           "n": len(acc), "accuracy mean (%)": float(np.mean(acc)),
           "accuracy SD (%)": stats.sample_sd(acc),
           "diverged at": int(res["diverged_at"])}
    if "dw_bp" in res:
        ang = last_epoch_mean(res, "dw_bp")
        for ell in range(cfg.depth - 1):
            row[f"dW{ell} FA∠BP"] = float(np.nanmean(ang[:, ell]))
    ang = last_epoch_mean(res, "w_bt")
    for ell in range(1, cfg.depth):
        row[f"W{ell}∠B{ell}ᵀ"] = float(np.nanmean(ang[:, ell - 1]))
    return row


LAYERS_FA = (0, 1, 2, 3)
"""Layers whose FA direction differs from BP (the last layer's is the same)."""


def layer_mean(res: Mapping[str, np.ndarray], key: str, layers: tuple[int, ...] | None = None,
               n_batches: int | None = None) -> np.ndarray:
    """Per repetition, the last-epoch mean of a per-layer record, averaged over ``layers``.

    ``layers`` index the record's layer axis (``dw_bp``: ``l = 0..d-1``; ``w_bt``,
    ``dw_bt`` and the terms: ``l = 1..d-1`` at index ``l - 1``); default: all.
    """
    per = last_epoch_mean(res, key, n_batches)
    cols = list(range(per.shape[-1])) if layers is None else list(layers)
    return per[:, cols].mean(axis=-1)


@dataclass(frozen=True)
class Comparison:
    """Two runs compared repetition by repetition (same seeds, so paired).

    Attributes
    ----------
    a, b : ndarray
        The per-repetition values of the two runs (the first ``n`` of each).
    diff : TTest
        One-sample t-test of ``a - b``.
    """

    a: np.ndarray
    b: np.ndarray
    diff: stats.TTest

    @property
    def a_below_b_always(self) -> bool:
        """``a < b`` in every repetition."""
        return bool(np.all(self.a < self.b))

    @property
    def a_above_b_always(self) -> bool:
        """``a > b`` in every repetition."""
        return bool(np.all(self.a > self.b))

    def text(self, label_a: str, label_b: str, unit: str = "°") -> str:
        """Describe the comparison: means, SDs, n, the paired difference with t, p and 99% CI."""
        d = self.diff
        return (f"{label_a} {np.mean(self.a):.2f} ± {np.std(self.a, ddof=1):.2f}{unit} vs "
                f"{label_b} {np.mean(self.b):.2f} ± {np.std(self.b, ddof=1):.2f}{unit} "
                f"(mean ± SD, n = {d.n}); paired difference {d.mean:.2f}{unit}, t = {d.t:.2f}, "
                f"p = {d.p:.2g}, 99% CI [{d.ci99[0]:.2f}, {d.ci99[1]:.2f}]; "
                f"{label_a} < {label_b} in {int(np.sum(self.a < self.b))} of {d.n} repetitions")


def compare(a: np.ndarray, b: np.ndarray) -> Comparison:
    """Pair two runs' per-repetition values (repetition ``r`` has the same seed in both)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = min(len(a), len(b))
    return Comparison(a[:n], b[:n], stats.paired(a[:n], b[:n]))


def window_test(res: Mapping[str, np.ndarray], key: str, start: int, stop: int,
                layers: tuple[int, ...] | None = None) -> stats.TTest:
    """One-sample t-test against 90° of the per-repetition mean angle over ``[start, stop)``.

    The mean is over the iterations of the window (NaN ignored) and over ``layers``
    (indices of the record's layer axis; default all).
    """
    per = window_mean(res, key, start, stop)
    cols = list(range(per.shape[-1])) if layers is None else list(layers)
    return stats.ttest_1samp(per[:, cols].mean(axis=-1), 90.0)


def correlograms(res: Mapping[str, np.ndarray], key: str, max_lag: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Mean normalised ACF (eq. 34) of the traced elements of ``L_l`` or ``delta_l`` (Fig. 7A, B).

    Each traced element's ACF over the whole run is divided by its value at lag 0
    (elements that stay zero are left out), then averaged over the traced elements
    and the repetitions.

    Parameters
    ----------
    res : mapping
        Results of a run with ``n_traces > 0``.
    key : {"trace_L", "trace_delta"}
    max_lag : int

    Returns
    -------
    lags : ndarray, shape (2 max_lag + 1,)
    values : ndarray, shape (d, 2 max_lag + 1)
        One correlogram per layer ``l = 1..d``.
    """
    traces = np.moveaxis(np.asarray(res[key], dtype=float), 0, -1)  # R x d x n_tr x n_iter
    lags, acf = stats.acf(traces, max_lag)
    zero = acf[..., max_lag]
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(zero[..., None] > 0, acf / zero[..., None], np.nan)
    return lags, np.nanmean(normalised, axis=(0, 2))


def periodic_peaks(lags: np.ndarray, values: np.ndarray, period: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Mean correlogram at the non-zero lags that are multiples of ``period``, and at the others.

    Returns
    -------
    at_multiples, elsewhere : ndarray, shape (d,)
    """
    lags = np.asarray(lags)
    multiple = (lags != 0) & (lags % period == 0)
    other = (lags != 0) & ~multiple
    if not np.any(multiple):
        raise ValueError(f"no non-zero lag is a multiple of {period}; use a larger max_lag.")
    return values[:, multiple].mean(axis=-1), values[:, other].mean(axis=-1)


def s2_summary(runs: Mapping[str, Mapping[str, np.ndarray]]) -> list[dict]:
    """One row per grid point of Fig. S2: final accuracy and alignment (mean, SD, n).

    ``runs`` maps run names (the values of :func:`s2_grid`) to their results.
    Alignment: last-epoch ``dW_l,FA ∠ dW_l,BP`` averaged over ``l = 0..3`` and
    ``W_l ∠ B_l^T`` averaged over ``l = 1..4``, per repetition.
    """
    rows = []
    for (sweep, value, wn), name in s2_grid().items():
        res = runs[name]
        acc = final_accuracy(res)
        dw = layer_mean(res, "dw_bp", LAYERS_FA)
        wb = layer_mean(res, "w_bt")
        # A diverged run has no finite angle: its row holds NaN, without a warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append({"sweep": sweep, "value": value, "WN": wn, "run": name, "n": len(acc),
                         "acc": np.mean(acc), "acc_sd": np.std(acc, ddof=1),
                         "dw_bp": np.nanmean(dw), "dw_bp_sd": np.nanstd(dw, ddof=1),
                         "w_bt": np.nanmean(wb), "w_bt_sd": np.nanstd(wb, ddof=1),
                         "diverged_at": int(res["diverged_at"])})
    return rows
