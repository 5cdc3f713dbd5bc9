"""Test-only chapter packages: experiments modules written into a test's temporary directory."""

from __future__ import annotations

import sys
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
