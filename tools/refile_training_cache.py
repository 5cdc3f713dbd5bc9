"""Re-file cached MNIST training runs under the current code's cache key, after checking them.

A results-cache entry is keyed by its configuration and by the code of the ``fa_lib``
modules that computed it (:mod:`fa_lib.cache`). A refactoring that keeps the numbers
(a renamed helper, a moved function) still changes the key, and a paper-scale MNIST run
takes 5-15 minutes. This script saves that time without trusting the old entries: for
every run of the MNIST chapters it takes the newest entry ``<chapter>-<name>-*.npz`` and,
only if

1. its stored configuration equals the run's current configuration (a field added to
   ``TrainConfig`` since then must be at its default; an entry stored before the learning
   rule became one object, :class:`fa_lib.rule.Rule`, with the fields ``method``, ``eta``,
   ``wn_gamma``, ``normalise_b``, ``layer_norm`` and ``match_b`` side by side, is read as
   that rule: :func:`upgrade`), and
2. the current code reproduces it: the same configuration trained for the first
   ``--check-epochs`` epochs gives the same per-iteration records (to float32 rounding;
   a label change or snapshot after those epochs is left out of the check),

writes it again through :func:`fa_lib.cache.cached` under the current key. Nothing is
deleted; a run that fails either test is reported and left to be recomputed.

Run from the repository root at the scale whose entries you want to re-file::

    FA_SCALE=paper FA_MNIST_DIR=... python tools/refile_training_cache.py [--check-epochs 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import numpy as np

from fa_lib import cache, training
from fa_lib.experiments import flexibility, mnist_alignment
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


def refile(chapter: str, name: str, cfg: training.TrainConfig, stop_on_divergence: bool,
           check_epochs: int) -> str:
    """Re-file one run if its newest entry matches and is reproduced; return what happened."""
    key = {**cfg.as_dict(), "stop_on_divergence": stop_on_divergence}
    files = sorted(glob.glob(f"{glob.escape(str(cache.cache_dir()))}/{chapter}-{name}-*.npz"),
                   key=os.path.getmtime)
    if not files:
        return "no entry"
    try:
        old, meta = cache.read_entry(files[-1])  # arrays stored as float32 widened back
    except cache.EntryRejected as err:
        return f"{err}, skipped"
    defaults = {**training.TrainConfig().as_dict(), "stop_on_divergence": stop_on_divergence}
    stored = upgrade(meta["config"])
    for field, value in key.items():
        was = stored[field] if field in stored else defaults.get(field)
        if _json(value) != _json(was):
            return f"configuration differs in {field!r} ({was!r} -> {value!r}), skipped"
    epochs = min(check_epochs, cfg.epochs)
    later = {f: None for f in ("relabel_epoch", "snapshot_epoch")
             if getattr(cfg, f) is not None and getattr(cfg, f) >= epochs}
    check = training.run(cfg.replace(epochs=epochs, **later), stop_on_divergence=True)
    n = check["w_bt"].shape[0]
    for k in RECORDS:
        if k in check and k in old and not np.allclose(
            check[k], old[k][:n], rtol=1e-5, atol=1e-4, equal_nan=True
        ):
            return f"the current code does not reproduce {k!r}, skipped"
    # Keyed as training.cached_run keys it: by the code of fa_lib.training and its imports.
    cache.cached(f"{chapter}-{name}", key, lambda: old,
                 fingerprint=cache.module_fingerprint(training.__name__))
    return f"re-filed from {os.path.basename(files[-1])}"


def main() -> None:
    """Re-file every run of the MNIST-alignment and flexibility chapters."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check-epochs", type=int, default=2)
    args = ap.parse_args()
    for module, diverging_ok in (
        (mnist_alignment, lambda n: n in mnist_alignment.diverging_ok()),
        (flexibility, lambda n: True),
    ):
        for name, cfg in module.configs().items():
            print(f"{module.CHAPTER}-{name}: "
                  f"{refile(module.CHAPTER, name, cfg, diverging_ok(name), args.check_epochs)}",
                  flush=True)


if __name__ == "__main__":
    main()
