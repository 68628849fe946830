"""``quotad db``: schema management. ``upgrade`` is the only command that works on an outdated ledger."""

from __future__ import annotations

import logging

import typer

from quotad.cli.context import state
from quotad.ledger.db import create_ledger_engine, describe_url, upgrade

app = typer.Typer(help="Ledger schema: apply migrations.", no_args_is_help=True)
log = logging.getLogger("quotad.db")


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Create the ledger or bring its schema to the newest revision (safe to run repeatedly)."""
    settings = state(ctx).settings
    before, after = upgrade(create_ledger_engine(settings))
    where = describe_url(settings)
    if before == after:
        print(f"ledger {where} already at revision {after}")
    else:
        print(f"ledger {where} upgraded from {before or '(empty)'} to {after}")
