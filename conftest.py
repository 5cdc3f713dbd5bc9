"""pytest setup for the whole repository: tests run at the quick scale by default.

``FA_SCALE`` defaults to ``paper`` for the book build; a bare ``pytest`` would then execute
every notebook at paper scale, for hours. Here, loaded before anything is collected,
``FA_SCALE`` is set to ``quick`` unless it is set explicitly (an empty value counts as
unset), in this process's environment, so the notebooks' kernels (nbval) and every
subprocess a test starts see it too. ``FA_SCALE=paper pytest`` still runs at paper scale.
"""

from __future__ import annotations

import os

if not os.environ.get("FA_SCALE", "").strip():
    os.environ["FA_SCALE"] = "quick"
