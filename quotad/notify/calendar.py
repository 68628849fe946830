"""Working days: when a non-urgent notice may go out.

Why a calendar and not "Monday to Friday": a reminder about underuse that lands on 文化の日 or in Golden Week
is read days later, beside the ones that followed it. Public holidays come from the ``holidays`` package
(Japan by default, substitute holidays included); the programme adds its own closures (year-end, an office
move) in ``[notify.calendar] extra_holidays``. Urgent notices ignore all of this.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from quotad.errors import ConfigError

__all__ = ["WorkingCalendar"]


class WorkingCalendar:
    """Which local days in ``timezone`` are working days."""

    def __init__(
        self, *, timezone: str, country: str = "JP", extra_holidays: Iterable[date] = (),
        working_weekdays: Iterable[int] = (0, 1, 2, 3, 4),
    ) -> None:
        self.timezone = timezone
        self.country = country
        self.extra_holidays = frozenset(extra_holidays)
        self.working_weekdays = frozenset(working_weekdays)
        self._years: dict[int, frozenset[date]] = {}

    def _public(self, year: int) -> frozenset[date]:
        if year not in self._years:
            try:
                table = holidays.country_holidays(self.country, years=year)
            except NotImplementedError as exc:
                raise ConfigError(f"notify.calendar.country = {self.country!r}: no holiday calendar for it") from exc
            self._years[year] = frozenset(table)
        return self._years[year]

    def local_day(self, epoch: int) -> date:
        return datetime.fromtimestamp(epoch, ZoneInfo(self.timezone)).date()

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() in self.working_weekdays
            and day not in self.extra_holidays
            and day not in self._public(day.year)
        )

    def is_working_time(self, epoch: int) -> bool:
        """Whether ``epoch`` falls on a working day in the calendar's time zone."""
        return self.is_working_day(self.local_day(epoch))

    def holiday_name(self, day: date) -> str | None:
        if day in self.extra_holidays:
            return "programme holiday"
        names = holidays.country_holidays(self.country, years=day.year)
        return names.get(day)

    def next_working_day(self, day: date) -> date:
        probe = day + timedelta(days=1)
        while not self.is_working_day(probe):
            probe += timedelta(days=1)
        return probe
