"""The full ``quotad`` command line: every command group and the plugins, on the root of ``quotad.cli.root``."""

from __future__ import annotations

from quotad.cli import agent as agent_cmd
from quotad.cli import (
    collect,
    company,
    db,
    demo,
    directives,
    grant,
    ingest,
    maintenance,
    notify,
    policy,
    pool,
    provider,
    slurm,
    status,
)
from quotad.cli import pbs as pbs_cli
from quotad.cli import plugins as plugins_cmd
from quotad.cli.root import QuotadGroup, main, make_app
from quotad.cli.run import run as run_command
from quotad.plugins.host import command_names, load_plugins, mount

__all__ = ["QuotadGroup", "app", "main", "run"]


def _warn_plugin_failures() -> None:
    PLUGINS.warn_failures()


app = make_app(on_start=_warn_plugin_failures)

app.add_typer(db.app, name="db")
app.add_typer(company.app, name="company")
app.add_typer(grant.app, name="grant")
app.add_typer(ingest.app, name="ingest")
app.add_typer(collect.app, name="collect")
app.add_typer(slurm.app, name="slurm")
app.add_typer(policy.app, name="policy")
app.add_typer(directives.app, name="directives")
app.add_typer(notify.app, name="notify")
app.add_typer(provider.app, name="provider")
app.add_typer(pool.app, name="pool")
app.add_typer(maintenance.app, name="maintenance")
collect.app.command("pbs")(pbs_cli.collect_pbs)
ingest.app.command("pbs")(pbs_cli.ingest_pbs)
app.command("status")(status.status)
app.command("report")(status.report)
app.command("demo")(demo.demo)
app.command("agent")(agent_cmd.agent)
app.command("run")(run_command)


# Plugins last, so none can take a core command's name. Loaded once per process: a plugin that fails is kept
# with its reason (`quotad plugins list`, and a warning on every command) and never stops the core commands.
PLUGINS = load_plugins(reserved=command_names(app))
mount(app, PLUGINS)
app.add_typer(plugins_cmd.make_app(PLUGINS), name="plugins")


def run() -> None:
    """The ``quotad`` command (``quotad.cli.entry.run`` dispatches here for everything but ``agent``)."""
    app()
