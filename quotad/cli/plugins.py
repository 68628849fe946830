"""``quotad plugins``: what the plugin host loaded, and why anything it found did not load."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format
from quotad.plugins.host import PluginRegistry
from quotad.render import Cell, Table, emit

__all__ = ["make_app", "plugins_table"]


def plugins_table(registry: PluginRegistry) -> Table:
    rows: list[Sequence[Cell]] = []
    for p in registry.loaded:
        plugin = p.plugin
        tables = ", ".join(t.name for t in plugin.tables)
        migrations = str(plugin.migrations) if plugin.migrations else ""
        rows.append([p.name, "loaded", plugin.summary, p.source, p.distribution, tables, migrations, ""])
    for f in registry.failed:
        rows.append([f.name, "failed", "", f.source, f.distribution, "", "", f.reason])
    return Table(
        ["Plugin", "Status", "Summary", "Entry point", "Distribution", "Tables", "Migrations", "Reason"],
        rows,
        title="Plugins",
        drop_first=["Migrations", "Distribution", "Tables", "Entry point"],
        keys=["name", "status", "summary", "entry_point", "distribution", "tables", "migrations", "reason"],
    )


def make_app(registry: PluginRegistry) -> typer.Typer:
    """The ``plugins`` command group over an already loaded registry (the CLI loads plugins once, at start)."""
    app = typer.Typer(help="Plugins: what is loaded, and why anything found did not load.", no_args_is_help=True)

    @app.command("list")
    def list_cmd(fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """Every plugin found in the entry-point group quotad.plugins; exit 1 if any failed to load."""
        emit(plugins_table(registry), pick_format(fmt, as_json))
        if registry.failed:
            raise typer.Exit(1)

    return app
