"""``quotad ingest``: load accounting text into the ledger, and inspect what was refused."""

from __future__ import annotations

import io
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, cast

import typer
from sqlalchemy import Connection, select

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.collectors.slurm import ingest_sacct_text
from quotad.errors import UsageError
from quotad.ledger.ingest import IngestSummary, retrying
from quotad.ledger.models import IngestError
from quotad.render import Table, emit
from quotad.timeutil import epoch_now

app = typer.Typer(help="Load accounting data; list refused lines.", no_args_is_help=True)
log = logging.getLogger("quotad.ingest")


@app.command("sacct")
def sacct(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="File with `sacct --parsable2` output (with header), or - for stdin."),
) -> None:
    """Ingest sacct output. Good lines land even when others are refused; exit 1 if any line was refused."""
    app_state = state(ctx)
    engine = app_state.ledger()
    name = "<stdin>" if source == "-" else str(Path(source).resolve())
    try:
        handle = _spooled_stdin() if source == "-" else open(source, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from exc
    now = epoch_now()

    def ingest(conn: Connection) -> IngestSummary:
        handle.seek(0)  # a retried attempt (serialization failure) reads the input again from the start
        return ingest_sacct_text(conn, app_state.settings, handle, source=name, now=now)

    with handle:
        summary = retrying(engine, ingest)
    print(
        f"{name}: {summary.lines_total} lines, {summary.inserted} new, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.lines_bad} refused (run {summary.run_id})"
    )
    for err in summary.errors:
        log.warning("%s", err)
    if summary.lines_bad:
        if summary.lines_bad > len(summary.errors):
            log.warning("... and %d more", summary.lines_bad - len(summary.errors))
        log.warning("refused lines are kept: `quotad ingest errors --run %d`", summary.run_id)
        raise typer.Exit(1)


def _spooled_stdin() -> IO[str]:
    """stdin, decoded like a named file (invalid UTF-8 becomes U+FFFD and the line is judged, not crashed on),
    and kept so a retried transaction can read it again."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline="")  # noqa: SIM115
    shutil.copyfileobj(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline=""), spool)
    return cast(IO[str], spool)


@app.command("errors")
def errors(
    ctx: typer.Context,
    run: int | None = typer.Option(None, "--run", help="Only lines refused by this ingest run."),
    limit: int = typer.Option(100, "--limit", help="At most this many lines, newest first."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Quarantined input lines with their source, line number and reason."""
    stmt = select(IngestError).order_by(IngestError.id.desc()).limit(limit)
    if run is not None:
        stmt = stmt.where(IngestError.run_id == run)
    with state(ctx).ledger().connect() as conn:
        rows = conn.execute(stmt).all()
    table = Table(
        ["Run", "Source", "Line", "Reason", "Text"],
        [[r.run_id, r.source, r.line_no, r.reason, r.line] for r in rows],
        keys=["run", "source", "line_no", "reason", "line"],
    )
    emit(table, pick_format(fmt, as_json))
