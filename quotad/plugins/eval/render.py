"""Leaderboard and coverage as tables (md, csv, json through ``quotad.render``) and as an HTML page.

Every score, a benchmark's cell and an average alike, is printed by the one rule of ``figures``: points on 0-100
with two decimals (an MT-Bench 7.3 is 73.00, an accuracy 0.5800 is 58.00). Cells whose harness wrote them on
another scale than their metric's (jp-stable's 0-100 JSQuAD F1) are listed in a "Rescaled" column. The HTML
page renders through Jinja2 with autoescape and ``StrictUndefined``, so a model name cannot inject markup and
a template that asks for a missing value fails instead of printing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from quotad.plugins.api import LANGUAGES
from quotad.plugins.eval.board import OVERALL, BoardCell, BoardRow, CoverageRow, Leaderboard
from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.figures import points, rounded, text
from quotad.plugins.eval.store import StoredRun
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = [
    "average_label",
    "cell_points",
    "coverage_table",
    "fit_to_width",
    "leaderboard_html",
    "leaderboard_json",
    "leaderboard_table",
    "runs_table",
]


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


def leaderboard_json(board: Leaderboard, catalog: TaskCatalog) -> dict[str, Any]:
    """``eval leaderboard --json``: everything the board knows, raw values beside the printed points."""
    rows: list[dict[str, Any]] = []
    for rank, row in enumerate(board.rows, 1):
        c = row.compute
        rows.append(
            {
                "rank": rank,
                "company": row.company_id,
                "company_name": {"ja": row.company_name.ja, "en": row.company_name.en},
                "model": row.model,
                "checkpoint": row.checkpoint,
                "tasks": {
                    key: {
                        "value": cell.value,
                        "stderr": cell.stderr,
                        "metric": cell.metric,
                        "filter": cell.filter,
                        "n_shot": cell.n_shot,
                        "normalised": cell.normalised,
                        "points": cell_points(cell),
                        "rescaled": cell.rescaled,
                        "limited": cell.limited,
                        "run": cell.run_id,
                    }
                    for key, cell in row.cells.items()
                },
                "averages": {key: points(row.averages.get(key)) for key in board.average_keys},
                "compute": None
                if c is None
                else {
                    "basis": row.compute_basis,
                    "gpu_seconds": c.gpu_seconds,
                    "gpu_hours": c.gpu_hours,
                    "eflops_hours": c.eflops_hours,
                    "by_gpu_type": dict(getattr(c, "by_gpu_type", {})) or None,
                    "score_per_eflops_day": row.score_per_eflops_day,
                },
            }
        )
    return {
        "audience": board.audience,
        "lang": board.lang,
        "category": board.category,
        "include_limited": board.include_limited,
        "rounding": "points on 0-100 (value / full scale x 100), two decimals, half up",
        "tasks": [
            {
                "key": col.key,
                "name_en": col.task.name.en,
                "name_ja": col.task.name.ja,
                "language": col.task.language,
                "category": col.task.category,
                "metric": col.metric,
            }
            for col in board.columns
        ],
        "averages": {key: average_label(key, catalog) for key in board.average_keys},
        "rows": rows,
    }


#: Which columns give way first when a table is wider than the terminal (by JSON key prefix), last kept longest.
_DROP_ORDER = (
    "avg_ja_",
    "avg_en_",
    "task_",
    "score_per_eflops_day",
    "eflops_hours",
    "checkpoint",
    "rescaled",
    "gpu_hours",  # GPU-hours go before their basis, never shown without it
    "compute_basis",
    "company",
)


def _width(table: Table, index: int) -> int:
    from rich.cells import cell_len  # rich only for the human format

    header = cell_len(str(table.columns[index]))
    cells = [
        cell_len(f"{v:,.2f}" if isinstance(v, float) else "—" if v is None else str(v))
        for r in table.rows
        for v in [r[index]]
    ]
    return max([header, *cells]) + 3  # padding and the column rule


def fit_to_width(table: Table, width: int) -> Table:
    """The table with task headers abbreviated and then columns dropped until it fits ``width`` characters.

    A 21-column leaderboard is unreadable once a terminal wraps it; what goes first is the detail (category
    averages, then single benchmarks), never the model, its company or its language and overall averages. The
    title says how many columns were left out and where to see them all.
    """
    if sum(_width(table, i) for i in range(len(table.columns))) + 1 <= width:
        return table
    keys = list(table.keys or table.columns)
    columns = [
        c if not k.startswith("task_") else k.removeprefix("task_") for c, k in zip(table.columns, keys, strict=True)
    ]
    columns = [c.removeprefix("Avg ") if k.startswith("avg_") else c for c, k in zip(columns, keys, strict=True)]
    fitted = Table(columns, list(table.rows), title=table.title, keys=keys, meta=table.meta)
    hidden = 0
    for prefix in _DROP_ORDER:
        while sum(_width(fitted, i) for i in range(len(fitted.columns))) + 1 > width:
            matches = [i for i, k in enumerate(fitted.keys or ()) if k.startswith(prefix)]
            if not matches:
                break
            drop = matches[-1]
            fitted = Table(
                [c for i, c in enumerate(fitted.columns) if i != drop],
                [[v for i, v in enumerate(r) if i != drop] for r in fitted.rows],
                title=fitted.title,
                keys=[k for i, k in enumerate(fitted.keys or ()) if i != drop],
                meta=fitted.meta,
            )
            hidden += 1
    if hidden:
        fitted.title = (
            f"{fitted.title} - {hidden} columns left out to fit {width} characters (see --format md, csv or --json)"
        )
    return fitted


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
