"""The full ``quotad`` command line: one table of every command group, imported only when it runs, and plugins.

``COMMANDS`` is the one place that says where a command lives: name -> ``module:attribute`` and its one-line
help (what ``quotad --help`` prints without importing the module). Moving a module is a one-line change here.
Plugins come from the ``quotad.plugins`` entry points: ``--help`` lists them by name with a line read without
importing them (``quotad.cli.plugin_index``); running a plugin command, or ``quotad plugins``, loads them all
through the plugin host (once per process), and a plugin that failed is reported with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from quotad.cli.lazy import LazyCommand, LazyGroup, to_click
from quotad.cli.plugin_index import PluginEntry, plugin_entries
from quotad.cli.root import QuotadGroup, main, make_app
from quotad.errors import QuotadError

if TYPE_CHECKING:
    from quotad.plugins.host import PluginRegistry

__all__ = ["COMMANDS", "CORE_NAMES", "QuotadCommands", "QuotadGroup", "app", "main", "make_cli", "run"]

COMMANDS: tuple[LazyCommand, ...] = (
    # name,           where it lives (module:attribute),
    #                 one line for --help (the module's own first line; a test keeps them equal)
    LazyCommand("db",          "quotad.cli.db:app",
                "Ledger schema: apply migrations; check the rollups; least-privilege database roles."),
    LazyCommand("company",     "quotad.cli.company:app",
                "Companies, their Slurm accounts and contacts."),
    LazyCommand("grant",       "quotad.cli.grant:app",
                "Grants: how much compute each company may use, and when."),
    LazyCommand("ingest",      "quotad.cli.ingest:app",
                "Load accounting data; list refused lines."),
    LazyCommand("ingest pbs",  "quotad.cli.pbs:ingest_pbs",
                "Ingest PBS accounting files in one transaction; exit 1 if any line was refused (the others land)."),
    LazyCommand("collect",     "quotad.cli.collect:app",
                "Collect accounting from the schedulers."),
    LazyCommand("collect pbs", "quotad.cli.pbs:collect_pbs",
                "Read each PBS cluster's new accounting records: one transaction per cluster with its file position."),
    LazyCommand("slurm",       "quotad.cli.slurm:app",
                "Slurm: grants pushed into Slurm limits, accounts checked."),
    LazyCommand("policy",      "quotad.cli.policy:app",
                "Policies: findings about quota, pace, idle GPUs, efficiency and programme use."),
    LazyCommand("directives",  "quotad.cli.directives:app",
                "Directives: what companies have been told, and where each case stands."),
    LazyCommand("notify",      "quotad.cli.notify:app",
                "Notifications: the outbox, daily digests and the weekly summary."),
    LazyCommand("provider",    "quotad.cli.provider:app",
                "GPU providers, contracts and reserved capacity."),
    LazyCommand("pool",        "quotad.cli.pool:app",
                "The GPU pool: reserved capacity, its use, and grants against it."),
    LazyCommand("maintenance", "quotad.cli.maintenance:app",
                "Provider maintenance windows."),
    LazyCommand("status",      "quotad.cli.status:status",
                "One row per company at one instant: grant, used, % used, burn rate, projection, GPUs held."),
    LazyCommand("report",      "quotad.cli.report:report",
                "Usage over any range by company, cluster, partition, GPU type or user, or by day, week or month."),
    LazyCommand("demo",        "quotad.cli.demo:demo",
                "Build a synthetic programme, run one policy tick, show its status, directives and a notice."),
    LazyCommand("agent",       "quotad.cli.agent:agent",
                "Sample every GPU through NVML, attribute it to Slurm jobs, write hourly aggregates, serve /metrics."),
    LazyCommand("run",         "quotad.cli.run:run",
                "Run the daemon: Slurm polls and other jobs on their intervals, the Prometheus exporter and /healthz."),
)  # fmt: skip

PLUGINS_HELP = "Plugins: what is loaded, and why anything found did not load."

#: Names no plugin may take: the core's commands and ``plugins``.
CORE_NAMES = frozenset({entry.words[0] for entry in COMMANDS} | {"plugins"})

_REGISTRY = "quotad.plugin_registry"  # ctx.meta key: the registry, once a command loaded the plugins


class PluginLoadError(QuotadError):
    """A plugin command was asked for, but that plugin did not load (the reason is in the message)."""


def _failed_plugin(name: str, message: str) -> Any:
    """A stand-in for a plugin that did not load: whatever follows, it fails with ``message`` (exit 1).

    It runs as a command rather than failing while the command is looked up, so the root's options (logging)
    are in force when the message is printed.
    """

    def failed() -> None:
        raise PluginLoadError(message)

    failed.__doc__ = message
    return to_click(name, failed, settings={"allow_extra_args": True, "ignore_unknown_options": True})


def _load_registry() -> PluginRegistry:
    from quotad.plugins.host import load_plugins

    return load_plugins(reserved=CORE_NAMES)


class QuotadCommands(LazyGroup, QuotadGroup):
    """The root: the core commands from ``COMMANDS``, then the plugins, then ``plugins``."""

    table = COMMANDS

    def plugin_entries(self) -> list[PluginEntry]:
        """Plugins by name and one line, without importing them."""
        return plugin_entries(CORE_NAMES)

    def plugin_registry(self) -> PluginRegistry:
        """Every plugin loaded and validated by the host."""
        return _load_registry()

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        names += [p.name for p in self.plugin_entries() if p.name not in names]
        return names if "plugins" in names else [*names, "plugins"]

    def summary(self, name: str) -> str:
        if name == "plugins":
            return PLUGINS_HELP
        return super().summary(name) or next((p.summary for p in self.plugin_entries() if p.name == name), "")

    def load(self, ctx: Any, name: str) -> Any | None:
        command = super().load(ctx, name)
        if command is not None or (name != "plugins" and name not in {p.name for p in self.plugin_entries()}):
            return command
        registry = ctx.meta.get(_REGISTRY)
        if registry is None:
            registry = ctx.meta[_REGISTRY] = self.plugin_registry()
        if name == "plugins":
            from quotad.cli import plugins as plugins_cmd

            return to_click("plugins", plugins_cmd.make_app(registry))
        loaded = next((p for p in registry.loaded if p.name == name), None)
        if loaded is None:
            failure = next((f for f in registry.failed if f.name == name), None)
            reason = failure.reason if failure else "not found"
            return _failed_plugin(name, f"plugin {name} ({failure.source if failure else name}) not loaded: {reason}")
        if loaded.plugin.app is None:
            return None
        return to_click(name, loaded.plugin.app, help=loaded.plugin.summary)


def _warn_plugin_failures(ctx: typer.Context) -> None:
    """Once logging is set up: the plugins that failed, when this command loaded the plugins."""
    registry = ctx.meta.get(_REGISTRY)
    if registry is not None:
        registry.warn_failures()


def make_cli(registry: PluginRegistry | None = None) -> typer.Typer:
    """The ``quotad`` command line; with ``registry``, over those plugins instead of the installed ones."""
    if registry is None:
        return make_app(on_start=_warn_plugin_failures, cls=QuotadCommands)
    given = registry
    entries = [PluginEntry(p.name, p.plugin.summary) for p in given.loaded]
    entries += [PluginEntry(f.name, "") for f in given.failed if f.name not in CORE_NAMES]
    methods: dict[str, Callable[..., Any]] = {
        "plugin_entries": lambda self: entries,
        "plugin_registry": lambda self: given,
    }
    return make_app(on_start=_warn_plugin_failures, cls=type("QuotadCommandsWith", (QuotadCommands,), methods))


app = make_cli()


def run() -> None:
    """The ``quotad`` command (``quotad.cli.entry.run`` dispatches here for everything but ``agent``)."""
    app()
