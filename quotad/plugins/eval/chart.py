"""Leaderboard rows as the score-against-compute chart (``quotad.charts.ScoreCompute``), for the site and the pack.

One point per row that has both an overall average and compute beside it; a row without either is left out,
never drawn at 0. The chart shows exactly what the row's table shows: the overall average on 0-100 (rounded as
every eval output prints it, ``figures``) and the GPU-hours of the compute column, linked or company total.
"""

from __future__ import annotations

from collections.abc import Sequence

from quotad.charts.data import ScoreCompute, ScorePoint, score_compute
from quotad.plugins.eval.board import BoardRow
from quotad.plugins.eval.figures import points

__all__ = ["score_chart"]


def score_chart(rows: Sequence[BoardRow], lang: str) -> ScoreCompute | None:
    """The rows' chart with texts in ``lang`` (``ja``, ``en`` or ``both``); None when no row has a point."""
    out: list[ScorePoint] = []
    for row in rows:
        score = points(row.overall)
        if score is None or row.compute is None:
            continue
        name = row.company_name.pick("ja" if lang == "ja" else "en")
        if lang == "both" and row.company_name.ja != row.company_name.en:
            name = f"{row.company_name.ja} / {row.company_name.en}"
        out.append(ScorePoint(row.model, name, row.compute.gpu_hours, score, row.compute_linked))
    return score_compute(tuple(out), lang) if out else None
