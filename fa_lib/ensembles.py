"""Random ensembles from seeded ``numpy.random.Generator`` streams.

Convention: wherever a function takes ``rng``, it accepts either one
``Generator`` (the draw has the requested shape) or a sequence of ``R``
generators, one independent stream per repetition (the draw is stacked with a
leading repetition axis of length ``R``). :func:`streams` makes such a sequence
from one seed, so repetition ``r`` gives the same numbers whether it runs alone
on ``streams(seed, R)[r]`` or stacked with the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fa_lib import _checks, linalg

Rng = np.random.Generator | Sequence[np.random.Generator]


def streams(seed: int | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """Return ``n`` independent generators spawned from one seed.

    Parameters
    ----------
    seed : int or SeedSequence
        The experiment's seed.
    n : int
        Number of streams (repetitions), >= 1.
    """
    n = _checks.whole("n (the number of streams)", n)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(n)]


def _stack(rng: Rng, draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    if isinstance(rng, np.random.Generator):
        return draw(rng)
    if not isinstance(rng, (Sequence, np.ndarray)) or isinstance(rng, str) or not all(
        isinstance(g, np.random.Generator) for g in rng
    ):
        raise TypeError(
            "rng must be a numpy.random.Generator or a sequence of them, one per repetition "
            f"(e.g. streams(seed, R)); got {type(rng).__name__} {_checks._short(rng)}."
        )
    if len(rng) == 0:
        raise ValueError("rng must be a Generator or a non-empty sequence of Generators; got [].")
    return np.stack([draw(g) for g in rng])


def normal(
    rng: Rng,
    shape: tuple[int, ...],
    loc: float = 0.0,
    scale: float = 1.0,
    dtype: type = np.float64,
) -> np.ndarray:
    """Entries iid ``N(loc, scale^2)`` (``scale`` is the SD).

    Returns an array of ``shape``, or ``(R, *shape)`` for ``R`` streams.
    """
    _checks.positive("scale", scale)
    return _stack(rng, lambda g: g.normal(loc, scale, size=shape).astype(dtype, copy=False))


def uniform(
    rng: Rng, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: type = np.float64
) -> np.ndarray:
    """Entries iid ``U(low, high)``; shape as in :func:`normal`."""
    if not high > low:
        raise ValueError(f"uniform needs high > low; got low={low!r}, high={high!r}.")
    return _stack(rng, lambda g: g.uniform(low, high, size=shape).astype(dtype, copy=False))


def unit_sphere(rng: Rng, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """Matrices uniform on the unit sphere ``|A|_F = 1`` (last two axes of ``shape``).

    Drawn as iid N(0, 1) entries divided by their Frobenius norm (Methods 4.8).
    """
    if len(shape) < 2:
        raise ValueError(f"unit_sphere draws matrices: shape needs >= 2 axes; got {shape}.")
    a = normal(rng, shape, dtype=dtype)
    return a / linalg.frobenius_norm(a)[..., None, None]


def angle_pairs(
    rng: Rng, shape: tuple[int, ...], dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of unit matrices whose angle is uniform on [0, 180] degrees (Methods 4.8).

    ``B`` is uniform on the unit sphere; an auxiliary unit ``A`` is made
    orthogonal to ``B`` by Gram-Schmidt (``A <- A - <A, B>_F B``, then
    renormalised), and ``W^T = r1 A + r2 B`` with ``r1, r2 ~ N(0, 1)``,
    normalised. Since ``(r1, r2)`` is isotropic, ``B ∠ W^T`` is uniform on [0, 180].

    Parameters
    ----------
    rng : Generator or sequence of Generators
    shape : tuple
        ``(..., n, m)``: leading axes index the draws.

    Returns
    -------
    b, wt : ndarray, shape ``shape`` (or ``(R, *shape)``)
        ``B`` and ``W^T``, both of unit Frobenius norm.
    """
    lead = shape[:-2]
    b = unit_sphere(rng, shape, dtype)
    a = unit_sphere(rng, shape, dtype)
    a = a - linalg.frobenius_inner(a, b)[..., None, None] * b
    a = a / linalg.frobenius_norm(a)[..., None, None]
    r = normal(rng, (*lead, 2), dtype=dtype)
    wt = r[..., 0, None, None] * a + r[..., 1, None, None] * b
    return b, wt / linalg.frobenius_norm(wt)[..., None, None]


class AR1:
    """Gaussian AR(1) matrices over iterations (eqs. 6-7), one stream per repetition.

    ``S[k] = beta S[k-1] + (1 - beta) N[k-1]`` with ``N[k]`` iid ``N(loc, 1)``
    entries; ``S[0]`` is itself a draw of ``N(loc, 1)``. ``beta = 1`` keeps the
    matrix constant, ``beta = 0`` redraws it every iteration.

    Parameters
    ----------
    rng : Generator or sequence of Generators
    beta : float in [0, 1]
    shape : tuple
        Shape of one matrix.
    loc : float
        Mean of the innovations.
    """

    def __init__(
        self,
        rng: Rng,
        beta: float,
        shape: tuple[int, ...],
        loc: float = 0.0,
        dtype: type = np.float64,
    ) -> None:
        self.beta = _checks.probability("beta", beta)
        self._rng, self._shape, self._loc, self._dtype = rng, shape, loc, dtype
        self.value = normal(rng, shape, loc=loc, dtype=dtype)

    def step(self) -> np.ndarray:
        """Advance one iteration and return the new matrix."""
        if self.beta < 1.0:
            noise = normal(self._rng, self._shape, loc=self._loc, dtype=self._dtype)
            self.value = self.beta * self.value + (1.0 - self.beta) * noise
        return self.value


def ar1_sequence(
    rng: Rng, beta: float, n_steps: int, shape: tuple[int, ...] = (), loc: float = 0.0
) -> np.ndarray:
    """A whole AR(1) sequence (eqs. 6-7): ``(n_steps, *shape)``, or ``(R, n_steps, *shape)``.

    The theoretical ACF at lag ``tau`` (for ``loc = 0`` and ``beta < 1``, in the
    stationary regime) is proportional to ``beta^|tau|``.
    """
    n_steps = _checks.whole("n_steps", n_steps)
    beta = _checks.probability("beta", beta)

    def one(g: np.random.Generator) -> np.ndarray:
        proc = AR1(g, beta, shape, loc)
        out = np.empty((n_steps, *shape))
        out[0] = proc.value
        for k in range(1, n_steps):
            out[k] = proc.step()
        return out

    return _stack(rng, one)


def n_hot_codes(rng: np.random.Generator, n_classes: int, m: int, n: int) -> np.ndarray:
    """Mutually exclusive n-hot code vectors (Methods 4.9).

    Class ``c = 0, 1, ...`` in turn gets ``n`` ones at positions drawn at random
    from the ``m - c n`` positions that no earlier class uses.

    Parameters
    ----------
    rng : Generator
        One generator (a sequence of them is a TypeError: the codes are one matrix).
    n_classes : int
        Number of classes ``C``.
    m : int
        Code length (the number of output units).
    n : int
        Ones per code; requires ``n * C <= m``.

    Returns
    -------
    ndarray, shape (C, m)
        0/1 codes; no two rows share a one.

    Raises
    ------
    TypeError
        If ``rng`` is not one Generator, or a size is not a number.
    ValueError
        If a size is not a whole number >= 1 (``2.7`` is not truncated), or ``n * C > m``.
    """
    _checks.generator("rng", rng)
    n_classes = _checks.whole("n_classes", n_classes)
    m, n = _checks.whole("m", m), _checks.whole("n", n)
    if n * n_classes > m:
        raise ValueError(
            f"{n_classes} mutually exclusive {n}-hot codes need n * C = {n * n_classes} "
            f"<= m output units; got m = {m}."
        )
    codes = np.zeros((n_classes, m))
    free = np.ones(m, dtype=bool)
    for c in range(n_classes):
        chosen = rng.choice(np.flatnonzero(free), size=n, replace=False)
        codes[c, chosen] = 1.0
        free[chosen] = False
    return codes
