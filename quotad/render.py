"""Tabular output shared by every CLI command: a rich table for people, CSV/Markdown/JSON for machines.

Commands build one ``Table`` of raw values (ints, floats, strings, None) and pick a format; numbers are
formatted only for the human formats, so ``--json`` and CSV carry exact values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FORMATS", "Cell", "Format", "Table", "emit", "render"]

Format = Literal["table", "csv", "md", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "md", "json")
Cell = str | int | float | None


@dataclass
class Table:
    columns: Sequence[str]
    rows: list[Sequence[Cell]] = field(default_factory=list)
    title: str = ""
    #: JSON keys, when they should differ from the column headings (snake_case for machines).
    keys: Sequence[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Cell]]:
        keys = self.keys or self.columns
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


def _human(value: Cell) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return value


def render(table: Table, fmt: Format) -> str:
    if fmt == "json":
        payload: Any = table.records() if not table.meta else {**table.meta, "rows": table.records()}
        return json.dumps(payload, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.keys or table.columns)
        writer.writerows(["" if v is None else v for v in row] for row in table.rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "md":
        lines = []
        if table.title:
            lines += [f"### {table.title}", ""]
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "|".join("---:" if _numeric(table, i) else "---" for i in range(len(table.columns))) + "|")
        lines += ["| " + " | ".join(_human(v).replace("|", "\\|") for v in row) + " |" for row in table.rows]
        return "\n".join(lines)
    # rich is imported only for the human format: long-running processes (the node agent) never pay for it.
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    rich_table = RichTable(title=table.title or None, show_lines=False)
    for i, col in enumerate(table.columns):
        rich_table.add_column(col, justify="right" if _numeric(table, i) else "left")
    for row in table.rows:
        rich_table.add_row(*(Text(_human(v)) for v in row))
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(rich_table)
    return console.export_text().rstrip("\n")


def _numeric(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def emit(table: Table, fmt: Format) -> None:
    """Print to stdout (results go to stdout; logs and errors to stderr)."""
    print(render(table, fmt))
