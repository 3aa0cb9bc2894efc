# Copyright the Carnet contributors. Licensed under the Apache License, Version 2.0.
"""Measure how Carnet's modules import each other: cycles, and imports hidden inside functions.

`python tools/imports.py` reads src/carnet with `ast` (nothing is imported) and prints:

- the import cycles (strongly connected components) among carnet modules counting only the
  imports that run when a module loads: there should be none;
- the same counting the imports written inside functions as well: each such cycle holds only
  because some of its imports wait until a function runs;
- the number of carnet imports written inside functions, and with `--movable` those that could
  move to the top of their module without closing a cycle there.

Imports under `if TYPE_CHECKING:` never run and are left out of both graphs. Importing `a.b.c`
also runs the `__init__` of `a.b` and `a` unless the importing module is itself inside them.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = "carnet"
SOURCES = Path(__file__).resolve().parents[1] / "src"

Graph = dict[str, set[str]]


@dataclass(frozen=True)
class Import:
    """One carnet module imported by another, where it is written and when it runs."""

    importer: str
    target: str
    line: int
    in_function: bool


def module_names(sources: Path = SOURCES) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by the name of its `__init__`)."""
    names = {}
    for path in sorted((sources / ROOT).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(sources).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Each import statement that runs, with whether it sits inside a function."""

    def visit(
        node: ast.AST, in_function: bool
    ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                yield from visit(branch, in_function)
            return
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside)

    yield from visit(tree, False)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _with_packages(importer: str, target: str, known: dict[str, Path]) -> Iterator[str]:
    """The target and the package `__init__`s its import runs (not those the importer is inside)."""
    parts = target.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        if name in known and name != importer and not importer.startswith(name + "."):
            yield name


def imports(sources: Path = SOURCES) -> list[Import]:
    """Every carnet import that runs, module-level and inside functions."""
    known = module_names(sources)
    found = []
    for importer, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _statements(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                module = _resolve(importer, is_package, node)
                # `from a import b` imports the module a.b when there is one, else a name of a.
                targets = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                    for alias in node.names
                ]
            if not any(t == ROOT or t.startswith(ROOT + ".") for t in targets):
                continue
            reached = {n for t in targets for n in _with_packages(importer, t, known)}
            for target in sorted(reached):
                found.append(Import(importer, target, node.lineno, in_function))
    return found


def graph(found: Iterable[Import], *, with_functions: bool) -> Graph:
    edges: Graph = {}
    for imp in found:
        if with_functions or not imp.in_function:
            edges.setdefault(imp.importer, set()).add(imp.target)
    return edges


def cycles(edges: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(nodes) + 100))
    try:
        for node in nodes:
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def reaches(edges: Graph, start: str, goal: str) -> bool:
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def movable(found: list[Import]) -> list[Import]:
    """Function-level imports that can move to module level one after the other, cycle-free.

    Each one taken adds its edge to the module-level graph, so the list as a whole stays acyclic.
    """
    edges = graph(found, with_functions=False)
    taken = []
    by_statement: dict[tuple[str, int], list[Import]] = {}
    for imp in found:
        if imp.in_function:
            by_statement.setdefault((imp.importer, imp.line), []).append(imp)
    for (importer, _line), group in sorted(by_statement.items()):
        if any(reaches(edges, imp.target, importer) for imp in group):
            continue
        for imp in group:
            edges.setdefault(importer, set()).add(imp.target)
        taken.extend(group)
    return taken


def function_level_statements(found: Iterable[Import]) -> int:
    """Import statements of carnet modules written inside functions."""
    return len({(imp.importer, imp.line) for imp in found if imp.in_function})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=SOURCES, help="the folder holding carnet/")
    parser.add_argument("--movable", action="store_true", help="list the imports that can move up")
    args = parser.parse_args(argv)
    found = imports(args.src)
    at_load = cycles(graph(found, with_functions=False))
    with_functions = cycles(graph(found, with_functions=True))
    print(f"function-level carnet imports: {function_level_statements(found)} statements")
    print(f"cycles at module level: {len(at_load)}")
    for component in at_load:
        print(f"  {len(component)} modules: {' '.join(component)}")
    print(f"cycles counting function-level imports: {len(with_functions)}")
    for component in with_functions:
        print(f"  {len(component)} modules: {' '.join(component)}")
    if args.movable:
        print("can move to module level:")
        for imp in movable(found):
            print(f"  {imp.importer}:{imp.line} -> {imp.target}")
    return 1 if at_load else 0


if __name__ == "__main__":
    sys.exit(main())
