"""``quotad status`` and ``quotad report``: where every company stands, and who used what in a month."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.cli.pool import render_pool
from quotad.errors import UsageError
from quotad.ledger.queries import (
    REPORT_KEYS,
    UNCLAIMED_WINDOW_S,
    ReportRow,
    StatusRow,
    company_status,
    unclaimed_since,
    usage_report,
)
from quotad.render import Cell, Table, emit
from quotad.timeutil import format_day, month_bounds, month_start, parse_month
from quotad.units import eflops_hours, gpu_hours, pflops_days

__all__ = ["report", "report_table", "status", "status_table", "unclaimed_line"]

#: Accounts named in the unclaimed line before "and N more".
_UNCLAIMED_SHOWN = 8


def status_table(rows: list[StatusRow], tz: str) -> Table:
    out: list[Sequence[Cell]] = []
    for r in rows:
        unit = r.unit
        show = unit.display if unit else (lambda _v: None)
        out.append(
            [
                r.company_id,
                r.name_en,
                unit.label if unit else "no active grant",
                show(r.granted),
                show(r.used),
                round(100 * r.used_ratio, 1) if r.used_ratio is not None else None,
                show(round(r.burn_per_day)) if unit else None,
                show(r.projected),
                round(100 * r.projected / r.granted, 1) if r.granted else None,
                format_day(r.period_end - 1, tz) if r.period_end else None,
                r.gpus_held,
            ]
        )
    return Table(
        [
            "Company",
            "Name",
            "Unit",
            "Grant",
            "Used",
            "Used %",
            "Burn/day (7d)",
            "Projected at end",
            "Projected %",
            "Period ends",
            "GPUs held",
        ],
        out,
        title="Grant status",
        keys=[
            "company",
            "name_en",
            "unit",
            "grant",
            "used",
            "used_pct",
            "burn_per_day",
            "projected",
            "projected_pct",
            "period_last_day",
            "gpus_held",
        ],
    )


def status(
    ctx: typer.Context,
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """One row per company: grant, used, % used, 7-day burn rate, projected use at period end, GPUs held now."""
    app_state = state(ctx)
    now = parse_now(now_text)
    with app_state.ledger().connect() as conn:
        rows = company_status(conn, app_state.catalog, now=now)
        unclaimed = unclaimed_since(conn, now)
    chosen = pick_format(fmt, as_json)
    emit(status_table(rows, app_state.settings.programme.timezone), chosen)
    if unclaimed and chosen in ("table", "md"):  # machine formats keep their shape (one record per company)
        print(unclaimed_line(unclaimed))


def unclaimed_line(cells: dict[tuple[str, str, str], int]) -> str:
    """``unclaimed accounts (last 30 days): c1:ghost 12.0 GPU-h, ...``: usage the ledger charges to nobody,
    largest first, so a missing ``company add-account`` is seen where people look every day."""
    by_account: dict[str, int] = {}
    for (cluster, account, _gpu_type), seconds in cells.items():
        by_account[f"{cluster}:{account}"] = by_account.get(f"{cluster}:{account}", 0) + seconds
    ranked = sorted(by_account.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{name} {gpu_hours(seconds):,.1f} GPU-h" for name, seconds in ranked[:_UNCLAIMED_SHOWN])
    more = f" and {len(ranked) - _UNCLAIMED_SHOWN} more" if len(ranked) > _UNCLAIMED_SHOWN else ""
    days = UNCLAIMED_WINDOW_S // 86400
    return f"unclaimed accounts (last {days} days, charged to no company): {shown}{more}"


def report_table(rows: list[ReportRow], by: str, title: str) -> Table:
    types = sorted({t for r in rows for t in r.gpu_seconds})
    total = sum(r.total_gpu_seconds for r in rows)
    out: list[Sequence[Cell]] = []
    for r in rows:
        out.append(
            [
                r.key,
                *(round(gpu_hours(r.gpu_seconds.get(t, 0)), 2) for t in types),
                round(gpu_hours(r.total_gpu_seconds), 2),
                r.total_gpu_seconds,
                round(eflops_hours(r.tflop), 4),
                round(pflops_days(r.tflop), 3),
                round(100 * r.total_gpu_seconds / total, 2) if total else 0.0,
            ]
        )
    return Table(
        [
            by.capitalize(),
            *(f"GPU-h {t.upper()}" for t in types),
            "GPU-h",
            "GPU-seconds",
            "EFLOPS-h",
            "PFLOPS-days",
            "Share %",
        ],
        out,
        title=title,
        keys=[
            by.replace("-", "_"),
            *(f"gpu_hours_{t}" for t in types),
            "gpu_hours",
            "gpu_seconds",
            "eflops_hours",
            "pflops_days",
            "share_pct",
        ],
    )


def report(
    ctx: typer.Context,
    period: str | None = typer.Option(None, "--period", help="Month YYYY-MM [default: the current month]."),
    by: str = typer.Option("company", "--by", help="company, cluster, partition, gpu-type or user."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
    now_text: str | None = NowOption,
    pool: bool = typer.Option(
        False, "--pool", help="The pool instead: reserved, maintenance, allocated, busy and unallocated GPU-hours."
    ),
) -> None:
    """Usage in one month grouped by company, cluster, partition, GPU type or user (exact GPU-seconds too)."""
    if by not in REPORT_KEYS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(REPORT_KEYS)}")
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    year, month = parse_month(period) if period else month_start(parse_now(now_text), tz)
    start, end = month_bounds(year, month, tz)
    if pool:
        now = parse_now(now_text)
        render_pool(app_state, start=start, end=end, now=now, by="cluster", fmt=pick_format(fmt, as_json))
        return
    with app_state.ledger().connect() as conn:
        rows = usage_report(conn, app_state.catalog, start=start, end=end, by=by)
    emit(report_table(rows, by, f"Usage {year:04d}-{month:02d} by {by}"), pick_format(fmt, as_json))
