"""Pure capacity arithmetic: reserved and maintenance GPU-seconds per (cluster, GPU type, UTC hour).

Why hourly: allocation comes from the ``usage_hourly`` rollup, so comparing capacity with use hour by hour is
exact and lets "reserved but unallocated" be clipped at zero per hour (an hour of over-use on extra nodes does not
hide an idle hour elsewhere).

How maintenance is taken out: time is cut into elementary intervals at every window and block boundary. Inside
one, each covering window takes its nodes (``node_count``, or all) from the matching blocks in block order; a
block loses the largest number any one window takes from it, never more than it has. "Largest" rather than
"sum" because the same event is often entered twice (by hand and from a Slurm MAINT reservation); two windows
on disjoint node sets at the same time would need node lists to tell apart, which quotad does not keep.
Money is carried as integer "value" numerators (GPU-seconds × minor units per GPU-hour), divided by 3600 only
when a figure is shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from quotad.ledger.charge import hour_slices
from quotad.pool.registry import ReservationInfo

__all__ = ["CellKey", "HourCapacity", "Outage", "hourly_capacity", "merged", "reserved_gpus_at", "union_seconds"]

#: (cluster, gpu_type)
CellKey = tuple[str, str]


@dataclass(frozen=True)
class Outage:
    """A maintenance window as the arithmetic needs it; ``node_type`` "" and ``node_count`` None mean "all"."""

    cluster: str
    start: int
    end: int
    node_type: str = ""
    node_count: int | None = None


@dataclass(slots=True)
class HourCapacity:
    """GPU-seconds of one (cluster, GPU type) in one hour; ``*_value`` per currency = GPU-s × minor/GPU-hour."""

    reserved: int = 0
    maintenance: int = 0
    reserved_value: dict[str, int] = field(default_factory=dict)
    maintenance_value: dict[str, int] = field(default_factory=dict)
    unpriced_reserved: int = 0
    unpriced_maintenance: int = 0

    @property
    def available(self) -> int:
        return self.reserved - self.maintenance

    @property
    def unpriced_available(self) -> int:
        return self.unpriced_reserved - self.unpriced_maintenance

    def available_value(self) -> dict[str, int]:
        out = dict(self.reserved_value)
        for currency, value in self.maintenance_value.items():
            out[currency] = out.get(currency, 0) - value
        return out


def merged(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open intervals as sorted, disjoint intervals."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def union_seconds(intervals: Iterable[tuple[int, int]], start: int, end: int) -> int:
    """Seconds of [start, end) covered by at least one interval."""
    clipped = ((max(s, start), min(e, end)) for s, e in intervals)
    return sum(e - s for s, e in merged(clipped))


def _add(cell: HourCapacity, block: ReservationInfo, gpu_seconds: int, *, maintenance: bool) -> None:
    if maintenance:
        cell.maintenance += gpu_seconds
    else:
        cell.reserved += gpu_seconds
    if block.price is None:
        if maintenance:
            cell.unpriced_maintenance += gpu_seconds
        else:
            cell.unpriced_reserved += gpu_seconds
        return
    values = cell.maintenance_value if maintenance else cell.reserved_value
    values[block.price.currency] = values.get(block.price.currency, 0) + gpu_seconds * block.price.minor


def _taken(blocks: Sequence[ReservationInfo], covering: Sequence[Outage]) -> dict[int, int]:
    """Nodes each block loses while ``covering`` windows are all active (see the module docstring)."""
    lost: dict[int, int] = {}
    for outage in covering:
        remaining = outage.node_count
        for block in blocks:
            if outage.node_type and outage.node_type != block.node_type:
                continue
            take = block.node_count if remaining is None else min(block.node_count, remaining)
            if take <= 0:
                break
            lost[block.id] = max(lost.get(block.id, 0), take)
            if remaining is not None:
                remaining -= take
    return lost


def hourly_capacity(
    blocks: Sequence[ReservationInfo], outages: Sequence[Outage], start: int, end: int
) -> dict[CellKey, dict[int, HourCapacity]]:
    """Reserved and maintenance GPU-seconds per (cluster, GPU type) and UTC hour start, within [start, end)."""
    grid: defaultdict[CellKey, defaultdict[int, HourCapacity]] = defaultdict(lambda: defaultdict(HourCapacity))
    for block in blocks:
        lo, hi = max(start, block.period_start), min(end, block.period_end)
        cells = grid[(block.cluster, block.gpu_type)]
        if hi > lo:
            for hour, seconds in hour_slices(lo, hi - lo):
                _add(cells[hour], block, seconds * block.gpus, maintenance=False)
    by_cluster: defaultdict[str, list[ReservationInfo]] = defaultdict(list)
    for block in sorted(blocks, key=lambda b: b.id):
        by_cluster[block.cluster].append(block)
    for cluster, cluster_blocks in by_cluster.items():
        windows = [o for o in outages if o.cluster == cluster and o.end > start and o.start < end and o.end > o.start]
        if not windows:
            continue
        edges = {start, end}
        for item in (*((o.start, o.end) for o in windows), *((b.period_start, b.period_end) for b in cluster_blocks)):
            edges.update(min(max(t, start), end) for t in item)
        for lo, hi in pairwise(sorted(edges)):
            covering = [o for o in windows if o.start <= lo and o.end >= hi]
            if not covering:
                continue
            active = [b for b in cluster_blocks if b.period_start <= lo and b.period_end >= hi]
            lost = _taken(active, covering)
            for block in active:
                nodes = lost.get(block.id, 0)
                if not nodes:
                    continue
                cells = grid[(block.cluster, block.gpu_type)]
                for hour, seconds in hour_slices(lo, hi - lo):
                    _add(cells[hour], block, seconds * nodes * block.gpus_per_node, maintenance=True)
    return {key: dict(hours) for key, hours in grid.items()}


def reserved_gpus_at(
    blocks: Sequence[ReservationInfo], outages: Sequence[Outage], at: int
) -> Mapping[CellKey, tuple[int, int]]:
    """(reserved GPUs, GPUs in maintenance) per cell at the instant ``at``: the gauges' "now"."""
    grid = hourly_capacity(blocks, outages, at, at + 1)
    return {
        key: (sum(c.reserved for c in hours.values()), sum(c.maintenance for c in hours.values()))
        for key, hours in grid.items()
    }
