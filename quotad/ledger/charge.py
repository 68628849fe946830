"""Charging: a run segment's GPU-seconds, split across the UTC hour buckets it ran in.

Charge = ElapsedRaw × GPUs per type, placed on the interval [start, start + elapsed). Using ElapsedRaw rather
than End − Start keeps the ledger equal to Slurm's own accounting to the second (suspended time is not in
ElapsedRaw), and splitting by hour lets a month's report count only that month's seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

from quotad.units import SECONDS_PER_HOUR

__all__ = ["Contribution", "HourlyDeltas", "charged_seconds", "contributions", "hour_slices"]

#: (gpu_type, hour_start, gpu_seconds)
Contribution = tuple[str, int, int]


def hour_slices(start: int, seconds: int) -> Iterator[tuple[int, int]]:
    """(hour_start, seconds in that hour) for the interval [start, start + seconds)."""
    end = start + seconds
    hour = start - start % SECONDS_PER_HOUR
    while hour < end:
        nxt = hour + SECONDS_PER_HOUR
        yield hour, min(end, nxt) - max(start, hour)
        hour = nxt


def charged_seconds(start: int | None, elapsed: int, gpus: tuple[tuple[str, int], ...]) -> int:
    """Total GPU-seconds a segment is charged; zero if it never started or held no GPU."""
    if start is None or elapsed <= 0:
        return 0
    return elapsed * sum(count for _, count in gpus)


def contributions(start: int | None, elapsed: int, gpus: tuple[tuple[str, int], ...]) -> Iterator[Contribution]:
    """Every (gpu_type, hour, gpu_seconds) the segment adds to the hourly rollup."""
    if start is None or elapsed <= 0 or not gpus:
        return
    for hour, seconds in hour_slices(start, elapsed):
        for gpu_type, count in gpus:
            yield gpu_type, hour, seconds * count


class HourlyDeltas:
    """Signed GPU-second contributions of many segments, summed per (rollup prefix, hour).

    A segment costs O(1) here whatever its length: its first and last (partial) hours are added directly and
    the full hours between them as a rate step (+rate at the first full hour, -rate after the last), which
    ``items`` expands by one sweep per prefix. A six-month history of multi-day jobs thus costs one dict
    update per output row instead of one per job-hour.
    """

    __slots__ = ("_edges", "_parts")

    def __init__(self) -> None:
        self._parts: dict[tuple[str, ...], dict[int, int]] = {}
        self._edges: dict[tuple[str, ...], dict[int, int]] = {}

    def add(self, prefix: tuple[str, ...], start: int, elapsed: int, count: int, sign: int) -> None:
        if elapsed <= 0 or count <= 0:
            return
        end = start + elapsed
        first = start - start % SECONDS_PER_HOUR
        last = (end - 1) - (end - 1) % SECONDS_PER_HOUR
        parts = self._parts.get(prefix)
        if parts is None:
            parts = self._parts[prefix] = {}
        if first == last:
            parts[first] = parts.get(first, 0) + sign * elapsed * count
            return
        parts[first] = parts.get(first, 0) + sign * (first + SECONDS_PER_HOUR - start) * count
        parts[last] = parts.get(last, 0) + sign * (end - last) * count
        if last - first > SECONDS_PER_HOUR:
            edges = self._edges.get(prefix)
            if edges is None:
                edges = self._edges[prefix] = {}
            rate = sign * SECONDS_PER_HOUR * count
            full = first + SECONDS_PER_HOUR
            edges[full] = edges.get(full, 0) + rate
            edges[last] = edges.get(last, 0) - rate

    def items(self) -> Iterator[tuple[tuple[str, ...], int, int]]:
        """(prefix, hour, gpu_seconds) for every non-zero sum, in prefix then hour order."""
        for prefix in sorted(self._parts):
            totals = dict(self._parts[prefix])
            edges = self._edges.get(prefix, {})
            rate, previous = 0, 0
            for hour in sorted(edges):
                if rate:
                    for full in range(previous, hour, SECONDS_PER_HOUR):
                        totals[full] = totals.get(full, 0) + rate
                rate += edges[hour]
                previous = hour
            for hour in sorted(totals):
                if totals[hour]:
                    yield prefix, hour, totals[hour]

    def __bool__(self) -> bool:
        return bool(self._parts)

    def clear(self) -> None:
        self._parts.clear()
        self._edges.clear()
