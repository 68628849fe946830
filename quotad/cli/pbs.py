"""The PBS commands, ``quotad collect pbs`` and ``quotad ingest pbs FILE…``, as functions to register.

``main.py`` registers them under the ``collect`` and ``ingest`` groups. Thin, like every command: parse, call one
function, render; exit 1 when a cluster failed or a line was refused.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.collectors.pbs import PbsLogError, ingest_pbs_lines, pbs_cluster, poll_pbs, settle_open_runs
from quotad.config import Settings
from quotad.errors import LedgerError, UsageError
from quotad.ledger.ingest import sync_clusters
from quotad.render import Cell, Table, emit
from quotad.timeutil import epoch_now, parse_day

__all__ = ["collect_pbs", "ingest_pbs"]

log = logging.getLogger("quotad.collect.pbs")


def _pbs_names(settings: Settings, chosen: Sequence[str]) -> list[str]:
    names = list(chosen) or [c.name for c in settings.clusters if c.scheduler == "pbs"]
    if not names:
        raise UsageError('no PBS cluster is configured under [[clusters]] (scheduler = "pbs")')
    return names


def collect_pbs(
    ctx: typer.Context,
    cluster: list[str] = typer.Option([], "--cluster", help="Only this cluster (repeatable) [default: all PBS ones]."),
    since: str | None = typer.Option(
        None, "--since", help="Read again from this day's file (YYYY-MM-DD) instead of the stored position."
    ),
    accounting_dir: Path | None = typer.Option(
        None, "--accounting-dir", help="The server's accounting/ directory (overrides config; one cluster only)."
    ),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Read each PBS cluster's new accounting records: one transaction per cluster with its file position."""
    app_state = state(ctx)
    settings = app_state.settings
    names = _pbs_names(settings, cluster)
    if accounting_dir is not None and len(names) != 1:
        raise UsageError("--accounting-dir goes with exactly one --cluster")
    engine = app_state.ledger()
    rows: list[Sequence[Cell]] = []
    failed = 0
    for name in names:
        target = pbs_cluster(settings, name, accounting_dir=accounting_dir)
        start = parse_day(since, target.timezone) if since else None
        try:
            result = poll_pbs(engine, settings, target, since=start)
        except (PbsLogError, LedgerError) as exc:
            failed += 1
            rows.append([name, "failed", None, None, None, None, None, None, str(exc)])
            continue
        restarted = [f"{f.name}: {f.restarted}" for f in result.files if f.restarted]
        rows.append(
            [
                name,
                "ok",
                len(result.files),
                sum(f.lines for f in result.files),
                result.total("inserted"),
                result.total("updated"),
                result.lines_bad,
                round(result.duration_s, 2),
                "; ".join(restarted),
            ]
        )
    emit(
        Table(
            ["Cluster", "Result", "Files", "Lines", "New", "Updated", "Refused", "Seconds", "Note"],
            rows,
            keys=["cluster", "result", "files", "lines", "new", "updated", "refused", "seconds", "note"],
        ),
        pick_format(fmt, as_json),
    )
    if failed or any(r[6] for r in rows):
        raise typer.Exit(1)


def _numbered(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            yield line_no, line.rstrip("\r\n")


def ingest_pbs(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="PBS accounting files (YYYYMMDD, or .gz)."),
    cluster: str | None = typer.Option(
        None, "--cluster", help="The PBS cluster they come from [default: the only one]."
    ),
) -> None:
    """Ingest PBS accounting files in one transaction; exit 1 if any line was refused (the others land)."""
    app_state = state(ctx)
    settings = app_state.settings
    names = _pbs_names(settings, [cluster] if cluster else [])
    if len(names) != 1:
        raise UsageError(f"several PBS clusters are configured ({', '.join(names)}): give --cluster")
    target = pbs_cluster(settings, names[0])
    now = epoch_now()
    bad = 0
    with app_state.ledger().begin() as conn:
        sync_clusters(conn, settings)
        aborts: dict[int, int] = {}
        for path in files:
            try:
                written = ingest_pbs_lines(
                    conn, target, list(_numbered(path)), source=f"pbs:{target.name}:{path.resolve()}", now=now
                )
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
            for raw, at in written.aborts.items():
                aborts[raw] = max(aborts.get(raw, 0), at)
            s = written.summary
            print(
                f"{path}: {written.lines} lines ({written.skipped} of other record types), {s.inserted} new, "
                f"{s.updated} updated, {s.unchanged} unchanged, {s.lines_bad} refused (run {s.run_id})"
            )
            for err in s.errors:
                log.warning("%s", err)
            bad += s.lines_bad
        settle_open_runs(conn, target, aborts, now=now)
    if bad:
        log.warning("refused lines are kept: `quotad ingest errors`")
        raise typer.Exit(1)
