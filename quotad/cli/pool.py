"""``quotad pool``: reserved capacity against allocation, and grants against reserved capacity.

``pool status`` shows, per day or per (cluster, GPU type), the GPU-hours reserved, lost to maintenance,
allocated to jobs, busy (NVML, "n/a" without an agent) and reserved but unallocated — what the programme paid for
and nobody used — in GPU-hours, EFLOPS-hours and money where priced. It warns (stderr) when grants exceed what
was reserved and when job segments overlap maintenance. ``pool check`` is the grant comparison alone; it exits 1
when grants exceed reserved capacity in any window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import AppState, FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.errors import UsageError
from quotad.pool.check import CheckRow, check_grants, default_window
from quotad.pool.maintenance import maintenance_overlaps
from quotad.pool.money import Money
from quotad.pool.view import PoolRow, PoolView, pool_view
from quotad.render import Cell, Format, Table, emit
from quotad.timeutil import format_day, month_bounds, month_start, parse_day, parse_month
from quotad.units import eflops_hours, gpu_hours

__all__ = ["NODE_UNKNOWN_NOTE", "app", "check_table", "pool_table", "render_pool", "window_from_options"]

log = logging.getLogger("quotad.pool")

app = typer.Typer(help="The GPU pool: reserved capacity, its use, and grants against it.", no_args_is_help=True)


def _hours(value: int | None, human: bool) -> Cell:
    if value is None:
        return "n/a" if human else None
    return round(gpu_hours(value), 2)


def _cost(values: Sequence[Money], human: bool) -> Cell:
    if not values:
        return None
    if human:
        return "; ".join(str(m) for m in values)
    return "; ".join(f"{m.major():.{m.exponent}f} {m.currency}" for m in values)


def pool_table(view: PoolView, *, by: str, tz: str, fmt: Format) -> Table:
    """One row per day (``by`` = "day") or per cluster and GPU type ("cluster"), then the period total."""
    human = fmt in ("table", "md")
    rows: list[PoolRow] = [*(view.days if by == "day" else view.cells), view.total]
    out: list[Sequence[Cell]] = []
    for r in rows:
        f = r.figures
        label = r.label if by == "day" or r.cluster == "*" else f"{r.cluster} / {r.gpu_type}"
        if r.cluster == "*" and r.label == "period":
            label = "period total"
        out.append(
            [
                label,
                _hours(f.reserved, human),
                _hours(f.maintenance, human),
                _hours(f.available, human),
                _hours(f.allocated, human),
                _hours(f.busy, human),
                _hours(f.unallocated, human),
                round(eflops_hours(f.unallocated_tflop), 4),
                _cost(f.unallocated_cost, human),
                round(100 * f.allocated_ratio, 1) if f.allocated_ratio is not None else None,
            ]
        )
    last = format_day(view.end - 1, tz) if view.end > view.start else format_day(view.start, tz)
    return Table(
        [
            "Day" if by == "day" else "Cluster / GPU",
            "Reserved GPU-h",
            "Maintenance GPU-h",
            "Available GPU-h",
            "Allocated GPU-h",
            "Busy GPU-h",
            "Unallocated GPU-h",
            "Unallocated EFLOPS-h",
            "Unallocated cost",
            "Allocated %",
        ],
        out,
        title=f"Pool {format_day(view.start, tz)} .. {last}",
        keys=[
            "day" if by == "day" else "cell",
            "reserved_gpu_hours",
            "maintenance_gpu_hours",
            "available_gpu_hours",
            "allocated_gpu_hours",
            "busy_gpu_hours",
            "unallocated_gpu_hours",
            "unallocated_eflops_hours",
            "unallocated_cost",
            "allocated_pct",
        ],
        meta={
            "start": view.start,
            "end": view.end,
            "requested_end": view.requested_end,
            "period_reserved_gpu_hours": round(gpu_hours(view.period_reserved), 2),
        },
    )


def check_table(rows: Sequence[CheckRow]) -> Table:
    return Table(
        ["Window", "Scope", "Unit", "Granted", "Reserved", "Available", "Excess", "Status", "Grants"],
        [
            [
                r.window,
                r.scope,
                r.unit.label,
                r.unit.display(r.granted),
                r.unit.display(r.reserved),
                r.unit.display(r.available),
                r.unit.display(r.excess),
                r.status,
                " ".join(str(i) for i in r.grant_ids),
            ]
            for r in rows
        ],
        title="Grants against reserved capacity",
        keys=["window", "scope", "unit", "granted", "reserved", "available", "excess", "status", "grant_ids"],
    )


def _warn_check(rows: Sequence[CheckRow]) -> int:
    """Log every window where grants exceed capacity; returns how many exceed what was reserved."""
    over = 0
    for r in rows:
        if r.status == "ok":
            continue
        over += r.status == "over-reserved"
        what = "reserved" if r.status == "over-reserved" else "reserved less maintenance"
        log.warning(
            "%s %s: grants %s %s exceed %s (%s; reserved %s, available %s)",
            r.window,
            r.scope,
            r.unit.format(r.granted),
            r.unit.label,
            what,
            f"by {r.unit.format(r.excess)}",
            r.unit.format(r.reserved),
            r.unit.format(r.available),
        )
    return over


def window_from_options(
    period: str | None, start: str | None, end: str | None, *, now: int, tz: str
) -> tuple[int, int]:
    """``--period YYYY-MM`` or ``--start/--end`` days (end inclusive); default the current month."""
    if period and (start or end):
        raise UsageError("give --period or --start/--end, not both")
    if start or end:
        if not (start and end):
            raise UsageError("give both --start and --end")
        return parse_day(start, tz), parse_day(end, tz, end_of_day=True)
    year, month = parse_month(period) if period else month_start(now, tz)
    return month_bounds(year, month, tz)


#: The line both ``pool status`` and ``maintenance overlaps`` log for segments no source places on a node.
NODE_UNKNOWN_NOTE = (
    "%d job segment(s) ran while some nodes of their cluster were under maintenance, on nodes not known (no GPU "
    "telemetry, no scheduler node list): not counted as overlapping; see %s"
)


def render_pool(app_state: AppState, *, start: int, end: int, now: int, by: str, fmt: Format) -> None:
    """Print the pool table for [start, end) and log the grant and maintenance warnings (``report --pool`` too)."""
    if by not in ("day", "cluster"):
        raise UsageError(f"--by {by!r}: expected day or cluster")
    settings = app_state.settings
    tz = settings.programme.timezone
    partitions = {c.name: c.programme_partitions for c in settings.clusters}
    with app_state.ledger().connect() as conn:
        view = pool_view(conn, app_state.catalog, start=start, end=end, now=now, tz=tz, partitions=partitions)
        checks = check_grants(conn, app_state.catalog, start=start, end=end, tz=tz)
        overlaps = maintenance_overlaps(conn, start=start, end=min(end, now))
    if not view.reservations:
        log.warning("no reserved capacity in this window: add it with `quotad provider reserve add`")
    emit(pool_table(view, by=by, tz=tz, fmt=fmt), fmt)
    _warn_check(checks)
    days = f"--start {format_day(start, tz)} --end {format_day(min(end, now) - 1, tz)}"
    if overlaps.found:
        log.warning(
            "%d job segment(s) ran on nodes under maintenance (%.1f GPU-h, still charged): "
            "see `quotad maintenance overlaps %s`",
            len(overlaps.found),
            gpu_hours(overlaps.gpu_seconds),
            days,
        )
    if overlaps.node_unknown:
        hint = f"`quotad maintenance overlaps --node-unknown {days}`"
        log.warning(NODE_UNKNOWN_NOTE, len(overlaps.node_unknown), hint)
    if not view.has_telemetry:
        log.info("no NVML telemetry for these clusters: busy GPU-hours are n/a")


@app.command("status")
def status(
    ctx: typer.Context,
    period: str | None = typer.Option(None, "--period", help="Month YYYY-MM [default: the current month]."),
    start: str | None = typer.Option(None, "--start", help="First day YYYY-MM-DD (instead of --period)."),
    end: str | None = typer.Option(None, "--end", help="Last day YYYY-MM-DD, inclusive."),
    by: str = typer.Option("day", "--by", help="day or cluster."),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Reserved, maintenance, allocated, busy and unallocated GPU-hours (and cost) per day or per cluster."""
    app_state = state(ctx)
    now = parse_now(now_text)
    lo, hi = window_from_options(period, start, end, now=now, tz=app_state.settings.programme.timezone)
    render_pool(app_state, start=lo, end=hi, now=now, by=by, fmt=pick_format(fmt, as_json))


@app.command("check")
def check(
    ctx: typer.Context,
    start: str | None = typer.Option(None, "--start", help="First day YYYY-MM-DD [default: first grant or block]."),
    end: str | None = typer.Option(None, "--end", help="Last day YYYY-MM-DD, inclusive [default: the last one]."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Grants per month (and overall) against reserved capacity; exit 1 if grants exceed what was reserved."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        if start or end:
            if not (start and end):
                raise UsageError("give both --start and --end")
            window: tuple[int, int] | None = (parse_day(start, tz), parse_day(end, tz, end_of_day=True))
        else:
            window = default_window(conn)
        rows = check_grants(conn, app_state.catalog, start=window[0], end=window[1], tz=tz) if window else []
    if window is None:
        log.warning("no grants and no reserved capacity yet: nothing to check")
    emit(check_table(rows), pick_format(fmt, as_json))
    if _warn_check(rows):
        raise typer.Exit(1)
