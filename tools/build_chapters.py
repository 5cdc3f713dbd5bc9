"""Build some chapters of the book only, e.g. to record them at the paper scale one by one.

A chapter saves its claims when its notebook runs in a build; ``python -m fa_lib
reproduce --only CH --record PATH`` then writes the chapter into the record. Building the
whole book at the paper scale runs every chapter, whose experiments may not all be in
the results cache yet (hours); this builds the chapters named and the references page
only, with a table of contents of their own (the references page as its root page, so
that no page links to a chapter left out), into a fresh output directory, so that every
notebook runs and saves its claims (the execution cache of an earlier build would skip
them). Warnings are errors, as in CI.

Usage, from the repository root (the results cache as for ``reproduce``)::

    python tools/build_chapters.py --scale paper flexibility [CHAPTER ...] [--out DIR]

The exit status is that of ``jupyter-book build``; 2 for a chapter that is not in the
book's table of contents.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOT_PAGE = "book/references"
"""The root page of the partial book: every build needs the references page anyway."""


def toc_text(chapters: Sequence[str]) -> str:
    """Return the table of contents (Jupyter Book 1.x) of the chapters named."""
    lines = ["format: jb-book", f"root: {ROOT_PAGE}", "chapters:"]
    lines += [f"  - file: book/{name}" for name in chapters]
    return "\n".join(lines) + "\n"


def check_chapters(chapters: Sequence[str], known: Sequence[str]) -> None:
    """Raise ValueError unless every chapter is a chapter of the book, named once."""
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ValueError(f"not chapters of the book's table of contents: {', '.join(unknown)};"
                         f" the chapters are: {', '.join(known)}.")
    if len(set(chapters)) != len(chapters) or not chapters:
        raise ValueError(f"name each chapter once (got {list(chapters)}).")


def command(toc: Path, out: Path) -> list[str]:
    """Return the ``jupyter-book build`` command line for a table of contents and output."""
    return ["jupyter-book", "build", str(ROOT), "--toc", str(toc), "--path-output", str(out),
            "-W", "--keep-going"]


def main(argv: Sequence[str] | None = None) -> int:
    """Build the chapters named; return the exit status of the build (2 for bad names)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", metavar="CHAPTER",
                        help="notebook names under book/, e.g. flexibility")
    parser.add_argument("--scale", default=None,
                        help="FA_SCALE for the build (default: the environment's)")
    parser.add_argument("--out", default=None, type=Path,
                        help="output directory (default: a new temporary directory); an "
                             "existing one keeps its execution cache, so unchanged "
                             "notebooks are not run again")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from fa_lib import catalogue, report

    known = [c for c in catalogue.notebooks() if c != "references"]
    try:
        check_chapters(args.chapters, [*known, Path(report.REPORT_DOC).name])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="fa-chapters-"))
    env = dict(os.environ)
    if args.scale is not None:
        env["FA_SCALE"] = args.scale
    with tempfile.TemporaryDirectory(prefix="fa-toc-") as tmp:
        toc = Path(tmp) / "_toc.yml"
        toc.write_text(toc_text(args.chapters))
        print(" ".join(command(toc, out)), flush=True)
        status = subprocess.run(command(toc, out), cwd=ROOT, env=env, check=False).returncode
    print(f"exit status {status}; the pages are in {out / '_build' / 'html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
