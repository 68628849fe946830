"""Calendar arithmetic at the edge: months and days in the programme's time zone, as UTC epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from quotad.errors import UsageError

__all__ = [
    "add_months",
    "day_start",
    "epoch_now",
    "format_day",
    "month_bounds",
    "month_start",
    "parse_day",
    "parse_month",
    "parse_period",
]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


#: The years a date typed on the command line may name: the epoch's, up to the last whose following month
#: Python's dates can still hold (a period's end is the next month's first midnight).
FIRST_YEAR, LAST_YEAR = 1970, 9998


def _check_year(text: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise UsageError(f"{text!r}: year {year} is outside the years quotad counts ({FIRST_YEAR}–{LAST_YEAR})")


def epoch_now() -> int:
    return int(time.time())


def parse_month(text: str) -> tuple[int, int]:
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"period {text!r}: expected YYYY-MM, e.g. 2026-11")
    _check_year(text, int(match.group(1)))
    return int(match.group(1)), int(match.group(2))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _local_midnight(day: date, tz: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp())


def month_bounds(year: int, month: int, tz: str) -> tuple[int, int]:
    """[start, end) of a calendar month in ``tz``, as epoch seconds."""
    ny, nm = add_months(year, month, 1)
    return _local_midnight(date(year, month, 1), tz), _local_midnight(date(ny, nm, 1), tz)


def month_start(epoch: int, tz: str) -> tuple[int, int]:
    local = datetime.fromtimestamp(epoch, ZoneInfo(tz))
    return local.year, local.month


def parse_day(text: str, tz: str, *, end_of_day: bool = False) -> int:
    """``YYYY-MM-DD`` to the epoch of its local midnight; with ``end_of_day``, of the next midnight."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"date {text!r}: expected YYYY-MM-DD") from None
    _check_year(text, day.year)
    return _local_midnight(day + timedelta(days=1) if end_of_day else day, tz)


def day_start(epoch: int, tz: str) -> int:
    return _local_midnight(datetime.fromtimestamp(epoch, ZoneInfo(tz)).date(), tz)


def format_day(epoch: int, tz: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).date().isoformat()


def parse_period(text: str, tz: str) -> tuple[int, int, str]:
    """``YYYY-MM``, ``YYYY-Qn`` (calendar quarter) or ``YYYY``: ([start, end) in ``tz``, its label)."""
    if quarter := _QUARTER.match(text):
        year, q = int(quarter.group(1)), int(quarter.group(2))
        _check_year(text, year)
        start, _ = month_bounds(year, 3 * q - 2, tz)
        _, end = month_bounds(year, 3 * q, tz)
        return start, end, f"{year}-Q{q}"
    if whole := _YEAR.match(text):
        year = int(whole.group(1))
        _check_year(text, year)
        return month_bounds(year, 1, tz)[0], month_bounds(year, 12, tz)[1], str(year)
    if not _MONTH.match(text):
        raise UsageError(f"period {text!r}: expected YYYY-MM, YYYY-Qn or YYYY, e.g. 2026-11, 2026-Q4, 2026")
    year, month = parse_month(text)
    return *month_bounds(year, month, tz), f"{year:04d}-{month:02d}"
