"""Leaderboard and coverage as tables (md, csv, json through ``quotad.render``) and as an HTML page.

Every score, a benchmark's cell and an average alike, is printed by the one rule of ``figures``: points on 0-100
with two decimals (an MT-Bench 7.3 is 73.00, an accuracy 0.5800 is 58.00). Cells whose harness wrote them on
another scale than their metric's (jp-stable's 0-100 JSQuAD F1) are listed in a "Rescaled" column. The HTML
page renders through Jinja2 with autoescape and ``StrictUndefined``, so a model name cannot inject markup and
a template that asks for a missing value fails instead of printing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined

from quotad.plugins.api import LANGUAGES
from quotad.plugins.eval.board import OVERALL, BoardCell, BoardRow, CoverageRow, Leaderboard
from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.figures import points, rounded, text
from quotad.plugins.eval.store import StoredRun
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = ["average_label", "cell_points", "coverage_table", "leaderboard_html", "leaderboard_table", "runs_table"]


def average_label(key: str, catalog: TaskCatalog) -> str:
    if key == OVERALL:
        return "Avg (all)"
    if "/" in key:
        lang, category = key.split("/", 1)
        return f"Avg {lang} {catalog.category_name(category).en}"
    return f"Avg {key}"


def cell_points(cell: BoardCell | None) -> float | None:
    """A benchmark cell as printed: points on 0-100, or the raw value rounded where it has no full scale."""
    if cell is None:
        return None
    return points(cell.normalised) if cell.normalised is not None else rounded(cell.value)


def _show_compute(board: Leaderboard) -> bool:
    return any(r.compute is not None for r in board.rows)


def _rescaled(board: Leaderboard) -> bool:
    return any(c.rescaled for r in board.rows for c in r.cells.values())


def _row_cells(rank: int, row: BoardRow, board: Leaderboard, compute: bool) -> list[Cell]:
    cells: list[Cell] = [rank, row.model, row.company_id, row.checkpoint]
    cells += [cell_points(row.cells.get(column.key)) for column in board.columns]
    cells += [points(row.averages.get(key)) for key in board.average_keys]
    if compute:
        c = row.compute
        cells += [
            None if c is None else round(c.gpu_hours, 1),
            None if c is None else round(c.eflops_hours, 4),
            None if row.score_per_eflops_day is None else round(row.score_per_eflops_day, 3),
            row.compute_basis,
        ]
    if _rescaled(board):
        names = [c.task.name.en for c in board.columns if (cell := row.cells.get(c.key)) and cell.rescaled]
        cells.append(", ".join(names) or None)
    if board.include_limited:
        cells.append("yes" if any(c.limited for c in row.cells.values()) else "no")
    return cells


def leaderboard_table(board: Leaderboard, catalog: TaskCatalog) -> Table:
    compute = _show_compute(board)
    columns = ["Rank", "Model", "Company", "Checkpoint"]
    keys = ["rank", "model", "company", "checkpoint"]
    columns += [f"{c.task.name.en} ({c.metric})" for c in board.columns]
    keys += [f"task_{c.key}" for c in board.columns]
    columns += [average_label(k, catalog) for k in board.average_keys]
    keys += [f"avg_{k.replace('/', '_')}" for k in board.average_keys]
    if compute:
        columns += ["GPU-h", "EFLOPS-h", "Score/EFLOPS-day", "Compute"]
        keys += ["gpu_hours", "eflops_hours", "score_per_eflops_day", "compute_basis"]
    if _rescaled(board):
        columns.append("Rescaled")
        keys.append("rescaled")
    if board.include_limited:
        columns.append("Limited run")
        keys.append("limited")
    rows: list[Sequence[Cell]] = [_row_cells(i, row, board, compute) for i, row in enumerate(board.rows, 1)]
    title = f"Leaderboard ({board.audience}, {board.lang}{', ' + board.category if board.category else ''})"
    meta = {
        "audience": board.audience,
        "lang": board.lang,
        "category": board.category,
        "tasks": [
            {
                "key": c.key,
                "name_en": c.task.name.en,
                "name_ja": c.task.name.ja,
                "language": c.task.language,
                "category": c.task.category,
                "metric": c.metric,
            }
            for c in board.columns
        ],
    }
    return Table(columns, rows, title=title, keys=keys, meta=meta)


def leaderboard_html(board: Leaderboard, catalog: TaskCatalog, *, generated: str) -> str:
    env = Environment(
        loader=PackageLoader("quotad.plugins.eval", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    table = leaderboard_table(board, catalog)
    scores = {i for i, key in enumerate(table.keys or ()) if key.startswith(("task_", "avg_"))}
    shown = [[text(v) if i in scores and isinstance(v, float) else v for i, v in enumerate(row)] for row in table.rows]
    return env.get_template("leaderboard.html.j2").render(
        board=board, table=table, shown=shown, scores=scores, generated=generated, languages=LANGUAGES
    )


def coverage_table(rows: Sequence[CoverageRow]) -> Table:
    out: list[Sequence[Cell]] = []
    for r in rows:
        flag = "no results" if r.model is None else ", ".join(f"missing {lang}" for lang in r.missing)
        out.append(
            [
                r.company_id,
                r.model,
                len(r.tasks.get("ja", ())),
                len(r.tasks.get("en", ())),
                ", ".join(r.tasks.get("ja", ())),
                ", ".join(r.tasks.get("en", ())),
                ", ".join(r.limited_only),
                ", ".join(r.unmapped),
                flag or "ok",
            ]
        )
    return Table(
        ["Company", "Model", "ja tasks", "en tasks", "ja", "en", "Limited runs only", "Unmapped tasks", "Flag"],
        out,
        title="Evaluation coverage (full runs)",
        keys=["company", "model", "ja_count", "en_count", "ja_tasks", "en_tasks", "limited_only", "unmapped", "flag"],
    )


def runs_table(runs: Sequence[StoredRun], counts: dict[int, int], tz: str) -> Table:
    return Table(
        [
            "Run",
            "Company",
            "Model",
            "Checkpoint",
            "Visibility",
            "Harness",
            "Version",
            "Limited",
            "Scores",
            "Evaluated",
            "File",
            "sha256",
        ],
        [
            [
                r.id,
                r.company_id,
                r.model,
                r.checkpoint,
                r.visibility,
                r.harness,
                r.harness_version,
                "yes" if r.limited else "no",
                counts.get(r.id, 0),
                format_day(r.evaluated_at, tz) if r.evaluated_at else None,
                r.file_name,
                r.file_sha256[:12],
            ]
            for r in runs
        ],
        title="Evaluation runs",
        keys=[
            "run",
            "company",
            "model",
            "checkpoint",
            "visibility",
            "harness",
            "harness_version",
            "limited",
            "scores",
            "evaluated",
            "file",
            "sha256",
        ],
    )
