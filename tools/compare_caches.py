"""Compare two results caches entry by entry, array by array (did a code change keep results?).

An entry's file name holds its name and the first characters of its key, and the key
changes with the code, so the entries of a cache filled before a change and one filled
after are paired by name. Where several entries share a name (one experiment at two
learning rates, say), each entry of the first cache is paired with the entry of the
second whose arrays are identical, or else the closest one.

Usage, after filling both caches with ``python -m fa_lib reproduce``::

    python tools/compare_caches.py BEFORE_DIR AFTER_DIR [--ignore seconds]

It prints one line per entry that is not identical (its largest absolute and relative
difference, and the arrays that differ) and a summary ``n identical of n``; the exit
status is 0 when every entry has an identical counterpart.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from fa_lib import cache

_FILE = re.compile(r"(?P<name>.+)-[0-9a-f]{20}\.npz")


def load(path: Path, ignore: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays of an entry, without its metadata and the ``ignore``d arrays (timings).

    Read and verified as the cache reads an entry (:func:`fa_lib.cache.read_entry`): the
    arrays stored as float32 come back as the float64 arrays computed.
    """
    arrays = cache.read_entry(path)[0]
    return {k: v for k, v in arrays.items() if k not in ignore}


def difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, float, list]:
    """Largest absolute and relative difference of two entries, and the arrays that differ.

    Different array names or shapes count as an infinite difference.
    """
    if sorted(a) != sorted(b):
        return np.inf, np.inf, sorted(set(a) ^ set(b))
    worst_abs = worst_rel = 0.0
    names = []
    for k in sorted(a):
        x, y = a[k], b[k]
        if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
            return np.inf, np.inf, [k]
        if np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
            continue
        names.append(k)
        if x.dtype.kind not in "fc":
            return np.inf, np.inf, names
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        if np.any(nan_x != nan_y):
            return np.inf, np.inf, names
        d = np.abs(x[~nan_x].astype(float) - y[~nan_y].astype(float))
        scale = np.maximum(np.abs(x[~nan_x].astype(float)), 1e-300)
        worst_abs = max(worst_abs, float(d.max(initial=0.0)))
        worst_rel = max(worst_rel, float((d / scale).max(initial=0.0)))
    return worst_abs, worst_rel, names


def compare(before: Path, after: Path, ignore: tuple[str, ...] = ("seconds",)) -> dict:
    """Pair the entries of two caches by name and compare their arrays.

    Returns
    -------
    dict
        ``entries`` (of ``before``), ``identical``, ``differ`` (name -> (max abs, max rel,
        arrays)), ``missing`` (names with no counterpart in ``after``), ``extra`` (names only
        in ``after``).
    """
    groups: dict[str, dict[str, list[Path]]] = {"before": defaultdict(list),
                                                 "after": defaultdict(list)}
    for side, root in (("before", before), ("after", after)):
        for p in sorted(Path(root).glob("*.npz")):
            m = _FILE.fullmatch(p.name)
            if m:
                groups[side][m["name"]].append(p)
    out = {"entries": 0, "identical": 0, "differ": {}, "missing": [], "extra": []}
    out["extra"] = sorted(set(groups["after"]) - set(groups["before"]))
    for name, paths in sorted(groups["before"].items()):
        candidates = [load(p, ignore) for p in groups["after"].get(name, [])]
        for p in paths:
            out["entries"] += 1
            if not candidates:
                out["missing"].append(name)
                continue
            a = load(p, ignore)
            diffs = [difference(a, c) for c in candidates]
            best = min(range(len(diffs)), key=lambda i: (diffs[i][0], diffs[i][1]))
            if not diffs[best][2]:
                out["identical"] += 1
            else:
                out["differ"][f"{name} ({p.name})"] = diffs[best]
    return out


def main(argv: list[str] | None = None) -> int:
    """Compare two caches and print the result; 0 when every entry is identical."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--ignore", nargs="*", default=["seconds"],
                    help="arrays that hold timings (default: seconds)")
    args = ap.parse_args(argv)
    res = compare(args.before, args.after, tuple(args.ignore))
    for name, (d_abs, d_rel, arrays) in res["differ"].items():
        print(f"differs: {name}: max |diff| {d_abs:.3g}, max rel {d_rel:.3g} in {arrays}")
    for name in res["missing"]:
        print(f"missing after: {name}")
    for name in res["extra"]:
        print(f"only after: {name}")
    print(f"{res['identical']} identical of {res['entries']} entries "
          f"({len(res['differ'])} differ, {len(res['missing'])} missing)")
    return 0 if res["identical"] == res["entries"] else 1


if __name__ == "__main__":
    sys.exit(main())
