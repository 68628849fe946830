"""What ``quotad --help`` says about plugins, found without importing any plugin code.

The plugin host (``quotad.plugins.host``) imports and validates plugins, which costs their whole import tree;
``--help`` needs only each plugin's name and one line. The name is the entry point's; the line is read
statically from the entry point's module: the ``summary="..."`` literal of its ``Plugin(...)`` declaration,
else the first line of the module's docstring. Standard library only, so the root command line stays light.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUP", "PluginEntry", "plugin_entries", "static_summary"]

#: The same group ``quotad.plugins.host`` loads from (a test keeps the two equal).
ENTRY_POINT_GROUP = "quotad.plugins"


@dataclass(frozen=True)
class PluginEntry:
    name: str
    summary: str


def _module_source(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        return Path(spec.origin).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def static_summary(source: str) -> str:
    """The ``summary=`` string of a ``Plugin(...)`` call in ``source``, else its docstring's first line."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if called != "Plugin":
            continue
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "summary" and isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    doc = ast.get_docstring(tree)
    return doc.strip().splitlines()[0] if doc else ""


def plugin_entries(
    reserved: frozenset[str], discover_fn: Callable[[], Sequence[EntryPoint]] | None = None
) -> list[PluginEntry]:
    """Every plugin entry point by name (sorted, first of a name wins, ``reserved`` names left out)."""
    if discover_fn is None:
        from importlib.metadata import entry_points  # ~10 ms: only for --help and plugin commands

        found: Sequence[EntryPoint] = list(entry_points(group=ENTRY_POINT_GROUP))
    else:
        found = discover_fn()
    entries: dict[str, PluginEntry] = {}
    for ep in sorted(found, key=lambda e: (e.name, e.value)):
        if ep.name in reserved or ep.name in entries:
            continue
        source = _module_source(ep.module)
        entries[ep.name] = PluginEntry(ep.name, static_summary(source) if source else "")
    return list(entries.values())
