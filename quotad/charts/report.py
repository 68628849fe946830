"""``quotad report --chart FILE``: the report's rows drawn (a bar per row, or a line over days/weeks/months)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from quotad.charts.draw import stacked_bars
from quotad.charts.ledger import report_series
from quotad.ledger.reports import UsageLine

__all__ = ["report_chart"]


def report_chart(lines: Sequence[UsageLine], *, by: str, title: str, path: Path) -> Path:
    stacked_bars(report_series(lines, by=by, title=title), path)
    return path
