"""Grants against reserved capacity: the sum of grants in a window must not silently exceed what was reserved.

A grant is spread evenly over its period (its amount × the share of its period inside the window), so a
month in which several grants overlap a short reservation is caught even when the whole programme balances.
Each window is compared at the levels grants are written in, in their own unit:

- one cluster and GPU type: grants on that cluster in that type's GPU-hours;
- one GPU type across the pool: every grant in that type's GPU-hours (cluster or pool scope);
- one cluster, normalised: every grant on that cluster, in TFLOP (only where normalised grants exist there);
- the whole pool, normalised: every grant, in TFLOP.

"over-reserved" (granted > reserved) is the warning the programme office must see; "over-available" (granted >
reserved − known maintenance) is the softer one: the grants only fit if nobody loses time to maintenance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection

from quotad.amounts import NORMALISED, Unit
from quotad.ledger.models import POOL
from quotad.ledger.queries import GrantInfo, list_grants
from quotad.pool.capacity import CellKey, hourly_capacity
from quotad.pool.maintenance import outages
from quotad.pool.registry import list_reservations
from quotad.timeutil import add_months, month_bounds, month_start
from quotad.units import GpuCatalog

__all__ = ["CheckRow", "CheckStatus", "check_grants", "check_windows", "default_window"]

CheckStatus = Literal["ok", "over-available", "over-reserved"]


@dataclass(frozen=True)
class CheckRow:
    """One comparison: ``granted``, ``reserved`` and ``available`` in ``unit`` (GPU-seconds or TFLOP)."""

    window: str
    start: int
    end: int
    scope: str
    unit: Unit
    granted: int
    reserved: int
    available: int
    grant_ids: tuple[int, ...]

    @property
    def status(self) -> CheckStatus:
        if self.granted > self.reserved:
            return "over-reserved"
        if self.granted > self.available:
            return "over-available"
        return "ok"

    @property
    def excess(self) -> int:
        """How much the grants exceed available capacity (0 when they fit)."""
        return max(0, self.granted - self.available)


def _share(grant: GrantInfo, start: int, end: int) -> int:
    """The part of a grant's amount that falls in [start, end), the grant spread evenly over its period."""
    length = grant.period_end - grant.period_start
    inside = max(0, min(end, grant.period_end) - max(start, grant.period_start))
    return grant.amount * inside // length if length > 0 else 0


def check_windows(start: int, end: int, tz: str) -> list[tuple[str, int, int]]:
    """Each calendar month overlapping [start, end) (clipped to it), then the whole window."""
    out: list[tuple[str, int, int]] = []
    year, month = month_start(start, tz)
    while True:
        lo, hi = month_bounds(year, month, tz)
        if lo >= end:
            break
        out.append((f"{year:04d}-{month:02d}", max(lo, start), min(hi, end)))
        year, month = add_months(year, month, 1)
    if len(out) != 1:
        out.append(("whole", start, end))
    return out


@dataclass
class _Sum:
    granted: int = 0
    reserved: int = 0
    available: int = 0
    ids: set[int] = field(default_factory=set)

    def grant(self, grant: GrantInfo, amount: int) -> None:
        self.granted += amount
        self.ids.add(grant.id)


def _rows(
    window: tuple[str, int, int],
    grants: Sequence[GrantInfo],
    capacity: dict[CellKey, tuple[int, int]],
    catalog: GpuCatalog,
) -> Iterable[CheckRow]:
    label, lo, hi = window
    typed: defaultdict[CellKey, _Sum] = defaultdict(_Sum)
    per_type: defaultdict[str, _Sum] = defaultdict(_Sum)
    per_cluster_norm: defaultdict[str, _Sum] = defaultdict(_Sum)
    pool = _Sum()
    pool_typed: set[str] = set()
    normalised_clusters: set[str] = set()
    for (cluster, gpu_type), (reserved, available) in capacity.items():
        peak = catalog.peak(gpu_type)
        for target in (typed[(cluster, gpu_type)], per_type[gpu_type]):
            target.reserved += reserved
            target.available += available
        for target in (per_cluster_norm[cluster], pool):
            target.reserved += reserved * peak
            target.available += available * peak
    for grant in grants:
        amount = _share(grant, lo, hi)
        if not amount:
            continue
        gpu_type = grant.unit.gpu_type
        if grant.unit.normalised:
            tflop = amount
            if grant.cluster != POOL:
                normalised_clusters.add(grant.cluster)
        else:
            tflop = catalog.tflop(amount, gpu_type)
            per_type[gpu_type].grant(grant, amount)
            if grant.cluster == POOL:
                pool_typed.add(gpu_type)
            else:
                typed[(grant.cluster, gpu_type)].grant(grant, amount)
        if grant.cluster != POOL:
            per_cluster_norm[grant.cluster].grant(grant, tflop)
        pool.grant(grant, tflop)

    def row(scope: str, unit: Unit, s: _Sum) -> CheckRow:
        return CheckRow(label, lo, hi, scope, unit, s.granted, s.reserved, s.available, tuple(sorted(s.ids)))

    for (cluster, gpu_type), s in sorted(typed.items()):
        yield row(f"{cluster} / {gpu_type}", Unit(gpu_type), s)
    clusters_per_type: defaultdict[str, set[str]] = defaultdict(set)
    for cluster, gpu_type in capacity:
        clusters_per_type[gpu_type].add(cluster)
    for gpu_type, s in sorted(per_type.items()):
        if gpu_type in pool_typed or len(clusters_per_type[gpu_type]) > 1:
            yield row(f"pool / {gpu_type}", Unit(gpu_type), s)
    for cluster in sorted(normalised_clusters):
        yield row(f"{cluster} / all types", Unit(NORMALISED), per_cluster_norm[cluster])
    yield row("pool / all types", Unit(NORMALISED), pool)


def check_grants(conn: Connection, catalog: GpuCatalog, *, start: int, end: int, tz: str) -> list[CheckRow]:
    """Every comparison of every window in [start, end) (see the module docstring)."""
    grants = [g for g in list_grants(conn) if g.period_end > start and g.period_start < end]
    blocks = list_reservations(conn, start=start, end=end)
    windows = outages(conn, start=start, end=end)
    out: list[CheckRow] = []
    for window in check_windows(start, end, tz):
        _, lo, hi = window
        grid = hourly_capacity(blocks, windows, lo, hi)
        capacity = {
            key: (sum(h.reserved for h in hours.values()), sum(h.available for h in hours.values()))
            for key, hours in grid.items()
        }
        out.extend(_rows(window, grants, capacity, catalog))
    return out


def default_window(conn: Connection) -> tuple[int, int] | None:
    """The span of every grant and reservation, or None when there is neither."""
    spans = [(g.period_start, g.period_end) for g in list_grants(conn)]
    spans += [(r.period_start, r.period_end) for r in list_reservations(conn)]
    if not spans:
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)
