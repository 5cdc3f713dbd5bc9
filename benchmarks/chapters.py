"""End-to-end benchmark: execute every chapter notebook, from a cold and then a warm cache.

Each notebook of ``book/`` is executed with nbclient (a fresh kernel per notebook,
working directory ``book/``) at the scale given (``FA_SCALE``) with a private,
initially empty results cache (``FA_CACHE_DIR``): the first pass is the cold build
(every experiment computed), the second pass, over the same cache, the warm rebuild
(every experiment read back). Kernels inherit this process's environment and CPU
affinity, so one BLAS thread and the pinned core apply to them too.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from fa_lib import catalogue

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

CHAPTERS = (*catalogue.CHAPTERS, "report")
"""The executable pages of the book, in the order of ``_toc.yml``."""


def execute(name: str, timeout: int = 3600) -> float:
    """Execute ``book/<name>.ipynb`` in a fresh kernel and return its wall time in seconds.

    Parameters
    ----------
    name : str
        A notebook of ``book/`` without its suffix.
    timeout : int
        Seconds allowed per cell.

    Raises
    ------
    FileNotFoundError
        If the notebook does not exist.
    """
    import nbformat
    from nbclient import NotebookClient

    path = BOOK / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(BOOK)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def run(scale: str = "quick", chapters: tuple[str, ...] = CHAPTERS,
        cache_dir: str | None = None) -> dict:
    """Time every chapter cold then warm at ``scale``; return the table as a dict.

    Parameters
    ----------
    scale : {"quick", "paper"}
        ``FA_SCALE`` of the kernels.
    chapters : tuple of str
        Notebooks to execute.
    cache_dir : str, optional
        The results cache to use (default: a new empty temporary directory, removed after).

    Returns
    -------
    dict
        ``{"scale", "chapters": {name: {"cold_s", "warm_s", "cold_cpu_share",
        "warm_cpu_share"}}, "total_cold_s", "total_warm_s"}``; a CPU share (CPU time of
        this process and the finished kernel / wall time) well below 1 means that the core
        was shared with another process during that notebook.
    """
    if scale not in ("quick", "paper"):
        raise ValueError(f"scale must be 'quick' or 'paper'; got {scale!r}.")
    saved = {k: os.environ.get(k) for k in ("FA_SCALE", "FA_CACHE_DIR", "FA_CACHE")}
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fa-bench-cache-")
        cache_dir = tmp.name
    rows: dict[str, dict[str, float]] = {}
    try:
        os.environ.update(FA_SCALE=scale, FA_CACHE_DIR=str(cache_dir), FA_CACHE="on")
        for phase in ("cold_s", "warm_s"):
            for name in chapters:
                c0 = os.times()
                seconds = execute(name)
                c1 = os.times()
                cpu = (c1.children_user - c0.children_user + c1.children_system
                       - c0.children_system + c1.user - c0.user + c1.system - c0.system)
                rows.setdefault(name, {})[phase] = round(seconds, 2)
                rows[name][phase[:-2] + "_cpu_share"] = round(cpu / seconds, 3)
                print(f"  chapter {name:<26s} {phase[:-2]:<4s} {seconds:8.1f} s", flush=True)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if tmp is not None:
            tmp.cleanup()
    return {
        "scale": scale,
        "chapters": rows,
        "total_cold_s": round(sum(r["cold_s"] for r in rows.values()), 2),
        "total_warm_s": round(sum(r["warm_s"] for r in rows.values()), 2),
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    import json

    print(json.dumps(run(), indent=1))
