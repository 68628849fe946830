"""``quotad collect``: one incremental poll of the schedulers' accounting (the daemon runs the same)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.collectors.runner import CommandFailed, SubprocessRunner
from quotad.collectors.slurm import poll_cluster
from quotad.errors import InputError, LedgerError, UsageError
from quotad.render import Cell, Table, emit
from quotad.timeutil import parse_day

app = typer.Typer(help="Collect accounting from the schedulers.", no_args_is_help=True)
log = logging.getLogger("quotad.collect")


@app.command("slurm")
def slurm(
    ctx: typer.Context,
    cluster: list[str] = typer.Option(
        [], "--cluster", help="Only this cluster (repeatable) [default: all Slurm ones]."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Read from this day (YYYY-MM-DD, UTC) instead of the watermark."
    ),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Poll sacct for each cluster: one transaction per cluster with its watermark; exit 1 if any failed."""
    app_state = state(ctx)
    settings = app_state.settings
    names = cluster or [c.name for c in settings.clusters if c.scheduler == "slurm"]
    if not names:
        raise UsageError("no Slurm cluster is configured under [[clusters]]")
    start = parse_day(since, "UTC") if since else None
    engine = app_state.ledger()
    runner = SubprocessRunner()
    rows: list[Sequence[Cell]] = []
    failed = 0
    for name in names:
        try:
            result = poll_cluster(engine, settings, name, runner=runner, since=start)
        except (CommandFailed, LedgerError, InputError) as exc:
            # Recorded in collector_state by the poll; shown here as a row, never as a traceback.
            failed += 1
            rows.append([name, "failed", None, None, None, None, None, str(exc)])
            continue
        rows.append(
            [
                name,
                "ok",
                result.total("lines_total"),
                result.total("inserted"),
                result.total("updated"),
                result.lines_bad,
                round(result.duration_s, 2),
                "",
            ]
        )
    emit(
        Table(
            ["Cluster", "Result", "Lines", "New", "Updated", "Refused", "Seconds", "Error"],
            rows,
            keys=["cluster", "result", "lines", "new", "updated", "refused", "seconds", "error"],
        ),
        pick_format(fmt, as_json),
    )
    if failed or any(r[5] for r in rows):
        raise typer.Exit(1)
