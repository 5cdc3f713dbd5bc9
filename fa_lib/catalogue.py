"""The book's chapter catalogue: table of contents -> chapters -> experiment lists.

One reader of ``_toc.yml`` (:func:`toc_files`); the chapters with cached experiments in the
book's order (:data:`CHAPTERS`), each a notebook ``book/<chapter>.ipynb``, an experiments
module ``fa_lib.experiments.<chapter>`` (its ``experiments()``: label -> a callable that
makes one of the notebook's calls, at the scale read when called) and a verdicts module
``fa_lib.verdicts.<chapter>`` (its ``claims()``); the experiment lists (:func:`registry`)
and the kinds of numbers the modules declare (:func:`declared_kinds`). ``reproduce``,
``record``, ``report``, ``results``, the build plan, the benchmarks and the tests read the
chapters here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fa_lib import cache, config

__all__ = [
    "CHAPTERS",
    "EXPERIMENTS_PACKAGE",
    "TOC",
    "Experiment",
    "chapters",
    "check_chapters",
    "declared_kinds",
    "experiments_of",
    "needs_mnist",
    "module_names",
    "notebooks",
    "registry",
    "set_scale",
    "toc_files",
    "with_progress",
]

EXPERIMENTS_PACKAGE = "fa_lib.experiments"
TOC = cache.PACKAGE_DIR.parent / "_toc.yml"
"""The book's table of contents (Jupyter Book's ``_toc.yml``, in the repository root)."""

REPORT = "report"
"""The notebook of the reproduction report, which is no chapter of its own."""


def toc_files(toc: Path | str | None = None) -> list[str]:
    """Return the ``file:`` entries of the table of contents, in the book's order.

    The one reader of ``_toc.yml``: every list of chapters of the package comes from it.

    Parameters
    ----------
    toc : path, optional
        The table of contents (default :data:`TOC`).

    Returns
    -------
    list of str
        The entries as written (``"book/depth"``), without repeats.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a YAML mapping.
    """
    path = TOC if toc is None else Path(toc)
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(content, Mapping):
        raise ValueError(f"{path} is not a YAML mapping (a Jupyter Book table of contents).")
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content)
    return list(dict.fromkeys(files))


def notebooks(toc: Path | str | None = None) -> list[str]:
    """Return the names of the book's chapter notebooks, in the order of the table of contents.

    Parameters
    ----------
    toc : path, optional
        The table of contents (default :data:`TOC`). When the file does not exist (e.g.
        ``fa_lib`` installed outside the repository), the notebooks ``book/*.ipynb``
        next to it are listed in alphabetical order instead.

    Returns
    -------
    list of str
        The file stems of the notebooks (``.ipynb`` files) of the table of contents,
        without the report itself; a chapter's stem is its name (``CHAPTER``).
    """
    path = TOC if toc is None else Path(toc)
    if not path.is_file():
        return sorted(p.stem for p in (path.parent / "book").glob("*.ipynb")
                      if p.stem != REPORT)
    out = []
    for entry in toc_files(path):
        notebook = (path.parent / entry).with_suffix(".ipynb")
        if notebook.is_file() and notebook.stem != REPORT:
            out.append(notebook.stem)
    return out


def chapters(toc: Path | None = None) -> tuple[str, ...]:
    """Return the chapters with cached experiments, in the book's order.

    Parameters
    ----------
    toc : pathlib.Path, optional
        The table of contents (default ``_toc.yml`` of the repository). The chapters are
        its entries ``book/<chapter>`` (commented lines skipped) that have a module
        ``fa_lib.experiments.<chapter>``. Without the file (an installed package), every
        module of ``fa_lib.experiments``, in sorted order.

    Returns
    -------
    tuple of str
    """
    toc = TOC if toc is None else Path(toc)
    if toc.is_file():
        names = [f.removeprefix("book/") for f in toc_files(toc) if f.startswith("book/")]
        return tuple(n for n in names
                     if importlib.util.find_spec(f"{EXPERIMENTS_PACKAGE}.{n}") is not None)
    package = importlib.import_module(EXPERIMENTS_PACKAGE)
    return tuple(sorted(m.name for m in pkgutil.iter_modules(package.__path__)))


CHAPTERS: tuple[str, ...] = chapters()
"""The chapters with cached experiments, in the book's order (:func:`chapters`); each is
a notebook ``book/<chapter>.ipynb`` and a module ``fa_lib.experiments.<chapter>``."""

Experiment = tuple[str, Callable[[], Any]]
"""An experiment: its label and a callable, without arguments, that makes the notebook's call."""


# --------------------------------------------------------------------------- the registry


def module_names(modules: Mapping[str, str] | None = None) -> dict[str, str]:
    """Chapter -> experiments module: the book's chapters, or the given mapping (tests)."""
    if modules is None:
        return {ch: f"{EXPERIMENTS_PACKAGE}.{ch}" for ch in CHAPTERS}
    return dict(modules)


def with_progress(run: Callable[..., Any], progress: bool) -> Callable[[], Any]:
    """``run`` with ``progress=True`` when asked and when it takes that keyword."""
    if progress and "progress" in inspect.signature(run).parameters:
        return lambda: run(progress=True)
    return run


def experiments_of(module: Any) -> Mapping[str, Callable[..., Any]]:
    """Return an experiments module's experiments at the current scale: label -> callable.

    A chapter's module lists them with a function ``experiments()``, called now (the list
    may depend on the scale, :func:`fa_lib.config.scale`, read when called); a module
    without one (a test's toy chapter, a benchmark's slice) with a mapping ``EXPERIMENTS``.
    """
    listing = getattr(module, "experiments", None)
    return listing() if callable(listing) else module.EXPERIMENTS


def registry(progress: bool = False, modules: Mapping[str, str] | None = None
             ) -> dict[str, list[Experiment]]:
    """Return the book's cached experiments: chapter -> list of (label, callable).

    The list of every chapter is its module's experiments (:func:`experiments_of`), in
    order, at the scale of this call (:func:`fa_lib.config.scale`): each callable makes,
    without arguments, one of the calls of the chapter's notebook. Nothing is fixed when a
    module is imported: set the scale (``FA_SCALE`` or :func:`fa_lib.config.scale_context`)
    before calling this and keep it while the callables run.

    Parameters
    ----------
    progress : bool
        Pass ``progress=True`` to the experiments that take it (a bar; it changes neither
        the results nor their cache key).
    modules : mapping of str to str, optional
        Chapter -> module name; default the chapters of :data:`CHAPTERS` and their modules
        in ``fa_lib.experiments``.

    Returns
    -------
    dict of str to list of (str, callable)
    """
    table = {}
    for chapter, name in module_names(modules).items():
        experiments = experiments_of(importlib.import_module(name))
        table[chapter] = [(label, with_progress(run, progress))
                          for label, run in experiments.items()]
    return table


def declared_kinds(modules: Mapping[str, str] | None = None) -> dict[str, Mapping[str, str]]:
    """Return chapter -> the kinds of numbers its experiments module declares (``KINDS``).

    Parameters
    ----------
    modules : mapping of str to str, optional
        As in :func:`registry`.

    Returns
    -------
    dict of str to mapping
        Chapter -> its module's ``KINDS``: array name (or a pattern, ``t*_aln``) ->
        ``angle``, ``accuracy`` or ``other`` (:func:`fa_lib.record.kind_of`); empty for a
        module without ``KINDS``, whose arrays are all ``other``.
    """
    return {chapter: getattr(importlib.import_module(name), "KINDS", {})
            for chapter, name in module_names(modules).items()}


def check_chapters(chosen: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    """Return ``chosen`` (default ``known``) without repeats; unknown names are an error.

    Raises
    ------
    ValueError
        Naming the unknown chapters and the known ones.
    """
    if chosen is None:
        return list(known)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValueError(
            f"unknown chapter(s) {', '.join(map(repr, unknown))}; "
            f"expected one or more of: {', '.join(known)}."
        )
    return list(dict.fromkeys(chosen))


def set_scale(scale: str | None) -> None:
    """Set ``FA_SCALE`` for this process (``None``: check the current one).

    The experiments modules read the scale when called, so this may come after they were
    imported. The environment variable (not :func:`fa_lib.config.scale_context`) is set,
    so that the ``--jobs`` workers and the cluster's workers get it too.

    Raises
    ------
    ValueError
        On a bad ``FA_SCALE`` or ``scale``.
    """
    if scale is None:
        config.scale()  # a bad FA_SCALE fails here, with config's message
        return
    if scale not in config.SCALES:
        raise ValueError(f"--scale {scale!r} is not a known scale; expected one of "
                         f"{config.SCALES}.")
    os.environ["FA_SCALE"] = scale


def needs_mnist(module: str) -> bool:
    """Whether an experiments module uses :mod:`fa_lib.mnist` (directly or through others).

    The runner (:mod:`fa_lib.runner`) and the cluster path (:mod:`fa_lib.cluster`) make
    sure of the MNIST files once, before their workers start, when one does.

    A module outside ``fa_lib`` (a test's, a benchmark's) counts the ``fa_lib`` modules,
    functions and classes it holds.
    """
    if module.startswith("fa_lib."):
        return "fa_lib.mnist" in cache.module_dependencies(module)
    loaded = sys.modules.get(module) or importlib.import_module(module)
    used = {value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
            for value in vars(loaded).values()}
    return any(isinstance(name, str) and name.startswith("fa_lib.")
               and "fa_lib.mnist" in cache.module_dependencies(name) for name in used)
