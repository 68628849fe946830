"""Charging: a run segment's GPU-seconds, split across the UTC hour buckets it ran in.

Charge = ElapsedRaw × GPUs per type, placed on the interval [start, start + elapsed). Using ElapsedRaw rather
than End − Start keeps the ledger equal to Slurm's own accounting to the second (suspended time is not in
ElapsedRaw), and splitting by hour lets a month's report count only that month's seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

from quotad.units import SECONDS_PER_HOUR

__all__ = ["Contribution", "charged_seconds", "contributions", "hour_slices"]

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
