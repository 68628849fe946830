"""Command groups that are imported only when they run: click's lazy-group pattern on typer's ``TyperGroup``.

Why: importing every command group (and what each imports: SQLAlchemy, pydantic, the notifier, the daemon,
the PBS collector, the plugins) cost more than a second before ``quotad --version`` could answer. A group
here lists its commands from a table of ``LazyCommand`` (name, ``module:attribute``, one-line help), shows
that help in ``--help`` without importing anything, and imports a command's module only when the command is
resolved to run (or to show its own ``--help``).

Help is formatted by click's plain formatter (``rich_markup_mode=None``): rich markup would eat bracketed
words such as ``[default: ...]`` or ``[gpu_types]`` in help texts, and plain help needs no rich import.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

__all__ = ["LazyCommand", "LazyGroup", "load_target", "to_click"]


@dataclass(frozen=True)
class LazyCommand:
    """One command or group, by where it lives rather than by the object itself.

    ``name`` is the command path below the group holding the table: ``"status"``, or ``"collect pbs"`` for a
    command added to a group that another module defines. ``target`` is ``"module.path:attribute"`` naming a
    ``typer.Typer`` (a group) or a command function; moving a module is a change of this one string.
    """

    name: str
    target: str
    help: str

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())


def load_target(target: str) -> object:
    """The object ``"module.path:attribute"`` names (imports the module)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _plain_typer() -> typer.Typer:
    return typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)


def to_click(
    name: str,
    obj: object,
    below: Sequence[LazyCommand] = (),
    help: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """A click command named ``name`` for a typer app or a command function, with plain (markup-free) help.

    ``below`` are lazy commands to add inside a group (paths relative to it); ``help`` replaces a group's own;
    ``settings`` are a command function's click context settings.
    """
    wrapper = _plain_typer()
    if isinstance(obj, typer.Typer):
        cls = type(f"Lazy_{name}", (LazyGroup,), {"table": tuple(below)})
        if help is None:
            wrapper.add_typer(obj, name=name, cls=cls)
        else:
            wrapper.add_typer(obj, name=name, cls=cls, help=help)
        return typer.main.get_group(wrapper).commands[name]
    if below:
        raise TypeError(f"{name}: a command cannot hold the commands {[c.name for c in below]}")
    if not callable(obj):
        raise TypeError(f"{name}: {obj!r} is neither a typer app nor a command function")
    wrapper.command(name, context_settings=settings)(obj)
    return typer.main.get_command(wrapper)


class LazyGroup(TyperGroup):
    """A group whose commands come from ``table`` (besides any defined in code), each imported on first use."""

    table: ClassVar[tuple[LazyCommand, ...]] = ()

    def lazy_names(self) -> list[str]:
        """Names of this group's own table entries, in table order."""
        return [entry.words[0] for entry in self.table if len(entry.words) == 1]

    def summary(self, name: str) -> str:
        """One-line help for a command not imported yet."""
        return next((e.help for e in self.table if e.words == (name,)), "")

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        names += [n for n in self.lazy_names() if n not in self.commands]
        return names

    def load(self, ctx: Any, name: str) -> Any | None:
        """Import and build the command ``name`` from the table, or None when the table has no such name."""
        entry = next((e for e in self.table if e.words == (name,)), None)
        if entry is None:
            return None
        below = [
            LazyCommand(" ".join(e.words[1:]), e.target, e.help)
            for e in self.table
            if len(e.words) > 1 and e.words[0] == name
        ]
        return to_click(name, load_target(entry.target), below)

    def get_command(self, ctx: Any, cmd_name: str) -> Any | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = self.load(ctx, cmd_name)
            if command is not None:
                self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list with one line each, importing none of the commands not loaded yet."""
        rows: list[tuple[str, str]] = []
        names = self.list_commands(ctx)
        width = formatter.width - 6 - max((len(n) for n in names), default=0)
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, self.summary(name)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
