"""House rules on the package's imports, read from the source with ``ast`` (nothing is imported).

- no module takes another module's private name (``_x``): a name used across modules is a seam and
  gets a public name;
- no import cycle among the package's modules, counting every import (module level, inside
  functions, under ``TYPE_CHECKING``): a cycle hidden in a function is still a cycle;
- the package-level layer order: each package imports only its own layer and the layers below;
- the responder's core does no I/O: it imports no ``socket``, ``select`` or ``signal``, and no
  ``time`` (the time is passed in).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tcpconform"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("tcp", "errors", "interrupts"),
    ("wire", "lab"),
    ("links", "responder", "results"),
    ("cases", "targets", "gate"),
    ("engine", "session", "report"),
    ("run", "selftest", "bench", "learn", "mutate"),
    ("cli",),
    ("pytest_plugin", "launch"),
)
"""The package's layers, lowest first."""
LAYER = {name: level for level, names in enumerate(LAYERS, 1) for name in names}
NO_IO_IN_RESPONDER = ("socket", "select", "signal", "time")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``'s)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(modules()[module].read_text(), filename=str(modules()[module]))


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if modules()[module].name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """``(module imported, name taken from it or None, line)`` for every import in ``module``."""
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                yield source, alias.name, node.lineno


def edges(module: str) -> set[str]:
    """The package's modules that ``module`` imports (a name that is a submodule counts as that module)."""
    found = set()
    for source, name, _ in imports(module):
        if name is not None and f"{source}.{name}" in modules():
            found.add(f"{source}.{name}")
        elif source in modules():
            found.add(source)
    found.discard(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _top(module: str) -> str | None:
    """The top-level package or module of the package that ``module`` belongs to (None: the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_private_name_crosses_modules() -> None:
    found = []
    for module in modules():
        bound: dict[str, str] = {}  # local name -> one of the package's modules
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules():
                        bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                    if source.startswith("tcpconform") and source != module and _private(alias.name):
                        found.append(f"{module}:{node.lineno} takes {source}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules() and alias.asname:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree(module)):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in bound and bound[node.value.id] != module):
                found.append(f"{module}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
            if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Attribute)
                    and ast.unparse(node.value) in modules() and ast.unparse(node.value) != module):
                found.append(f"{module}:{node.lineno} uses {ast.unparse(node.value)}.{node.attr}")
    assert found == [], "give these names a public name or keep them in their module:\n" + "\n".join(found)


def test_no_import_cycle_among_modules() -> None:
    graph = {module: edges(module) for module in modules()}
    found = cycles(graph)
    assert found == [], "modules that import each other (directly or round about):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_packages_import_only_their_layer_and_below() -> None:
    upward = []
    graph: dict[str, set[str]] = {}
    unplaced = sorted({top for m in modules() if (top := _top(m)) is not None and top not in LAYER})
    assert unplaced == [], f"place these in LAYERS: {unplaced}"
    for module in modules():
        here = _top(module)
        if here is None:
            continue
        for other in edges(module):
            there = _top(other)
            if there is None or there == here:
                continue
            graph.setdefault(here, set()).add(there)
            if LAYER[there] > LAYER[here]:
                upward.append(f"{module} (layer {LAYER[here]}) imports {other} (layer {LAYER[there]})")
    assert upward == [], "imports against the layer order:\n" + "\n".join(sorted(upward))
    found = cycles(graph)
    assert found == [], "packages that import each other:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_responder_does_no_io() -> None:
    found = [f"{module}:{line} imports {source}"
             for module in modules() if module.startswith("tcpconform.responder")
             for source, _, line in imports(module)
             if source.split(".")[0] in NO_IO_IN_RESPONDER]
    assert found == [], "the responder's I/O belongs in targets/agent/responder.py:\n" + "\n".join(found)


def test_the_scan_sees_what_it_checks() -> None:
    """The rules above pass vacuously if the scan finds nothing: it must see the package's own imports."""
    assert "tcpconform.lab.netns" in edges("tcpconform.lab.lab")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
