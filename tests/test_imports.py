"""The import graph of ``fa_lib``: no cycle, and no ``fa_lib`` import hidden in a function.

Every ``import`` of a ``fa_lib`` module is read from the source (module level and inside
functions, ``if TYPE_CHECKING:`` blocks left out: they do not run), and the graph of
modules must have no cycle. A function may import a ``fa_lib`` module only where that
module needs an optional dependency (:data:`OPTIONAL`): imports inside functions that
only break a cycle are what made the bookkeeping modules a knot.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fa_lib"

OPTIONAL = {"fa_lib.cluster"}
"""``fa_lib`` modules that need an optional dependency (dask): imported where they are used."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.AST, module: str) -> list[str]:
    """The ``fa_lib`` modules an import statement imports."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "fa_lib"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".")[: len(module.split(".")) - node.level + 1]
        source = ".".join([*base[:-1], node.module] if node.module else base[:-1])
    else:
        source = node.module or ""
    if source.split(".")[0] != "fa_lib":
        return []
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source
            for a in node.names]


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules imported at module level, modules imported inside functions)."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    inner: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        for target in _targets(node, module):
            (inner if in_function else top).add(target)
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, nested)

    visit(tree, False)
    return top - {module}, inner - {module}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        top, inner = _imports(path)
        graph[_module_name(path)] = top | inner
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (its modules in order), or ``[]``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt in graph and not state.get(nxt):
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if not state.get(node):
            found = visit(node)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_fa_lib_has_no_import_cycle():
    graph = _graph()
    assert len(graph) > 30 and "fa_lib.reproduce" in graph
    assert _cycle(graph) == [], f"an import cycle: {' -> '.join(_cycle(graph))}"


def test_no_fa_lib_import_inside_a_function_but_for_optional_dependencies():
    hidden = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        _, inner = _imports(path)
        if inner - OPTIONAL:
            hidden[_module_name(path)] = sorted(inner - OPTIONAL)
    assert not hidden, f"fa_lib modules imported inside functions: {hidden}"


def test_every_subpackage_is_installed():
    """A non-editable install (Colab's pinned release) must hold every package of fa_lib."""
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    # A package mapped from another directory (fa_lib.published: the committed results/)
    # is data, not code: its directory must exist, with the files its package data names.
    mapped = setuptools.get("package-dir", {})
    for name, directory in mapped.items():
        patterns = setuptools.get("package-data", {}).get(name, [])
        found = [f for pattern in patterns for f in (PACKAGE.parent / directory).glob(pattern)]
        assert found, f"{name} is mapped to {directory}/, which holds no {patterns}"
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages == listed - set(mapped), (
        f"pyproject.toml lists {sorted(listed)}; fa_lib: {sorted(packages)}")
