"""Tests of fa_lib.try_it, the functions behind the chapters' "Try it" sections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from fa_lib import linalg, try_it, try_it_openloop
from fa_lib.experiments import mnist_alignment as ma

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def defaults():
    """The default answer of every open-loop chapter, at its stated size (the training
    chapters': tests/test_try_it_training.py)."""
    return {chapter: try_it.answer(chapter) for chapter in try_it_openloop.KNOBS}


def _has_data(fig: Figure) -> bool:
    return any(ax.lines or ax.patches or ax.collections for ax in fig.axes)


@pytest.mark.parametrize("chapter", list(try_it_openloop.KNOBS))
def test_default_answer_has_a_figure_finite_numbers_and_a_verdict_in_prose(defaults, chapter):
    res = defaults[chapter]
    assert isinstance(res, try_it.TryResult)
    assert isinstance(res.figure, Figure) and _has_data(res.figure)
    assert res.numbers and all(np.isfinite(v) for v in res.numbers.values())
    words = res.verdict.split()
    assert len(words) > 15 and res.verdict.rstrip().endswith(".")
    assert "paper" in res.verdict and "criterion" in res.verdict
    assert res.size and res.size in res.markdown() and res.verdict in res.markdown()


def test_an_answer_names_its_settings_and_its_time():
    res = try_it.answer("depth", theta1=45.0)
    assert res.settings == "θ_1 = 45, θ_2 = 60"
    assert res.seconds is not None and res.seconds > 0
    assert f"Settings: {res.settings}." in res.markdown()
    assert f"Computed in {res.seconds:.1f} s." in res.markdown()
    res = try_it.answer("acf_weight_normalisation", beta=0.2, variant="wn_b", size=2)
    assert res.settings.startswith("β (error) = 0.2, rule = WN, B normalised")
    assert try_it.answer("persistent_error", size=20).settings == \
        "condition = 1: (100, 100, 10, 100)"  # the sizes are the condition's
    assert try_it.answer("persistent_error", n_o=20, size=20).settings.endswith(
        "n_i = 100, n_o = 20, n_b = 100")
    bare = try_it_openloop.try_depth(size=50)
    assert "Settings" not in bare.markdown() and "Computed" not in bare.markdown()


@pytest.mark.parametrize(
    ("func", "kwargs", "match"),
    [
        (try_it.try_persistent_error, {"condition": 7}, "condition must be one of"),
        (try_it.try_persistent_error, {"n_i": 0}, "n_i"),
        (try_it.try_persistent_error, {"n_o": 1000}, "n_o must be at most 100"),
        (try_it.try_persistent_error, {"size": 1}, "size"),
        (try_it.try_autocorrelation, {"beta": 1.5}, "beta"),
        (try_it.try_autocorrelation, {"beta_x": "0.5"}, "beta_x must be a number"),
        (try_it.try_autocorrelation, {"activation": "tanh"}, "activation must be one of"),
        (try_it.try_acf_weight_normalisation, {"beta": -0.1}, "beta"),
        (try_it.try_acf_weight_normalisation, {"wn": False, "normalise_b": True},
         "needs wn=True"),
        (try_it.try_acf_weight_normalisation, {"wn": "yes"}, "wn must be True or False"),
        (try_it.try_depth, {"theta1": 200}, r"theta1 must be an angle in \[0, 180\]"),
        (try_it.try_depth, {"theta2": None}, "theta2 must be an angle"),
        (try_it.try_depth, {"size": 5}, "size"),
    ],
)
def test_bad_input_is_a_clear_value_error(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)


def test_persistent_error_more_outputs_less_alignment_larger_batch_more():
    """Fig. 1B: Cond. 1 -> n_o = 100 (Cond. 2) aligns less; n_b = 500 (Cond. 3) more."""
    few = try_it.try_persistent_error(1, n_o=10).numbers["mean_w1_bt"]
    many = try_it.try_persistent_error(1, n_o=100).numbers["mean_w1_bt"]
    big_batch = try_it.try_persistent_error(1, n_o=100, n_b=500).numbers["mean_w1_bt"]
    assert few < many and big_batch < many
    assert try_it.try_persistent_error(6).numbers["max_w1_bt"] < 90


def test_autocorrelation_an_error_redrawn_every_iteration_does_not_align(defaults):
    fresh = try_it.try_autocorrelation(beta=0.0)
    assert fresh.numbers["mean_w1_bt"] > defaults["autocorrelation"].numbers["mean_w1_bt"] + 20
    assert abs(fresh.numbers["mean_w1_bt"] - 90) < 5 and "does not align" in fresh.verdict
    assert "aligns" in defaults["autocorrelation"].verdict
    linear = try_it.try_autocorrelation(activation="identity", size=4)
    assert linear.numbers["mean_w1_bt"] < 90


def test_acf_weight_normalisation_wn_improves_alignment_for_an_inner_beta(defaults):
    res = defaults["acf_weight_normalisation"]
    assert res.numbers["diff"] < 0 and res.numbers["wn"] < res.numbers["none"]
    assert "which holds here" in res.verdict
    alone = try_it.try_acf_weight_normalisation(0.6, wn=False, size=4)
    assert set(alone.numbers) == {"none"}
    normalised = try_it.answer("acf_weight_normalisation", variant="wn_b", beta=0.6)
    assert "B normalised" in normalised.verdict and "diff" in normalised.numbers


def test_depth_theta3_grows_with_a_factor_angle_and_follows_the_prediction(defaults):
    low = try_it.try_depth(30.0, 20.0, size=500).numbers
    high = try_it.try_depth(30.0, 70.0, size=500).numbers
    assert low["mean_theta3"] < high["mean_theta3"]
    for n in (low, high):
        assert abs(n["mean_theta3"] - n["predicted"]) < 2
    assert defaults["depth"].numbers["above_both"] > 0.5


def test_pairs_at_angle_are_unit_and_exactly_at_the_angle():
    b, wt = try_it_openloop._pairs_at_angle(np.random.default_rng(1), (50, 6, 4), 37.0)
    np.testing.assert_allclose(linalg.frobenius_norm(b), 1.0, atol=1e-12)
    np.testing.assert_allclose(linalg.frobenius_norm(wt), 1.0, atol=1e-12)
    np.testing.assert_allclose(linalg.angle(b, wt), 37.0, atol=1e-6)


def test_every_knob_default_is_the_functions_default_answer():
    """The controls start where the default answer is: KNOBS and the functions agree."""
    import inspect

    for chapter, (func, knobs) in try_it.KNOBS.items():
        args = try_it.knob_arguments(chapter, {k.name: k.default for k in knobs})
        params = inspect.signature(func).parameters
        for name, value in args.items():
            default = params[name].default
            if default is None and chapter == "persistent_error":  # the condition's sizes
                default = try_it.pe.CONDITIONS[args["condition"]]._asdict()[name]
            elif default is None and name == "eta":  # the rule's own rate in the chapter
                default = ma.fig6()[args["rule"]].rule.eta
            assert default == value, (chapter, name)
    with pytest.raises(ValueError, match="chapter must be one of"):
        try_it.answer("no_such_chapter")


def test_show_displays_the_default_answer_without_ipywidgets(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.extend(a))
    monkeypatch.delenv(try_it.chapter_setup.BUILD_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    try_it.show("depth")
    assert isinstance(shown[0], try_it.TryResult)
    assert "ipywidgets" in shown[-1].data


def test_show_in_a_book_build_displays_only_the_default_answer(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.extend(a))
    monkeypatch.setenv(try_it.chapter_setup.BUILD_VARIABLE, "quick")
    try_it.show("depth")
    assert len(shown) == 1 and isinstance(shown[0], try_it.TryResult)


def test_show_builds_controls_and_the_run_button_answers(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    monkeypatch.delenv(try_it.chapter_setup.BUILD_VARIABLE, raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.extend(a))
    try_it.show("persistent_error")
    box = shown[-1]
    assert isinstance(shown[0], try_it.TryResult) and isinstance(box, widgets.VBox)
    controls = {c.description: c for c in box.children if hasattr(c, "value")}
    controls["condition"].value = 4  # the sliders follow the condition's dimensions
    assert (controls["n_i"].value, controls["n_o"].value, controls["n_b"].value) == (900, 100, 100)
    button = next(c for c in box.children if isinstance(c, widgets.Button))
    n = len(shown)
    button.click()
    assert len(shown) == n + 1 and "(900, 100, 100, 100)" in shown[-1].size


def test_fa_lib_imports_without_ipywidgets():
    code = ("import sys; sys.modules['ipywidgets'] = None\n"
            "import fa_lib.try_it\n"
            "assert 'ipywidgets' not in [m for m in sys.modules if sys.modules[m] is not None]")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


PYODIDE_ABSENT = ("lzma", "ssl", "sqlite3", "tqdm", "tqdm.auto", "myst_nb", "ipywidgets",
                  "dask", "distributed", "pooch")
"""Modules an in-browser kernel (Pyodide) does not have at hand: its unvendored standard
modules, and this project's optional dependencies that the answers must not need."""


BROWSER_CHAPTERS = ("persistent_error", "depth", "deep_networks")
"""The answers computed there: importing ``fa_lib.try_it`` imports every answer's code; these
run the open-loop engine, the ensembles and the MNIST training (MNIST read from files)."""


def test_the_answers_need_nothing_a_browser_kernel_lacks():
    """In Pyodide sockets and processes cannot be used and some modules are missing.

    Importing ``fa_lib.try_it`` and computing default answers must work
    with those modules absent and with every way of opening a socket or starting a
    process refusing, as the in-page Try-it cells need.
    """
    script = (
        "import sys\n"
        f"for name in {PYODIDE_ABSENT!r}:\n"
        "    sys.modules[name] = None\n"
        "import multiprocessing, os, socket, subprocess\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError('a socket or a process: not in a browser kernel')\n"
        "socket.socket.__init__ = refuse\n"
        "subprocess.Popen.__init__ = refuse\n"
        "multiprocessing.Process.start = refuse\n"
        "os.fork = refuse\n"
        "from fa_lib import try_it\n"
        f"for chapter in {BROWSER_CHAPTERS!r}:\n"
        "    try_it.answer(chapter)\n"
        "print('answered', len(try_it.KNOBS))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"answered {len(try_it.KNOBS)}"
