"""Which missing experiment waits for which: the order of ``reproduce --jobs`` and ``--scheduler``.

Some experiments read the results of others: the beyond chapters' runs read their
rule's tuning runs (``feedback_rules/dfa_stable`` reads the ``stable_dfa_s*`` and
``tune_dfa_*`` entries), several chapters read the same training runs. Nothing declares
this; it is found by running an experiment under a refusing observer
(:func:`fa_lib.cache.observe`, ``refuse=True``), which reads the entries that exist and
stops at the first it would compute (:func:`probe`).

:class:`Gate` hands out the missing experiments in the book's order, but holds one back
while another experiment that is running, or comes earlier, would compute the same
first missing entry: the later one waits until the earlier has finished and then reads
that entry instead of computing it a second time. When the earlier one fails, the later
one is let go and computes the entry itself. The earliest experiment not yet started is
never held when nothing runs, so the gate cannot stall.

Each experiment handed out comes with the entries it read in its latest probe
(:attr:`Probe.reads`): a ``--scheduler`` worker, which computes in an empty cache of its
own, is given them (:mod:`fa_lib.cluster`) so that it reads them as a local run does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from fa_lib import cache

__all__ = ["Gate", "Probe", "independent", "probe"]

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Probe:
    """What an experiment reads from the results cache before it would compute.

    Attributes
    ----------
    cached : bool
        True when it ran to its end without computing anything.
    missing : str or None
        The file name of the first entry it would compute (``name-key.npz``); None when
        it is cached, or when it raised (its run reports the error).
    reads : tuple of pathlib.Path
        The entries it read before, in the order it read them.
    """

    cached: bool
    missing: str | None
    reads: tuple[Path, ...]


def probe(run: Callable[[], Any]) -> Probe:
    """Run ``run`` under a refusing observer and say what it read and would compute first.

    Parameters
    ----------
    run : callable
        An experiment's callable (:func:`fa_lib.catalogue.registry`).

    Returns
    -------
    Probe
        Computing nothing and deleting nothing; a damaged entry counts as missing and is
        not reported (the run that computes it reports it). An experiment that raises
        counts as not cached, with no missing entry.
    """
    observer = None
    try:
        with cache.observe(refuse=True, quiet=True) as observer:
            run()
    except cache.ComputeRefused:
        return Probe(False, observer.refused, tuple(p for _, _, p in observer.read))
    except Exception:  # noqa: BLE001 - the experiment's own run raises it again, as a FAILED row
        reads = tuple(p for _, _, p in observer.read) if observer is not None else ()
        return Probe(False, None, reads)
    return Probe(True, None, tuple(p for _, _, p in observer.read))


def independent(task: Any) -> Probe:
    """The probe of a task taken to read nothing of the others (never held by a :class:`Gate`)."""
    return Probe(False, None, ())


class Gate(Generic[T]):
    """Hand out tasks in order, holding back one whose first missing entry another computes.

    Parameters
    ----------
    tasks : sequence
        The missing experiments' tasks, in the order to run them; distinct.
    check : callable, optional
        ``check(task)`` -> :class:`Probe` of the task now (e.g. :func:`probe` of its
        experiment); default :func:`independent`.
    probes : mapping, optional
        Probes already taken of some tasks (a run's first check of every experiment), used
        until a task finishes.

    Notes
    -----
    A task is held while its probe's :attr:`~Probe.missing` entry is the first missing
    entry of a task that was handed out and has not finished, or of a task before it not
    yet handed out. Every :meth:`finished` makes the probes of the tasks not yet handed
    out stale; a task is probed again before it is handed out or held.
    """

    def __init__(self, tasks: Sequence[T], check: Callable[[T], Probe] = independent,
                 probes: dict[T, Probe] | None = None) -> None:
        if len(set(tasks)) != len(tasks):
            raise ValueError("the tasks of a Gate must be distinct.")
        self._pending: list[T] = list(tasks)
        self._check = check
        wanted = set(tasks)
        self._probes: dict[T, tuple[int, Probe]] = {
            t: (0, p) for t, p in (probes or {}).items() if t in wanted}
        self._generation = 0
        self._running: dict[T, str | None] = {}

    def __len__(self) -> int:
        """The tasks not handed out yet."""
        return len(self._pending)

    def _probe(self, task: T) -> Probe:
        generation, found = self._probes.get(task, (-1, None))
        if found is None or generation != self._generation:
            found = self._check(task)
            self._probes[task] = (self._generation, found)
        return found

    def take(self) -> tuple[T, Probe] | None:
        """Hand out the first task that may start now, with its latest probe.

        Returns
        -------
        (task, Probe) or None
            None when every task not handed out is held (or none is left).
        """
        earlier: set[str] = set()  # the first missing entries of the tasks held so far
        for index, task in enumerate(self._pending):
            found = self._probe(task)
            missing = found.missing
            if missing is None or (missing not in earlier
                                   and missing not in self._running.values()):
                del self._pending[index]
                self._running[task] = missing
                return task, found
            earlier.add(missing)
        if self._pending and not self._running:  # cannot happen; never stall
            task = self._pending.pop(0)
            self._running[task] = None
            return task, self._probe(task)
        return None

    def finished(self, task: T) -> None:
        """Note that a task handed out has finished (computed or failed).

        Raises
        ------
        KeyError
            If ``task`` was not handed out, or was reported finished already.
        """
        del self._running[task]
        self._generation += 1
