"""The pool view: reserved, maintenance, allocated, busy and paid-but-unallocated GPU-hours per day and period.

Read from three sources, each the one place its fact lives: reserved blocks and maintenance windows (this
package), allocation from the ``usage_hourly`` rollup (every job segment the collectors charged) and "busy" from
the NVML agent's ``gpu_usage_hourly`` (observed − idle GPU-seconds; ``None`` — shown "n/a" — where no agent
reported). Everything is an integer GPU-second or TFLOP until the display edge; money is exact fractions of minor
units, rounded once per figure.

Figures stop at ``now``: capacity that has not happened yet was neither used nor wasted. Hours are UTC buckets and
a day is the programme's local day; with a zone that is not a whole number of hours from UTC an hour counts
in the day it starts in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sqlalchemy import Connection

from quotad.ledger.queries import charged_by_hour
from quotad.ledger.telemetry import busy_by_hour
from quotad.pool.capacity import HourCapacity, hourly_capacity, reserved_gpus_at
from quotad.pool.maintenance import outages
from quotad.pool.money import Money
from quotad.pool.registry import ReservationInfo, list_reservations
from quotad.timeutil import day_start, format_day, month_bounds, month_start
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, GpuCatalog

__all__ = ["PoolFigures", "PoolGauge", "PoolRow", "PoolView", "pool_gauges", "pool_view"]

#: (cluster, hour) -> busy GPU-seconds


@dataclass(frozen=True)
class PoolFigures:
    """One window's figures; GPU-seconds unless named ``*_tflop``; ``busy`` is None where no telemetry exists."""

    reserved: int
    maintenance: int
    allocated: int
    unallocated: int
    over_allocated: int
    busy: int | None
    reserved_tflop: int
    maintenance_tflop: int
    allocated_tflop: int
    unallocated_tflop: int
    busy_tflop: int | None
    reserved_cost: tuple[Money, ...]
    unallocated_cost: tuple[Money, ...]
    #: GPU-seconds of the unallocated figure that no price covers (so a cost is known to be partial).
    unpriced_unallocated: int

    @property
    def available(self) -> int:
        """Reserved capacity less maintenance: what companies could have used."""
        return self.reserved - self.maintenance

    @property
    def allocated_ratio(self) -> float | None:
        return self.allocated / self.available if self.available > 0 else None


@dataclass
class _Acc:
    """Sums hours into a ``PoolFigures``; money kept as exact fractions until ``figures``."""

    catalog: GpuCatalog
    reserved: int = 0
    maintenance: int = 0
    allocated: int = 0
    unallocated: int = 0
    over: int = 0
    busy: int = 0
    busy_hours: int = 0
    hours_without_busy: int = 0
    tflop: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reserved_cost: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    unallocated_cost: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    unpriced: Fraction = Fraction(0)

    def add(self, gpu_type: str, hour: HourCapacity, allocated: int, busy: int | None) -> None:
        peak = self.catalog.peak(gpu_type)
        available = hour.available
        idle = max(0, available - allocated)
        self.reserved += hour.reserved
        self.maintenance += hour.maintenance
        self.allocated += allocated
        self.unallocated += idle
        self.over += max(0, allocated - available)
        self.tflop["reserved"] += hour.reserved * peak
        self.tflop["maintenance"] += hour.maintenance * peak
        self.tflop["allocated"] += allocated * peak
        self.tflop["unallocated"] += idle * peak
        if busy is None:
            self.hours_without_busy += 1
        else:
            self.busy_hours += 1
            self.busy += busy
            self.tflop["busy"] += busy * peak
        for currency, value in hour.reserved_value.items():
            self.reserved_cost[currency] += Fraction(value, SECONDS_PER_HOUR)
        if idle and available > 0:
            for currency, value in hour.available_value().items():
                self.unallocated_cost[currency] += Fraction(value * idle, SECONDS_PER_HOUR * available)
            self.unpriced += Fraction(hour.unpriced_available * idle, available)

    def figures(self) -> PoolFigures:
        """A total with any hour lacking telemetry has no busy figure: "n/a" rather than a partial number."""
        complete = self.busy_hours > 0 and self.hours_without_busy == 0
        return PoolFigures(
            reserved=self.reserved,
            maintenance=self.maintenance,
            allocated=self.allocated,
            unallocated=self.unallocated,
            over_allocated=self.over,
            busy=self.busy if complete else None,
            reserved_tflop=self.tflop["reserved"],
            maintenance_tflop=self.tflop["maintenance"],
            allocated_tflop=self.tflop["allocated"],
            unallocated_tflop=self.tflop["unallocated"],
            busy_tflop=self.tflop["busy"] if complete else None,
            reserved_cost=_money(self.reserved_cost),
            unallocated_cost=_money(self.unallocated_cost),
            unpriced_unallocated=round(self.unpriced),
        )


def _money(values: Mapping[str, Fraction]) -> tuple[Money, ...]:
    return tuple(Money(currency, round(value)) for currency, value in sorted(values.items()))


@dataclass(frozen=True)
class PoolRow:
    """Figures of one window: a day ("2026-04-15") or the period ("period"), of one cell or the pool ("*")."""

    label: str
    cluster: str
    gpu_type: str
    start: int
    end: int
    figures: PoolFigures


@dataclass(frozen=True)
class PoolView:
    """The pool over [start, end), where ``end`` is the requested end clipped at ``now``."""

    start: int
    end: int
    requested_end: int
    #: Reserved GPU-seconds over the whole requested window, including what lies after ``now``.
    period_reserved: int
    days: tuple[PoolRow, ...]
    cells: tuple[PoolRow, ...]
    total: PoolRow
    reservations: tuple[ReservationInfo, ...]

    @property
    def has_telemetry(self) -> bool:
        return any(row.figures.busy is not None for row in self.cells)


def _days(start: int, end: int, tz: str) -> list[tuple[int, int]]:
    out = []
    lo = start
    while lo < end:
        nxt = day_start(lo + SECONDS_PER_DAY + 3 * SECONDS_PER_HOUR, tz)  # robust across DST days of 23-25 h
        if nxt <= lo:
            nxt = lo + SECONDS_PER_DAY
        out.append((lo, min(nxt, end)))
        lo = nxt
    return out


def pool_view(
    conn: Connection,
    catalog: GpuCatalog,
    *,
    start: int,
    end: int,
    now: int,
    tz: str,
    partitions: Mapping[str, Sequence[str]] | None = None,
) -> PoolView:
    """Figures per day, per (cluster, GPU type) and for the pool over [start, min(end, now))."""
    stop = max(start, min(end, now))
    blocks = list_reservations(conn, start=start, end=end)
    windows = outages(conn, start=start, end=end)
    full = hourly_capacity(blocks, windows, start, end)
    period_reserved = sum(h.reserved for hours in full.values() for h in hours.values())
    grid = hourly_capacity(blocks, windows, start, stop)
    keys = sorted(grid)
    allocated = charged_by_hour(conn, keys, start, stop, partitions or {})
    types_per_cluster: defaultdict[str, set[str]] = defaultdict(set)
    for cluster, gpu_type in keys:
        types_per_cluster[cluster].add(gpu_type)
    busy = busy_by_hour(conn, sorted(types_per_cluster), start, stop)
    with_telemetry = {c for c, _ in busy}

    def busy_of(cluster: str, hour: int) -> int | None:
        # Telemetry has no GPU type: it is attributed only where the cluster's reserved GPUs are of one type.
        if cluster not in with_telemetry or len(types_per_cluster[cluster]) != 1:
            return None
        return busy.get((cluster, hour), 0)

    day_bounds = _days(day_start(start, tz), stop, tz) if stop > start else []
    day_acc = [_Acc(catalog) for _ in day_bounds]
    day_starts = [lo for lo, _ in day_bounds]
    cell_acc = {key: _Acc(catalog) for key in keys}
    total = _Acc(catalog)
    for key in keys:
        cluster, gpu_type = key
        for hour, capacity in sorted(grid[key].items()):
            used = allocated.get((cluster, gpu_type, hour), 0)
            gpu_busy = busy_of(cluster, hour)
            cell_acc[key].add(gpu_type, capacity, used, gpu_busy)
            total.add(gpu_type, capacity, used, gpu_busy)
            i = bisect_right(day_starts, max(hour, start)) - 1
            if 0 <= i < len(day_acc):
                day_acc[i].add(gpu_type, capacity, used, gpu_busy)
    return PoolView(
        start=start,
        end=stop,
        requested_end=end,
        period_reserved=period_reserved,
        days=tuple(
            PoolRow(format_day(lo, tz), "*", "*", max(lo, start), hi, acc.figures())
            for (lo, hi), acc in zip(day_bounds, day_acc, strict=True)
        ),
        cells=tuple(PoolRow("period", c, t, start, stop, cell_acc[(c, t)].figures()) for c, t in keys),
        total=PoolRow("period", "*", "*", start, stop, total.figures()),
        reservations=tuple(blocks),
    )


@dataclass(frozen=True)
class PoolGauge:
    """What an exporter shows per (cluster, GPU type): GPUs reserved and in maintenance now, today, this month."""

    cluster: str
    gpu_type: str
    reserved_gpus_now: int
    maintenance_gpus_now: int
    today: PoolFigures
    month: PoolFigures


def pool_gauges(
    conn: Connection,
    catalog: GpuCatalog,
    *,
    now: int,
    tz: str,
    partitions: Mapping[str, Sequence[str]] | None = None,
) -> list[PoolGauge]:
    """Typed figures for the metrics exporter (one call per scrape; integers, converted at the exporter)."""
    today_start = day_start(now, tz)
    month_lo, month_hi = month_bounds(*month_start(now, tz), tz)
    today = {
        (r.cluster, r.gpu_type): r.figures
        for r in pool_view(conn, catalog, start=today_start, end=now + 1, now=now, tz=tz, partitions=partitions).cells
    }
    month = {
        (r.cluster, r.gpu_type): r.figures
        for r in pool_view(conn, catalog, start=month_lo, end=month_hi, now=now, tz=tz, partitions=partitions).cells
    }
    blocks = list_reservations(conn, start=now, end=now + 1)
    at_now = reserved_gpus_at(blocks, outages(conn, start=now, end=now + 1), now)
    out = []
    for key in sorted(set(month) | set(at_now)):
        reserved, maintenance = at_now.get(key, (0, 0))
        empty = _Acc(catalog).figures()
        out.append(PoolGauge(key[0], key[1], reserved, maintenance, today.get(key, empty), month.get(key, empty)))
    return out
