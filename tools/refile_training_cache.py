"""Re-file cached MNIST training runs under the current code's cache key, after checking them.

A results-cache entry is keyed by its configuration and by the code of the ``fa_lib``
modules that computed it (:mod:`fa_lib.cache`; a training run by :mod:`fa_lib.training`
and its imports). A refactoring that keeps the numbers (a renamed helper, a moved
function) still changes the key, and the paper scale's training runs take about 15
CPU-hours. This script saves that time without trusting the old entries: for every
training run in the results cache (of every chapter, or of ``--only CHAPTER ...``) it
takes the newest entry ``<chapter>-<name>-*.npz`` and, only if

1. the current code reads its stored configuration as a
   :class:`fa_lib.training.TrainConfig` that gives the same key back (a field added to
   ``TrainConfig`` or ``Rule`` since then is at its default; an entry stored before the
   learning rule became one object, :class:`fa_lib.rule.Rule`, with the fields ``method``,
   ``eta``, ``wn_gamma``, ``normalise_b``, ``layer_norm`` and ``match_b`` side by side, is
   read as that rule: :func:`upgrade`), and
2. the current code reproduces it: the same configuration trained for the first
   ``--check-epochs`` epochs gives the same per-iteration records (to float32 rounding;
   a label change or snapshot after those epochs is left out of the check),

writes it again through :func:`fa_lib.cache.cached` under the current key. Nothing is
deleted; a run that fails either test is reported and left to be recomputed. An entry
whose configuration has changed since (a learning rate chosen anew) is re-filed too, and
simply not read.

Run from the repository root at the scale whose entries you want to re-file::

    export FA_SCALE=paper FA_CACHE_DIR=... FA_MNIST_DIR=...
    python tools/refile_training_cache.py [--only CHAPTER ...] [--check-epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fa_lib import cache, pathways, training
from fa_lib.rule import Rule

RECORDS = ("w_bt", "norm_w", "loss", "dw_bp")


def _json(value: object) -> object:
    return json.loads(cache.canonical_json({"v": value}))["v"]


_RULE_FIELDS = ("method", "eta", "wn_gamma", "normalise_b", "layer_norm", "match_b")
_OLD_DEFAULTS = {"method": "fa", "eta": 0.0005, "wn_gamma": None, "normalise_b": True,
                 "layer_norm": None, "match_b": False}


def upgrade(stored: dict) -> dict:
    """A stored configuration with the rule as one ``rule`` dict (as ``TrainConfig.as_dict``).

    Before :class:`fa_lib.rule.Rule` held the learning rule, ``TrainConfig`` had its fields
    side by side, with ``normalise_b=True`` by default (applied only with WN).
    """
    if "rule" in stored or not any(f in stored for f in _RULE_FIELDS):
        return stored
    old = {f: stored.get(f, _OLD_DEFAULTS[f]) for f in _RULE_FIELDS}
    rule = Rule(old["method"], eta=old["eta"], wn_gamma=old["wn_gamma"],
                normalise_b=bool(old["normalise_b"]) and old["wn_gamma"] is not None,
                layer_norm=old["layer_norm"], match_b=bool(old["match_b"]))
    out = {k: v for k, v in stored.items() if k not in _RULE_FIELDS}
    out["rule"] = rule.as_dict()
    return out


def config_from_stored(stored: dict) -> tuple[training.TrainConfig, bool]:
    """The run configuration and ``stop_on_divergence`` of a stored training-run key.

    Raises
    ------
    ValueError
        If ``stored`` is not the key of a training run of the current code (a field the
        code no longer has, a value it refuses, or a key that does not come back the same
        from the configuration: a field added since must be at its default).
    """
    stored = upgrade(stored)
    if "rule" not in stored or "stop_on_divergence" not in stored:
        raise ValueError("not the key of a training run (no rule or stop_on_divergence)")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    stop = fields.pop("stop_on_divergence")
    rule = dict(fields.pop("rule"))
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in rule.pop("pathway").items()}
    try:
        cfg = training.TrainConfig(rule=Rule(pathways.get(params.pop("name"), **params), **rule),
                                   **fields)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the current code refuses its configuration ({err})") from None
    differ = _differences(_json({**cfg.as_dict(), "stop_on_divergence": stop}), _json(stored))
    if differ:
        raise ValueError(f"its configuration does not come back the same ({', '.join(differ)})")
    return cfg, bool(stop)


def _differences(new: object, old: object, where: str = "") -> list[str]:
    """The fields of ``old`` that ``new`` does not give back.

    Fields only in ``new`` were added to the code since (at their defaults).
    """
    if isinstance(new, dict) and isinstance(old, dict):
        return [d for k in old for d in _differences(new.get(k, _MISSING), old[k],
                                                      f"{where}{k}.")]
    return [] if new == old else [where.rstrip(".")]


_MISSING = object()


def refile_entry(path: str | os.PathLike, check_epochs: int = 2) -> str:
    """Re-file one training-run entry under the current code's key if the code reproduces it.

    Parameters
    ----------
    path : path
        The entry's ``.npz`` file, in the results cache it is re-filed into.
    check_epochs : int
        Epochs retrained and compared (the per-iteration records, to float32 rounding).

    Returns
    -------
    str
        What happened: re-filed, already current, or skipped and why.
    """
    try:
        old, meta = cache.read_entry(path)  # arrays stored as float32 widened back
    except cache.EntryRejected as err:
        return f"{err}, skipped"
    current = cache.module_fingerprint(training.__name__)
    if meta.get("code") == current:
        return "already keyed by the current code"
    try:
        cfg, stop = config_from_stored(meta.get("config") or {})
    except ValueError as err:
        return f"{err}, skipped"
    epochs = min(check_epochs, cfg.epochs)
    later = {f: None for f in ("relabel_epoch", "snapshot_epoch")
             if getattr(cfg, f) is not None and getattr(cfg, f) >= epochs}
    check = training.run(cfg.replace(epochs=epochs, **later), stop_on_divergence=True)
    compared = [k for k in RECORDS if k in check]
    if "loss" not in compared or any(k not in old for k in compared):
        return "not the records of a training run, skipped"
    n = check["loss"].shape[0]
    for k in compared:
        if not np.allclose(check[k], old[k][:n], rtol=1e-5, atol=1e-4, equal_nan=True):
            return f"the current code does not reproduce {k!r}, skipped"
    # Keyed as training.cached_run keys it: by the code of fa_lib.training and its imports.
    cache.cached(meta["name"], {**cfg.as_dict(), "stop_on_divergence": stop}, lambda: old,
                 cache_dir=Path(path).parent, fingerprint=current)
    return "re-filed"


def newest_entries(directory: str | os.PathLike, prefixes: Sequence[str] = ()) -> list[Path]:
    """The newest ``.npz`` file of each entry name in ``directory``, in name order.

    Only names that start with one of ``prefixes``, when given.
    """
    newest: dict[str, Path] = {}
    for f in sorted(Path(directory).glob("*.npz"), key=os.path.getmtime):
        name = f.name.rsplit("-", 1)[0]
        if not prefixes or name.startswith(tuple(prefixes)):
            newest[name] = f
    return [newest[n] for n in sorted(newest)]


def main(argv: Sequence[str] | None = None) -> None:
    """Re-file the newest entry of every training run in the results cache."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check-epochs", type=int, default=2)
    ap.add_argument("--only", nargs="+", default=[], metavar="CHAPTER",
                    help="only the entries of these chapters (by the start of their names)")
    args = ap.parse_args(argv)
    prefixes = [f"{c}-" for c in args.only]
    done: Counter[str] = Counter()
    for path in newest_entries(cache.cache_dir(), prefixes):
        try:
            meta = cache.read_entry(path)[1]
        except cache.EntryRejected as err:
            print(f"{path.name}: {err}", flush=True)
            done["damaged"] += 1
            continue
        if "rule" not in upgrade(meta.get("config") or {}):
            continue  # not a training run
        what = refile_entry(path, args.check_epochs)
        done[what if what == "re-filed" else "already current" if what.startswith("already")
             else "skipped"] += 1
        print(f"{meta['name']}: {what}", flush=True)
    print(", ".join(f"{n} {w}" for w, n in sorted(done.items())) or "no training run found")


if __name__ == "__main__":
    main()
