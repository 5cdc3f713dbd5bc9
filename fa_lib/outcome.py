"""The outcome of one experiment's run: its times, whether it was cached, its error.

:func:`timed` runs an experiment under a cache observer and returns an :class:`Outcome`;
the ``--jobs`` workers (:mod:`fa_lib.runner`) and the dask workers (:mod:`fa_lib.cluster`)
send it back to the command, which turns it into a row of the time table.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fa_lib import cache

__all__ = ["Outcome", "error_summary", "run_watched", "timed"]


@dataclass(frozen=True)
class Outcome:
    """What one experiment's run gave.

    Attributes
    ----------
    seconds, cpu_seconds : float
        Wall-clock and CPU time of the call (in the process that made it).
    state : str
        ``yes``, ``no`` or ``partial`` (cached before: :attr:`fa_lib.cache.Observer.cached_before`)
        or ``FAILED``.
    summary : str
        For a failure: the exception type and the first line of its message.
    detail : str
        For a failure: the traceback (or the causes), printed by the command.
    note : str
        Where it ran (``--scheduler``), and how many workers were lost under it.
    """

    seconds: float
    cpu_seconds: float
    state: str
    summary: str = ""
    detail: str = ""
    note: str = ""

    @classmethod
    def failed(cls, summary: str, detail: str | None = None, seconds: float = 0.0,
               note: str = "") -> Outcome:
        """A failure without a run (a worker lost, an interruption, a missing input)."""
        return cls(seconds, 0.0, "FAILED", summary,
                   summary + "\n" if detail is None else detail, note)


def error_summary(err: BaseException) -> str:
    """Return ``"<type>: <first line of the message>"`` of an exception.

    Parameters
    ----------
    err : BaseException

    Returns
    -------
    str
    """
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def run_watched(run: Callable[[], Any]) -> cache.Observer:
    """Call ``run()`` and return what it did with the results cache.

    Parameters
    ----------
    run : callable
        An experiment's callable (see :func:`registry`).

    Returns
    -------
    fa_lib.cache.Observer
        The cache entries it asked for, computed, found damaged and could not write.
    """
    with cache.observe() as observer:
        run()
    return observer


def timed(run: Callable[[], Any]) -> Outcome:
    """Call ``run()`` under an observer and time it; an exception becomes a FAILED outcome.

    Parameters
    ----------
    run : callable
        An experiment's callable (:func:`fa_lib.chapters.registry`).

    Returns
    -------
    Outcome
    """
    start, cpu = time.perf_counter(), time.process_time()
    try:
        observer = run_watched(run)
    except Exception as err:  # noqa: BLE001 - reported by the caller, the rest still runs
        return Outcome(time.perf_counter() - start, time.process_time() - cpu, "FAILED",
                       error_summary(err), traceback.format_exc())
    state, summary, detail = observer.cached_before, "", ""
    if observer.write_errors:
        n = len(observer.write_errors)
        state = "FAILED"
        summary = (f"CacheWriteError: {n} cache entr{'y' if n == 1 else 'ies'} not written: "
                   f"{observer.write_errors[0]}")
        detail = "\n".join(observer.write_errors) + "\n"
    return Outcome(time.perf_counter() - start, time.process_time() - cpu, state, summary,
                   detail)
