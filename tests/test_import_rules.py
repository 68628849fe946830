"""The import rule, checked on the real import graph (grimp): data flows one way and no module imports itself.

ARCHITECTURE.md states the rule: a package imports only from packages below it in ``LAYERS``. Imports needed
only for type checking (under ``if TYPE_CHECKING:``) are left out, as they never run. ``EXCEPTIONS`` names the
few upward imports that remain, each with why; one that is gone must be struck from the list, so it only
shrinks. Collectors and policies live at the top of the repository but are parts of the package: importing
them as top-level ``collectors``/``policies`` would load a second copy of every module.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Top to bottom; a package may import any package on a lower line. Packages sharing a line are independent
#: (neither imports the other) unless the line says ``independent=False``.
LAYERS: tuple[object, ...] = (
    grimp.Layer("cli", "demo", "__main__", independent=False),
    grimp.Layer("daemon", "metrics", independent=False),
    grimp.Layer("plugins"),
    grimp.Layer("tables", "tick"),
    grimp.Layer("notify"),
    grimp.Layer("directives"),
    grimp.Layer("enforce", "policies", "charts"),
    grimp.Layer("pool"),
    grimp.Layer("collectors"),
    grimp.Layer("ledger"),
    grimp.Layer("config"),
    grimp.Layer("agent_config", "render", "amounts", "timeutil", "outputs"),
    grimp.Layer("units", "errors", "listen", "httpserve"),
)

#: Upward imports that remain, as (importer, imported, why).
EXCEPTIONS: tuple[tuple[str, str, str], ...] = (
    ("quotad.ledger.db", "quotad.plugins.host", "Alembic's version locations include each plugin's migrations"),
    *(
        (f"quotad.plugins.{name}.cli", "quotad.cli.context", "plugin commands share the CLI's option helpers")
        for name in ("challenges", "community", "data", "eval", "governance", "partners", "programme", "review", "site")
    ),
)


def _is_config(module: str) -> bool:
    """``quotad.config`` and the config sections it assembles (``quotad.X.config``, ``quotad.plugins.X_config``)."""
    parts = module.split(".")
    return module == "quotad.config" or parts[-1] == "config" or parts[-1].endswith("_config")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("quotad", exclude_type_checking_imports=True, cache_dir=None)


def _checked_graph() -> grimp.ImportGraph:
    """The graph without the listed exceptions and without imports between config sections: ``Settings``
    validates every package's section, so ``quotad.config`` sits low yet names sections of packages above it."""
    g = copy.deepcopy(graph())
    for importer, imported, _why in EXCEPTIONS:
        g.remove_import(importer=importer, imported=imported)
    for module in sorted(g.modules):
        if _is_config(module):
            for imported in sorted(g.find_modules_directly_imported_by(module)):
                if _is_config(imported):
                    g.remove_import(importer=module, imported=imported)
    return g


def test_each_package_imports_only_packages_below_it() -> None:
    g = _checked_graph()
    illegal = g.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"quotad"})
    found = sorted(
        f"{d.importer} -> {d.imported}: {sorted(route.heads)} -> {list(route.middle)} -> {sorted(route.tails)}"
        for d in illegal
        for route in d.routes
    )
    assert found == [], "an import runs against the layers (see ARCHITECTURE.md, 'The import rule')"


def test_every_exception_still_exists() -> None:
    g = graph()
    stale = [(a, b) for a, b, _ in EXCEPTIONS if not g.direct_import_exists(importer=a, imported=b)]
    assert stale == [], "strike these from EXCEPTIONS: the import is gone"


def test_every_layer_names_a_real_module() -> None:
    names = {m.split(".")[1] for m in graph().modules if m.count(".") >= 1}
    listed = {tail for layer in LAYERS for tail in layer.module_tails}  # type: ignore[attr-defined]
    assert listed - names == set()
    assert names - listed == set(), "a new package or top-level module must be placed in LAYERS"


def _cycles(g: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(g.modules):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(g.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_no_import_cycles_between_modules() -> None:
    assert _cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        g.add_module(module)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.a")
    g.add_import(importer="p.c", imported="p.a")
    assert _cycles(g) == [["p.a", "p.b"]]


def _python_files() -> Iterator[Path]:
    for top in ("quotad", "collectors", "policies", "alembic", "tests", "bench"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _top_level_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("forbidden", ["collectors", "policies"])
def test_collectors_and_policies_are_imported_through_the_package(forbidden: str) -> None:
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in _python_files() if forbidden in set(_top_level_imports(path))
    )
    assert offenders == [], f"import quotad.{forbidden}, not {forbidden}"
