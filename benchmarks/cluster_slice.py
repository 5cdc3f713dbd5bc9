"""A slice of the Fig. S3 grid at paper scale, as experiments for ``reproduce``.

Used by :mod:`benchmarks.cluster` to time ``reproduce --scheduler local:2`` against
``--jobs 2`` on paper-scale training runs. The slice, at paper scale whatever
``FA_SCALE`` says: the first ``FA_BENCH_S3_RUNS`` runs (default 4) of the grid's own runs
(:func:`fa_lib.experiments.flexibility.s3`, in its order), each with its paper-scale
configuration (10 repetitions, 60 mini-batches of 1000, the full test set) except the
number of epochs: ``FA_BENCH_S3_EPOCHS`` per phase (default 10) instead of 100, the labels
changing after the first phase as in the full run. Each run is one experiment and one
cache entry (``s3slice-<run>-p<epochs>``).
"""

from __future__ import annotations

import dataclasses
import os

from fa_lib import training
from fa_lib.config import scale_context
from fa_lib.experiments import flexibility

RUNS = int(os.environ.get("FA_BENCH_S3_RUNS", "4"))
"""How many runs of the Fig. S3 grid."""

PHASE_EPOCHS = int(os.environ.get("FA_BENCH_S3_EPOCHS", "10"))
"""Epochs per phase (the paper's: 100)."""


with scale_context("paper"):
    _S3 = flexibility.s3()


def _config(name: str) -> training.TrainConfig:
    return dataclasses.replace(_S3[name], epochs=2 * PHASE_EPOCHS,
                               relabel_epoch=PHASE_EPOCHS, snapshot_epoch=PHASE_EPOCHS)


NAMES = tuple(_S3)[:RUNS]
"""The runs of the slice."""

CONFIGS = {name: _config(name) for name in NAMES}

EXPERIMENTS = {
    name: (lambda name=name: training.cached_run(f"s3slice-{name}-p{PHASE_EPOCHS}",
                                                 CONFIGS[name], stop_on_divergence=True))
    for name in NAMES
}
"""Run name -> the cached training run."""
