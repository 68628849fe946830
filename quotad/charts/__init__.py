"""Charts for people who would rather look than read: grant burn-down, pool utilisation by day, use per month,
evaluation score against compute.

A narrow API so the report command, the weekly mail, the public site and the committee pack draw the same
pictures: each function takes plain data (``quotad.charts.data``) and writes an SVG or PNG file, or returns
PNG/SVG bytes (for an inline mail image). matplotlib is imported only inside these functions, with the Agg
backend, so the CLI stays fast for every command that draws nothing. Japanese labels use a CJK font (Debian
``fonts-noto-cjk``); a glyph the font lacks is an error (``ChartError``), never a row of empty boxes.
"""

from __future__ import annotations

from quotad.charts.data import BurnDown, Chart, DayUse, ScoreCompute, ScorePoint, Series, score_compute
from quotad.charts.draw import ChartError, burn_down, draw_chart, pool_days, score_vs_compute, stacked_bars

__all__ = [
    "BurnDown",
    "Chart",
    "ChartError",
    "DayUse",
    "ScoreCompute",
    "ScorePoint",
    "Series",
    "burn_down",
    "draw_chart",
    "pool_days",
    "score_compute",
    "score_vs_compute",
    "stacked_bars",
]
