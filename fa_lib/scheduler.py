"""The value of ``--scheduler``, checked without dask: ``local:N`` or a scheduler address.

:class:`SchedulerError` is what the command reports (exit status 2) when the cluster
cannot be used; :func:`parse_scheduler` checks the syntax before anything starts.
"""

from __future__ import annotations

import re

__all__ = ["SCHEDULER_ADDRESS", "SchedulerError", "parse_scheduler"]


class SchedulerError(RuntimeError):
    """The cluster of ``--scheduler`` cannot be used (not answering, no worker, other code)."""


SCHEDULER_ADDRESS = re.compile(
    r"(?:(?P<scheme>tcp|tls)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})")
"""The form of a scheduler address for ``--scheduler``: ``[tcp://|tls://]HOST:PORT``."""


def parse_scheduler(spec: str) -> tuple[str, int | str]:
    """Check the syntax of ``--scheduler`` (``local:N`` or an address) without dask.

    Returns
    -------
    tuple
        ``("local", N)`` for ``local:N``, else ``("address", spec)``.

    Raises
    ------
    ValueError
        Naming what is wrong: an empty value, ``local:`` without a whole number >= 1, or
        an address that is not ``[tcp://|tls://]HOST:PORT`` with a port from 1 to 65535.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("--scheduler needs an address (tcp://host:8786) or local:N.")
    if spec == "local" or spec.startswith("local:"):
        raw = spec.partition(":")[2]
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"--scheduler {spec}: expected local:N with N a whole number "
                             ">= 1 (the number of worker processes).")
        return "local", int(raw)
    match = SCHEDULER_ADDRESS.fullmatch(spec)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"--scheduler {spec}: expected local:N or the address of a dask "
                         "scheduler, tcp://HOST:PORT or tls://HOST:PORT with a port from 1 "
                         "to 65535 (e.g. tcp://head-node:8786).")
    return "address", spec
