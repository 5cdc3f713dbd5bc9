"""The engine on other array libraries (fa_lib.backend): array-api-strict, PyTorch on the CPU.

The strict runs put every array on ``array_api_strict.Device("device1")``, whose arrays
refuse any conversion to NumPy (``np.asarray``, ``np.einsum``, ``np.sqrt`` ... raise
RuntimeError) and any mixing with NumPy arrays (TypeError): an engine module that calls
``np.<function>`` on an array it got from the caller, or that forgets to move a host draw
to the device, fails these tests. The numbers are compared with NumPy's run of the same
seed: the same draws, summed in another order, so they agree to rounding (float64).
"""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import backend, cache, config, linalg, mnist, openloop, pathways, training
from fa_lib.openloop import Signal
from fa_lib.rule import Rule
from fa_lib.training import TrainConfig

xps = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

ANGLE_TOL = 1e-5
"""Degrees. Two runs of the same float64 numbers summed in another order: the angles
agree to ~1e-13 deg, but an angle near 0 (``dW ∠ dW_BP`` of BP) is ``arccos`` of a cosine
within rounding of 1, where 1e-16 in the cosine is ~1e-6 deg."""

REL_TOL = 1e-10
"""Norms, losses and weights in float64 (relative)."""


@pytest.fixture
def strict() -> backend.Backend:
    return backend.get("array_api_strict", xps.Device("device1"))


def _torch() -> backend.Backend:
    pytest.importorskip("torch")
    return backend.get("torch-cpu")


def test_device1_arrays_refuse_numpy(strict):
    """What makes the strict runs a test: NumPy cannot touch an array on device1."""
    x = strict.asarray(np.ones((2, 3)))
    for call in (np.asarray, np.sqrt, lambda a: np.einsum("ij,ij->", a, a)):
        with pytest.raises(RuntimeError, match="NumPy"):
            call(x)
    with pytest.raises(TypeError):
        x @ np.ones((3, 2))


def test_a_numpy_call_in_the_engine_fails_on_strict(strict, monkeypatch):
    """A NumPy-only frobenius_norm makes the strict run fail (the test would catch it)."""
    monkeypatch.setattr(linalg, "frobenius_norm",
                        lambda a: np.sqrt(np.einsum("...ij,...ij->...", a, a)))
    with pytest.raises(RuntimeError, match="NumPy"):
        openloop.run_openloop(0, 2, 2, (4, 3, 2), 3, Rule("fa", eta=0.01), backend=strict)


def test_numpy_is_numpy_itself():
    assert backend.namespace(np.ones(2), None, 1.0, [1]) is np
    assert backend.get("cpu").is_numpy and backend.get("numpy").label == "numpy"
    assert backend.to_numpy(np.ones(2)).dtype == np.float64


def test_device_setting(monkeypatch):
    monkeypatch.delenv("FA_DEVICE", raising=False)
    assert config.device() == "cpu" and backend.from_config().is_numpy
    monkeypatch.setenv("FA_DEVICE", " CPU ")
    assert config.device() == "cpu"
    monkeypatch.setenv("FA_DEVICE", "tpu")
    with pytest.raises(ValueError, match="FA_DEVICE='tpu'"):
        config.device()
    with pytest.raises(ValueError, match="unknown backend"):
        backend.get("jax")


def test_cuda_without_torch_or_cupy_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setenv("FA_DEVICE", "cuda")
    with pytest.raises(ImportError, match="pip install torch.*cupy"):
        backend.from_config()


OPENLOOP_RULES = {
    "fa": Rule("fa", eta=0.01),
    "bp": Rule("bp", eta=0.01),
    "wn_b_normalised": Rule("fa", eta=0.01, wn_gamma=1.0, normalise_b=True),
    "wn_b_as_drawn": Rule("fa", eta=0.01, wn_gamma=1.0),
    "dfa": Rule("dfa", eta=0.01),
    "layer_norm_match_b": Rule("fa", eta=0.01, layer_norm=2.0, match_b=True),
}


def _close(a: dict, b: dict, angles: tuple[str, ...], tol: float = ANGLE_TOL,
           rel: float = REL_TOL) -> None:
    assert set(a) == set(b)
    for k in a:
        if k == "seconds":
            continue
        x, y = np.asarray(a[k], dtype=float), np.asarray(b[k], dtype=float)
        assert x.shape == y.shape, k
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=k)
        if any(k == n or (n.endswith("*") and k.startswith(n[:-1])) for n in angles):
            np.testing.assert_allclose(x, y, rtol=0, atol=tol, err_msg=k)
        else:
            np.testing.assert_allclose(x, y, rtol=rel, atol=rel, err_msg=k)


OPENLOOP_ANGLES = ("w1_bt", "dw0", "dw1", "t1_aln", "t1_sup", "sum_t1_aln", "sum_t1_sup")


@pytest.mark.parametrize("name", sorted(OPENLOOP_RULES))
def test_openloop_on_strict_agrees_with_numpy(strict, name):
    kw = dict(seed=3, reps=3, n_iter=15, sizes=(10, 8, 4), n_b=5, rule=OPENLOOP_RULES[name],
              x=Signal(every=1), e=Signal(beta=0.5))
    _close(openloop.run_openloop(**kw, backend="numpy"),
           openloop.run_openloop(**kw, backend=strict), OPENLOOP_ANGLES)


def test_openloop_variants_and_terms_on_strict(strict):
    rules = [Rule("fa", eta=0.01), Rule("fa", eta=0.01, wn_gamma=1.0, normalise_b=True),
             Rule("fa", eta=0.01, scale_b=1.0)]
    kw = dict(seed=1, reps=2, n_iter=10, sizes=(10, 8, 4), n_b=6, rule=rules,
              x=Signal(every=3), record_terms=True)
    _close(openloop.run_openloop(**kw, backend="numpy"),
           openloop.run_openloop(**kw, backend=strict), OPENLOOP_ANGLES)


SIDE = 3


def _data(seed: int = 0) -> mnist.MNIST:
    g = np.random.default_rng(seed)
    return mnist.MNIST(x_train=g.uniform(0, 1, (60, SIDE * SIDE)), y_train=g.integers(0, 10, 60),
                       x_test=g.uniform(0, 1, (40, SIDE * SIDE)), y_test=g.integers(0, 10, 40))


TRAIN_RULES = {
    **OPENLOOP_RULES,
    "kp": Rule("kp", eta=0.01),
    "wm": Rule("wm", eta=0.01),
    "usf": Rule("usf", eta=0.01),
    "frsf": Rule("frsf", eta=0.01),
    "brsf": Rule("brsf", eta=0.01),
    "dfa_uniform": Rule(pathways.DFA(uniform_from=0.1), eta=0.01, wn_gamma=1.0),
    "kp_follow_wn": Rule(pathways.KolenPollack(follow_wn=True), eta=0.01, wn_gamma=1.0),
}

TRAIN_ANGLES = ("w_bt", "prod_bt", "dw_bp", "dw_bt", "t*")


def _train_cfg(rule: Rule, **kw) -> TrainConfig:
    products = rule.pathway.layerwise and rule.pathway.uses_b
    base = dict(width=20, depth=3, epochs=2, reps=2, n_batches=3, batch_size=20,
                image_size=SIDE, rule=rule, dtype="float64", record_bp=True, n_traces=2,
                record_final=True, record_products=products, snapshot_epoch=1)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("name", sorted(TRAIN_RULES))
def test_training_on_strict_agrees_with_numpy(strict, name):
    cfg, data = _train_cfg(TRAIN_RULES[name]), _data()
    a = training.run(cfg, data, backend="numpy")
    b = training.run(cfg, data, backend=strict)
    _close(a, b, TRAIN_ANGLES)
    np.testing.assert_array_equal(a["test_acc"], b["test_acc"])  # counts: exact


def test_training_terms_relabel_biases_float32_on_strict(strict):
    cfg = _train_cfg(Rule("fa", eta=0.01), dtype="float32", record_terms=True,
                     aln_orders=(1, 2), relabel_epoch=1, biases=True, holdout=20, n_batches=2,
                     n_traces=0, snapshot_epoch=None)
    a = training.run(cfg, _data(), backend="numpy")
    b = training.run(cfg, _data(), backend=strict)
    # float32: a sum rounds to ~6e-8 relative; an angle near 0 (dW_2 ∠ dW_2,BP: the same
    # matrix) is arccos of a cosine within that of 1, sqrt(2 * 6e-8) rad = 0.02 deg
    _close(a, b, TRAIN_ANGLES, tol=0.05, rel=1e-4)
    np.testing.assert_array_equal(a["val_acc"], b["val_acc"])


def test_cache_records_the_backend_and_keeps_the_key(strict, tmp_path, monkeypatch):
    monkeypatch.setenv("FA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FA_CACHE", raising=False)
    kw = dict(seed=0, reps=2, n_iter=3, sizes=(4, 3, 2), n_b=3, rule=Rule("fa", eta=0.01))

    def on(bk):
        return lambda: openloop.run_openloop(**kw, backend=bk)

    fp = "f" * 64
    cache.cached("ol", {"n": 1}, on(strict), fingerprint=fp)
    (path,) = tmp_path.glob("ol-*.npz")
    _, meta = cache.read_entry(path)
    assert meta["backend"] == "array_api_strict:array_api_strict.Device('device1')"
    path.unlink()
    cache.cached("ol", {"n": 1}, on("numpy"), fingerprint=fp)
    (again,) = tmp_path.glob("ol-*.npz")
    assert again.name == path.name and cache.read_entry(again)[1]["backend"] == "numpy"


def test_openloop_on_torch_cpu_agrees_with_numpy():
    bk = _torch()
    for rule in (OPENLOOP_RULES["fa"], OPENLOOP_RULES["bp"], OPENLOOP_RULES["wn_b_normalised"]):
        kw = dict(seed=2, reps=3, n_iter=10, sizes=(10, 8, 4), n_b=5, rule=rule,
                  x=Signal(every=1))
        _close(openloop.run_openloop(**kw, backend="numpy"),
               openloop.run_openloop(**kw, backend=bk), OPENLOOP_ANGLES)


def test_training_on_torch_cpu_agrees_with_numpy():
    bk = _torch()
    for name in ("fa", "bp", "wn_b_normalised", "dfa"):
        cfg, data = _train_cfg(TRAIN_RULES[name]), _data()
        a, b = training.run(cfg, data, backend="numpy"), training.run(cfg, data, backend=bk)
        _close(a, b, TRAIN_ANGLES)
        np.testing.assert_array_equal(a["test_acc"], b["test_acc"])


def test_setting_chooses_the_engine_runs_backend(strict, monkeypatch):
    """FA_DEVICE's backend reaches run_openloop (and a chapter's NumPy observer still works)."""
    from fa_lib.experiments import persistent_error

    args = (5, 2, 8, (6, 5, 3, 4), 0.01)
    a = persistent_error.openloop_linear(*args)
    monkeypatch.setattr(backend, "from_config", lambda: strict)
    with backend.track() as used:
        b = persistent_error.openloop_linear(*args)
    assert used == {strict.label}
    _close(a, b, ("w1_limit", "w0_limit", "w1_bt", "dw0", "asym_w1_bt", "asym_dw0"))
