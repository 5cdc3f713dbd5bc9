"""Chapter "ACF and weight normalisation" (Sec. 2.3, Supplementary Note 1, Figs. 4 and S1).

An open-loop ReLU two-layer net (as in :func:`fa_lib.openloop.run_openloop`) is fed
an error ``E`` and an input ``X`` that are Gaussian AR(1) processes (eqs. 6-7),

``E[k] = beta E[k-1] + (1 - beta) N[k-1]``, ``X[k] = beta_X X[k-1] + (1 - beta_X) N_X[k-1]``,

without and with neuron-wise weight normalisation (WN, eq. 32). Fig. 4 sweeps
``beta`` (with ``beta_X = 1``) and ``beta_X`` (with ``beta = 0.8``); Fig. 4E
shows the correlograms (eq. 34) of scalar AR(1) processes; Fig. S1 follows the
alignment and sup-alignment terms (eqs. 21-22) when ``E`` is redrawn every two
or three iterations, without and with WN.

Every configuration lives in this module (:data:`PAPER`, :data:`QUICK`); the
chapter picks one with :func:`config` (``FA_SCALE``). Each run is one
entry of the results cache (:func:`fa_lib.cache.cached`).

The runs use :func:`fa_lib.openloop.run_openloop` with the variants of a figure
(no WN, WN, ...) stacked in one call: they share the draws of ``X`` and ``E``, and
the runs are made in float32 like the authors' code (three times faster here).

B under WN: Methods 4.4 normalises the columns of ``B`` to gamma whenever WN is
used; the authors' code for Figs. 4 and S1 leaves ``B`` as drawn. Both are run:
variant ``"wn"`` (B as drawn, the authors' code) and ``"wn_b"`` (B normalised,
Methods 4.4).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats as _st

from fa_lib import _checks, cache, ensembles, stats
from fa_lib.config import pick
from fa_lib.openloop import CONSTANT, Signal, run_openloop
from fa_lib.rule import Rule

CHAPTER = "acf_weight_normalisation"
"""The chapter's name, used for its claims."""

BETAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""The AR(1) coefficients of Fig. 4 (the authors' code)."""

VARIANTS = ("none", "wn", "wn_b")
"""Learning-rule variants: no WN; WN with B as drawn; WN with B's columns normalised."""

VARIANT_LABELS = {
    "none": "no WN",
    "wn": "WN, B as drawn (authors' code)",
    "wn_b": "WN, B normalised (Methods 4.4)",
}
"""Readable names of :data:`VARIANTS`."""

SWEEPS = ("beta", "beta_x")
"""Fig. 4A,B sweeps ``beta`` (the error's coefficient); Fig. 4C,D sweeps ``beta_X``."""

TRACE_KEYS = ("w1_bt", "dw0")
"""Per-iteration traces kept from a Fig. 4 run (``W_1 ∠ B^T``, ``dW_0,FA ∠ dW_0,BP``)."""

S1_KEYS = (
    "w1_bt", "dw0", "dw1", "norm_w0", "norm_w1",
    "t1_aln", "t1_sup", "sum_t1_aln", "sum_t1_sup",
)
"""Per-iteration traces kept from a Fig. S1 run (see :func:`fa_lib.openloop.run_openloop`)."""


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class SweepConfig:
    """One sweep of Fig. 4.

    Attributes
    ----------
    swept : {"beta", "beta_x"}
        Which AR(1) coefficient takes the values :attr:`Fig4Config.betas`.
    fixed : float
        The other coefficient (``beta_X = 1`` in the beta sweep, ``beta = 0.8`` in the
        ``beta_X`` sweep).
    eta : float
        Learning rate.
    n_iter : int
        Iterations.
    """

    swept: str
    fixed: float
    eta: float
    n_iter: int

    def __post_init__(self) -> None:
        """Check the fields; raise ValueError on a bad value."""
        if self.swept not in SWEEPS:
            raise ValueError(f"swept must be one of {SWEEPS}; got {self.swept!r}.")
        _checks.probability("fixed", self.fixed)
        _checks.positive("eta", self.eta)
        if int(self.n_iter) < 2:
            raise ValueError(f"n_iter must be >= 2; got {self.n_iter!r}.")


@dataclass(frozen=True)
class Fig4Config:
    """Fig. 4A-D: open-loop ReLU nets with AR(1) ``E`` and ``X``.

    Attributes
    ----------
    sizes : (n_i, n_h, n_o)
    n_b : int
        Rows of ``X`` and ``E``.
    reps : int
        Repetitions per coefficient value (all values and repetitions are stacked).
    betas : tuple of float
        Values of the swept coefficient.
    gamma : float
        WN norm of every column (eq. 32).
    final_window : int
        The "final" angle of a run is its mean over the last ``final_window`` iterations.
    seed : int
        Seed of the repetitions; the same for every variant, so a run without WN and
        a run with WN start from the same weights, ``X`` and ``E`` (paired comparison).
    beta_sweep, beta_x_sweep : SweepConfig
    dtype : {"float32", "float64"}
        Precision of the runs (the authors' code: float32).
    text_eta : float
        The text's learning rate (Methods 4.3), run as a variant of both sweeps ...
    text_reps : int
        ... with this many repetitions per value.
    """

    sizes: tuple[int, int, int]
    n_b: int
    reps: int
    betas: tuple[float, ...]
    gamma: float
    final_window: int
    seed: int
    beta_sweep: SweepConfig
    beta_x_sweep: SweepConfig
    dtype: str = "float32"
    text_eta: float = 0.003
    text_reps: int = 10

    def sweep(self, name: str) -> SweepConfig:
        """Return the sweep called ``name`` (``"beta"`` or ``"beta_x"``)."""
        if name not in SWEEPS:
            raise ValueError(f"sweep must be one of {SWEEPS}; got {name!r}.")
        return self.beta_sweep if name == "beta" else self.beta_x_sweep


@dataclass(frozen=True)
class CorrelogramConfig:
    """Fig. 4E: correlograms (eq. 34) of scalar AR(1) processes.

    Attributes
    ----------
    betas : tuple of float
    n_steps : int
        Length ``N`` of each sequence.
    reps : int
        Independent sequences per beta.
    max_lag : int
        Lags ``-max_lag .. max_lag`` (8 in the authors' code).
    seed : int
    """

    betas: tuple[float, ...]
    n_steps: int
    reps: int
    max_lag: int
    seed: int


@dataclass(frozen=True)
class S1Case:
    """One case of Fig. S1.

    Attributes
    ----------
    label : str
    every : int
        ``E`` is redrawn every ``every`` iterations (``X`` is constant).
    gamma : float or None
        WN norm, or ``None`` for no WN.
    """

    label: str
    every: int
    gamma: float | None


S1_CASES = (
    S1Case("case 1: E redrawn every 2 iterations", 2, None),
    S1Case("case 2: E redrawn every 3 iterations", 3, None),
    S1Case("case 3: case 2 with WN, gamma = 1", 3, 1.0),
    S1Case("case 4: case 1 with WN, gamma = 1", 2, 1.0),
    S1Case("case 5: case 4 with gamma = 0.7", 2, 0.7),
)
"""The five cases of Supplementary Note 1."""


@dataclass(frozen=True)
class FigS1Config:
    """Fig. S1: alignment and sup-alignment terms over iterations.

    Attributes
    ----------
    sizes : (n_i, n_h, n_o)
    n_b : int
    reps : int
        Repetitions per case (the authors ran one).
    n_iter : int
    eta : float
    final_window : int
        Window of the "final" means.
    seed : int
        The same for every case (paired comparison).
    cases : tuple of S1Case
    """

    sizes: tuple[int, int, int]
    n_b: int
    reps: int
    n_iter: int
    eta: float
    final_window: int
    seed: int
    cases: tuple[S1Case, ...] = S1_CASES


@dataclass(frozen=True)
class ChapterConfig:
    """Everything the chapter computes, at one scale."""

    fig4: Fig4Config
    correlogram: CorrelogramConfig
    s1: FigS1Config


PAPER = ChapterConfig(
    fig4=Fig4Config(
        sizes=(100, 100, 10), n_b=100, reps=30, betas=BETAS, gamma=1.0, final_window=200,
        seed=4040,
        beta_sweep=SweepConfig("beta", fixed=1.0, eta=0.001, n_iter=4000),
        beta_x_sweep=SweepConfig("beta_x", fixed=0.8, eta=0.002, n_iter=7000),
    ),
    correlogram=CorrelogramConfig(betas=BETAS, n_steps=10_000, reps=30, max_lag=8, seed=4050),
    s1=FigS1Config(sizes=(100, 100, 10), n_b=100, reps=10, n_iter=1500, eta=0.002,
                   final_window=100, seed=4060),
)
"""The paper's scale: the authors' code settings (Figs. 4 and S1), 30 repetitions per beta."""

QUICK = ChapterConfig(
    fig4=Fig4Config(
        sizes=(100, 100, 10), n_b=100, reps=5, betas=BETAS, gamma=1.0, final_window=50,
        seed=4040,
        beta_sweep=SweepConfig("beta", fixed=1.0, eta=0.001, n_iter=400),
        beta_x_sweep=SweepConfig("beta_x", fixed=0.8, eta=0.002, n_iter=600),
        text_reps=2,
    ),
    correlogram=CorrelogramConfig(betas=BETAS, n_steps=2000, reps=10, max_lag=8, seed=4050),
    s1=FigS1Config(sizes=(100, 100, 10), n_b=100, reps=5, n_iter=300, eta=0.002,
                   final_window=50, seed=4060),
)
"""The quick scale: fewer repetitions and iterations; every asserted effect still shows."""


def config() -> ChapterConfig:
    """Return the configuration of the scale chosen by ``FA_SCALE`` (read now)."""
    return pick(paper=PAPER, quick=QUICK)


# --------------------------------------------------------------------------- the runner


def variant(name: str, eta: float, gamma: float = 1.0) -> Rule:
    """Return the FA :class:`~fa_lib.rule.Rule` of one of the chapter's :data:`VARIANTS`.

    ``"none"``: no WN; ``"wn"``: WN with ``B`` as drawn (the authors' code); ``"wn_b"``: WN
    with the columns of ``B`` normalised to gamma at the start (Methods 4.4).
    """
    if name not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {name!r}.")
    if name == "none":
        return Rule("fa", eta=eta)
    return Rule("fa", eta=eta, wn_gamma=float(gamma), normalise_b=(name == "wn_b"))


# --------------------------------------------------------------------------- Fig. 4


def _signals(sweep: SweepConfig, betas: Sequence[float], reps: int) -> tuple[Signal, Signal]:
    """``(x, e)`` signals of a sweep: one coefficient per stacked repetition."""
    per_rep = np.repeat(np.asarray(betas, dtype=float), int(reps))
    fixed = CONSTANT if sweep.fixed == 1.0 else Signal(beta=sweep.fixed)
    if sweep.swept == "beta":
        return fixed, Signal(beta=per_rep)
    return Signal(beta=per_rep), fixed


def run_sweep(cfg: Fig4Config, sweep: str, progress: bool = False) -> dict[str, np.ndarray]:
    """Run one sweep of Fig. 4, all :data:`VARIANTS` at once (through the results cache).

    The ``len(VARIANTS) * len(cfg.betas) * cfg.reps`` nets run stacked in one call of
    :func:`fa_lib.openloop.run_openloop`; repetition ``r`` of coefficient ``i`` is repetition
    ``i * reps + r`` of the run, and it starts from the same weights, ``X`` and ``E`` in
    every variant (paired comparison).

    Parameters
    ----------
    cfg : Fig4Config
    sweep : {"beta", "beta_x"}
    progress : bool
        Show a progress bar while computing.

    Returns
    -------
    dict of ndarray
        ``w1_bt`` and ``dw0``: ``n_iter x n_variants x n_betas x reps`` angle traces
        (float32; ``dw0`` is NaN where a net's output units are all silent);
        ``norm_w0``, ``norm_w1``: ``n_variants x n_betas x reps`` final Frobenius norms.
    """
    s = cfg.sweep(sweep)
    n_betas = len(cfg.betas)
    variants = [variant(v, s.eta, cfg.gamma) for v in VARIANTS]
    key = {
        "sizes": list(cfg.sizes), "n_b": cfg.n_b, "reps": cfg.reps, "betas": list(cfg.betas),
        "seed": cfg.seed, "sweep": asdict(s), "variants": [r.as_dict() for r in variants],
        "dtype": cfg.dtype,
    }

    def compute() -> dict:
        x, e = _signals(s, cfg.betas, cfg.reps)
        out = run_openloop(cfg.seed, n_betas * cfg.reps, s.n_iter, cfg.sizes, cfg.n_b,
                           variants, x=x, e=e, progress=progress, dtype=cfg.dtype)
        shape = (s.n_iter, len(variants), n_betas, cfg.reps)
        res = {k: out[k].reshape(shape).astype(np.float32) for k in TRACE_KEYS}
        for k in ("norm_w0", "norm_w1"):
            res[k] = out[k][-1].reshape(shape[1:])
        return res

    return cache.cached(f"acf_wn_fig4_{sweep}", key, compute)


def fig4(cfg: Fig4Config, progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Both sweeps of Fig. 4: ``result[sweep]`` as returned by :func:`run_sweep`."""
    return {s: run_sweep(cfg, s, progress) for s in SWEEPS}


def text_eta_config(cfg: Fig4Config) -> Fig4Config:
    """Return ``cfg`` with the text's learning rate in both sweeps and ``text_reps`` repetitions."""
    return replace(cfg, reps=cfg.text_reps,
                   beta_sweep=replace(cfg.beta_sweep, eta=cfg.text_eta),
                   beta_x_sweep=replace(cfg.beta_x_sweep, eta=cfg.text_eta))


def fig4_text_eta(cfg: Fig4Config, progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Both sweeps of Fig. 4 at the text's learning rate (:func:`text_eta_config`)."""
    return fig4(text_eta_config(cfg), progress)


def final_mean(traces: np.ndarray, window: int) -> np.ndarray:
    """Return the "final" value of each run: the mean over the last ``window`` iterations.

    Parameters
    ----------
    traces : ndarray, shape (n_iter, ...)
    window : int
        ``1 <= window <= n_iter``.

    Returns
    -------
    ndarray, shape (...)
    """
    traces = np.asarray(traces, dtype=float)
    if not 1 <= int(window) <= traces.shape[0]:
        raise ValueError(f"window must lie in [1, {traces.shape[0]}]; got {window!r}.")
    return traces[-int(window):].mean(axis=0)


def fig4_final(run: dict[str, np.ndarray], window: int) -> dict[str, np.ndarray]:
    """Final angles of a Fig. 4 sweep (:func:`run_sweep`), with silent nets marked.

    Parameters
    ----------
    run : dict
        ``w1_bt`` and ``dw0`` traces, ``n_iter x n_variants x n_betas x reps``.
    window : int
        Length of the final window (:func:`final_mean`).

    Returns
    -------
    dict of ndarray
        ``w1_bt`` and ``dw0``: ``n_variants x n_betas x reps`` final angles; ``dw0`` is NaN
        for a net whose update was ever undefined (it went silent, see
        :func:`fa_lib.linalg.angle` with ``zero="nan"``); ``silent``: ``n_variants x n_betas``
        counts of such nets.
    """
    w1 = final_mean(run["w1_bt"], window)
    dw0_tr = np.asarray(run["dw0"], dtype=float)
    ever = np.any(np.isnan(dw0_tr), axis=0)
    with warnings.catch_warnings():  # a net silent over the whole window: mean of nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        dw0 = np.where(ever, np.nan, np.nanmean(dw0_tr[-int(window):], axis=0))
    return {"w1_bt": w1, "dw0": dw0, "silent": ever.sum(axis=-1)}


@dataclass(frozen=True)
class Trend:
    """A monotone trend of the final angle over the swept coefficient.

    Attributes
    ----------
    means, sems : ndarray
        Mean and SEM of the final angle at each coefficient value.
    steps : ndarray
        ``means[i + 1] - means[i]``.
    step_sems : ndarray
        SEM of each step (independent groups).
    rho, p : float
        Spearman rank correlation of coefficient and final angle over all runs, and its p.
    """

    means: np.ndarray
    sems: np.ndarray
    steps: np.ndarray
    step_sems: np.ndarray
    rho: float
    p: float

    def decreasing(self, z: float = 0.0) -> bool:
        """Return True if every step is a decrease by more than ``z`` of its SEMs."""
        return bool(np.all(self.steps < -z * self.step_sems))

    def no_increase(self, z: float = 2.0) -> bool:
        """Return True if no step is an increase by more than ``z`` of its SEMs."""
        return bool(np.all(self.steps <= z * self.step_sems))


def trend(final: np.ndarray, betas: Sequence[float]) -> Trend:
    """Describe how the final angle changes with the coefficient.

    Parameters
    ----------
    final : ndarray, shape (n_betas, reps)
        NaN entries (runs whose angle is undefined) are left out.
    betas : sequence of float, length n_betas
    """
    final = np.asarray(final, dtype=float)
    if final.ndim != 2 or final.shape[0] != len(betas):
        raise ValueError(f"final must be n_betas x reps; got {final.shape} for {len(betas)} betas.")
    ok = ~np.isnan(final)
    n = ok.sum(axis=1)
    if np.any(n < 2) or np.any(np.isinf(final)):
        raise ValueError("every coefficient needs >= 2 finite final angles (and no Inf).")
    means = np.nanmean(final, axis=1)
    sems = np.nanstd(final, axis=1, ddof=1) / np.sqrt(n)
    steps = np.diff(means)
    step_sems = np.sqrt(sems[1:] ** 2 + sems[:-1] ** 2)
    x = np.broadcast_to(np.asarray(betas, dtype=float)[:, None], final.shape)
    res = _st.spearmanr(x[ok], final[ok])
    return Trend(means, sems, steps, step_sems, float(res.statistic), float(res.pvalue))


# --------------------------------------------------------------------------- Fig. 4E


def ar1_expected_acf(beta: float, n_steps: int, max_lag: int) -> np.ndarray:
    """Return the expected value of the ACF estimate (eq. 34) of a scalar AR(1) sequence (eqs. 6-7).

    With ``S[0] ~ N(0, 1)`` and ``S[k] = beta S[k-1] + (1 - beta) N[k-1]``, the variance
    is ``v_k = s + (1 - s) beta^(2k)`` with the stationary ``s = (1 - beta) / (1 + beta)``,
    and ``E[S[k] S[k + tau]] = beta^|tau| v_k``; eq. 34 averages this over
    ``k = 0 .. N - |tau| - 1``. For large ``N`` it is ``s beta^|tau|``; for ``beta = 1``
    it is 1 at every lag.

    Parameters
    ----------
    beta : float in [0, 1]
    n_steps : int
        ``N``, the sequence length (> max_lag).
    max_lag : int

    Returns
    -------
    ndarray, shape (2 * max_lag + 1,)
        The expected ACF at lags ``-max_lag .. max_lag``.
    """
    beta = _checks.probability("beta", beta)
    n, m = int(n_steps), int(max_lag)
    if m < 0 or n <= m:
        raise ValueError(f"need 0 <= max_lag < n_steps; got max_lag={max_lag}, n_steps={n_steps}.")
    s = (1.0 - beta) / (1.0 + beta)
    v = s + (1.0 - s) * beta ** (2.0 * np.arange(n))
    csum = np.concatenate([[0.0], np.cumsum(v)])
    lags = np.arange(-m, m + 1)
    counts = n - np.abs(lags)
    return beta ** np.abs(lags) * csum[counts] / counts


def correlograms(cfg: CorrelogramConfig) -> dict:
    """Fig. 4E: ACFs (eq. 34) of scalar AR(1) sequences (eqs. 6-7), through the cache.

    Returns
    -------
    dict of ndarray
        ``lags`` (``2 max_lag + 1``); ``acf``: ``n_betas x reps x lags``, measured;
        ``expected``: ``n_betas x lags`` (:func:`ar1_expected_acf`);
        ``shape``: ``n_betas x lags``, the normalised shape ``beta^|tau|``.
    """
    if int(cfg.reps) < 2:
        raise ValueError(f"reps must be >= 2 for a SEM; got {cfg.reps!r}.")

    def compute() -> dict:
        acfs, expected = [], []
        for i, beta in enumerate(cfg.betas):
            seqs = ensembles.ar1_sequence(ensembles.streams(cfg.seed + i, cfg.reps), beta,
                                          cfg.n_steps)
            lags, values = stats.acf(seqs, cfg.max_lag)
            acfs.append(values)
            expected.append(ar1_expected_acf(beta, cfg.n_steps, cfg.max_lag))
        lags = np.arange(-cfg.max_lag, cfg.max_lag + 1)
        shape = np.asarray(cfg.betas, dtype=float)[:, None] ** np.abs(lags)[None, :]
        return {"lags": lags, "acf": np.stack(acfs), "expected": np.stack(expected),
                "shape": shape}

    return cache.cached("acf_wn_fig4e", asdict(cfg), compute)


# --------------------------------------------------------------------------- Fig. S1


def s1_variants(cfg: FigS1Config) -> dict[int, dict[str, Rule]]:
    """Return the Fig. S1 runs grouped by how often ``E`` is redrawn: ``every -> {name: rule}``.

    Each case without WN is one FA rule named ``"case<i>"``; each case with WN is two,
    ``"case<i>"`` (B as drawn, the authors' code) and ``"case<i>_b"`` (B normalised,
    Methods 4.4). Cases with the same ``every`` share ``E`` and run stacked.
    """
    groups: dict[int, dict[str, Rule]] = {}
    for i, c in enumerate(cfg.cases):
        name = f"case{i + 1}"
        if isinstance(c.every, bool) or not isinstance(c.every, int) or c.every < 1:
            raise ValueError(f"{name}: every must be a positive integer; got {c.every!r}.")
        vs = {name: Rule("fa", eta=cfg.eta, wn_gamma=c.gamma)}
        if c.gamma is not None:
            vs[name + "_b"] = Rule("fa", eta=cfg.eta, wn_gamma=c.gamma, normalise_b=True)
        groups.setdefault(c.every, {}).update(vs)
    return groups


def s1_runs(cfg: FigS1Config, progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """All Fig. S1 runs (through the cache), keyed by variant name (see :func:`s1_variants`).

    ``X`` is constant; ``E`` is redrawn every ``every`` iterations; all runs use the same
    seed, so the cases start from the same weights, ``X`` and first ``E``.

    Returns
    -------
    dict of dict of ndarray
        ``result["case1"]["t1_aln"]`` etc.: the traces of :data:`S1_KEYS`, each
        ``n_iter x reps`` (NaN at ``k = 0`` for the terms).
    """
    out = {}
    for every, vs in s1_variants(cfg).items():
        key = {**{k: v for k, v in asdict(cfg).items() if k != "cases"}, "every": every,
               "variants": {name: r.as_dict() for name, r in vs.items()}}

        def compute(every: int = every, vs: dict[str, Rule] = vs) -> dict:
            res = run_openloop(cfg.seed, cfg.reps, cfg.n_iter, cfg.sizes, cfg.n_b,
                               list(vs.values()), x=CONSTANT, e=Signal(every=every),
                               record_terms=True, progress=progress)
            return {f"{name}__{k}": res[k][:, i] for i, name in enumerate(vs) for k in S1_KEYS}

        flat = cache.cached(f"acf_wn_s1_every{every}", key, compute)
        for name in vs:
            out[name] = {k: flat[f"{name}__{k}"] for k in S1_KEYS}
    return {name: out[name] for name in sorted(out, key=lambda n: (int(n[4:].split("_")[0]), n))}


def repeated_error_mask(n_iter: int, every: int) -> np.ndarray:
    """Mark the iterations ``k >= 1`` at which ``E[k] = E[k - 1]`` (redrawn at ``k % every == 0``).

    Returns
    -------
    ndarray of bool, shape (n_iter,)
        True where the first-order alignment term sees the same error twice.
    """
    if int(every) < 1 or int(n_iter) < 1:
        raise ValueError(f"every and n_iter must be >= 1; got {every!r}, {n_iter!r}.")
    k = np.arange(int(n_iter))
    return (k >= 1) & (k % int(every) != 0)


def grows_steadily(norms: np.ndarray, checkpoints: int = 4) -> np.ndarray:
    """Whether each run's norm keeps growing: larger at every checkpoint than at the one before.

    Parameters
    ----------
    norms : ndarray, shape (n_iter, reps)
    checkpoints : int
        The run is cut into this many equal parts; the norm is compared at their ends
        (and at the start).

    Returns
    -------
    ndarray of bool, shape (reps,)
    """
    norms = _checks.finite("norms", np.asarray(norms, dtype=float))
    n = norms.shape[0]
    if int(checkpoints) < 1 or n < int(checkpoints) + 1:
        raise ValueError(f"need 1 <= checkpoints < n_iter; got {checkpoints!r} for {n}.")
    at = np.linspace(0, n - 1, int(checkpoints) + 1).round().astype(int)
    return np.all(np.diff(norms[at], axis=0) > 0, axis=0)


def s1_stats(runs: dict[str, dict[str, np.ndarray]], cfg: FigS1Config) -> dict[str, dict]:
    """Per-repetition summaries of every Fig. S1 run (:func:`s1_runs`).

    Returns
    -------
    dict of dict of ndarray, each of shape (reps,)
        For each run: ``w1`` (final ``W_1 ∠ B^T``, mean of the last ``final_window``
        iterations), ``sum_aln``, ``sum_sup`` (final angles of the running sums),
        ``dw1`` (``dW_1 ∠ B^T`` averaged over the second half of the run), ``aln_repeated``
        and ``aln_fresh`` (``T^1_aln ∠ B^T`` averaged over the iterations where
        ``E[k] = E[k-1]`` and where ``E`` was just redrawn), ``sup`` (``T^1_sup ∠ B^T``
        averaged over ``k >= 1``), ``norm_w0``, ``norm_w1`` (final norms),
        ``growth_w0``, ``growth_w1`` (final / initial norm) and ``grows`` (both norms grow
        steadily, :func:`grows_steadily`). Undefined angles (silent nets) are left out of
        the averages.
    """
    every = {f"case{i + 1}": c.every for i, c in enumerate(cfg.cases)}
    w = int(cfg.final_window)
    out = {}
    with warnings.catch_warnings():  # a net silent over a whole window: mean of nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, r in runs.items():
            n_iter = r["w1_bt"].shape[0]
            repeated = repeated_error_mask(n_iter, every[name.split("_")[0]])
            fresh = ~repeated & (np.arange(n_iter) >= 1)
            out[name] = {
                "w1": final_mean(r["w1_bt"], w),
                "sum_aln": np.nanmean(r["sum_t1_aln"][-w:], axis=0),
                "sum_sup": np.nanmean(r["sum_t1_sup"][-w:], axis=0),
                "dw1": np.nanmean(r["dw1"][n_iter // 2:], axis=0),
                "aln_repeated": np.nanmean(r["t1_aln"][repeated], axis=0),
                "aln_fresh": np.nanmean(r["t1_aln"][fresh], axis=0),
                "sup": np.nanmean(r["t1_sup"][1:], axis=0),
                "norm_w0": r["norm_w0"][-1],
                "norm_w1": r["norm_w1"][-1],
                "growth_w0": r["norm_w0"][-1] / r["norm_w0"][0],
                "growth_w1": r["norm_w1"][-1] / r["norm_w1"][0],
                "grows": grows_steadily(r["norm_w0"]) & grows_steadily(r["norm_w1"]),
            }
    return out


def experiments() -> dict[str, Callable[..., object]]:
    """The chapter's cached experiments, in the notebook's order: name -> the notebook's call.

    Each call runs at the scale of :func:`config` when called (``progress`` shows a bar)
    and returns the cached results.
    """
    return {
        "fig4e_correlograms": lambda: correlograms(config().correlogram),
        "fig4": lambda progress=False: fig4(config().fig4, progress),
        "fig4_text_eta": lambda progress=False: fig4_text_eta(config().fig4, progress),
        "s1": lambda progress=False: s1_runs(config().s1, progress),
    }


KINDS: dict[str, str] = {
    # run_sweep and s1_runs (TRACE_KEYS, S1_KEYS of fa_lib.openloop.run_openloop)
    "w1_bt": "angle", "dw0": "angle", "dw1": "angle", "t1_aln": "angle", "t1_sup": "angle",
    "sum_t1_aln": "angle", "sum_t1_sup": "angle", "norm_w0": "other", "norm_w1": "other",
    # correlograms (Fig. 4E)
    "lags": "other", "acf": "other", "expected": "other", "shape": "other",
}
"""The kind of the numbers of every array of the chapter's cache entries, which sets how
:mod:`fa_lib.record` compares them: ``angle`` (degrees), ``accuracy`` (a fraction) or
``other``. The arrays of a Fig. S1 run, ``<variant>__<trace>``, are of the trace's kind."""
