"""What a chapter's set-up cell does: the scale it runs at, and its results.

A reader who opens a chapter outside a book build (Binder, Colab, a fresh clone in
Jupyter) should see the paper's figures in about a minute, not start hours of
computing. The chapter's set-up cell calls :func:`prepare`, which

1. does nothing in a book build (the build decided before the notebooks ran:
   :mod:`fa_lib.build_plan`, which sets :data:`BUILD_VARIABLE`) or when the results
   cache is off;
2. lists the chapter's experiments in the results cache (computing nothing) and, for
   those missing, fetches the published results of a release made with this code
   (:func:`fa_lib.build_plan.fetch_published`: the committed manifest, checked
   archives, all or nothing per archive);
3. when some are still missing (a checkout ahead of the newest release, or offline):
   if the reader chose the scale (``FA_SCALE`` set), or if the missing experiments take
   at most :data:`UNASKED_SECONDS` on one core by the benchmarks' times, says in one
   line what the cells below will compute and about how long it takes; if not (the
   default, the paper scale, for longer), switches this kernel to the quick scale and
   says so in one line, with the one line that asks for the paper scale instead. So
   no chapter starts hours of computing unasked.

To change something and rerun small, set ``os.environ["FA_SCALE"] = "quick"`` before
the set-up cell (or export ``FA_SCALE=quick`` before Jupyter starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fa_lib import build_plan, cache, config

__all__ = ["BUILD_VARIABLE", "UNASKED_SECONDS", "Setup", "prepare"]

BUILD_VARIABLE = "FA_BOOK_BUILD_PLANNED"
"""Set (to the scale) by a book build before its notebooks run: their set-up cells then
leave the scale and the results cache as the build made them."""

UNASKED_SECONDS = 300.0
"""The longest known one-core time of missing paper-scale experiments that a set-up cell
computes without being asked (the default scale); longer, it switches to the quick scale."""


@dataclass(frozen=True)
class Setup:
    """What :func:`prepare` found and did.

    Attributes
    ----------
    scale : str
        The scale the chapter runs at now.
    action : str
        ``"build"`` (a book build decided), ``"off"`` (the results cache is off),
        ``"cached"`` (every experiment in the cache), ``"fetched"`` (the missing ones
        fetched), ``"compute"`` (the cells compute the missing ones at the scale the
        reader chose) or ``"quick"`` (no published results for this code: switched to
        the quick scale).
    missing : int
        How many of the chapter's experiments at ``scale`` the cells will compute
        (for ``"quick"``, at the paper scale; the quick ones are computed in seconds to
        minutes).
    message : str
        The line printed ("" when nothing needed saying).
    """

    scale: str
    action: str
    missing: int = 0
    message: str = ""


def _about(plan: build_plan.Plan) -> str:
    """About how long the missing experiments of ``plan`` take on one core, in words."""
    estimate = plan.estimate()
    if not estimate.counts:
        return "for a time not measured here"
    return f"about {build_plan.duration(estimate.seconds)} on one core"


def _why(plan: build_plan.Plan) -> str:
    """Why the missing experiments were not fetched, as a clause."""
    if plan.published.startswith(build_plan.NO_PUBLISHED):
        return "no release publishes them for this code" + plan.published[
            len(build_plan.NO_PUBLISHED):]
    return f"fetching them failed: {plan.published}"


def _short(plan: build_plan.Plan) -> bool:
    """Whether every missing experiment of ``plan`` has a known time, adding up to little."""
    estimate = plan.estimate()
    return not estimate.unknown and estimate.seconds <= UNASKED_SECONDS


def prepare(chapter: str, *, modules: Mapping[str, str] | None = None,
            log: Callable[[str], None] = print) -> Setup:
    """Choose the chapter's scale and bring its published results into the cache.

    Parameters
    ----------
    chapter : str
        The chapter (``depth``, ``mnist_alignment``, ...).
    modules : mapping of str to str, optional
        Chapter -> experiments module (default ``fa_lib.experiments.<chapter>``).
    log : callable
        Where the one line goes (default :func:`print`).

    Returns
    -------
    Setup

    Raises
    ------
    fa_lib.build_plan.BuildPlanError
        If the chapter's experiments cannot be listed (its module fails to import).
    """
    if os.environ.get(BUILD_VARIABLE):
        return Setup(config.scale(), "build")
    if not cache.cache_enabled():
        return Setup(config.scale(), "off")
    chosen = bool(os.environ.get("FA_SCALE", "").strip())
    plan = build_plan.make_plan([chapter], modules)
    if not plan.missing:
        if not plan.fetched:
            return Setup(plan.scale, "cached")
        message = (f"fa_lib: this chapter's {plan.scale}-scale results were fetched from "
                   f"the published release ({plan.published}); the cells only read them.")
        log(message)
        return Setup(plan.scale, "fetched", 0, message)
    n = len(plan.missing)
    what = f"{n} experiment{'' if n == 1 else 's'}"
    if chosen or plan.scale != "paper" or _short(plan):
        message = (f"fa_lib: {what} of this chapter at the {plan.scale} scale "
                   f"{'is' if n == 1 else 'are'} not in the results cache and "
                   f"{_why(plan)}; the cells below compute them, {_about(plan)}.")
        log(message)
        return Setup(plan.scale, "compute", n, message)
    os.environ["FA_SCALE"] = "quick"
    message = (f"fa_lib: this chapter's paper-scale results are not in the results cache "
               f"and {_why(plan)}, so it runs at the quick scale; for the paper scale "
               f"({what}, {_about(plan)}), run os.environ['FA_SCALE'] = 'paper' and this "
               "cell again.")
    log(message)
    return Setup("quick", "quick", n, message)
