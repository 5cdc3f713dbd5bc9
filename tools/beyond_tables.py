"""The tables of the two chapters beyond the paper, as Markdown, from the results cache.

For a closing note or a release: what issue 27 asks the note to give, computed from the
cache of the current scale (``FA_SCALE``) and computing nothing (an experiment that is
not cached is an error naming it). Run from the repository root::

    FA_SCALE=paper FA_CACHE_DIR=... FA_MNIST_DIR=... python tools/beyond_tables.py

Printed: for the feedback rules, every rule and normalisation in the three designs (rate,
median, mean ± SD, collapsed networks), the verdict of each hypothesis in each design
(S supported, R rejected, U undecided) and the first hidden layer's update angle to BP;
for the deep networks, every claim with its verdict.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fa_lib import cache, config  # noqa: E402
from fa_lib.experiments import feedback_rules as fr  # noqa: E402
from fa_lib.verdicts import deep_networks as dnv  # noqa: E402
from fa_lib.verdicts import feedback_rules as frv  # noqa: E402

SHORT = {"supported": "S", "rejected": "R", "undecided": "U"}


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def verdicts_by_design(runs: Mapping) -> list[list[str]]:
    """Rows (rule and normalisation, hypothesis, verdict in design 1, 2, 3)."""
    found: dict[tuple[str, str], dict[int, str]] = {}
    for design in fr.DESIGNS:
        for claim in frv.design_hypotheses(runs, design):
            s = claim.statement
            if "stays behind" in s:
                kind = "flex"
                who = re.search(r"without WN (.*) stays behind", s).group(1)
            else:
                kind = "angle" if "update angle" in s else "acc"
                who = re.search(r"\(([^()]*)\)\.$", s).group(1)
            found.setdefault((who, kind), {})[design] = SHORT.get(claim.verdict, claim.verdict)
    return [[who, kind, *(v.get(d, "") for d in fr.DESIGNS)] for (who, kind), v in found.items()]


def first_layer_angles(runs: Mapping) -> list[list[str]]:
    """Rows (rule and normalisation, last-epoch first-layer update angle in each design)."""
    rows = []
    for p in fr.RULES:
        for v in fr.variants(p):
            cells = []
            for design in fr.DESIGNS:
                angles = np.asarray(fr.update_angles(runs[fr.design_run(fr.run_name(p, v),
                                                                          design)], p))
                cells.append(f"{np.nanmean(angles[..., 0]):.1f}°")
            rows.append([f"{fr.LABELS[p]}, {fr.VARIANTS[v]}", *cells])
    return rows


def main() -> int:
    """Print the tables; exit 2 when an experiment they need is not cached."""
    try:
        with cache.observe(refuse=True):
            runs = frv.load()
            design = frv.design_table(runs)
            by_design = verdicts_by_design(runs)
            angles = first_layer_angles(runs)
            deep = dnv.claims()
    except cache.ComputeRefused as missing:
        print(f"not cached at the {config.scale()} scale: {missing}; run `python -m fa_lib "
              f"reproduce --scale {config.scale()} --only feedback_rules deep_networks` "
              "first.", file=sys.stderr)
        return 2
    print(f"## Feedback rules ({config.scale()} scale)\n")
    print(_markdown(list(design.columns), design.astype(str).values.tolist()))
    print("\nVerdicts (S supported, R rejected, U undecided):\n")
    print(_markdown(["rule, normalisation", "hypothesis",
                     *(f"design {d}" for d in fr.DESIGNS)], by_design))
    print("\nFirst hidden layer's update angle to BP (last epoch, mean over networks):\n")
    print(_markdown(["rule, normalisation", *(f"design {d}" for d in fr.DESIGNS)], angles))
    print(f"\n## Deep networks ({config.scale()} scale)\n")
    print(_markdown(["claim", "kind", "verdict", "measured"],
                    [[c.statement, c.kind, c.verdict, c.measured] for c in deep]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
