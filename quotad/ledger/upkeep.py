"""Rollup upkeep: check that ``usage_daily`` still equals the sums of ``usage_hourly``, and repair it if not.

Why this exists although triggers keep the daily rollup exact: a trigger does not fire for writes that
bypass it — a restore with ``session_replication_role = replica``, a bulk load with triggers disabled, a
hand-run SQL fix on ``usage_hourly``. The status table, the exporter and the policies read whole days from
``usage_daily``, so a silent drift there would show wrong grant positions everywhere while ``quotad report``
(hourly) stayed right. The daemon runs this check over a trailing window; ``quotad db check-rollups`` runs it
on demand over any window. Repair rewrites the daily rows from the hourly ones, in the caller's transaction;
the hourly rollup itself is the ledger's truth (it is rebuilt from job segments only by re-ingesting).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from quotad.ledger.models import UsageDaily, UsageHourly
from quotad.units import SECONDS_PER_DAY

__all__ = ["DayDrift", "RollupCheck", "check_daily_rollup"]

DayKey = tuple[str, str, str, int]  # cluster, account, GPU type, UTC day start


@dataclass(frozen=True)
class DayDrift:
    """One daily cell that disagrees with its hours; ``daily`` is None when the row is missing."""

    cluster: str
    account: str
    gpu_type: str
    day: int
    daily: int | None
    hourly: int

    @property
    def difference(self) -> int:
        return (self.daily or 0) - self.hourly


@dataclass(frozen=True)
class RollupCheck:
    start: int
    end: int
    cells: int
    drift: tuple[DayDrift, ...]
    repaired: bool

    @property
    def ok(self) -> bool:
        return not self.drift


def _day_bounds(start: int, end: int) -> tuple[int, int]:
    """Whole UTC days covering [start, end): a day is compared with all of its hours or not at all."""
    return start - start % SECONDS_PER_DAY, -(-end // SECONDS_PER_DAY) * SECONDS_PER_DAY


def _hourly_days(conn: Connection, start: int, end: int) -> dict[DayKey, int]:
    h = UsageHourly
    day = (h.hour // SECONDS_PER_DAY) * SECONDS_PER_DAY
    stmt = (
        select(h.cluster, h.account, h.gpu_type, day.label("day"), func.sum(h.gpu_seconds))
        .where(h.hour >= start, h.hour < end)
        .group_by(h.cluster, h.account, h.gpu_type, day)
    )
    return {(c, a, g, int(d)): int(s) for c, a, g, d, s in conn.execute(stmt)}


def _daily(conn: Connection, start: int, end: int) -> dict[DayKey, int]:
    d = UsageDaily
    stmt = select(d.cluster, d.account, d.gpu_type, d.day, d.gpu_seconds).where(d.day >= start, d.day < end)
    return {(c, a, g, int(day)): int(s) for c, a, g, day, s in conn.execute(stmt)}


def _repair(conn: Connection, drift: list[DayDrift]) -> None:
    d = UsageDaily
    for cell in drift:
        match = and_(d.cluster == cell.cluster, d.account == cell.account, d.gpu_type == cell.gpu_type,
                     d.day == cell.day)
        if cell.hourly == 0:
            conn.execute(delete(d).where(match))
        elif cell.daily is None:
            conn.execute(insert(d).values(cluster=cell.cluster, account=cell.account, gpu_type=cell.gpu_type,
                                          day=cell.day, gpu_seconds=cell.hourly))
        else:
            conn.execute(update(d).where(match).values(gpu_seconds=cell.hourly))


def check_daily_rollup(conn: Connection, *, start: int, end: int, repair: bool = False) -> RollupCheck:
    """Compare every daily cell of the whole UTC days covering [start, end) with its hours.

    A daily row of zero and a missing one are the same (triggers leave zero rows behind when a segment's
    charge is taken back). With ``repair`` the differing rows are rewritten from the hours.
    """
    lo, hi = _day_bounds(start, end)
    hourly, daily = _hourly_days(conn, lo, hi), _daily(conn, lo, hi)
    drift = [
        DayDrift(*key, daily.get(key), hourly.get(key, 0))
        for key in sorted(set(hourly) | set(daily))
        if daily.get(key, 0) != hourly.get(key, 0)
    ]
    if repair and drift:
        _repair(conn, drift)
    return RollupCheck(lo, hi, len(set(hourly) | set(daily)), tuple(drift), repaired=repair and bool(drift))
