"""Entry point: global options, error-to-exit-code mapping and the command groups.

Exit codes: 0 success; 1 partial success or runtime failure (some input lines refused, database down);
2 usage or configuration error (bad option, bad config, unknown company, outdated schema).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from collectors import pbs_cli
from quotad import __version__
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
from quotad.cli import plugins as plugins_cmd
from quotad.cli.context import AppState
from quotad.cli.run import run as run_command
from quotad.errors import QuotadError
from quotad.plugins.host import command_names, load_plugins, mount

__all__ = ["app", "run"]

log = logging.getLogger("quotad")


class QuotadGroup(TyperGroup):
    """Turns a ``QuotadError`` anywhere below into one clear stderr line and its exit code, no traceback."""

    def invoke(self, ctx: Any) -> Any:  # click's Context; typer vendors click privately
        try:
            return super().invoke(ctx)
        except QuotadError as exc:
            log.error("%s", exc)
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    cls=QuotadGroup,
    help="quotad: GPU-grant accounting, telemetry and directives for a foundation-model compute programme.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"quotad {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="QUOTAD_CONFIG",
        help="TOML config file (else /etc/quotad/quotad.toml when it exists).",
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"{log_level!r}: expected DEBUG, INFO, WARNING or ERROR", param_hint="--log-level")
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    PLUGINS.warn_failures()
    ctx.obj = AppState(config_path=config)


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
    app()
