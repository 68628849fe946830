"""The migration heads this quotad expects, read from the revision files without Alembic or plugin code.

Why: every command checks the ledger's schema before it reads, and doing that through Alembic imports Alembic
and the plugin host (most of a second on a busy machine) and executes every revision file, to learn a handful
of strings. Revision files declare ``revision`` and ``down_revision`` as literals, so the heads (revisions no
other revision names as its parent) can be read with ``ast``. The result is only a fast path: when a file
does not declare plainly, or the ledger's revisions differ, ``quotad.ledger.db.check_schema`` asks Alembic,
which stays the authority and words the error.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable
from pathlib import Path

__all__ = ["plugin_migration_folders", "static_heads"]

_PLUGIN_GROUP = "quotad.plugins"  # quotad.plugins.host.ENTRY_POINT_GROUP (a test keeps them equal)


def _literal_revisions(node: ast.expr) -> tuple[str, ...] | None:
    """A revision literal as a tuple of ids (None -> ()), or None when it is not a plain literal."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return () if node.value is None else (node.value,)
    if isinstance(node, ast.Tuple | ast.List):
        ids = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return tuple(ids) if len(ids) == len(node.elts) else None
    return None


def _declared(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(revision, down revisions) of one revision file, or None when they are not plain literals."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return None
    found: dict[str, tuple[str, ...] | None] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = _literal_revisions(value)
    revision, down = found.get("revision"), found.get("down_revision")
    if revision is None or len(revision) != 1 or down is None:
        return None
    return revision[0], down


def static_heads(folders: Iterable[Path]) -> frozenset[str] | None:
    """Heads of the history in ``folders`` (``*.py`` revision files), or None when any file is not plain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            declared = _declared(path)
            if declared is None:
                return None
            revisions.add(declared[0])
            parents.update(declared[1])
    return frozenset(revisions - parents) if revisions else None


def plugin_migration_folders() -> list[Path]:
    """Each installed plugin's ``migrations/`` folder beside its entry module (as the plugin host finds them)."""
    from importlib.metadata import entry_points

    folders: list[Path] = []
    for ep in sorted(entry_points(group=_PLUGIN_GROUP), key=lambda e: (e.name, e.value)):
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            home = Path(next(iter(spec.submodule_search_locations))).resolve()
        elif "." in ep.module and spec.origin:
            home = Path(spec.origin).resolve().parent
        else:
            continue
        folder = home / "migrations"
        if folder.is_dir() and folder not in folders:
            folders.append(folder)
    return folders
