"""Turning the ledger's integers into the figures a finding shows (GPU-hours, EFLOPS-hours, %, dates).

Why one place: every policy reports amounts the same way — in the grant's unit, rounded for people — so the
numbers in a mail match what ``quotad status`` prints for the same moment.
"""

from __future__ import annotations

from quotad.amounts import Unit
from quotad.policies.base import Figure
from quotad.timeutil import format_day
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

__all__ = ["amount", "day", "days", "hours", "percent", "ratio_pct", "unit_label"]


def amount(key: str, value: int, unit: Unit) -> Figure:
    """An integer ledger amount shown in ``unit`` (GPU-h to 1 decimal, EFLOPS-h to 3)."""
    shown = unit.display(value)
    return Figure(key, round(shown, 3 if unit.normalised else 1), unit.label)


def hours(key: str, gpu_seconds: int) -> Figure:
    return Figure(key, round(gpu_seconds / SECONDS_PER_HOUR, 1), "GPU-h")


def percent(key: str, value: float) -> Figure:
    return Figure(key, round(value, 1), "%")


def ratio_pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def day(key: str, epoch: int, tz: str) -> Figure:
    return Figure(key, format_day(epoch, tz), "date")


def days(key: str, seconds: int) -> Figure:
    return Figure(key, round(seconds / SECONDS_PER_DAY, 1), "days")


def unit_label(unit: Unit) -> Figure:
    return Figure("unit", unit.label, "")
