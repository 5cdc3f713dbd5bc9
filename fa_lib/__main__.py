"""The command line of ``fa_lib``: ``python -m fa_lib COMMAND [ARGS]``.

Commands:

``reproduce``
    Fill the results cache with every experiment of the book, making the chapter
    notebooks' calls, and print the time each took; ``--list`` only says what is cached
    and how long the rest takes.
    See :mod:`fa_lib.reproduce` or ``python -m fa_lib reproduce --help``.
``results``
    ``pack`` the results cache as a release (one archive per chapter and a manifest) or
    ``fetch`` a published release into the cache. See :mod:`fa_lib.results`.
``plan-matrix``
    Plan the book workflow's compute jobs from the results cache: one per chapter with
    missing experiments, a chapter over the budget split into ``--shard K/N`` pieces,
    as a GitHub Actions matrix. See :mod:`fa_lib.ci_matrix`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fa_lib import ci_matrix, reproduce, results

COMMANDS = ("reproduce", "results", "plan-matrix")
RUN = {"reproduce": reproduce.main, "results": results.main, "plan-matrix": ci_matrix.main}
"""Command -> the function that runs it (its arguments, its program name)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m fa_lib COMMAND [ARGS]``; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``python -m fa_lib``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The command's exit status (bad arguments exit with status 2).
    """
    parser = argparse.ArgumentParser(
        prog="python -m fa_lib",
        description="Command line of the book's package. "
                    "`python -m fa_lib COMMAND --help` for a command's options.",
    )
    parser.add_argument("command", choices=COMMANDS,
                        help="reproduce: fill the results cache; results: pack or fetch a "
                             "results release; plan-matrix: plan the CI compute jobs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    prog = f"python -m fa_lib {args.command}"
    return RUN[args.command](args.args, prog=prog)


if __name__ == "__main__":
    sys.exit(main())
