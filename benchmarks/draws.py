"""Benchmark 3: open-loop simulations and draw-based figures, stacked against per-draw loops.

Every experiment is timed through the book's own function twice: as the book runs it
(stacked draws / repetitions) and as a loop of one draw (chunk of 1) or one repetition
at a time (``reps = 1``, repeated), on the same amount of work.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import common
from fa_lib.experiments import autocorrelation as ac
from fa_lib.experiments import depth, persistent_error
from fa_lib.openloop import Signal, run_openloop
from fa_lib.rule import Rule


def _seconds(func: Callable[[], object]) -> float:
    t0 = common.clock()
    func()
    return common.clock() - t0


def _row(unit: str, n_stacked: int, t_stacked: float, n_looped: int, t_looped: float) -> dict:
    rate_s, rate_l = n_stacked / t_stacked, n_looped / t_looped
    return {"unit": unit, "stacked_per_s": rate_s, "looped_per_s": rate_l,
            "ratio": rate_s / rate_l, "n_stacked": n_stacked, "n_looped": n_looped}


def fig1_draws(n: int, n_loop: int) -> dict:
    """Fig. 1B, C: :func:`~fa_lib.experiments.persistent_error.draw_condition`, condition 1."""
    dims = persistent_error.CONDITIONS[1]
    t_s = _seconds(lambda: persistent_error.draw_condition(1, dims, n))
    t_l = _seconds(lambda: persistent_error.draw_condition(1, dims, n_loop, max_elements=1))
    return _row("draws", n, t_s, n_loop, t_l)


def fig2_draws(n: int, n_loop: int) -> dict:
    """Fig. 2: :func:`~fa_lib.experiments.autocorrelation.fig2_condition`, condition 1."""
    t_s = _seconds(lambda: ac.fig2_condition(1, ac.Fig2Config(draws=n, chunk=min(n, 1000))))
    t_l = _seconds(lambda: ac.fig2_condition(1, ac.Fig2Config(draws=n_loop, chunk=1)))
    return _row("draws", n, t_s, n_loop, t_l)


def fig5_draws(n: int, n_loop: int) -> dict:
    """Fig. 5: :func:`~fa_lib.experiments.depth.sample` (chunks of 2500 vs chunks of 1)."""
    t_s = _seconds(lambda: depth.sample(n, 7, chunk=2500))
    t_l = _seconds(lambda: depth.sample(n_loop, 7, chunk=1))
    return _row("draws", n, t_s, n_loop, t_l)


def fig3_openloop(reps: int, n_iter: int, n_iter_loop: int) -> dict:
    """Fig. 3 (case 2): :func:`~fa_lib.openloop.run_openloop`, ``reps`` stacked vs one at a time.

    The rate is repetition-iterations per second.
    """
    rule = Rule("fa", eta=0.002)

    def go(r: int, n: int) -> None:
        run_openloop(2023, r, n, (100, 100, 10), 100, rule, e=Signal(every=1))

    t_s = _seconds(lambda: go(reps, n_iter))
    t_l = _seconds(lambda: [go(1, n_iter_loop) for _ in range(reps)])
    return _row("repetition-iterations", reps * n_iter, t_s, reps * n_iter_loop, t_l)


def run(quick: bool) -> dict:
    """All benchmark-3 rows (smaller counts with ``quick``)."""
    f = 1 if quick else 4
    return {
        "fig1_draws (persistent_error.draw_condition, cond. 1)": fig1_draws(1000 * f, 100 * f),
        "fig2_draws (autocorrelation.fig2_condition, cond. 1)": fig2_draws(1000 * f, 100 * f),
        "fig5_draws (depth.sample)": fig5_draws(10_000 * f, 300 * f),
        "fig3_openloop (run_openloop, 30 reps, E redrawn)": fig3_openloop(30, 100 * f, 30 * f),
    }
