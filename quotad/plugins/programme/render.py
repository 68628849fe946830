"""The survey report as Markdown, HTML (Jinja2, autoescaped) or PDF (WeasyPrint renders the same HTML).

One language per document (``--lang``): the office files a Japanese and an English report. Every cell is
turned into text here, once, so the three formats cannot disagree on a figure.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from quotad.charts import BurnDown, Series, burn_down, stacked_bars
from quotad.errors import UsageError
from quotad.plugins.api import Bilingual, Language, ReportCell, ReportTable
from quotad.plugins.programme.report import SurveyReport

__all__ = ["FORMATS", "cell_text", "report_html", "report_markdown", "write_pdf"]

ReportFormat = Literal["md", "html", "pdf"]
FORMATS: tuple[ReportFormat, ...] = ("md", "html", "pdf")

_LABELS = {
    "period": Bilingual("対象期間", "Period"),
    "generated": Bilingual("作成日", "Generated"),
    "nothing": Bilingual("この期間の記録はありません。", "Nothing was recorded for this period."),
    "findings": Bilingual("事務局の所見", "The office's findings"),
    "title": Bilingual("調査報告書", "Survey report"),
}


_CHART_LABEL = Bilingual("図: HTML・PDF版に掲載", "chart in the HTML and PDF editions")


def cell_text(value: ReportCell, lang: Language) -> str:
    if value is None:
        return "—"
    if isinstance(value, Bilingual):
        return value.pick(lang)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return value


@dataclass(frozen=True)
class TableView:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    note: str


@dataclass(frozen=True)
class ChartView:
    title: str
    #: The drawn SVG as a data URI (empty when the view is only for Markdown, which lists charts by title).
    src: str


@dataclass(frozen=True)
class ChapterView:
    number: int
    title: str
    findings: str
    tables: tuple[TableView, ...]
    charts: tuple[ChartView, ...]


@dataclass(frozen=True)
class ReportView:
    """The report as display strings in its one language: what Markdown and HTML both render."""

    lang: str
    title: str
    edition: str
    meta: str
    nothing: str
    findings_label: str
    chapters: tuple[ChapterView, ...]


def _table_view(table: ReportTable, lang: Language) -> TableView:
    numeric = tuple(
        bool(table.rows) and all(isinstance(row[i], int | float) or row[i] is None for row in table.rows)
        for i in range(len(table.columns))
    )
    return TableView(
        title=table.title.pick(lang),
        columns=tuple(c.pick(lang) for c in table.columns),
        rows=tuple(tuple(cell_text(v, lang) for v in row) for row in table.rows),
        numeric=numeric,
        note=table.note.pick(lang) if table.note else "",
    )


def _chart_view(chart: Series | BurnDown, *, draw: bool) -> ChartView:
    if not draw:
        return ChartView(chart.title, "")
    svg = burn_down(chart, fmt="svg") if isinstance(chart, BurnDown) else stacked_bars(chart, fmt="svg")
    return ChartView(chart.title, "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"))


def _view(report: SurveyReport, *, draw: bool = False) -> ReportView:
    lang = report.lang
    period = f"{_LABELS['period'].pick(lang)}: {report.first_day} – {report.last_day}"
    return ReportView(
        lang=lang,
        title=f"{report.programme.pick(lang)} {_LABELS['title'].pick(lang)}",
        edition=report.edition.pick(lang),
        meta=f"{period} · {_LABELS['generated'].pick(lang)}: {report.generated}",
        nothing=_LABELS["nothing"].pick(lang),
        findings_label=_LABELS["findings"].pick(lang),
        chapters=tuple(
            ChapterView(
                i,
                c.title.pick(lang),
                c.findings,
                tuple(_table_view(t, lang) for _source, t in c.tables),
                tuple(_chart_view(chart, draw=draw) for chart in c.charts),
            )
            for i, c in enumerate(report.chapters, 1)
        ),
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(report: SurveyReport) -> str:
    view = _view(report)
    lines = [f"# {view.title}", "", f"{view.edition} · {view.meta}", ""]
    for chapter in view.chapters:
        lines += [f"## {chapter.number}. {chapter.title}", ""]
        if chapter.findings:
            lines += [f"**{view.findings_label}**", "", chapter.findings.strip(), ""]
        if not chapter.tables:
            lines += [view.nothing, ""]
        lines += [f"- ({_CHART_LABEL.pick(report.lang)}) {chart.title}" for chart in chapter.charts]
        if chapter.charts:
            lines.append("")
        for table in chapter.tables:
            lines += [f"### {table.title}", ""]
            lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
            lines.append("|" + "|".join("---:" if n else "---" for n in table.numeric) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            if table.note:
                lines += ["", f"_{table.note}_"]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("quotad.plugins.programme", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_html(report: SurveyReport) -> str:
    return _environment().get_template("report.html.j2").render(report=_view(report, draw=True))


def write_pdf(report: SurveyReport, path: Path) -> None:
    """Render the HTML edition to PDF with WeasyPrint (imported here: it loads Pango, which only this needs)."""
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # its INFO lines narrate each layout step
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango/HarfBuzz libraries are missing
        raise UsageError(f"PDF output needs WeasyPrint and its system libraries (Pango): {exc}") from exc
    HTML(string=report_html(report), base_url=str(path.parent)).write_pdf(str(path))
