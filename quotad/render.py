"""Tabular output shared by every CLI command: a rich table for people, CSV/Markdown/JSON for machines.

Commands build one ``Table`` of raw values (ints, floats, strings, None) and pick a format; numbers are
formatted only for the human formats, so ``--json`` and CSV carry exact values.

The human table fits the terminal (``COLUMNS``, else the terminal's width; 200 when output is not a
terminal): when it is too wide, the table's ``drop_first`` columns are left out in that order (a footnote
names them), and text cells that still do not fit are cut with an ellipsis; a row never wraps onto more lines.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
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
    #: Column headings the human table may leave out when the terminal is too narrow, least important first.
    drop_first: Sequence[str] = ()

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
    return _fitted(table, terminal_width())


#: Fewest characters a text column is cut to before columns are left out instead.
TEXT_MIN = 10

#: Width for output that goes to no terminal (a file, a pipe): wide, as the table is read there whole.
UNBOUNDED_WIDTH = 200


def terminal_width() -> int:
    """``COLUMNS`` when set, else the width of the terminal on stdout, else ``UNBOUNDED_WIDTH``."""
    return max(20, shutil.get_terminal_size((UNBOUNDED_WIDTH, 24)).columns)


def _fitted(table: Table, width: int) -> str:
    # rich is imported only for the human format: long-running processes (the node agent) never pay for it.
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    texts = [[_human(row[i]) for row in table.rows] for i in range(len(table.columns))]
    numeric = [_numeric(table, i) for i in range(len(table.columns))]
    # Widths in terminal cells (a Japanese character takes two), decided here rather than by rich's
    # collapsing, which can squeeze a short column to nothing when the others are long.
    widths = [max(cell_len(c) for c in [table.columns[i], *texts[i]]) for i in range(len(table.columns))]
    shown = list(range(len(table.columns)))
    left_out: list[str] = []

    def total() -> int:  # "│ a │ b │": one border per column plus one, a space each side of every cell
        return sum(widths[i] for i in shown) + 3 * len(shown) + 1

    for heading in table.drop_first:  # the table's own order of what matters least
        if total() <= width:
            break
        if heading in table.columns and table.columns.index(heading) in shown and len(shown) > 1:
            shown.remove(table.columns.index(heading))
            left_out.append(heading)
    while total() > width:
        cuttable = [i for i in shown if not numeric[i] and widths[i] > TEXT_MIN]
        if cuttable:  # text is cut with an ellipsis, widest first, never below TEXT_MIN
            widest = max(cuttable, key=lambda i: widths[i])
            widths[widest] = max(TEXT_MIN, widths[widest] - (total() - width))
        elif len(shown) > 1:  # numbers are never cut (a shortened number is a wrong one): columns go
            left_out.append(table.columns[shown.pop()])
        else:
            break

    rich_table = RichTable(title=table.title or None, show_lines=False)
    for i in shown:
        rich_table.add_column(
            table.columns[i],
            justify="right" if numeric[i] else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[i],
        )
    for r in range(len(table.rows)):
        rich_table.add_row(*(Text(texts[i][r]) for i in shown))
    console = Console(width=max(width, total()), record=True, file=io.StringIO(), color_system=None)
    console.print(rich_table)
    if left_out:
        console.print(Text(f"(left out to fit {width} columns: {', '.join(left_out)}; --format csv or --json has all)"))
    return console.export_text().rstrip("\n")


def _numeric(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def emit(table: Table, fmt: Format) -> None:
    """Print to stdout (results go to stdout; logs and errors to stderr)."""
    print(render(table, fmt))
