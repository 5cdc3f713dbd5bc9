"""The scale is read when an experiment is called, never when a module is imported.

Every experiments module lists its runs and sizes at the scale of the call
(:func:`fa_lib.config.scale`: ``FA_SCALE``, or an enclosing
:func:`fa_lib.config.scale_context`); nothing is fixed at import, so no module is
reloaded when the scale changes (``reproduce --scale``, the cluster's workers).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

from fa_lib import catalogue, config

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS_DIR = ROOT / "fa_lib" / "experiments"
MODULES = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.py") if p.stem != "__init__")
READERS = {"config", "scale", "pick", "is_quick"}
"""The functions that read the scale (fa_lib.config's, and every module's ``config``)."""


def _listing(module) -> dict[str, object]:
    """The module's experiments and sizes at the current scale, comparable across scales."""
    return {"labels": list(module.experiments()), "config": repr(module.config())}


def test_the_eight_modules_are_listed():
    assert len(MODULES) == 8 and set(catalogue.CHAPTERS) <= set(MODULES), MODULES


def test_every_module_follows_the_scale_without_a_reload(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "paper")
    modules = {n: importlib.import_module(f"fa_lib.experiments.{n}") for n in MODULES}
    paper = {n: _listing(m) for n, m in modules.items()}
    monkeypatch.setenv("FA_SCALE", "quick")
    quick = {n: _listing(m) for n, m in modules.items()}
    for name, module in modules.items():
        assert sys.modules[f"fa_lib.experiments.{name}"] is module  # not reloaded
        assert paper[name]["config"] != quick[name]["config"], name
        # scale_context wins over FA_SCALE, both ways, and leaves it alone
        with config.scale_context("paper"):
            assert _listing(module) == paper[name], name
        assert _listing(module) == quick[name], name
        monkeypatch.setenv("FA_SCALE", "paper")
        with config.scale_context("quick"):
            assert _listing(module) == quick[name], name
        assert _listing(module) == paper[name], name
        monkeypatch.setenv("FA_SCALE", "quick")


def test_the_training_chapters_run_lists_follow_the_scale(monkeypatch):
    from fa_lib.experiments import deep_networks, feedback_rules, flexibility, mnist_alignment

    sizes = {}
    for scale in config.SCALES:
        monkeypatch.setenv("FA_SCALE", scale)
        sizes[scale] = {
            "s3": len(flexibility.s3()), "s3_reps": {c.reps for c in flexibility.s3().values()},
            "flexibility": len(flexibility.experiments()),
            "mnist_alignment": len(mnist_alignment.experiments()),
            "fig7": len(mnist_alignment.fig7()),
            "deep_networks": len(deep_networks.configs()),
            "tune_reps": {c.reps for c in feedback_rules.tuning().values()},
            "flex_batch": feedback_rules.config_of("flex_dfa", {"dfa": 0.001}).batch_size,
            "fa_reps": feedback_rules.config_of("fa").reps,
        }
    paper, quick = sizes["paper"], sizes["quick"]
    assert paper["s3"] > quick["s3"] and paper["s3_reps"] == {10} and quick["s3_reps"] == {3}
    assert paper["flexibility"] > quick["flexibility"]
    assert paper["mnist_alignment"] > quick["mnist_alignment"]
    assert (paper["fig7"], quick["fig7"]) == (0, 2)
    assert paper["deep_networks"] > quick["deep_networks"]
    assert (paper["tune_reps"], quick["tune_reps"]) == ({3}, {2})
    assert (paper["flex_batch"], quick["flex_batch"]) == (1000, 100)
    assert (paper["fa_reps"], quick["fa_reps"]) == (10, 3)


def test_paper_and_quick_do_not_depend_on_the_scale_of_the_import(monkeypatch):
    """The chapters that share the MNIST chapter's sizes take its PAPER and QUICK."""
    from fa_lib.experiments import deep_networks, feedback_rules, mnist_alignment

    for module in (deep_networks, feedback_rules):
        for key in ("reps", "epochs", "n_batches", "n_test"):
            assert module.PAPER[key] == mnist_alignment.PAPER[key], (module, key)
            assert module.QUICK[key] == mnist_alignment.QUICK[key], (module, key)


def test_the_registry_and_a_late_scale_follow_the_scale(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "quick")
    quick = catalogue.registry()
    catalogue.set_scale("paper")  # after the modules were imported: no refusal
    assert config.scale() == "paper"
    paper = catalogue.registry()
    assert len(paper["flexibility"]) > len(quick["flexibility"])
    with pytest.raises(ValueError, match="not a known scale"):
        catalogue.set_scale("huge")


def _module_level_calls(tree: ast.Module) -> list[tuple[int, str]]:
    """Calls made when the module is imported: module-level statements, default values and
    decorators, not the bodies of functions or lambdas."""
    found = []

    class Visitor(ast.NodeVisitor):
        def visit_FunctionDef(self, node):
            for expr in [*node.decorator_list, *node.args.defaults,
                         *[d for d in node.args.kw_defaults if d is not None]]:
                self.visit(expr)

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            for expr in [*node.args.defaults, *[d for d in node.args.kw_defaults if d]]:
                self.visit(expr)

        def visit_Call(self, node):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found.append((node.lineno, name))
            self.generic_visit(node)

    Visitor().visit(tree)
    return found


def _readers(tree: ast.Module) -> set[str]:
    """READERS and the module's functions that call one of them, directly or not."""
    calls = {node.name: {c.func.attr if isinstance(c.func, ast.Attribute)
                         else getattr(c.func, "id", "")
                         for c in ast.walk(node) if isinstance(c, ast.Call)}
             for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    readers = set(READERS)
    while True:
        more = {f for f, called in calls.items() if called & readers} - readers
        if not more:
            return readers
        readers |= more


@pytest.mark.parametrize("name", MODULES)
def test_no_experiments_module_reads_the_scale_at_import(name):
    path = EXPERIMENTS_DIR / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # No reader of the scale, nor any of the module's functions that calls one (directly or
    # through others), is called when the module is imported.
    bad = [(line, f) for line, f in _module_level_calls(tree) if f in _readers(tree)]
    assert not bad, f"{path.name} calls at import: {bad}"


@pytest.mark.parametrize("path", sorted((ROOT / "fa_lib" / "verdicts").glob("*.py")),
                         ids=lambda p: p.stem)
def test_no_verdicts_module_reads_the_scale_at_import(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [(line, f) for line, f in _module_level_calls(tree) if f in READERS]
    assert not bad, f"{path.name} calls at import: {bad}"
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "SCALE" not in names, path.name  # the old import-time sizes


def test_the_cluster_reloads_nothing():
    source = (ROOT / "fa_lib" / "cluster.py").read_text(encoding="utf-8")
    assert "reload" not in source and "_SCALES" not in source
