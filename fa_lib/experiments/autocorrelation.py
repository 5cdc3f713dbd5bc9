"""Chapter "Autocorrelation" (Sec. 2.2, Methods 4.2-4.3, Figs. 2 and 3).

Three experiments:

- **Fig. 2** (:func:`fig2`): Monte Carlo draws of the first-order alignment
  term ``T^1[1]`` of a two-layer net (k = 1, o = 1) under six hypothetical
  conditions on the statistics of ``E[0], E[1], X[0], X[1]`` and ``B``. Per
  draw: ``B^T ∠ T^1[1]`` for the linear term (eq. 4/26), ``B^T ∠ B^T M_sym``
  and ``B^T ∠ B^T M_skew`` (eqs. 27-31), the ratio
  ``|B^T M_skew|_F / |B^T M_sym|_F``, and ``B^T ∠ T^1[1]`` for the nonlinear
  term (eq. 5/25) with every ``f'(.)`` replaced by a random 0/1 mask.
- **ReLU-mask fact** (:func:`relu_mask_fact`): ``{f'(Z) * B} ∠ B`` for ReLU and
  ``Z, B`` iid N(0, 1) (Sec. 2.2: 45 degrees, SD about 0.66 degrees).
- **Fig. 3** (:func:`fig3`): the open-loop ReLU two-layer net with four
  schedules of the imposed ``E`` and ``X`` (constant; ``E`` redrawn every
  iteration; every two iterations; ``E`` and ``X`` redrawn every iteration
  from N(0.5, 1)), traces of ``W_1 ∠ B^T`` and ``dW_0,FA ∠ dW_0,BP``.

The paper-scale and quick-scale settings are :data:`PAPER` and :data:`QUICK`;
:func:`config` picks one with :func:`fa_lib.config.pick`. Every
computation goes through :func:`fa_lib.cache.cached`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fa_lib import cache, ensembles, linalg, stats, terms
from fa_lib.activations import RELU
from fa_lib.config import pick
from fa_lib.openloop import Signal, run_openloop
from fa_lib.rule import Rule

CHAPTER = "autocorrelation"

# ---------------------------------------------------------------------------
# Configurations (the one place where the chapter's sizes live)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fig2Config:
    """Sizes of the Fig. 2 Monte Carlo (Methods 4.3).

    Attributes
    ----------
    n_i, n_h, n_o, n_b : int
        Input, hidden and output widths and the batch size (rows of ``X``, ``E``).
    draws : int
        Independent draws per condition (10,000 in the paper).
    chunk : int
        Draws computed together as one stacked array (bounds the memory).
    seed : int
        Seed of the experiment; condition ``c`` uses ``SeedSequence([seed, c])``.
    """

    n_i: int = 100
    n_h: int = 100
    n_o: int = 50
    n_b: int = 20
    draws: int = 10_000
    chunk: int = 1_000
    seed: int = 2021


@dataclass(frozen=True)
class MaskConfig:
    """Sizes of the ReLU-mask fact ``{f'(Z) * B} ∠ B`` (Sec. 2.2).

    Attributes
    ----------
    size : int
        ``Z`` and ``B`` are ``size x size`` (100 in the paper).
    draws : int
        Number of independent pairs (1,000 in the paper).
    chunk : int
        Pairs computed together.
    seed : int
    """

    size: int = 100
    draws: int = 1_000
    chunk: int = 250
    seed: int = 2022


@dataclass(frozen=True)
class Fig3Config:
    """Sizes of the open-loop experiment of Fig. 3 (Methods 4.3, authors' code).

    Attributes
    ----------
    n_i, n_h, n_o, n_b : int
        Widths and batch size (100, 100, 10, 100).
    reps : int
        Repetitions (30).
    n_iter : int
        Iterations (2000 in the authors' code; the text does not give it).
    eta : float
        Learning rate of the primary setting (0.002, the authors' code).
    eta_text : float
        The learning rate the text states (0.003), run as a variant.
    smooth : int
        Moving-average length of the ``dW_0`` traces (60, Methods 4.7).
    seed : int
        One seed for all four cases, so that the cases share their initial
        weights (and, where it is constant, ``X``): common random numbers.
    reps_extra : int
        Repetitions of an extra, independent run of case 2 (``E`` redrawn every
        iteration) that measures its small late drift of ``dW_0,FA ∠ dW_0,BP``
        with more precision than 30 repetitions give.
    seed_extra : int
        Seed of that extra run.
    """

    n_i: int = 100
    n_h: int = 100
    n_o: int = 10
    n_b: int = 100
    reps: int = 30
    n_iter: int = 2000
    eta: float = 0.002
    eta_text: float = 0.003
    smooth: int = 60
    seed: int = 2023
    reps_extra: int = 100
    seed_extra: int = 2024


PAPER: dict[str, object] = {
    "fig2": Fig2Config(),
    "mask": MaskConfig(),
    "fig3": Fig3Config(),
}
"""Paper scale: the sizes of the paper and of the authors' code."""

QUICK: dict[str, object] = {
    "fig2": Fig2Config(draws=1_000, chunk=500),
    "mask": MaskConfig(draws=200, chunk=100),
    "fig3": Fig3Config(reps=8, n_iter=400, reps_extra=8),
}
"""Quick scale: fewer draws, repetitions and iterations; every asserted effect still shows."""


def config() -> dict[str, object]:
    """Return :data:`PAPER` or :data:`QUICK` by ``FA_SCALE`` (read now)."""
    return pick(PAPER, QUICK)


# ---------------------------------------------------------------------------
# Fig. 2: the conditions and the alignment term of order 1
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """Distribution of iid matrix entries.

    Attributes
    ----------
    kind : {"normal", "uniform", "ones"}
        ``N(loc, 1)``, ``U(0, 1)`` or the constant 1 (no randomness).
    loc : float
        Mean of the normal distribution.
    """

    kind: str = "normal"
    loc: float = 0.0

    def __post_init__(self) -> None:  # noqa: D105
        if self.kind not in ("normal", "uniform", "ones"):
            raise ValueError(
                f"Dist.kind must be 'normal', 'uniform' or 'ones'; got {self.kind!r}."
            )

    @property
    def mean(self) -> float:
        """Mean of one entry."""
        return {"normal": self.loc, "uniform": 0.5, "ones": 1.0}[self.kind]

    def draw(self, rng: Sequence[np.random.Generator], shape: tuple[int, ...]) -> np.ndarray:
        """Draw ``len(rng)`` stacked matrices of ``shape``, one per stream."""
        if self.kind == "normal":
            return ensembles.normal(rng, shape, loc=self.loc)
        if self.kind == "uniform":
            return ensembles.uniform(rng, shape)
        return np.ones((len(rng), *shape))

    def __str__(self) -> str:  # noqa: D105
        if self.kind == "normal":
            return f"N({self.loc:g}, 1)"
        return "U(0, 1)" if self.kind == "uniform" else "all ones"


@dataclass(frozen=True)
class Condition:
    """One hypothetical condition of Fig. 2 (authors' code, ``Figure1_2``).

    Attributes
    ----------
    index : int
        The condition's number (1-6).
    label : str
        Short description for legends.
    ex : Dist
        Distribution of the entries of ``E[0]``, ``E[1]``, ``X[0]`` and ``X[1]``.
    b : Dist
        Distribution of the entries of ``B``.
    repeat_e : bool
        ``E[1] = E[0]`` (Cond. 2) instead of an independent draw.
    """

    index: int
    label: str
    ex: Dist
    b: Dist = Dist()
    repeat_e: bool = False


CONDITIONS: tuple[Condition, ...] = (
    Condition(1, "Cond. 1: E, X, B iid N(0, 1)", Dist("normal", 0.0)),
    Condition(2, "Cond. 2: as 1, E[1] = E[0]", Dist("normal", 0.0), repeat_e=True),
    Condition(3, "Cond. 3: E, X iid N(0.5, 1)", Dist("normal", 0.5)),
    Condition(4, "Cond. 4: E, X, B iid N(0.5, 1)", Dist("normal", 0.5), b=Dist("normal", 0.5)),
    Condition(5, "Cond. 5: E, X iid U(0, 1)", Dist("uniform")),
    Condition(6, "Cond. 6: E, X all ones", Dist("ones")),
)
"""The six conditions of Fig. 2 as in the authors' code; ``B`` is N(0, 1) unless stated."""


def condition(index: int) -> Condition:
    """Return the condition numbered ``index`` (1-6)."""
    for c in CONDITIONS:
        if c.index == int(index):
            return c
    raise ValueError(f"Fig. 2 has conditions 1-6; got {index!r}.")


def random_mask(rng: Sequence[np.random.Generator], shape: tuple[int, ...]) -> np.ndarray:
    """Random stand-in for a ReLU derivative: ``f'(Z)`` with ``Z`` iid N(0, 1).

    Each entry is 0 or 1 with probability 1/2 (Sec. 2.2, Fig. 2D); stacked, one
    matrix per stream.
    """
    return RELU.df(ensembles.normal(rng, shape))


def masked_alignment_term(
    b: np.ndarray,
    e_old: np.ndarray,
    x_old: np.ndarray,
    x_now: np.ndarray,
    e_now: np.ndarray,
    f2_old: np.ndarray,
    f2_now: np.ndarray,
    f1_old: np.ndarray,
    gate: np.ndarray,
    eta: float = 1.0,
) -> np.ndarray:
    """Nonlinear alignment term of a two-layer net with given derivative masks (eq. 5/25).

    ``T^o = eta {G * eta {(delta_2[k-o] B) * F_1[k-o]}^T X[k-o] X[k]^T} delta_2[k]``
    with ``delta_2[k-o] = E[k-o] * F_2[k-o]`` and ``delta_2[k] = E[k] * F_2[k]``,
    where ``F_2 = f'(Z_2)``, ``F_1[k-o] = f'(Z_1[k-o])`` and
    ``G = f'(W_0[k-o]^T X[k]^T)`` are passed in (Fig. 2D passes random 0/1
    masks). With all masks equal to one this is the linear term of eq. 26.

    Parameters
    ----------
    b : ``B``, ``(..., n_o, n_h)``
    e_old, e_now : ``E[k-o]``, ``E[k]``, ``(..., n_b, n_o)``
    x_old, x_now : ``X[k-o]``, ``X[k]``, ``(..., n_b, n_i)``
    f2_old, f2_now : masks of ``E[k-o]`` and ``E[k]``, ``(..., n_b, n_o)``
    f1_old : mask ``f'(Z_1[k-o])``, ``(..., n_b, n_h)``
    gate : mask ``f'(W_0[k-o]^T X[k]^T)``, ``(..., n_h, n_b)``
    eta : float
        Learning rate (it scales the term, not its direction).

    Returns
    -------
    ndarray, shape (..., n_h, n_o)
        Comparable with ``B^T``.
    """
    eta = float(eta)
    if not eta > 0:
        raise ValueError(f"eta must be > 0; got {eta!r}.")
    t = linalg.transpose
    if gate.shape[-2:] != t(f1_old).shape[-2:]:
        raise ValueError(
            f"gate must be n_h x n_b {t(f1_old).shape[-2:]}; got {gate.shape[-2:]}."
        )
    delta1_old = ((e_old * f2_old) @ b) * f1_old  # delta_1[k-o], n_b x n_h
    # delta_1[k-o]^T (X[k-o] X[k]^T): cheaper than (delta^T X[k-o]) X[k]^T when n_b < n_i.
    carried = t(delta1_old) @ (x_old @ t(x_now))  # n_h x n_b
    return eta * ((gate * (eta * carried)) @ (e_now * f2_now))


def _fig2_chunk(cond: Condition, cfg: Fig2Config, rng: list[np.random.Generator]) -> dict:
    """All Fig. 2 measures for one chunk of draws (one stream per draw)."""
    n_i, n_h, n_o, n_b = cfg.n_i, cfg.n_h, cfg.n_o, cfg.n_b
    # Each draw's stream is consumed in this fixed order, so a draw does not
    # depend on the chunk it is computed in.
    e0 = cond.ex.draw(rng, (n_b, n_o))
    e1 = e0 if cond.repeat_e else cond.ex.draw(rng, (n_b, n_o))
    x0 = cond.ex.draw(rng, (n_b, n_i))
    x1 = cond.ex.draw(rng, (n_b, n_i))
    b = cond.b.draw(rng, (n_o, n_h))
    f2_old = random_mask(rng, (n_b, n_o))
    f2_now = random_mask(rng, (n_b, n_o))
    f1_old = random_mask(rng, (n_b, n_h))
    gate = random_mask(rng, (n_h, n_b))

    bt = linalg.transpose(b)
    m = terms.transform_matrix(e0, x0, x1, e1)  # eq. 27 with k = 1, o = 1
    sym, skew = linalg.sym_skew(m)  # eqs. 28-30
    t_lin = terms.linear_alignment_term(b, m, 1.0)  # eq. 26 (eta = 1: only the direction matters)
    bt_sym, bt_skew = bt @ sym, bt @ skew
    skew_norm = linalg.frobenius_norm(bt_skew)
    t_nl = masked_alignment_term(b, e0, x0, x1, e1, f2_old, f2_now, f1_old, gate)
    # Authors' code: one hidden mask f'(Z_1) used for both element-wise products.
    t_nl_shared = masked_alignment_term(
        b, e0, x0, x1, e1, f2_old, f2_now, f1_old, linalg.transpose(f1_old)
    )
    return {
        "linear": linalg.angle(t_lin, bt),
        "sym": linalg.angle(bt_sym, bt),
        "skew": linalg.angle(bt_skew, bt, zero="nan"),
        "ratio": skew_norm / linalg.frobenius_norm(bt_sym),
        "nonlinear": linalg.angle(t_nl, bt),
        "nonlinear_shared": linalg.angle(t_nl_shared, bt),
        "m_sum": m.sum(axis=0),
        "m_first": m[0],
    }


def fig2_condition(cond: Condition | int, cfg: Fig2Config) -> dict[str, np.ndarray]:
    """Compute the Fig. 2 measures of one condition (no cache; see :func:`fig2`).

    Draw ``r`` uses stream ``r`` of ``ensembles.streams(SeedSequence([seed, c]), draws)``
    and draws, in order, ``E[0]``, ``E[1]`` (unless ``E[1] = E[0]``), ``X[0]``,
    ``X[1]``, ``B`` and four independent masks; draws are computed in chunks of
    ``cfg.chunk`` stacked matrices.

    Returns
    -------
    dict of ndarray
        Per draw (length ``draws``): ``linear`` (``B^T ∠ T^1[1]``, eq. 26),
        ``sym`` (``B^T ∠ B^T M_sym``), ``skew`` (``B^T ∠ B^T M_skew``, eq. 31;
        NaN where ``M_skew = 0``), ``ratio`` (``|B^T M_skew|_F / |B^T M_sym|_F``),
        ``nonlinear`` (eq. 25 with four independent masks, the text) and
        ``nonlinear_shared`` (one hidden mask used twice, the authors' code).
        Also ``mean_m`` (the Monte Carlo mean of ``M^1[1]``, ``n_o x n_o``) and
        ``eig`` (the eigenvalues of ``M_sym`` of the first draw, descending).
    """
    cond = condition(cond) if isinstance(cond, int | np.integer) else cond
    if cfg.draws < 2 or cfg.chunk < 1:
        raise ValueError(f"need draws >= 2 and chunk >= 1; got {cfg.draws} and {cfg.chunk}.")
    rng = ensembles.streams(np.random.SeedSequence([cfg.seed, cond.index]), cfg.draws)
    parts = [_fig2_chunk(cond, cfg, rng[s : s + cfg.chunk]) for s in range(0, cfg.draws, cfg.chunk)]
    out = {
        k: np.concatenate([p[k] for p in parts])
        for k in ("linear", "sym", "skew", "ratio", "nonlinear", "nonlinear_shared")
    }
    out["mean_m"] = sum(p["m_sum"] for p in parts) / cfg.draws
    sym_first, _ = linalg.sym_skew(parts[0]["m_first"])
    out["eig"] = np.linalg.eigvalsh(sym_first)[::-1]
    return out


def fig2(cfg: Fig2Config | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Fig. 2 for all six conditions, through the results cache.

    Parameters
    ----------
    cfg : Fig2Config, optional
        Default: ``config()["fig2"]``.

    Returns
    -------
    dict
        Condition number -> the arrays of :func:`fig2_condition`.
    """
    cfg = config()["fig2"] if cfg is None else cfg
    return {
        c.index: cache.cached(
            f"{CHAPTER}-fig2-cond{c.index}",
            {"config": asdict(cfg), "condition": asdict(c)},
            lambda c=c: fig2_condition(c, cfg),
        )
        for c in CONDITIONS
    }


def expected_transform_matrix(
    mean_e: float, mean_x: float, n_i: int, n_b: int, n_o: int
) -> np.ndarray:
    """Return the expectation of ``M^1[1] = E[0]^T X[0] X[1]^T E[1]`` for independent iid matrices.

    ``E(M) = E(E[0]^T X[0]) E(X[1]^T E[1]) = (n_b mu_E mu_X)^2 n_i J_{n_o}``; with
    means 0.5 this is ``0.0625 n_i n_b^2 J`` (Sec. 2.2).
    """
    for name, v in (("n_i", n_i), ("n_b", n_b), ("n_o", n_o)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1; got {v!r}.")
    return (n_b * mean_e * mean_x) ** 2 * n_i * np.ones((n_o, n_o))


# ---------------------------------------------------------------------------
# The ReLU-mask fact
# ---------------------------------------------------------------------------


def relu_mask_angles(cfg: MaskConfig) -> np.ndarray:
    """``{f'(Z) * B} ∠ B`` for ReLU, ``Z, B`` iid N(0, 1) of ``size x size`` (Sec. 2.2).

    Pair ``r`` uses stream ``r`` of ``ensembles.streams(seed, draws)`` (``Z`` then ``B``).

    Returns
    -------
    ndarray, shape (draws,)
        Angles in degrees.
    """
    if cfg.draws < 2 or cfg.size < 1 or cfg.chunk < 1:
        raise ValueError(f"need draws >= 2, size >= 1 and chunk >= 1; got {cfg}.")
    rng = ensembles.streams(cfg.seed, cfg.draws)
    shape = (cfg.size, cfg.size)
    out = []
    for s in range(0, cfg.draws, cfg.chunk):
        g = rng[s : s + cfg.chunk]
        mask = random_mask(g, shape)
        b = ensembles.normal(g, shape)
        out.append(linalg.angle(mask * b, b))
    return np.concatenate(out)


def relu_mask_fact(cfg: MaskConfig | None = None) -> dict[str, np.ndarray]:
    """Compute the ReLU-mask fact through the results cache; ``{"angle": (draws,)}``."""
    cfg = config()["mask"] if cfg is None else cfg
    return cache.cached(
        f"{CHAPTER}-relu-mask", {"config": asdict(cfg)}, lambda: {"angle": relu_mask_angles(cfg)}
    )


def relu_mask_theory(n_entries: int, p: float = 0.5) -> tuple[float, float]:
    """Large-``N`` mean and SD (degrees) of ``{M * B} ∠ B`` for a Bernoulli(p) mask ``M``.

    ``cos = |M * B|_F / |B|_F = sqrt(r)`` with ``r = sum m b^2 / sum b^2``; for
    ``b`` iid N(0, 1), ``E r = p`` and ``Var r ~ 3 p (1 - p) / N`` (since
    ``E b^4 = 3``), so the angle is ``arccos(sqrt(p))`` with SD
    ``sqrt(3 p (1 - p) / N) / (2 sqrt(p (1 - p)))`` radians (delta method);
    for ``p = 1/2``: 45 degrees and ``sqrt(3 / (4 N))`` radians.

    Parameters
    ----------
    n_entries : int
        Number of entries ``N`` of the matrices (10,000 for 100 x 100).
    p : float
        Probability that a mask entry is 1.
    """
    if int(n_entries) < 1 or not 0 < p < 1:
        raise ValueError(f"need n_entries >= 1 and 0 < p < 1; got {n_entries!r}, {p!r}.")
    sd = np.sqrt(3 * p * (1 - p) / n_entries) / (2 * np.sqrt(p * (1 - p)))
    return float(np.degrees(np.arccos(np.sqrt(p)))), float(np.degrees(sd))


# ---------------------------------------------------------------------------
# Fig. 3: the open-loop ReLU net
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One schedule of the imposed ``X`` and ``E`` in Fig. 3.

    Attributes
    ----------
    key : str
        Short name used in cache entries and tables.
    label : str
        Legend text.
    x, e : Signal
        How ``X[k]`` and ``E[k]`` evolve (:class:`fa_lib.openloop.Signal`).
    """

    key: str
    label: str
    x: Signal
    e: Signal


CASES: tuple[Case, ...] = (
    Case("constant", "1: E and X constant", Signal(), Signal()),
    Case("e_every_1", "2: E redrawn every iteration", Signal(), Signal(every=1)),
    Case("e_every_2", "3: E redrawn every 2 iterations", Signal(), Signal(every=2)),
    Case(
        "ex_mean_half",
        "4: E and X redrawn every iteration, N(0.5, 1)",
        Signal(every=1, loc=0.5),
        Signal(every=1, loc=0.5),
    ),
)
"""The four cases of Fig. 3 (Sec. 2.2)."""


def openloop_traces(
    seed: int,
    reps: int,
    n_iter: int,
    sizes: tuple[int, int, int],
    n_b: int,
    eta: float,
    x: Signal,
    e: Signal,
) -> dict[str, np.ndarray]:
    """Run ``reps`` stacked open-loop ReLU two-layer nets (FA) and record angles.

    The same streams, initialisation (W_0, W_1, B iid N(0, 1)) and update as
    :func:`fa_lib.openloop.run_openloop` (``delta_2 = E * f'(Z_2)``, FA
    ``delta_1 = delta_2 B * f'(Z_1)`` (eq. 18), ``dW_l = eta L_l^T delta_{l+1}``
    (eq. 19), BP comparison ``dW_0,BP`` with the weights before the update,
    eqs. 14-16): it is that function's output. An iteration whose ``dW_0,FA`` or
    ``dW_0,BP`` is the zero matrix gives NaN for their angle. That happens when
    every output unit is silent for the whole batch
    (``f'(Z_2) = 0``, so ``delta_2 = 0``): the net then never changes again
    (a dead net), which occurs in case 2 (``E`` redrawn every iteration).

    Returns
    -------
    dict of ndarray, each ``n_iter x reps``
        ``w1_bt`` (``W_1 ∠ B^T`` after update k), ``dw0`` (``dW_0,FA ∠ dW_0,BP``,
        NaN for a dead net), ``dead`` (1.0 where ``delta_2 = 0``), ``norm_w1``.
    """
    if int(reps) < 2:
        raise ValueError(f"need reps >= 2 for SEM bands; got {reps}.")
    out = run_openloop(seed, reps, n_iter, sizes, n_b, Rule("fa", eta=eta), x=x, e=e)
    return {k: out[k] for k in ("w1_bt", "dw0", "dead", "norm_w1")}


def fig3_case(case: Case, cfg: Fig3Config, eta: float) -> dict[str, np.ndarray]:
    """One case of Fig. 3 at learning rate ``eta`` (no cache; see :func:`fig3`)."""
    return openloop_traces(
        cfg.seed, cfg.reps, cfg.n_iter, (cfg.n_i, cfg.n_h, cfg.n_o), cfg.n_b, eta, case.x, case.e
    )


def fig3(
    cfg: Fig3Config | None = None, eta: float | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Fig. 3: the four cases at one learning rate, through the results cache.

    Parameters
    ----------
    cfg : Fig3Config, optional
        Default: ``config()["fig3"]``.
    eta : float, optional
        Default ``cfg.eta`` (the authors' code); pass ``cfg.eta_text`` for the text's value.

    Returns
    -------
    dict
        Case key -> the traces of :func:`openloop_traces`.
    """
    cfg = config()["fig3"] if cfg is None else cfg
    eta = cfg.eta if eta is None else float(eta)
    return {
        c.key: cache.cached(
            f"{CHAPTER}-fig3-{c.key}",
            {"config": asdict(cfg), "eta": eta, "x": asdict(c.x), "e": asdict(c.e)},
            lambda c=c: fig3_case(c, cfg, eta),
        )
        for c in CASES
    }


def fig3_case2_extra(cfg: Fig3Config | None = None) -> dict[str, np.ndarray]:
    """Case 2 of Fig. 3 again, with ``cfg.reps_extra`` repetitions and its own seed (cached).

    Run at the primary learning rate ``cfg.eta``; returns the traces of :func:`openloop_traces`.
    """
    cfg = config()["fig3"] if cfg is None else cfg
    c = CASES[1]
    extra = Fig3Config(**{**asdict(cfg), "reps": cfg.reps_extra, "seed": cfg.seed_extra})
    return cache.cached(
        f"{CHAPTER}-fig3-{c.key}-extra",
        {"config": asdict(extra), "eta": cfg.eta, "x": asdict(c.x), "e": asdict(c.e)},
        lambda: fig3_case(c, extra, cfg.eta),
    )


def final_summary(
    results: Mapping[str, Mapping[str, np.ndarray]], smooth: int
) -> dict[str, dict[str, stats.TTest]]:
    """One-sample t-tests against 90 degrees of the final angles of every case.

    Parameters
    ----------
    results : mapping
        Case key -> traces (the output of :func:`fig3`).
    smooth : int
        Window of the ``dW_0`` moving average (see :func:`final_angles`).

    Returns
    -------
    dict
        Case key -> ``{"w1_bt": TTest, "dw0": TTest}``; dead nets are left out of ``dw0``.
    """
    out = {}
    for key, traces in results.items():
        fin = final_angles(traces, smooth)
        out[key] = {name: stats.ttest_1samp(v, 90.0, finite_only=True)
                    for name, v in fin.items()}
    return out


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


nan_moving_average = stats.nan_moving_average
band = stats.mean_sem


def final_angles(out: Mapping[str, np.ndarray], smooth: int) -> dict[str, np.ndarray]:
    """Return the final angles per repetition of one Fig. 3 run.

    ``w1_bt``: ``W_1 ∠ B^T`` after the last update. ``dw0``: the last value of the
    ``smooth``-long moving average of ``dW_0,FA ∠ dW_0,BP`` (the mean of the last
    ``smooth`` iterations; NaN for a net that died before them).
    """
    return {
        "w1_bt": np.asarray(out["w1_bt"])[-1],
        "dw0": nan_moving_average(np.asarray(out["dw0"]), smooth)[-1],
    }


def experiments() -> dict[str, Callable[[], object]]:
    """The chapter's cached experiments, in the notebook's order: name -> the notebook's call.

    Each call runs at the scale of :func:`config` when called and returns the cached results.
    """
    return {
        "fig2": lambda: fig2(config()["fig2"]),
        "relu_mask": lambda: relu_mask_fact(config()["mask"]),
        "fig3": lambda: fig3(config()["fig3"]),
        "fig3_text_eta": lambda: fig3(config()["fig3"], config()["fig3"].eta_text),
        "fig3_case2_extra": lambda: fig3_case2_extra(config()["fig3"]),
    }


KINDS: dict[str, str] = {
    # fig2_condition: angles with B^T, the ratio of two norms, M and its eigenvalues
    "linear": "angle", "sym": "angle", "skew": "angle", "nonlinear": "angle",
    "nonlinear_shared": "angle", "ratio": "other", "mean_m": "other", "eig": "other",
    "angle": "angle",  # relu_mask_fact
    # openloop_traces (Fig. 3)
    "w1_bt": "angle", "dw0": "angle", "dead": "other", "norm_w1": "other",
}
"""The kind of the numbers of every array of the chapter's cache entries, which sets how
:mod:`fa_lib.record` compares them: ``angle`` (degrees), ``accuracy`` (a fraction) or
``other``."""
