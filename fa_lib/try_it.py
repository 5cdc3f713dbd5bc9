"""The "Try it" sections: every chapter's answer with its controls.

The answers are computed by :mod:`fa_lib.try_it_openloop` (the open-loop chapters) and
:mod:`fa_lib.try_it_training` (the MNIST chapters).

:func:`show` is the thin user interface: it displays the default answer (so a static page
shows one) and, where :mod:`ipywidgets` is installed, the controls of :data:`KNOBS` with a
"Run" button, so that moving a slider computes nothing until asked. ipywidgets is imported
there only: ``fa_lib`` imports without it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping

from fa_lib import chapter_setup, try_it_openloop, try_it_training
from fa_lib.experiments import acf_weight_normalisation as acf
from fa_lib.experiments import persistent_error as pe
from fa_lib.try_it_core import Knob, TryResult, choice
from fa_lib.try_it_openloop import (
    try_acf_weight_normalisation,
    try_autocorrelation,
    try_depth,
    try_persistent_error,
)
from fa_lib.try_it_training import (
    try_deep_networks,
    try_feedback_rules,
    try_flexibility,
    try_mnist_alignment,
)

__all__ = [
    "KNOBS", "Knob", "TryResult", "answer", "knob_arguments", "show",
    "try_acf_weight_normalisation", "try_autocorrelation", "try_deep_networks", "try_depth",
    "try_feedback_rules", "try_flexibility", "try_mnist_alignment", "try_persistent_error",
]

KNOBS: Mapping[str, tuple[Callable[..., TryResult], tuple[Knob, ...]]] = {
    **try_it_openloop.KNOBS, **try_it_training.KNOBS}
"""Chapter -> its answer's function and its controls, in the book's order."""


def knob_arguments(chapter: str, values: Mapping[str, object]) -> dict[str, object]:
    """The keyword arguments of the chapter's function for the values of its controls.

    Parameters
    ----------
    chapter : str
        A key of :data:`KNOBS`.
    values : mapping
        Knob name -> value (as the controls hold them).

    Returns
    -------
    dict
    """
    choice("chapter", chapter, list(KNOBS))
    args = dict(values)
    if chapter == "acf_weight_normalisation":
        v = choice("variant", args.pop("variant", "wn"), acf.VARIANTS)
        args.update(wn=v != "none", normalise_b=v == "wn_b")
    return args


def answer(chapter: str, **values: object) -> TryResult:
    """Run the chapter's function on the values of its controls (defaults where not given).

    The result carries the controls' values in words and the time the run took.
    """
    func, knobs = KNOBS[choice("chapter", chapter, list(KNOBS))]
    merged = {k.name: k.default for k in knobs}
    merged.update(values)
    start = time.perf_counter()
    result = func(**knob_arguments(chapter, merged))
    shown = list(knobs)
    if chapter == "persistent_error":  # the sizes are the condition's: named once
        dims = pe.CONDITIONS.get(merged["condition"])
        if dims is not None and all(merged[n] == getattr(dims, n) for n in ("n_i", "n_o", "n_b")):
            shown = [k for k in knobs if k.name == "condition"]
    return dataclasses.replace(
        result, settings=", ".join(k.describe(merged[k.name]) for k in shown),
        seconds=time.perf_counter() - start)


def show(chapter: str) -> None:
    """Display the default answer of the chapter's "Try it" section, then its controls.

    The default answer is displayed as ordinary output, so that a page built without a
    running kernel shows it; a book build (:data:`fa_lib.chapter_setup.BUILD_VARIABLE` set)
    shows nothing more. Elsewhere, with :mod:`ipywidgets` installed, the controls follow,
    with a "Run" button: each press computes the answer for the controls' values and shows it
    below them (moving a control computes nothing).

    Parameters
    ----------
    chapter : str
        A key of :data:`KNOBS`.
    """
    from IPython.display import Markdown, display

    func, knobs = KNOBS[choice("chapter", chapter, list(KNOBS))]
    display(answer(chapter))
    if os.environ.get(chapter_setup.BUILD_VARIABLE):
        return  # a book build: the static page has no kernel behind its controls
    try:
        import ipywidgets as w
    except ImportError:
        display(Markdown("*Install ipywidgets to change the knobs.*"))
        return
    controls = {}
    for k in knobs:
        if k.options:
            controls[k.name] = w.Dropdown(options=list(k.options), value=k.default,
                                          description=k.label)
        elif isinstance(k.default, int):
            controls[k.name] = w.IntSlider(value=k.default, min=int(k.low), max=int(k.high),
                                           step=int(k.step), description=k.label)
        else:
            controls[k.name] = w.FloatSlider(value=k.default, min=k.low, max=k.high,
                                             step=k.step, description=k.label)
    if chapter == "persistent_error":
        def follow(change: dict) -> None:
            dims = pe.CONDITIONS[change["new"]]._asdict()
            for name in ("n_i", "n_o", "n_b"):
                controls[name].value = dims[name]

        controls["condition"].observe(follow, names="value")
    button = w.Button(description="Run", button_style="primary")
    out = w.Output()

    def run(_: object) -> None:
        out.clear_output(wait=True)
        with out:
            try:
                display(answer(chapter, **{n: c.value for n, c in controls.items()}))
            except ValueError as err:
                print(f"ValueError: {err}")

    button.on_click(run)
    display(w.VBox([*controls.values(), button, out]))
