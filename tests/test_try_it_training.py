"""Tests of fa_lib.try_it_training, the "Try it" answers of the four MNIST chapters."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from matplotlib.figure import Figure

from fa_lib import training, try_it
from fa_lib import try_it_training as tt

pytestmark = pytest.mark.usefixtures("mnist_available")


@pytest.fixture(scope="module")
def mnist_available():
    """Skip without the MNIST files (FA_MNIST_DIR); never download in a test."""
    from fa_lib import mnist

    try:
        mnist.load_raw(download=False)
    except (mnist.MNISTUnavailableError, OSError):
        pytest.skip("MNIST is not available (set FA_MNIST_DIR)")


@pytest.fixture(scope="module")
def defaults(mnist_available):
    """The default answer of every training chapter, at its stated size."""
    return {chapter: try_it.answer(chapter) for chapter in tt.KNOBS}


def _has_data(fig: Figure) -> bool:
    return any(ax.lines or ax.patches or ax.collections for ax in fig.axes)


@pytest.mark.parametrize("chapter", list(tt.KNOBS))
def test_default_answer_has_a_figure_finite_numbers_and_a_verdict_in_prose(defaults, chapter):
    res = defaults[chapter]
    assert isinstance(res, try_it.TryResult)
    assert isinstance(res.figure, Figure) and _has_data(res.figure)
    assert res.numbers and all(np.isfinite(v) for v in res.numbers.values())
    assert len(res.verdict.split()) > 30 and res.verdict.rstrip().endswith(".")
    assert "criterion" in res.verdict and ("paper" in res.verdict or "chapter" in res.verdict)
    assert "repetitions" in res.size and "training images" in res.size
    assert res.size in res.markdown()


@pytest.mark.parametrize(
    ("func", "kwargs", "match"),
    [
        (tt.try_mnist_alignment, {"rule": "dfa"}, "rule must be one of"),
        (tt.try_mnist_alignment, {"wn": "yes"}, "wn must be True or False"),
        (tt.try_mnist_alignment, {"eta": 0.002}, "eta must be one of"),
        (tt.try_mnist_alignment, {"size": 1}, "size"),
        (tt.try_mnist_alignment, {"size": 9}, "size must be at most 8"),
        (tt.try_flexibility, {"gamma": 0.0}, r"gamma must be a number in \[0.1, 3\]"),
        (tt.try_flexibility, {"gamma": True}, "gamma must be a number"),
        (tt.try_flexibility, {"label_smoothing": 1}, "label_smoothing must be True or False"),
        (tt.try_flexibility, {"rule": "kp"}, "rule must be one of"),
        (tt.try_feedback_rules, {"rule": "sgd"}, "rule must be one of"),
        (tt.try_feedback_rules, {"wn": None}, "wn must be True or False"),
        (tt.try_deep_networks, {"hidden": 0}, "hidden"),
        (tt.try_deep_networks, {"hidden": 9}, "hidden must be at most 8"),
        (tt.try_deep_networks, {"seed": -1}, "seed"),
    ],
)
def test_bad_input_is_a_clear_value_error(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)


def test_mnist_alignment_fa_aligns_its_weights_with_b_and_wn_improves_its_updates(defaults):
    """FA's W_l ∠ B_l^T falls below 90° while BP's (which never reads B) stays there; WN
    lowers FA's update angle to BP (the chapter's Fig. 6 claim), at this size too."""
    fa = defaults["mnist_alignment"].numbers
    bp = tt.try_mnist_alignment("bp", wn=False, size=2).numbers
    assert fa["w_bt"] < bp["w_bt"] - 3 and abs(bp["w_bt"] - 90) < 3
    assert set(bp) == {"acc", "w_bt"}
    assert fa["dw_bp_wn"] < fa["dw_bp"] and fa["acc"] > 50 and bp["acc"] > 50
    assert "holds here" in defaults["mnist_alignment"].verdict


def test_flexibility_wn_loses_less_after_the_change_of_codes(defaults):
    """Fig. 8: without WN the network loses much of its accuracy after the codes change and
    more of its last layer is silent or saturated; WN loses less (at this size and rate)."""
    n = defaults["flexibility"].numbers
    assert n["loss"] > 5 and n["loss_wn"] < n["loss"]
    assert n["saturated_wn"] < n["saturated"]
    assert min(n["before"], n["before_wn"]) > 50


def test_feedback_rules_kolen_pollack_aligns_b_better_than_fa_and_bp_is_the_reference(defaults):
    """Kolen-Pollack's B comes towards W^T (its W ∠ B^T well below FA's); BP's update angle
    to BP is 0; DFA has no B of W^T's shape (no W ∠ B^T)."""
    kp = defaults["feedback_rules"].numbers
    fa = tt.try_feedback_rules("fa", wn=False, size=2).numbers
    assert kp["w_bt"] < fa["w_bt"] - 10 and kp["dw0"] < fa["dw0"]
    bp = tt.try_feedback_rules("bp", wn=False, size=2)
    assert bp.numbers["dw0"] == 0 and "reference" in bp.verdict
    dfa = tt.try_feedback_rules("dfa", wn=False, size=2).numbers
    assert "w_bt" not in dfa and np.isfinite(dfa["dw0"])


def test_deep_networks_angle_rises_towards_the_input_and_wn_lowers_it(defaults):
    """The chapter's "rise" (first hidden layer's update angle above the last's) and "wn"
    directions hold at four hidden layers; one hidden layer has no product to predict."""
    n = defaults["deep_networks"].numbers
    assert n["dw0"] > n["dw_last"] + 5 and n["dw0_wn"] < n["dw0"]
    assert abs(n["product_error"]) < 15
    one = tt.try_deep_networks(1, wn=False, size=2)
    assert np.isnan(one.numbers["product_error"]) and set(one.numbers) == {
        "acc", "dw0", "dw_last", "product_error"}
    assert "225-50-50 net" in one.size


def test_subset_is_the_chapters_preprocessed_data():
    cfg = tt.ma.fig6()["fa"].replace(n_batches=4, batch_size=50, n_test=30)
    sub = tt.subset(cfg)
    full = training.load_data(cfg.image_size, cfg.dtype)
    np.testing.assert_array_equal(sub.x_train, full.x_train[:200])
    np.testing.assert_array_equal(sub.y_train, full.y_train[:200])
    np.testing.assert_array_equal(sub.x_test, full.x_test[:30])
    np.testing.assert_array_equal(sub.y_test, full.y_test[:30])
    with pytest.raises(ValueError, match="n_test"):
        tt.subset(cfg.replace(n_test=None))


def test_every_knob_default_is_the_functions_default_answer():
    for chapter, (func, knobs) in tt.KNOBS.items():
        args = try_it.knob_arguments(chapter, {k.name: k.default for k in knobs})
        params = inspect.signature(func).parameters
        for name, value in args.items():
            default = params[name].default
            if default is None:  # the MNIST chapter's eta: FA's rate
                default = tt.ma.FA_ETA
            assert default == value, (chapter, name)
    assert set(tt.KNOBS) <= set(try_it.KNOBS)


def test_show_displays_the_default_answer_then_controls(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.extend(a))
    small = try_it.TryResult(Figure(), {"x": 1.0}, "v.", "s")
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return small

    monkeypatch.setitem(try_it.KNOBS, "deep_networks", (fake, tt.KNOBS["deep_networks"][1]))
    try_it.show("deep_networks")
    box = shown[-1]
    first = shown[0]  # the default answer, with its settings and time
    assert first.figure is small.figure and first.verdict == small.verdict
    assert first.settings == "hidden layers = 4, also with WN = on" and first.seconds >= 0
    assert isinstance(box, widgets.VBox)
    controls = {c.description: c for c in box.children if hasattr(c, "value")}
    controls["hidden layers"].value = 2
    controls["also with WN"].value = False
    next(c for c in box.children if isinstance(c, widgets.Button)).click()
    assert calls == [{"hidden": 4, "wn": True}, {"hidden": 2, "wn": False}]

