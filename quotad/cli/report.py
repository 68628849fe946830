"""``quotad report``: who used what over any range — a month, a quarter, a year, a grant's whole period, or
``--since/--until`` days — grouped or as a time series, for one company or all, with a totals row.

The same rows go to every format; the human ones round to hours, CSV and JSON also carry the exact
GPU-seconds (integers, the ledger's own unit), so a spreadsheet's sum equals the total row exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from quotad.cli.context import AppState, FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.errors import UsageError
from quotad.ledger.queries import REPORT_KEYS, get_company, list_grants
from quotad.ledger.reports import SERIES_KEYS, UsageLine, UsageQuery, usage_lines
from quotad.render import Cell, Table, emit
from quotad.timeutil import format_day, month_bounds, month_start, parse_day, parse_period
from quotad.units import eflops_hours, gpu_hours, pflops_days

__all__ = ["Range", "report", "report_table", "resolve_range"]

BY_CHOICES = (*REPORT_KEYS, *SERIES_KEYS)


@dataclass(frozen=True)
class Range:
    start: int
    end: int
    label: str
    company_id: str | None = None


def resolve_range(
    app_state: AppState, *, period: str | None, since: str | None, until: str | None, grant: int | None, now: int
) -> Range:
    """Exactly one way of naming the range (none: the current month); ``--grant`` also names the company."""
    tz = app_state.settings.programme.timezone
    named = [name for name, given in (("--period", period), ("--since/--until", since or until), ("--grant", grant))
             if given is not None]
    if len(named) > 1:
        raise UsageError(f"give one of --period, --since/--until or --grant, not {' and '.join(named)}")
    if period is not None:
        return Range(*parse_period(period, tz))
    if since is not None or until is not None:
        if since is None:
            raise UsageError("--until needs --since (the first day of the range)")
        start = parse_day(since, tz)
        end = parse_day(until, tz, end_of_day=True) if until else now
        if end <= start:
            raise UsageError(f"--since {since} --until {until or 'now'}: the range is empty (until is inclusive)")
        return Range(start, end, f"{since} – {until or format_day(now, tz)}")
    if grant is not None:
        with app_state.ledger().connect() as conn:
            found = next((g for g in list_grants(conn) if g.id == grant), None)
        if found is None:
            raise UsageError(f"no grant #{grant} (see `quotad grant list`)")
        label = f"grant #{grant} ({format_day(found.period_start, tz)} – {format_day(found.period_end - 1, tz)})"
        return Range(found.period_start, found.period_end, label, found.company_id)
    year, month = month_start(now, tz)
    return Range(*month_bounds(year, month, tz), f"{year:04d}-{month:02d}")


def report_table(lines: list[UsageLine], by: str, title: str) -> Table:
    """One row per line, then a totals row (when there is any row); share is of the range's total."""
    types = sorted({t for r in lines for t in r.gpu_seconds})
    total = sum(r.total_gpu_seconds for r in lines)
    with_company = by == "user"

    def cells(key: str, company: str | None, seconds: dict[str, int], tflop: int) -> list[Cell]:
        all_seconds = sum(seconds.values())
        return [
            key,
            *([company] if with_company else []),
            *(round(gpu_hours(seconds.get(t, 0)), 2) for t in types),
            round(gpu_hours(all_seconds), 2),
            all_seconds,
            round(eflops_hours(tflop), 4),
            round(pflops_days(tflop), 3),
            round(100 * all_seconds / total, 2) if total else 0.0,
        ]

    rows: list[Sequence[Cell]] = [cells(r.key, r.company_id, r.gpu_seconds, r.tflop) for r in lines]
    if lines:
        sums = {t: sum(r.gpu_seconds.get(t, 0) for r in lines) for t in types}
        rows.append(cells("total", None, sums, sum(r.tflop for r in lines)))
    return Table(
        [
            by.capitalize(),
            *(["Company"] if with_company else []),
            *(f"GPU-h {t.upper()}" for t in types),
            "GPU-h",
            "GPU-seconds",
            "EFLOPS-h",
            "PFLOPS-days",
            "Share %",
        ],
        rows,
        title=title,
        drop_first=["GPU-seconds", "PFLOPS-days", "EFLOPS-h", *(f"GPU-h {t.upper()}" for t in types)],
        keys=[
            by.replace("-", "_"),
            *(["company"] if with_company else []),
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
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM, a quarter YYYY-Qn or a year YYYY [default: the current month]."
    ),
    since: str | None = typer.Option(None, "--since", help="First day YYYY-MM-DD (programme time zone)."),
    until: str | None = typer.Option(None, "--until", help="Last day YYYY-MM-DD, inclusive [default: now]."),
    grant: int | None = typer.Option(None, "--grant", help="A grant's whole period (and its company)."),
    company: str | None = typer.Option(None, "--company", help="Only this company's accounts."),
    by: str = typer.Option(
        "company", "--by", help="company, cluster, partition, gpu-type or user; or day, week or month (a series)."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Also draw the report as FILE.svg or FILE.png."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
    now_text: str | None = NowOption,
    pool: bool = typer.Option(
        False, "--pool", help="The pool instead: reserved, maintenance, allocated, busy and unallocated GPU-hours."
    ),
) -> None:
    """Usage over any range by company, cluster, partition, GPU type or user, or by day, week or month.

    A totals row; exact GPU-seconds in CSV and JSON.

    quotad report --period 2026-Q4 --by month · quotad report --grant 3 --by week · quotad report --since
    2026-11-10 --company acme --by user
    """
    if by not in BY_CHOICES:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(BY_CHOICES)}")
    chosen = pick_format(fmt, as_json)
    app_state = state(ctx)
    now = parse_now(now_text)
    rng = resolve_range(app_state, period=period, since=since, until=until, grant=grant, now=now)
    if pool:
        from quotad.cli.pool import render_pool

        render_pool(app_state, start=rng.start, end=rng.end, now=now, by="cluster", fmt=chosen)
        return
    company_id = company or rng.company_id
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        if company_id is not None:
            get_company(conn, company_id)  # a clear "no company named" for a typo
        lines = usage_lines(conn, app_state.catalog, UsageQuery(rng.start, rng.end, by, company_id, tz))
    title = f"Usage {rng.label} by {by}" + (f", company {company_id}" if company_id else "")
    if chart is not None:
        from quotad.charts.report import report_chart

        report_chart(lines, by=by, title=title, path=chart)
    if not any(line.total_gpu_seconds for line in lines) and chosen in ("table", "md"):
        print(f"{title}: nothing found (no usage charged in this range)")
        return
    emit(report_table(lines, by, title), chosen)
