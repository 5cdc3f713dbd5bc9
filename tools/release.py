"""Checks of a release, run by the release workflow (``.github/workflows/release.yml``).

``python tools/release.py check-tag TAG``
    The tag is ``v`` + ``fa_lib.__version__``, and the committed paper-scale manifest
    (``results/paper_manifest.json``), when there is one, is of that version.
``python tools/release.py check-manifest PACKED COMMITTED``
    The manifest that the workflow's ``results pack`` wrote lists the same archives
    (names, sizes, SHA-256s, chapters, entries) as the committed one, so the assets
    uploaded are exactly those that ``results fetch`` will check against.

Exit status 0 when the check passes, 1 with one line per difference otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fa_lib  # noqa: E402 - after the path of a checkout that is not installed
from fa_lib import results  # noqa: E402


def check_tag(tag: str, manifest: Path | None = None) -> list[str]:
    """The problems of releasing ``tag`` (empty when there is none).

    Parameters
    ----------
    tag : str
        The git tag, e.g. ``v0.2.0``.
    manifest : path, optional
        The committed paper-scale manifest (default ``results/paper_manifest.json``).

    Returns
    -------
    list of str
    """
    problems = []
    if tag != f"v{fa_lib.__version__}":
        problems.append(f"the tag {tag} is not v + fa_lib.__version__ (v{fa_lib.__version__}); "
                        "bump fa_lib/__init__.py or tag the right version")
    path = results.default_manifest("paper") if manifest is None else manifest
    if path.is_file():
        version = json.loads(path.read_text())["version"]
        if version != fa_lib.__version__:
            problems.append(f"{path.name} is of version {version}, not {fa_lib.__version__}; "
                            "pack the results again (README, 'Making a release')")
    return problems


def _archives(manifest: Mapping[str, Any]) -> dict[str, tuple]:
    return {a["file"]: (a["size"], a["sha256"], tuple(a["chapters"]),
                        tuple((e["file"], e["code"]) for e in a["entries"]))
            for a in manifest["archives"]}


def check_manifest(packed: Mapping[str, Any], committed: Mapping[str, Any]) -> list[str]:
    """The differences between a freshly packed manifest and the committed one.

    Parameters
    ----------
    packed, committed : mapping
        Manifests (:func:`fa_lib.results.load_manifest`).

    Returns
    -------
    list of str
        One line per archive that differs (or is only in one of them), and a line when
        the scale or the version differs.
    """
    problems = [f"{key}: packed {packed[key]!r}, committed {committed[key]!r}"
                for key in ("scale", "version") if packed[key] != committed[key]]
    new, old = _archives(packed), _archives(committed)
    for name in sorted(set(new) | set(old)):
        if name not in old:
            problems.append(f"{name}: packed but not in the committed manifest")
        elif name not in new:
            problems.append(f"{name}: in the committed manifest but not packed")
        elif new[name] != old[name]:
            what = [f for f, a, b in zip(("size", "sha256", "chapters", "entries"),
                                         new[name], old[name], strict=True) if a != b]
            problems.append(f"{name}: its {', '.join(what)} differ")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run a check (see the module's docstring); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "check-tag":
        problems = check_tag(args[1])
    elif len(args) == 3 and args[0] == "check-manifest":
        problems = check_manifest(results.load_manifest(args[1]),
                                  results.load_manifest(args[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for line in problems:
        print(f"release: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
