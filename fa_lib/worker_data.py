"""MNIST read once for all the ``--jobs`` workers, in the server they are forked from.

:mod:`fa_lib.runner` runs each experiment in a new process forked from a server that has
NumPy and ``fa_lib`` loaded. A training run reads and preprocesses MNIST
(:func:`fa_lib.training.load_data`: a second or two of one core, measured by
``python -m benchmarks.worker_start``), which a new process would do again for every
experiment: at the quick scale, where most runs take a second or
two, that was a large part of the work. Importing this module in the server (its preload)
reads MNIST there, once; every worker forked from it finds the arrays in
:func:`~fa_lib.training.load_data`'s cache. The arrays are the same numbers either way.

Only files already on disk are read: importing this module never downloads, and a
missing, unreadable or corrupt file leaves the cache empty (each worker then reads, or
fails to read, MNIST itself, with the usual message). A worker whose ``FA_MNIST_DIR``
points elsewhere than the server's did drops the preloaded arrays
(:func:`check_worker`).
"""

from __future__ import annotations

from pathlib import Path

from fa_lib import mnist, training

__all__ = ["LOADED_FROM", "check_worker", "preload"]

LOADED_FROM: Path | None = None
"""The directory the preloaded MNIST was read from (None: nothing was preloaded)."""


def preload() -> Path | None:
    """Read MNIST into :func:`fa_lib.training.load_data`'s cache if its files are on disk.

    Reads it as the training runs ask for it (:class:`fa_lib.training.TrainConfig`'s
    default image size and dtype). Never downloads; any error leaves the cache empty.

    Returns
    -------
    Path or None
        The directory read (also :data:`LOADED_FROM`), or None.
    """
    global LOADED_FROM
    fields = training.TrainConfig.__dataclass_fields__
    names = (mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, mnist.TEST_IMAGES, mnist.TEST_LABELS)
    try:
        directory = mnist.resolve_data_dir()
        if not all(mnist.find_file(directory, name) for name in names):
            return None
        mnist.load_raw(directory, download=False)  # every file there and intact
        training.load_data.cache_clear()
        training.load_data(fields["image_size"].default, fields["dtype"].default)
    except Exception:  # noqa: BLE001 - a worker reading MNIST itself says what is wrong
        training.load_data.cache_clear()
        return None
    LOADED_FROM = directory
    return directory


def check_worker() -> None:
    """In a worker: drop the preloaded MNIST if ``FA_MNIST_DIR`` now names another directory.

    The server may have been started with an older environment (the worker receives its
    parent's ``FA_*`` settings afterwards).
    """
    if LOADED_FROM is not None and mnist.resolve_data_dir() != LOADED_FROM:
        training.load_data.cache_clear()


preload()
