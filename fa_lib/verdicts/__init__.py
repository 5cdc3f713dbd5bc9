"""The chapters' claims, as code: one module per chapter, ``fa_lib.verdicts.<chapter>``.

Each module computes its chapter's claims from the chapter's results, read through the
chapter's experiments module (``fa_lib.experiments.<chapter>``, which reads the results
cache and computes only what is missing), and holds the thresholds its criteria use::

    CHAPTER: str                 # the chapter's name
    THRESHOLDS: dict             # the numbers the criteria compare with
    def claims() -> list[Claim]  # every claim the chapter checks, at the current scale

and, where the chapter's text quotes computed numbers, a function returning them by name
(glued by the notebook with :func:`fa_lib.book.glue_all`). The criteria are small
functions of the results, so that unit tests can give them hand-made results (a claim
that holds, one that fails, a NaN).

Why a package of its own and not functions of the experiments modules: a results cache
entry is keyed by the code of the module that computed it and of every ``fa_lib``
module that module uses (:func:`fa_lib.cache.module_fingerprint`). The verdicts modules
import the experiments modules, never the reverse, so rewording a claim or moving a
threshold keeps every cached result, the paper-scale runs included.

:func:`claims_of` runs a chapter's ``claims()`` (``reproduce --record`` does so under a
refusing observer: nothing is computed); :func:`has_claims` says whether a chapter has
such a module.
"""

from __future__ import annotations

import importlib
import importlib.util

from fa_lib.claims import Claim

__all__ = ["claims_of", "has_claims", "module_name"]


def module_name(chapter: str) -> str:
    """The verdicts module of ``chapter``: ``fa_lib.verdicts.<chapter>``."""
    return f"{__name__}.{chapter}"


def has_claims(chapter: str) -> bool:
    """Whether ``chapter`` has a verdicts module."""
    return importlib.util.find_spec(module_name(chapter)) is not None


def claims_of(chapter: str) -> list[Claim]:
    """Compute ``chapter``'s claims at the current scale (its module's ``claims()``).

    Raises
    ------
    ModuleNotFoundError
        If the chapter has no verdicts module.
    """
    return list(importlib.import_module(module_name(chapter)).claims())
