"""Test-only chapter packages: experiments modules written into a test's temporary directory."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest


def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                modules: Mapping[str, str]) -> Path:
    """Write the package ``name`` (module -> source) under ``tmp_path`` and make it importable.

    Modules of an earlier test's package of that name are forgotten, and the results
    cache is a private one (``FA_CACHE_DIR``, on), whose path is returned.
    """
    for module in [n for n in sys.modules if n.split(".")[0] == name]:
        monkeypatch.delitem(sys.modules, module)
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FA_CACHE", "on")
    return cache_dir


def kill_first_writer(pids: Path, killed: list[int], deadline: float) -> None:
    """Kill the worker process that wrote the first PID to ``pids``, as soon as it is written.

    For a thread beside a cluster run: the experiment that writes its PID sleeps on its
    first attempt, so it is killed inside its computation. The killed PID goes to
    ``killed``; the client's own PID is never killed.
    """
    while time.monotonic() < deadline:
        if pids.exists() and pids.read_text().strip():
            pid = int(pids.read_text().split()[0])
            if pid == os.getpid():  # never this process (the client)
                return
            time.sleep(0.5)  # well inside the experiment's sleep
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)
