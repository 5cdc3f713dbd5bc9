"""Shared pytest setup: make ``fa_lib`` importable from a bare ``pytest`` run in any directory."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
