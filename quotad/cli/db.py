"""``quotad db``: schema management and rollup checks. ``upgrade`` is the only command that works on an outdated
ledger."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.errors import UsageError
from quotad.ledger.db import create_ledger_engine, describe_url, upgrade
from quotad.render import Cell, Table, emit
from quotad.timeutil import epoch_now, format_day, parse_day

app = typer.Typer(help="Ledger schema: apply migrations; check the rollups.", no_args_is_help=True)
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


@app.command("check-rollups")
def check_rollups_cmd(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day to check (YYYY-MM-DD, UTC)."),
    until: str | None = typer.Option(None, "--until", help="Last day to check (YYYY-MM-DD, UTC) [default: today]."),
    repair: bool = typer.Option(False, "--repair", help="Rewrite the differing daily rows from the hourly ones."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Check that the daily rollup equals the hourly one (the daemon's rollup_upkeep does this for recent days).

    Exit 1 when drift was found and not repaired.
    """
    from quotad.ledger.upkeep import check_daily_rollup

    app_state = state(ctx)
    start = parse_day(since, "UTC")
    end = parse_day(until, "UTC", end_of_day=True) if until else epoch_now()
    if end <= start:
        raise UsageError(f"--until {until!r} is before --since {since!r}")
    with app_state.ledger().begin() as conn:
        check = check_daily_rollup(conn, start=start, end=end, repair=repair)
    rows: list[Sequence[Cell]] = [
        [d.cluster, d.account, d.gpu_type, format_day(d.day, "UTC"), d.daily, d.hourly, d.difference]
        for d in check.drift
    ]
    emit(
        Table(
            ["Cluster", "Account", "GPU type", "Day", "Daily", "Hourly", "Difference"],
            rows,
            title=f"{check.cells} daily cell(s) checked, {len(check.drift)} differ"
            + (" (repaired)" if check.repaired else ""),
            keys=["cluster", "account", "gpu_type", "day", "daily_gpu_seconds", "hourly_gpu_seconds", "difference"],
        ),
        pick_format(fmt, as_json),
    )
    if check.drift and not check.repaired:
        raise typer.Exit(1)
