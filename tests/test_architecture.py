"""The package's import rules, read from the source with ast: no core part imports a driver, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import wattmesh

PACKAGE = Path(wattmesh.__file__).parent
CORE = (
    "community",
    "market",
    "ledger",
    "forecast",
    "energy",
    "grid",
    "kpi",
    "quality",
    "agents",
    "exchange",
    "maintenance",
)
DRIVERS = ("wattmesh.simulate", "wattmesh.service", "wattmesh.scale")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The wattmesh modules ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from wattmesh.x import y" imports wattmesh.x.y when that is a module, else wattmesh.x.
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(path, known) - {name} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_core_part_imports_a_driver():
    bad = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.split(".")[1:2] and name.split(".")[1] in CORE
        for target in targets
        if target.startswith(DRIVERS)
    ]
    assert bad == []


def test_the_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_find_what_they_look_for():
    """The walker sees function-level imports and the cycle finder finds a planted cycle."""
    edges = graph()
    assert "wattmesh.exchange" in edges["wattmesh.simulate.engine"]
    assert "wattmesh.market.orders" in edges["wattmesh.market.cli"]  # imported inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: The parts in the order of docs/design.md: each depends only on parts above it.
LAYERS = (
    "tables", "quality", "community", "forecast", "energy", "market", "agents", "ledger", "grid",
    "maintenance", "kpi", "exchange", "simulate", "scale", "service", "integrate", "cli",
)  # fmt: skip


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    def part(name: str) -> str:
        return name.split(".")[1] if "." in name else ""

    return sorted(
        f"{name} imports {target}"
        for name, targets in edges.items()
        for target in targets
        if part(name) in LAYERS
        and part(target) in LAYERS
        and LAYERS.index(part(target)) > LAYERS.index(part(name))
    )


def test_every_part_depends_only_on_parts_above_it():
    assert upward_imports(graph()) == []
    assert upward_imports({"wattmesh.market.x": {"wattmesh.agents.y"}}) == [
        "wattmesh.market.x imports wattmesh.agents.y"
    ]


def test_every_part_of_the_package_has_its_layer():
    parts = {
        path.parts[0] if len(path.parts) > 1 else path.stem
        for path in (p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py"))
    }
    assert parts - {"__init__", "data", "scenarios"} <= set(LAYERS)
