"""Reading the ledger into chart data: burn-down of a company's active grants, the pool by day, use per month
per company, and any ``quotad report``. Everything else in ``quotad.charts`` knows nothing of the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from quotad.charts.data import BurnDown, DayUse, Series
from quotad.ledger.queries import CompanyInfo, GrantInfo, list_grants
from quotad.ledger.reports import SERIES_KEYS, UsageLine, UsageQuery, usage_lines
from quotad.units import SECONDS_PER_HOUR, GpuCatalog

__all__ = ["burn_down_data", "monthly_use_data", "pool_days_data", "report_series"]


def _days(start: int, end: int, tz: str) -> list[date]:
    first = datetime.fromtimestamp(start, ZoneInfo(tz)).date()
    last = datetime.fromtimestamp(end - 1, ZoneInfo(tz)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _planned_by_day(grant: GrantInfo, days: Sequence[date], tz: str) -> list[float]:
    """A grant's amount spread over its days: by its monthly plan (each month evenly), else linearly."""
    per_day = [0.0] * len(days)
    if grant.plan:
        for month_start, amount in grant.plan:
            local = datetime.fromtimestamp(month_start, ZoneInfo(tz)).date()
            in_month = [i for i, d in enumerate(days) if (d.year, d.month) == (local.year, local.month)]
            for i in in_month:
                per_day[i] += amount / len(in_month)
    else:
        for i in range(len(days)):
            per_day[i] = grant.amount / len(days)
    return per_day


def burn_down_data(
    conn: Connection, catalog: GpuCatalog, company: CompanyInfo, *, now: int, tz: str, lang: str = "en"
) -> BurnDown | None:
    """The company's grants active at ``now`` (one unit), cumulative by day; None without an active grant."""
    grants = [g for g in list_grants(conn, company_id=company.id) if g.active(now)]
    units = {g.unit for g in grants}
    if not grants or len(units) != 1:
        return None
    unit = units.pop()
    start, end = min(g.period_start for g in grants), max(g.period_end for g in grants)
    days = _days(start, end, tz)
    index = {d.isoformat(): i for i, d in enumerate(days)}
    plan_daily = [0.0] * len(days)
    for grant in grants:
        for i, value in enumerate(_planned_by_day(grant, days, tz)):
            plan_daily[i] += value
    used_daily = [0.0] * len(days)
    query = UsageQuery(start, min(end, now), "day", company.id, tz)
    for line in usage_lines(conn, catalog, query):
        at = index.get(line.key)
        if at is not None:
            used_daily[at] = sum(unit.convert(s, t, catalog) for t, s in line.gpu_seconds.items())
    today = index.get(datetime.fromtimestamp(now, ZoneInfo(tz)).date().isoformat(), len(days) - 1)
    scale = unit.display(1)  # ledger integers -> the unit people read (GPU-h, EFLOPS-h)
    plan = _cumulative([v * scale for v in plan_daily])
    actual = _cumulative([v * scale for v in used_daily[: today + 1]])
    recent = used_daily[max(0, today - 6): today + 1]
    pace = sum(recent) * scale / max(1, len(recent))
    projection = [actual[-1] + pace * k for k in range(len(days) - today)] if actual else []
    name = company.name_ja if lang == "ja" else company.name_en
    return BurnDown(
        title=f"{name}: grant burn-down / 割当の消化", unit=unit.label, granted=sum(g.amount for g in grants) * scale,
        days=tuple(d.isoformat() for d in days), plan=tuple(plan), actual=tuple(actual), projection=tuple(projection),
    )


def _cumulative(values: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def pool_days_data(conn: Connection, catalog: GpuCatalog, *, start: int, end: int, now: int, tz: str) -> list[DayUse]:
    """The pool per local day, GPU-hours: busy (telemetry), allocated-idle, unallocated, maintenance."""
    from quotad.pool.view import pool_view

    view = pool_view(conn, catalog, start=start, end=end, now=now, tz=tz)
    out = []
    for row in view.days:
        f = row.figures
        busy = f.busy or 0
        out.append(DayUse(row.label, busy / SECONDS_PER_HOUR, max(0, f.allocated - busy) / SECONDS_PER_HOUR,
                          f.unallocated / SECONDS_PER_HOUR, f.maintenance / SECONDS_PER_HOUR))
    return out


def monthly_use_data(
    conn: Connection, catalog: GpuCatalog, companies: Sequence[CompanyInfo], *, start: int, end: int, tz: str
) -> Series:
    """GPU-hours per month, one bar segment per company."""
    months: list[str] = []
    values: dict[str, dict[str, float]] = {}
    for company in companies:
        for line in usage_lines(conn, catalog, UsageQuery(start, end, "month", company.id, tz)):
            if line.key not in months:
                months.append(line.key)
            values.setdefault(company.id, {})[line.key] = line.total_gpu_seconds / SECONDS_PER_HOUR
    months.sort()
    return Series("GPU-hours per month by company / 企業別の月間利用", "GPU-h", tuple(months),
                  {c: tuple(v.get(m, 0.0) for m in months) for c, v in values.items()})


def report_series(lines: Sequence[UsageLine], *, by: str, title: str) -> Series:
    """A ``quotad report`` as a chart: a line over time for day/week/month, else one bar per row."""
    hours = tuple(line.total_gpu_seconds / SECONDS_PER_HOUR for line in lines)
    return Series(title, "GPU-h", tuple(line.key for line in lines), {"GPU-h": hours}, line=by in SERIES_KEYS)

