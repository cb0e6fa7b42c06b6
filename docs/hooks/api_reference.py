"""MkDocs hook: reference sections generated from the packages' `__all__`.

Two page markers, expanded at build time so a name added to a package shows up without
anyone editing the docs:

- `<!-- api-rest: trainer_loop -->` becomes one mkdocstrings directive per public name of
  that module (its `__all__`) that no page documents with an explicit `::: path` line,
  grouped by the module that defines it.
- `<!-- api-reexports: trainer -->` becomes a table of the umbrella package's re-exports,
  each linked to the page of the layer that defines it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

REST_MARKER = re.compile(r"^<!--\s*api-rest:\s*([\w.]+)\s*-->\s*$", re.MULTILINE)
REEXPORTS_MARKER = re.compile(r"^<!--\s*api-reexports:\s*([\w.]+)\s*-->\s*$", re.MULTILINE)
DIRECTIVE = re.compile(r"^:::\s*([\w.]+)", re.MULTILINE)
# args_reference.py turns this marker into a `::: trainer_args.<Class>` directive.
ARGS_MARKER = re.compile(r"^<!--\s*args-reference:\s*([\w.]+)\s*-->", re.MULTILINE)
# The layers below the umbrella, where every re-exported name is documented.
LAYERS = ("trainer_args", "trainer_dist", "trainer_loop", "trainer_seq2seq")


def public_names(module_name: str) -> list[str]:
    """`__all__` of a module, without dunders such as `__version__`."""
    module = importlib.import_module(module_name)
    return [n for n in getattr(module, "__all__", []) if not n.startswith("__")]


def resolve(path: str) -> Any:
    """`trainer_loop.Trainer` or `trainer_loop.trainer.Trainer` -> the object (or None)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_identifiable(obj: Any) -> bool:
    # Only these have an identity worth comparing; equal strings or ints may be unrelated.
    return inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)


def documented_paths(docs_dir: Path) -> set[str]:
    """Every identifier some page renders explicitly (`::: path` or an args-reference marker)."""
    paths: set[str] = set()
    for page in sorted(docs_dir.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        paths.update(DIRECTIVE.findall(text))
        paths.update(
            f"trainer_args.{name.rpartition('.')[2]}" for name in ARGS_MARKER.findall(text)
        )
    return paths


def _documented_objects(paths: set[str]) -> set[int]:
    objects = (resolve(path) for path in paths)
    return {id(obj) for obj in objects if obj is not None and _is_identifiable(obj)}


def _rest_order(module_name: str) -> tuple[bool, str]:
    # The umbrella only re-exports: every layer claims its names before it does.
    return (module_name.split(".")[0] == "trainer", module_name)


def plan(docs_dir: Path) -> dict[str, list[str]]:
    """For every `api-rest` marker in the docs: the public names it renders.

    A name is rendered once: not when a page has an explicit directive for it (by path or by
    identity, so re-exports count), nor when an earlier marker already claimed it.
    """
    paths = documented_paths(docs_dir)
    seen = _documented_objects(paths)
    markers = set()
    for page in docs_dir.rglob("*.md"):
        markers.update(REST_MARKER.findall(page.read_text(encoding="utf-8")))
    claimed: dict[str, list[str]] = {}
    for module_name in sorted(markers, key=_rest_order):
        module = importlib.import_module(module_name)
        names = []
        for name in public_names(module_name):
            obj = getattr(module, name)
            identifiable = _is_identifiable(obj)
            if f"{module_name}.{name}" in paths or (identifiable and id(obj) in seen):
                continue
            names.append(name)
            if identifiable:
                seen.add(id(obj))
        claimed[module_name] = names
    return claimed


def _defining_module(module_name: str, name: str) -> str:
    obj = getattr(importlib.import_module(module_name), name)
    defined_in = getattr(obj, "__module__", None) if _is_identifiable(obj) else None
    return defined_in or module_name


@functools.cache
def static_names(module_name: str) -> frozenset[str]:
    """Names a module binds in its source, `if TYPE_CHECKING:` imports included.

    mkdocstrings reads code statically: a lazily exported name (PEP 562 `__getattr__`) is
    visible to it under the package's path only when the package also imports it for type
    checkers. These are the names `::: package.name` can find.
    """
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names: set[str] = set()
    statements: list[ast.stmt] = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.If, ast.Try)):
            statements += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def directive_path(module_name: str, name: str) -> str:
    """`package.name` when mkdocstrings can see it there, else the defining module's path."""
    if name in static_names(module_name):
        return f"{module_name}.{name}"
    obj = getattr(importlib.import_module(module_name), name)
    if _is_identifiable(obj) and getattr(obj, "__module__", None):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{module_name}.{name}"


def render_rest(module_name: str, names: list[str]) -> str:
    """Directives for the given public names, one `##` section per defining module."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[_defining_module(module_name, name)].append(name)
    parts = []
    for defined_in in sorted(groups):
        parts.append(f"## `{defined_in}`\n")
        for name in groups[defined_in]:
            path = directive_path(module_name, name)
            options = "    options:\n      heading_level: 3\n"
            if not _is_identifiable(getattr(importlib.import_module(module_name), name)):
                options += "      show_attribute_values: true\n"  # a constant: its value matters
            parts.append(f"::: {path}\n{options}")
    return "\n".join(parts)


def reexport_source(obj: Any, name: str) -> str | None:
    """The documented path `layer.Name` of an object the umbrella re-exports."""
    for layer in LAYERS:
        module = importlib.import_module(layer)
        # the same name first: `trainer.X` is usually `layer.X`
        for candidate in sorted(public_names(layer), key=lambda c: c != name):
            if getattr(module, candidate) is obj:
                return directive_path(layer, candidate)
    return None


def render_reexports(module_name: str) -> str:
    """Markdown table: umbrella name -> the layer's documented object, cross-linked."""
    module = importlib.import_module(module_name)
    rows = ["| `import` | defined in | documented at |", "|---|---|---|"]
    for name in public_names(module_name):
        obj = getattr(module, name)
        source = reexport_source(obj, name)
        layer = module_name if source is None else source.partition(".")[0]
        source = source or directive_path(module_name, name)
        rows.append(f"| `{name}` | `{layer}` | [`{source}`][{source}] |")
    return "\n".join(rows) + "\n"


def expand(markdown: str, docs_dir: Path) -> str:
    if REST_MARKER.search(markdown):
        claimed = plan(docs_dir)
        markdown = REST_MARKER.sub(lambda m: render_rest(m.group(1), claimed[m.group(1)]), markdown)
    return REEXPORTS_MARKER.sub(lambda m: render_reexports(m.group(1)), markdown)


def on_page_markdown(markdown: str, config: Any, **_: Any) -> str:
    return expand(markdown, Path(config["docs_dir"]))
