"""Depth: the angle between products of forward and backward weights (Sec. 2.4, Fig. 5).

In a deep linear network the FA error of layer ``l`` is ``delta_d B_{d-1} ... B_l``
(eq. 10) where BP has ``delta_d W_{d-1}^T ... W_l^T`` (eq. 11). Fig. 5 asks how
the angle between two such products relates to the angles of their factors:

``theta_1 = B_1 ∠ W_1^T``, ``theta_2 = B_2 ∠ W_2^T`` and
``theta_3 = B_2 B_1 ∠ W_2^T W_1^T`` (all eq. 33), with ``B_2`` (30 x 15) and
``B_1`` (15 x 40) uniform on the unit sphere and ``W_l^T`` drawn at an angle that
is uniform on [0, 180] degrees (Methods 4.8, :func:`fa_lib.ensembles.angle_pairs`).
The nonlinear version (eq. 12) masks with ReLU derivatives of iid N(0, 1)
matrices ``Z_2`` (30 x 15) and ``Z_1`` (30 x 40), the same masks on both sides::

    theta_3^nonlin = {[B_2 * f'(Z_2)] B_1} * f'(Z_1)  ∠  {[W_2^T * f'(Z_2)] W_1^T} * f'(Z_1)

(``*`` element-wise). The heat maps (Fig. 5A, C) use ``theta_1, theta_2`` over
[0, 180]; the histograms use, as the authors' code does, angles over [0, 90]
(``W^T = r_1 A + |r_2| B``), obtained here by reflecting ``W^T`` (see
:func:`acute_pairs`).

Everything is drawn in chunks of stacked matrices (leading axis = draws), one
independent random stream per chunk (:func:`fa_lib.ensembles.streams`), so a run
is reproducible from its seed and its chunk size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from fa_lib import _checks, activations, ensembles, linalg, stats
from fa_lib.cache import cached
from fa_lib.config import pick

CHAPTER = "depth"


@dataclass(frozen=True)
class DepthConfig:
    """Sizes of the Fig. 5 experiment.

    Attributes
    ----------
    n_heatmap : int
        Draws with ``theta_1, theta_2`` uniform on [0, 180] (heat maps, Fig. 5A, C).
    n_hist : int
        Draws with ``theta_1, theta_2`` uniform on [0, 90] (histograms, Fig. 5B, D, F, G).
    shape_b2, shape_b1 : tuple of int
        Shapes of ``B_2`` and ``B_1`` (``W_2^T`` and ``W_1^T`` have the same shapes).
    chunk : int
        Draws computed together as one stack (bounds the memory, about 80 kB per draw).
    seed_heatmap, seed_hist : int
        Seeds of the two ensembles.
    bin_width : float
        Width in degrees of the heat-map bins (36 x 36 bins of 5 degrees).
    """

    n_heatmap: int
    n_hist: int
    shape_b2: tuple[int, int] = (30, 15)
    shape_b1: tuple[int, int] = (15, 40)
    chunk: int = 2500
    seed_heatmap: int = 20240501
    seed_hist: int = 20240502
    bin_width: float = 5.0


PAPER = DepthConfig(n_heatmap=500_000, n_hist=1_000_000)
"""The paper's (and the authors' code's) numbers of draws."""

QUICK = DepthConfig(n_heatmap=40_000, n_hist=100_000)
"""Quick scale: every asserted effect still shows (about 30 draws per heat-map bin)."""


def config() -> DepthConfig:
    """Return the configuration for the scale selected by ``FA_SCALE`` (read now)."""
    return pick(paper=PAPER, quick=QUICK)


# --------------------------------------------------------------------------- drawing


def acute_pairs(b: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """Reflect ``W^T`` so that its angle with ``B`` lies in [0, 90] degrees.

    For ``W^T = r_1 A + r_2 B`` with ``A ⊥ B`` (Methods 4.8), the reflection
    ``W^T - 2 <W^T, B>_F B`` (for unit ``B``) flips the sign of ``r_2`` and keeps
    ``r_1``; applying it when ``<W^T, B>_F < 0`` gives ``r_1 A + |r_2| B``, the
    generator the authors' code uses for the histograms of Fig. 5 (angle uniform
    on [0, 90]).

    Parameters
    ----------
    b : ndarray, shape (..., n, m)
        Unit-norm backward matrices.
    wt : ndarray, shape (..., n, m)
        Unit-norm ``W^T`` drawn by :func:`fa_lib.ensembles.angle_pairs`.

    Returns
    -------
    ndarray, shape (..., n, m)
        ``W^T`` with ``B ∠ W^T <= 90`` degrees, still of unit norm.
    """
    b = _checks.finite("b", _checks.ndim_at_least("b", b, 2))
    wt = _checks.finite("wt", _checks.ndim_at_least("wt", wt, 2))
    _checks.same_shape(("b", "wt"), b, wt)
    inner = linalg.frobenius_inner(b, wt)[..., None, None]
    bb = linalg.frobenius_inner(b, b)[..., None, None]
    if np.any(bb == 0):
        raise ValueError("b must not contain a zero matrix.")
    return np.where(inner < 0, wt - 2.0 * inner / bb * b, wt)


def theta3_linear(b2: np.ndarray, w2t: np.ndarray, b1: np.ndarray, w1t: np.ndarray) -> np.ndarray:
    """``theta_3 = B_2 B_1 ∠ W_2^T W_1^T`` in degrees (Sec. 2.4, eqs. 10-11 with eq. 33).

    Parameters
    ----------
    b2, w2t : ndarray, shape (..., p, q)
        ``B_2`` and ``W_2^T``.
    b1, w1t : ndarray, shape (..., q, r)
        ``B_1`` and ``W_1^T``.

    Returns
    -------
    ndarray, shape (...)
    """
    _check_factors(b2, w2t, b1, w1t)
    return linalg.angle(b2 @ b1, w2t @ w1t)


def theta3_nonlinear(
    b2: np.ndarray,
    w2t: np.ndarray,
    b1: np.ndarray,
    w1t: np.ndarray,
    d2: np.ndarray,
    d1: np.ndarray,
) -> np.ndarray:
    """Angle of the masked products, eq. 12, in degrees.

    ``{[B_2 * D_2] B_1} * D_1  ∠  {[W_2^T * D_2] W_1^T} * D_1`` with
    ``D_2 = f'(Z_2)`` (shape of ``B_2``) and ``D_1 = f'(Z_1)`` (shape of the
    product), ``*`` element-wise; the same masks on both sides, as in a network
    where the FA and the BP errors pass the same units.

    Parameters
    ----------
    b2, w2t : ndarray, shape (..., p, q)
    b1, w1t : ndarray, shape (..., q, r)
    d2 : ndarray, shape (..., p, q)
        Derivative mask of the upper layer.
    d1 : ndarray, shape (..., p, r)
        Derivative mask of the lower layer.

    Returns
    -------
    ndarray, shape (...)
    """
    _check_factors(b2, w2t, b1, w1t)
    if np.shape(d2)[-2:] != np.shape(b2)[-2:]:
        raise ValueError(f"d2 must have the shape of B_2 {np.shape(b2)[-2:]}; got {np.shape(d2)}.")
    out = (np.shape(b2)[-2], np.shape(b1)[-1])
    if np.shape(d1)[-2:] != out:
        raise ValueError(f"d1 must have the shape of the product {out}; got {np.shape(d1)}.")
    return linalg.angle(((b2 * d2) @ b1) * d1, ((w2t * d2) @ w1t) * d1)


def _check_factors(b2: np.ndarray, w2t: np.ndarray, b1: np.ndarray, w1t: np.ndarray) -> None:
    for name, a in (("b2", b2), ("w2t", w2t), ("b1", b1), ("w1t", w1t)):
        _checks.ndim_at_least(name, a, 2)
    _checks.same_shape(("b2", "w2t"), b2, w2t)
    _checks.same_shape(("b1", "w1t"), b1, w1t)
    if np.shape(b2)[-1] != np.shape(b1)[-2]:
        raise ValueError(
            f"B_2 B_1 is undefined: B_2 has shape {np.shape(b2)}, B_1 has shape {np.shape(b1)}."
        )


def draw_angles(
    rng: np.random.Generator,
    n: int,
    shape_b2: tuple[int, int] = (30, 15),
    shape_b1: tuple[int, int] = (15, 40),
    acute: bool = False,
) -> dict[str, np.ndarray]:
    """Draw ``n`` configurations at once and return their four angles (degrees).

    ``B_l`` uniform on the unit sphere and ``W_l^T`` at a uniform angle
    (Methods 4.8, :func:`fa_lib.ensembles.angle_pairs`), optionally reflected to
    [0, 90] (:func:`acute_pairs`); ``Z_2``, ``Z_1`` iid N(0, 1) with ReLU
    derivatives ``f'(Z) = [Z >= 0]`` (eq. 12).

    Parameters
    ----------
    rng : Generator
        The stream of this chunk.
    n : int
        Number of draws (stacked along the leading axis).
    shape_b2, shape_b1 : tuple of int
        Shapes of ``B_2`` and ``B_1``.
    acute : bool
        If True, ``theta_1`` and ``theta_2`` are uniform on [0, 90] instead of [0, 180].

    Returns
    -------
    dict of str to ndarray, each of shape (n,)
        ``theta1``, ``theta2``, ``theta3`` and ``theta3_nonlin``.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    (p, q), (q1, r) = tuple(shape_b2), tuple(shape_b1)
    if q != q1 or min(p, q, r) < 1:
        raise ValueError(f"B_2 {shape_b2} and B_1 {shape_b1} must be chainable (B_2 B_1).")
    b2, w2t = ensembles.angle_pairs(rng, (n, p, q))
    b1, w1t = ensembles.angle_pairs(rng, (n, q, r))
    if acute:
        w2t, w1t = acute_pairs(b2, w2t), acute_pairs(b1, w1t)
    relu_df = activations.RELU.df
    d2 = relu_df(rng.standard_normal((n, p, q)))
    d1 = relu_df(rng.standard_normal((n, p, r)))
    return {
        "theta1": linalg.angle(b1, w1t),
        "theta2": linalg.angle(b2, w2t),
        "theta3": theta3_linear(b2, w2t, b1, w1t),
        "theta3_nonlin": theta3_nonlinear(b2, w2t, b1, w1t, d2, d1),
    }


def sample(
    n: int,
    seed: int,
    chunk: int = 2500,
    shape_b2: tuple[int, int] = (30, 15),
    shape_b1: tuple[int, int] = (15, 40),
    acute: bool = False,
) -> dict[str, np.ndarray]:
    """``n`` draws of :func:`draw_angles`, computed chunk by chunk.

    Chunk ``k`` uses stream ``k`` of ``ensembles.streams(seed, n_chunks)``, so the
    result depends on ``seed`` and ``chunk`` only.

    Parameters
    ----------
    n : int
        Number of draws.
    seed : int
        Seed of the ensemble.
    chunk : int
        Draws per chunk (the last chunk may be smaller).
    shape_b2, shape_b1 : tuple of int
        Shapes of ``B_2`` and ``B_1``.
    acute : bool
        Angles of the factors on [0, 90] (histograms) instead of [0, 180] (heat maps).

    Returns
    -------
    dict of str to ndarray (float32), each of shape (n,)
        ``theta1``, ``theta2``, ``theta3``, ``theta3_nonlin`` in degrees.
    """
    n, chunk = int(n), int(chunk)
    if n < 1 or chunk < 1:
        raise ValueError(f"n and chunk must be >= 1; got n={n}, chunk={chunk}.")
    sizes = [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
    parts = [
        draw_angles(g, m, shape_b2, shape_b1, acute)
        for g, m in zip(ensembles.streams(seed, len(sizes)), sizes, strict=True)
    ]
    return {k: np.concatenate([p[k] for p in parts]).astype(np.float32) for k in parts[0]}


def run_heatmap(cfg: DepthConfig | None = None) -> dict[str, np.ndarray]:
    """Return the heat-map ensemble of Fig. 5A, C (cached).

    ``cfg.n_heatmap`` draws of ``theta1``, ``theta2`` (uniform on [0, 180]), ``theta3``
    and ``theta3_nonlin``.
    """
    return _ensemble("heatmap", config() if cfg is None else cfg)


def run_histograms(cfg: DepthConfig | None = None) -> dict[str, np.ndarray]:
    """Return the histogram ensemble of Fig. 5B, D, F, G (cached).

    As :func:`run_heatmap`, ``cfg.n_hist`` draws, with ``theta1``, ``theta2`` on [0, 90].
    """
    return _ensemble("histograms", config() if cfg is None else cfg)


def _ensemble(kind: str, cfg: DepthConfig) -> dict[str, np.ndarray]:
    """One of the two ensembles, through the results cache (``depth_<kind>``)."""
    acute = kind == "histograms"
    n, seed = (cfg.n_hist, cfg.seed_hist) if acute else (cfg.n_heatmap, cfg.seed_heatmap)
    return cached(f"depth_{kind}", {"experiment": kind, **asdict(cfg)},
                  lambda: sample(n, seed, cfg.chunk, cfg.shape_b2, cfg.shape_b1, acute=acute))


# --------------------------------------------------------------------------- analysis


def fold(theta: np.ndarray) -> np.ndarray:
    """Distance of an angle from the nearest of 0 and 180 degrees: ``90 - |theta - 90|``.

    The alignment of a pair irrespective of the sign of the match (the
    authors' code calls it ``teta_abs``); the identity on [0, 90].
    """
    theta = np.asarray(theta, dtype=float)
    return 90.0 - np.abs(theta - 90.0)


def predicted_theta3(theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
    """Large-matrix approximation ``theta_3 ≈ arccos(cos theta_1 cos theta_2)`` (this book's).

    Not in the paper. Write ``W_l^T = cos(theta_l) B_l + sin(theta_l) A_l`` with
    ``A_l`` a unit matrix orthogonal to ``B_l`` (Methods 4.8). Then
    ``W_2^T W_1^T = c_2 c_1 B_2 B_1 + c_2 s_1 B_2 A_1 + s_2 c_1 A_2 B_1 + s_2 s_1 A_2 A_1``;
    for large random matrices the four products are nearly orthogonal and of
    nearly equal norm, so ``cos theta_3 ≈ cos theta_1 cos theta_2`` up to
    fluctuations of order ``1 / sqrt(p r)`` (here ``1 / sqrt(30 * 40)``).

    Parameters
    ----------
    theta1, theta2 : array_like
        Angles in degrees (broadcast together).

    Returns
    -------
    ndarray
        The predicted ``theta_3`` in degrees.
    """
    t1, t2 = np.broadcast_arrays(np.asarray(theta1, dtype=float), np.asarray(theta2, dtype=float))
    return linalg.predicted_product_angle(np.stack([t1, t2], axis=-1))


def binned_stats(
    theta1: np.ndarray,
    theta2: np.ndarray,
    values: np.ndarray,
    width: float = 5.0,
    upper: float = 180.0,
) -> dict[str, np.ndarray]:
    """Mean, SD and count of ``values`` in square bins of ``(theta1, theta2)``.

    Bins are ``[k w, (k + 1) w)`` for ``k = 0 .. upper / w - 1`` (the last bin
    includes ``upper``); the first index of the returned maps is ``theta1``.

    Parameters
    ----------
    theta1, theta2, values : ndarray, shape (n,)
    width : float
        Bin width in degrees (5 in the paper: 36 x 36 bins over [0, 180]).
    upper : float
        Upper end of both axes.

    Returns
    -------
    dict
        ``edges`` (nb + 1,), ``mean``, ``sd`` (ddof = 1) and ``count`` (nb, nb);
        ``mean`` is NaN in empty bins and ``sd`` in bins with fewer than 2 draws.
    """
    theta1, theta2, values = (
        np.ravel(np.asarray(a, dtype=float)) for a in (theta1, theta2, values)
    )
    _checks.same_shape(("theta1", "theta2", "values"), theta1, theta2, values)
    _checks.positive("width", width)
    nb = int(round(upper / width))
    if nb < 1 or not np.isclose(nb * width, upper):
        raise ValueError(f"upper ({upper}) must be a positive multiple of width ({width}).")
    i = np.clip((theta1 // width).astype(int), 0, nb - 1)
    j = np.clip((theta2 // width).astype(int), 0, nb - 1)
    flat = i * nb + j
    count = np.bincount(flat, minlength=nb * nb).astype(float)
    s1 = np.bincount(flat, weights=values, minlength=nb * nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / count
        dev = values - mean[flat]
        ss = np.bincount(flat, weights=dev * dev, minlength=nb * nb)
        sd = np.sqrt(ss / (count - 1))
    mean[count < 1] = np.nan
    sd[count < 2] = np.nan
    shape = (nb, nb)
    return {
        "edges": np.linspace(0.0, upper, nb + 1),
        "mean": mean.reshape(shape),
        "sd": sd.reshape(shape),
        "count": count.reshape(shape),
    }


@dataclass(frozen=True)
class Band:
    """A region of ``(theta_1, theta_2)`` in [0, 90]^2 used by the histograms.

    ``kind = "max"``: ``lo <= max(theta_1, theta_2) < hi`` (e.g. both below 10);
    ``kind = "min"``: ``lo <= min(theta_1, theta_2) < hi`` (e.g. both in 80-90, or
    one of them below 5).
    """

    label: str
    kind: str
    lo: float
    hi: float

    def mask(self, theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
        """Boolean mask of the draws that fall in the band."""
        if self.kind not in ("max", "min"):
            raise ValueError(f"Band.kind must be 'max' or 'min'; got {self.kind!r}.")
        t1, t2 = np.asarray(theta1), np.asarray(theta2)
        x = np.maximum(t1, t2) if self.kind == "max" else np.minimum(t1, t2)
        return (x >= self.lo) & (x < self.hi)


BANDS: Mapping[str, Band] = {
    b.label: b
    for b in (
        Band("one < 5", "min", 0.0, 5.0),
        Band("one > 85", "max", 85.0, np.inf),
        Band("both < 10", "max", 0.0, 10.0),
        Band("both 10-20", "max", 10.0, 20.0),
        Band("both 20-30", "max", 20.0, 30.0),
        Band("both 30-40", "max", 30.0, 40.0),
        Band("both 40-50", "max", 40.0, 50.0),
        Band("both 60-70", "min", 60.0, 70.0),
        Band("both 70-80", "min", 70.0, 80.0),
        Band("both 80-90", "min", 80.0, np.inf),
    )
}
"""The (theta_1, theta_2) groups of the authors' histogram code, over [0, 90]^2.

"both 10-20" means both angles below 20 and at least one above 10 (the
authors' ``high20``); "both 70-80" both above 70 and at least one below 80;
"one < 5" at least one angle below 5; "one > 85" at least one above 85.
"""

FIGURE_BANDS = ("one < 5", "one > 85", "both < 10", "both 80-90", "both 10-20", "both 70-80")
"""The six groups the authors' code draws in the histogram panels, in its order."""


# --------------------------------------------------------------------------- claims


def signed_fold(
    theta1: np.ndarray, theta2: np.ndarray, theta3: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map a full-range configuration to the acute one of the histograms.

    ``theta_1, theta_2`` are folded to [0, 90] (:func:`fold`); ``theta_3`` is
    replaced by ``180 - theta_3`` when ``cos(theta_1) cos(theta_2) < 0``, i.e. when
    an odd number of the factors is anti-aligned, which flips the sign of the
    product's alignment. On the histogram ensemble (angles on [0, 90]) this is
    the identity, so both ensembles are compared in the same way as the authors'
    code compares ``theta_3`` with ``min(theta_1, theta_2)``.

    Returns
    -------
    tuple of ndarray
        The mapped ``theta_1``, ``theta_2`` and ``theta_3``.
    """
    t1, t2, t3 = (np.asarray(a, dtype=float) for a in (theta1, theta2, theta3))
    _checks.same_shape(("theta1", "theta2", "theta3"), t1, t2, t3)
    flip = (t1 > 90.0) != (t2 > 90.0)
    return fold(t1), fold(t2), np.where(flip, 180.0 - t3, t3)


def below_both(theta1: np.ndarray, theta2: np.ndarray, theta3: np.ndarray) -> dict[str, float]:
    """How often and where ``theta_3 < min(theta_1, theta_2)`` (Sec. 2.4).

    Angles are mapped with :func:`signed_fold` first (the identity for the
    histogram ensemble), so "smaller" means "better aligned" in the sense of
    the authors' code.

    Returns
    -------
    dict
        ``n`` draws, ``events`` (count), ``fraction``, ``lowest`` (the smallest
        ``min(theta_1, theta_2)`` among the events, NaN if none) and
        ``fraction_above_85`` (share of the events with both angles above 85).
    """
    t1, t2, t3 = signed_fold(theta1, theta2, theta3)
    lower = np.minimum(t1, t2)
    ev = t3 < lower
    n_ev = int(ev.sum())
    return {
        "n": int(t3.size),
        "events": n_ev,
        "fraction": n_ev / max(t3.size, 1),
        "lowest": float(lower[ev].min()) if n_ev else float("nan"),
        "fraction_above_85": float(np.mean(lower[ev] > 85.0)) if n_ev else float("nan"),
    }


def edge_slice(
    theta1: np.ndarray, theta2: np.ndarray, theta3: np.ndarray, width: float = 5.0
) -> dict[str, dict[str, float]]:
    """``theta_3`` against ``theta_2`` when ``theta_1`` is near 0 or near 180 degrees.

    The paper: "if theta_1 is close to 0 or 180, theta_3 is dominantly
    determined by theta_2". Near 0 the reference is ``theta_2``, near 180 it is
    ``180 - theta_2`` (the second factor flips the sign of the product).

    Returns
    -------
    dict
        For ``"near 0"`` and ``"near 180"``: ``n``, ``mean`` and ``sd`` of
        ``theta_3 - reference``, its ``rms``, ``max_abs``, the correlation ``r``
        of ``theta_3`` with the reference, and ``sd_reference`` (the spread of
        the reference itself, for scale).
    """
    t1, t2, t3 = (np.asarray(a, dtype=float) for a in (theta1, theta2, theta3))
    _checks.same_shape(("theta1", "theta2", "theta3"), t1, t2, t3)
    out = {}
    for name, sel, ref in (
        ("near 0", t1 < width, t2),
        ("near 180", t1 > 180.0 - width, 180.0 - t2),
    ):
        if sel.sum() < 2:
            raise ValueError(
                f"too few draws with theta_1 {name} (need >= 2; got {int(sel.sum())})."
            )
        dev = t3[sel] - ref[sel]
        out[name] = {
            "n": int(sel.sum()),
            "mean": float(dev.mean()),
            "sd": float(dev.std(ddof=1)),
            "rms": float(np.sqrt(np.mean(dev**2))),
            "max_abs": float(np.abs(dev).max()),
            "r": float(np.corrcoef(t3[sel], ref[sel])[0, 1]),
            "sd_reference": float(ref[sel].std(ddof=1)),
        }
    return out


def middle_slice(
    theta1: np.ndarray, theta2: np.ndarray, theta3: np.ndarray, width: float = 5.0,
    bin_width: float = 5.0,
) -> dict[str, object]:
    """``theta_3`` when ``theta_1`` is within ``width`` degrees of 90.

    Returns
    -------
    dict
        ``test``: one-sample t-test of ``theta_3`` against 90 (:class:`fa_lib.stats.TTest`);
        ``q99_abs``: 99th percentile of ``|theta_3 - 90|``; ``bin_means``: the mean
        ``theta_3`` in each ``theta_2`` bin of ``bin_width`` degrees (NaN if empty);
        ``max_bin_dev``: the largest ``|bin mean - 90|``.
    """
    t1, t2, t3 = (np.asarray(a, dtype=float) for a in (theta1, theta2, theta3))
    _checks.same_shape(("theta1", "theta2", "theta3"), t1, t2, t3)
    sel = np.abs(t1 - 90.0) < width
    if sel.sum() < 3:
        raise ValueError(f"too few draws with theta_1 near 90 (need >= 3; got {int(sel.sum())}).")
    nb = int(round(180.0 / bin_width))
    k = np.clip((t2[sel] // bin_width).astype(int), 0, nb - 1)
    cnt = np.bincount(k, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(k, weights=t3[sel], minlength=nb) / cnt
    return {
        "test": stats.ttest_1samp(t3[sel], 90.0),
        "q99_abs": float(np.quantile(np.abs(t3[sel] - 90.0), 0.99)),
        "bin_means": means,
        "max_bin_dev": float(np.nanmax(np.abs(means - 90.0))),
    }


def pooled_sd(binned: Mapping[str, np.ndarray]) -> float:
    """Pooled within-bin SD of a :func:`binned_stats` result (bins with >= 2 draws)."""
    sd, count = np.asarray(binned["sd"]), np.asarray(binned["count"])
    ok = np.isfinite(sd) & (count >= 2)
    if not ok.any():
        raise ValueError("no bin has 2 or more draws; the pooled SD is undefined.")
    return float(np.sqrt(np.sum(sd[ok] ** 2 * (count[ok] - 1)) / np.sum(count[ok] - 1)))


def band_table(hist: Mapping[str, np.ndarray], bands: Mapping[str, Band] = BANDS):
    """Linear against nonlinear ``theta_3`` in each band of the histogram ensemble.

    Per band: ``n``, mean and SD of ``theta_3`` and of ``theta_3^nonlin``, the
    paired difference ``theta_3 - theta_3^nonlin`` (mean, 99% CI, p of a
    one-sample t-test against 0), Welch's p for the two samples (the test the
    paper quotes, "p > 0.1") and the SD ratio nonlinear / linear.

    Returns
    -------
    pandas.DataFrame
        One row per band, indexed by the band's label.
    """
    import pandas as pd

    t1, t2 = np.asarray(hist["theta1"]), np.asarray(hist["theta2"])
    lin = np.asarray(hist["theta3"], dtype=float)
    non = np.asarray(hist["theta3_nonlin"], dtype=float)
    rows = []
    for label, band in bands.items():
        m = band.mask(t1, t2)
        if m.sum() < 3:
            raise ValueError(f"band {label!r} has {int(m.sum())} draws; need >= 3.")
        diff = stats.paired(lin[m], non[m])
        welch = stats.ttest_ind(lin[m], non[m])
        rows.append({
            "band": label,
            "n": int(m.sum()),
            "mean lin": float(lin[m].mean()),
            "SD lin": float(lin[m].std(ddof=1)),
            "mean nonlin": float(non[m].mean()),
            "SD nonlin": float(non[m].std(ddof=1)),
            "mean diff": diff.mean,
            "CI99 lo": diff.ci99[0],
            "CI99 hi": diff.ci99[1],
            "p paired": diff.p,
            "p Welch": welch.p,
            "SD ratio": float(non[m].std(ddof=1) / lin[m].std(ddof=1)),
        })
    return pd.DataFrame(rows).set_index("band")


def order_fractions(theta1: np.ndarray, theta2: np.ndarray, theta3: np.ndarray) -> dict[str, float]:
    """Where ``theta_3`` falls relative to ``theta_1`` and ``theta_2`` (after :func:`signed_fold`).

    Returns
    -------
    dict
        Fractions of the draws with ``theta_3`` below both angles, between
        them, and above both (the three sum to 1; ties count as between).
    """
    t1, t2, t3 = signed_fold(theta1, theta2, theta3)
    below = t3 < np.minimum(t1, t2)
    above = t3 > np.maximum(t1, t2)
    return {
        "below both": float(below.mean()),
        "between": float(1.0 - below.mean() - above.mean()),
        "above both": float(above.mean()),
    }


def experiments() -> dict[str, Callable[[], dict[str, np.ndarray]]]:
    """The chapter's cached experiments, in the notebook's order: name -> the notebook's call.

    Each call runs at the scale of :func:`config` when called and returns the cached results.
    """
    return {
        "heatmap": lambda: run_heatmap(config()),
        "histograms": lambda: run_histograms(config()),
    }


KINDS: dict[str, str] = {
    # draw_angles
    "theta1": "angle", "theta2": "angle", "theta3": "angle", "theta3_nonlin": "angle",
}
"""The kind of the numbers of every array of the chapter's cache entries, which sets how
:mod:`fa_lib.record` compares them: ``angle`` (degrees), ``accuracy`` (a fraction) or
``other``."""
