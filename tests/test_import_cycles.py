"""No import cycle between the packages' modules, function-level imports included.

Module-level and deferred (in-function) imports are both edges: a cycle through a deferred
import still means two modules that cannot be read, moved or tested apart. Imports under
`if TYPE_CHECKING:` are left out (they never run), and so is the implicit import of a
parent package (`import a.b` runs `a/__init__`), which every package re-export would
otherwise turn into a cycle.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE_ROOTS = sorted(ROOT.glob("packages/*/src"))


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for src in SOURCE_ROOTS:
        for path in src.rglob("*.py"):
            parts = path.relative_to(src).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Imported module names (absolute), skipping `if TYPE_CHECKING:` blocks."""
    names: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names += [f"{base}.{alias.name}" for alias in node.names] + [base]
        stack.extend(ast.iter_child_nodes(node))
    return names


def import_graph() -> dict[str, set[str]]:
    """Internal module -> the internal modules it imports (the most specific match)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for imported in _imports(tree, name, path.name == "__init__.py"):
            if imported in modules and imported != name:
                targets.add(imported)
        # `from a.b import c` names both a.b and a.b.c: keep the submodule when c is one.
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_deferred_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from pkg import b\nif TYPE_CHECKING:\n    import pkg.c\n")
    assert "pkg.b" in _imports(tree, "pkg.a", False)
    assert "pkg.c" not in _imports(tree, "pkg.a", False)


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph()
    assert len(graph) > 100  # every package's modules were found
    found = cycles(graph)
    if found:
        pytest.fail("import cycles:\n" + "\n".join(" <-> ".join(c) for c in found))
