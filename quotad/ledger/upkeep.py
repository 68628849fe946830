"""Rollup upkeep: check that ``usage_daily`` and ``usage_user_daily`` still equal the sums of ``usage_hourly``,
and repair them if not.

Why this exists although triggers keep the daily rollup exact: a trigger does not fire for writes that
bypass it — a restore with ``session_replication_role = replica``, a bulk load with triggers disabled, a
hand-run SQL fix on ``usage_hourly``. The status table, the exporter and the policies read whole days from
``usage_daily``, and ``quotad report`` from both rollups, so a silent drift there would show wrong grant
positions and reports everywhere. The daemon runs this check over a trailing window; ``quotad db check-rollups`` runs it
on demand over any window. Repair rewrites the daily rows from the hourly ones, in the caller's transaction;
the hourly rollup itself is the ledger's truth (it is rebuilt from job segments only by re-ingesting).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from quotad.ledger.models import UsageDaily, UsageHourly, UsageUserDaily
from quotad.units import SECONDS_PER_DAY

__all__ = ["DayDrift", "RollupCheck", "check_daily_rollup", "check_rollups", "check_user_daily_rollup"]

DailyModel = type[UsageDaily] | type[UsageUserDaily]
#: Each daily rollup and the ``usage_hourly`` columns its key has besides the day.
_KEYS: dict[str, tuple[str, ...]] = {
    "usage_daily": ("cluster", "account", "gpu_type"),
    "usage_user_daily": ("cluster", "account", "user_name", "partition", "gpu_type"),
}
_MODELS: dict[str, DailyModel] = {"usage_daily": UsageDaily, "usage_user_daily": UsageUserDaily}
DayKey = tuple[object, ...]  # the rollup's key columns, then the UTC day start


@dataclass(frozen=True)
class DayDrift:
    """One daily cell that disagrees with its hours; ``daily`` is None when the row is missing.

    ``user_name`` and ``partition`` are None for ``usage_daily``, which does not carry them."""

    cluster: str
    account: str
    gpu_type: str
    day: int
    daily: int | None
    hourly: int
    rollup: str = "usage_daily"
    user_name: str | None = None
    partition: str | None = None

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


def _hourly_days(conn: Connection, rollup: str, start: int, end: int) -> dict[DayKey, int]:
    h = UsageHourly
    day = (h.hour // SECONDS_PER_DAY) * SECONDS_PER_DAY
    key = [getattr(h, c) for c in _KEYS[rollup]]
    stmt = (
        select(*key, day.label("day"), func.sum(h.gpu_seconds))
        .where(h.hour >= start, h.hour < end)
        .group_by(*key, day)
    )
    return {(*k, int(d)): int(s) for *k, d, s in conn.execute(stmt)}


def _daily(conn: Connection, rollup: str, start: int, end: int) -> dict[DayKey, int]:
    d = _MODELS[rollup]
    stmt = select(*[getattr(d, c) for c in _KEYS[rollup]], d.day, d.gpu_seconds).where(d.day >= start, d.day < end)
    return {(*k, int(day)): int(s) for *k, day, s in conn.execute(stmt)}


def _drift(rollup: str, key: DayKey, daily: int | None, hourly: int) -> DayDrift:
    named = dict(zip((*_KEYS[rollup], "day"), key, strict=True))
    return DayDrift(
        str(named["cluster"]), str(named["account"]), str(named["gpu_type"]), int(str(named["day"])), daily, hourly,
        rollup, None if "user_name" not in named else str(named["user_name"]),
        None if "partition" not in named else str(named["partition"]),
    )


def _repair(conn: Connection, rollup: str, drift: list[DayDrift]) -> None:
    d = _MODELS[rollup]
    for cell in drift:
        values = {c: getattr(cell, c) for c in _KEYS[rollup]} | {"day": cell.day}
        match = and_(*(getattr(d, c) == v for c, v in values.items()))
        if cell.hourly == 0:
            conn.execute(delete(d).where(match))
        elif cell.daily is None:
            conn.execute(insert(d).values(**values, gpu_seconds=cell.hourly))
        else:
            conn.execute(update(d).where(match).values(gpu_seconds=cell.hourly))


def _check(conn: Connection, rollup: str, start: int, end: int, repair: bool) -> RollupCheck:
    lo, hi = _day_bounds(start, end)
    hourly, daily = _hourly_days(conn, rollup, lo, hi), _daily(conn, rollup, lo, hi)
    keys = set(hourly) | set(daily)
    drift = [
        _drift(rollup, key, daily.get(key), hourly.get(key, 0))
        for key in sorted(keys, key=lambda k: (tuple(map(str, k[:-1])), int(str(k[-1]))))
        if daily.get(key, 0) != hourly.get(key, 0)
    ]
    if repair and drift:
        _repair(conn, rollup, drift)
    return RollupCheck(lo, hi, len(keys), tuple(drift), repaired=repair and bool(drift))


def check_daily_rollup(conn: Connection, *, start: int, end: int, repair: bool = False) -> RollupCheck:
    """Compare every ``usage_daily`` cell of the whole UTC days covering [start, end) with its hours.

    A daily row of zero and a missing one are the same (triggers leave zero rows behind when a segment's
    charge is taken back). With ``repair`` the differing rows are rewritten from the hours.
    """
    return _check(conn, "usage_daily", start, end, repair)


def check_user_daily_rollup(conn: Connection, *, start: int, end: int, repair: bool = False) -> RollupCheck:
    """``check_daily_rollup`` for ``usage_user_daily`` (per user and partition; read by ``report --by user``)."""
    return _check(conn, "usage_user_daily", start, end, repair)


def check_rollups(conn: Connection, *, start: int, end: int, repair: bool = False) -> RollupCheck:
    """Both daily rollups checked (and repaired) at once: what ``db check-rollups`` and ``rollup_upkeep`` run."""
    checks = [_check(conn, rollup, start, end, repair) for rollup in _KEYS]
    return RollupCheck(
        checks[0].start, checks[0].end, sum(c.cells for c in checks), tuple(d for c in checks for d in c.drift),
        repaired=any(c.repaired for c in checks),
    )
