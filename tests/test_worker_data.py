"""MNIST read once in the ``--jobs`` workers' fork server (``fa_lib.worker_data``).

- a worker forked from a new server finds MNIST in ``training.load_data``'s cache, the
  same numbers as read in the worker itself;
- a worker whose ``FA_MNIST_DIR`` names another directory drops the preloaded arrays;
- without the files on disk nothing is read, created or downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fa_lib import mnist, training, worker_data

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = os.environ.get("FA_MNIST_DIR", "")

PROBE = '''
import hashlib

import numpy as np


def _probe():
    # what a worker finds: says it through a failure (the runner sends back its message)
    from fa_lib import training
    cached = training.load_data.cache_info().currsize
    data = training.load_data(15, "float32")
    digest = hashlib.sha256(np.ascontiguousarray(data.x_train).tobytes()
                            + np.ascontiguousarray(data.x_test).tobytes()).hexdigest()
    raise RuntimeError(f"cached={cached} digest={digest}")


EXPERIMENTS = {"probe": _probe}
'''

SCRIPT = '''
import hashlib, os, sys
import numpy as np
sys.path[:0] = [{root!r}, {here!r}]
from fa_lib import mnist, runner

if __name__ == "__main__":
    said = []
    for mnist_dir in ({same!r}, {other!r}):
        os.environ["FA_MNIST_DIR"] = mnist_dir  # the server starts with the first
        runner._run_workers([("probe", "probe", "probe_mod")], 1,
                            lambda chapter, label, outcome: said.append(outcome.summary))
    data = mnist.load_mnist(size=15, dtype=np.float32)
    own = hashlib.sha256(np.ascontiguousarray(data.x_train).tobytes()
                         + np.ascontiguousarray(data.x_test).tobytes()).hexdigest()
    for text in said:
        cached, digest = text.split("cached=")[1].split(" digest=")
        print(cached, digest.strip() == own)
'''


@pytest.mark.skipif(not (MNIST_DIR and Path(MNIST_DIR).is_dir()), reason="FA_MNIST_DIR not set")
def test_a_forked_worker_finds_mnist_read_by_the_server(tmp_path):
    (tmp_path / "probe_mod.py").write_text(textwrap.dedent(PROBE))
    # the other directory holds the same files under another name: the worker must drop
    # the server's arrays and read them itself (the same numbers)
    other = tmp_path / "other"
    other.mkdir()
    for f in Path(MNIST_DIR).iterdir():
        (other / f.name).symlink_to(f.resolve())
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(root=str(ROOT), here=str(tmp_path), same=MNIST_DIR,
                                    other=str(other)))
    env = {**os.environ, "FA_MNIST_DIR": MNIST_DIR}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cached_same, equal_same, cached_other, equal_other = proc.stdout.split()
    assert (cached_same, equal_same) == ("1", "True")  # preloaded, and the same numbers
    assert (cached_other, equal_other) == ("0", "True")  # dropped, read again: the same


def test_check_worker_drops_the_arrays_only_for_another_directory(monkeypatch, tmp_path):
    cleared = []
    monkeypatch.setattr(training.load_data, "cache_clear", lambda: cleared.append(1))
    monkeypatch.setenv("FA_MNIST_DIR", str(tmp_path))
    monkeypatch.setattr(worker_data, "LOADED_FROM", tmp_path)
    worker_data.check_worker()
    assert cleared == []
    monkeypatch.setattr(worker_data, "LOADED_FROM", tmp_path / "elsewhere")
    worker_data.check_worker()
    assert cleared == [1]
    monkeypatch.setattr(worker_data, "LOADED_FROM", None)  # nothing preloaded
    worker_data.check_worker()
    assert cleared == [1]


def test_without_the_files_nothing_is_read_created_or_downloaded(monkeypatch, tmp_path):
    class Loader:
        def __init__(self):
            self.calls = []

        def __call__(self, *args):
            self.calls.append(args)

        def cache_clear(self):
            pass

    loader = Loader()
    monkeypatch.setattr(training, "load_data", loader)
    monkeypatch.setattr(worker_data, "LOADED_FROM", None)
    missing = tmp_path / "no_mnist"
    monkeypatch.setenv("FA_MNIST_DIR", str(missing))
    assert worker_data.preload() is None
    assert worker_data.LOADED_FROM is None and loader.calls == [] and not missing.exists()
    corrupt = tmp_path / "corrupt"  # every file there, none of them MNIST
    corrupt.mkdir()
    names = [mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, mnist.TEST_IMAGES, mnist.TEST_LABELS]
    for name in names:
        (corrupt / name).write_bytes(b"not an IDX file")
    monkeypatch.setenv("FA_MNIST_DIR", str(corrupt))
    assert worker_data.preload() is None
    assert worker_data.LOADED_FROM is None and loader.calls == []
    assert sorted(p.name for p in corrupt.iterdir()) == sorted(names)


def test_the_runner_fetches_mnist_once_before_workers_that_need_it(monkeypatch):
    from fa_lib import runner

    calls = []
    monkeypatch.setattr(mnist, "ensure_files", lambda *a, **k: calls.append(1))

    class Started(Exception):
        pass

    def no_workers():
        raise Started

    monkeypatch.setattr(runner, "_context", no_workers)
    for module, expected in (("fa_lib.experiments.depth", []),
                             ("fa_lib.experiments.mnist_alignment", [1])):
        calls.clear()
        with pytest.raises(Started):
            runner._run_workers([("c", "a", module), ("c", "b", module)], 2,
                                lambda *a: None)
        assert calls == expected, module

    def offline(*a, **k):
        raise mnist.MNISTUnavailableError("offline")

    monkeypatch.setattr(mnist, "ensure_files", offline)  # left to the workers to say
    with pytest.raises(Started):
        runner._run_workers([("c", "a", "fa_lib.experiments.mnist_alignment")], 1,
                            lambda *a: None)
