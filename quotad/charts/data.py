"""What the charts draw: plain values (dates as ``YYYY-MM-DD`` labels, amounts in the unit shown), no ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BurnDown", "DayUse", "Series"]


@dataclass(frozen=True)
class BurnDown:
    """One company's grant: cumulative plan and actual per day, the 7-day-pace projection to the period end."""

    title: str
    unit: str
    granted: float
    days: tuple[str, ...]  # every day of the period, in order
    plan: tuple[float, ...]  # cumulative, one per day
    actual: tuple[float, ...]  # cumulative, up to today (shorter than days)
    projection: tuple[float, ...] = ()  # cumulative from today to the period end (continues ``actual``)


@dataclass(frozen=True)
class DayUse:
    """The pool on one day, in GPU-hours: busy, allocated but idle, unallocated, lost to maintenance."""

    day: str
    busy: float
    allocated_idle: float
    unallocated: float
    maintenance: float


@dataclass(frozen=True)
class Series:
    """Named values over the same labels (one bar segment per name and label), e.g. GPU-hours per company
    per month; ``line`` draws lines instead of stacked bars (a time series)."""

    title: str
    unit: str
    labels: tuple[str, ...]
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    line: bool = False
