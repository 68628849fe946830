"""The review committee's end-of-term pack: per company, compute granted and used, idle share, directives
received and what other plugins report to the committee (the eval plugin's results), as md, HTML or CSV.

Where each figure comes from, and why there:

- **Granted vs used** is the ledger's own position (``LedgerView.status``) at the term's last second, or at
  ``now`` while the term runs: the core's arithmetic for comparing grants of different units with use (one
  common unit, normalised TFLOP when a company's grants mix units), never redone here. ``grants`` lists the
  company's grants that overlap the term, summed per unit, so the committee sees what was granted as granted.
- **Compute used** (GPU-hours, EFLOPS-hours) is what was charged in [start, end) (``compute_by_company``).
- **Idle share** is of what the node agents measured (``LedgerView.idle_share``); a company none of whose jobs
  an agent saw is "not measured", never 0 %: no data is not the same as no idle time.
- **Directives** are those opened in the term, by policy and severity (``LedgerView.directives_received``).
- **Charts** (HTML only, drawn inline as SVG data URIs so the pack stays one file): the company's grant
  burn-down as of the ledger position's date (``LedgerView.burn_down``), its GPU-hours per month of the term
  (the same ``compute_by_company`` as the compute row, month by month) and each reporter's charts (the eval
  plugin's score against compute). Each pictures figures the page's tables already give the committee.
- **Reporters' tables** come through the plugin API (``CommitteeReporter``); this module reads no other
  plugin's tables. A reporter that fails stops the pack (``PackError``) rather than leave a company's results
  silently out of a document a committee decides on.

Labels are bilingual, Japanese first. The HTML goes through Jinja2 with autoescape and ``StrictUndefined``,
so a company or model name cannot inject markup; the Markdown escapes table syntax in cells.
"""

from __future__ import annotations

import base64
import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from jinja2 import Environment
from sqlalchemy import Connection

from quotad.amounts import Unit
from quotad.charts.data import Chart, ScoreCompute, Series
from quotad.charts.draw import draw_chart, svg_pixels
from quotad.config import Settings
from quotad.errors import QuotadError, UsageError
from quotad.plugins.api import (
    Bilingual,
    CommitteeReporter,
    CommitteeRequest,
    CompanyCompute,
    DirectiveCount,
    IdleShare,
    LedgerView,
    ReportCell,
    ReportTable,
)
from quotad.plugins.review.templating import environment
from quotad.timeutil import add_months, format_day, month_bounds, month_start

__all__ = [
    "PACK_FORMATS",
    "CompanyPack",
    "GrantTotal",
    "PackError",
    "PackSection",
    "build_pack",
    "pack_csv",
    "pack_html",
    "pack_markdown",
    "pack_sections",
    "render_pack",
]

NOT_MEASURED = Bilingual("未計測", "not measured")
NO_GRANT = Bilingual("期間中の割当なし", "no grant in the term")
_DASH = "—"


class PackError(QuotadError):
    """A plugin's committee reporter failed; no pack is produced half-way."""


@dataclass(frozen=True)
class GrantTotal:
    """The amount of a company's grants overlapping the term, in one grant unit."""

    unit: Unit
    amount: int
    grants: int

    def text(self) -> str:
        return f"{self.unit.format(self.amount)} {self.unit.label}"


@dataclass(frozen=True)
class CompanyPack:
    """One company's page of the pack; amounts in the ledger's integer units until display."""

    company_id: str
    name: Bilingual
    programme: Bilingual
    term: tuple[str, str]  # first and last day of [start, end), programme time zone
    start: int
    end: int
    grants: tuple[GrantTotal, ...]  # grants overlapping the term, per unit
    unit: Unit | None  # the unit the ledger compares grant and use in (None: no grant active at ``as_of``)
    granted: int  # in ``unit``
    used: int  # in ``unit``, over the active grants' period up to ``as_of``
    as_of: int  # the moment of the ledger position: end - 1, or now while the term runs
    as_of_day: str  # ``as_of`` as a day in the programme time zone
    compute: CompanyCompute  # charged in [start, end)
    idle: IdleShare | None  # None: not measured
    directives: tuple[DirectiveCount, ...]
    tables: tuple[tuple[str, ReportTable], ...]  # (plugin name, table) in reporter order
    charts: tuple[Chart, ...] = ()  # burn-down, GPU-hours per month of the term, then reporters' charts

    @property
    def used_ratio(self) -> float | None:
        return self.used / self.granted if self.granted else None

    @property
    def idle_ratio(self) -> float | None:
        return None if self.idle is None else self.idle.ratio

    @property
    def directives_total(self) -> int:
        return sum(d.count for d in self.directives)


def _grant_totals(view: LedgerView, company_id: str, start: int, end: int) -> tuple[GrantTotal, ...]:
    amounts: defaultdict[Unit, list[int]] = defaultdict(list)
    for grant in view.grants(company_id=company_id):
        if grant.period_start < end and grant.period_end > start:
            amounts[grant.unit].append(grant.amount)
    return tuple(GrantTotal(unit, sum(values), len(values)) for unit, values in sorted(amounts.items()))


def _monthly(
    view: LedgerView, company_ids: Sequence[str], start: int, end: int, tz: str
) -> dict[str, tuple[tuple[str, ...], tuple[float, ...]]]:
    """Per company: the term's months and its GPU-hours in each (one ledger read per month for all companies)."""
    labels: list[str] = []
    hours: defaultdict[str, list[float]] = defaultdict(list)
    year, month = month_start(start, tz)
    while True:
        lo, hi = month_bounds(year, month, tz)
        if lo >= end:
            break
        used = view.compute_by_company(start=max(lo, start), end=min(hi, end))
        labels.append(f"{year:04d}-{month:02d}")
        for company_id in company_ids:
            hours[company_id].append(used.get(company_id, CompanyCompute(0, 0)).gpu_hours)
        year, month = add_months(year, month, 1)
    return {c: (tuple(labels), tuple(hours[c])) for c in company_ids}


def _charts(
    view: LedgerView, company: Bilingual, company_id: str, monthly: tuple[tuple[str, ...], tuple[float, ...]],
    *, as_of: int, tz: str,
) -> list[Chart]:
    charts: list[Chart] = []
    burn = view.burn_down(company_id, now=as_of, tz=tz, lang="ja")
    if burn is not None:
        charts.append(burn)
    labels, hours = monthly
    if labels:
        title = f"{both(company)}: {both(Bilingual('期間中の月別 GPU 時間', 'GPU-hours per month of the term'))}"
        charts.append(Series(title, "GPU-h", labels, {"GPU-h": hours}))
    return charts


def _reporter_tables(
    reporters: Sequence[tuple[str, CommitteeReporter]], request: CommitteeRequest
) -> tuple[dict[str, list[tuple[str, ReportTable]]], dict[str, list[Chart]]]:
    out: defaultdict[str, list[tuple[str, ReportTable]]] = defaultdict(list)
    charts: defaultdict[str, list[Chart]] = defaultdict(list)
    for name, report in reporters:
        try:
            content = report(request)
        except QuotadError:
            raise
        except Exception as exc:  # a plugin's bug: say whose, stop the pack
            raise PackError(f"plugin {name!r} failed to report to the committee: {type(exc).__name__}: {exc}") from exc
        for company_id in request.company_ids:
            out[company_id].extend((name, table) for table in content.tables.get(company_id, ()))
            charts[company_id].extend(content.charts.get(company_id, ()))
    return out, charts


def build_pack(
    view: LedgerView,
    reporters: Sequence[tuple[str, CommitteeReporter]],
    conn: Connection,
    settings: Settings,
    *,
    company_ids: Sequence[str],
    start: int,
    end: int,
    now: int,
) -> list[CompanyPack]:
    """One ``CompanyPack`` per company, in the order given (every company when ``company_ids`` is empty).

    Unknown company ids raise ``NotFoundError`` naming the known ones; an empty term raises ``UsageError``.
    """
    if end <= start:
        raise UsageError(f"the term must end after it starts (start {start}, end {end})")
    companies = [view.company(c) for c in dict.fromkeys(company_ids)] if company_ids else view.companies()
    ids = tuple(c.id for c in companies)
    as_of = min(now, end - 1)
    positions = {row.company_id: row for row in view.status(now=as_of)}
    compute = view.compute_by_company(start=start, end=end)
    idle = view.idle_share(start=start, end=end)
    directives = view.directives_received(start=start, end=end)
    request = CommitteeRequest(
        settings=settings, ledger=view, conn=conn, now=now, start=start, end=end, company_ids=ids
    )
    tables, reported_charts = _reporter_tables(reporters, request)
    tz = settings.programme.timezone
    monthly = _monthly(view, ids, start, end, tz)
    programme = Bilingual(settings.programme.name_ja, settings.programme.name_en)
    term = (format_day(start, tz), format_day(end - 1, tz))
    packs = []
    for company in companies:
        position = positions.get(company.id)
        name = Bilingual(company.name_ja, company.name_en)
        charts = _charts(view, name, company.id, monthly[company.id], as_of=as_of, tz=tz)
        packs.append(
            CompanyPack(
                company_id=company.id,
                name=name,
                programme=programme,
                term=term,
                start=start,
                end=end,
                grants=_grant_totals(view, company.id, start, end),
                unit=position.unit if position else None,
                granted=position.granted if position else 0,
                used=position.used if position else 0,
                as_of=as_of,
                as_of_day=format_day(as_of, tz),
                compute=compute.get(company.id, CompanyCompute(0, 0)),
                idle=idle.get(company.id),
                directives=directives.get(company.id, ()),
                tables=tuple(tables.get(company.id, ())),
                charts=(*charts, *reported_charts.get(company.id, ())),
            )
        )
    return packs


# --- presentation: one list of sections per company, shared by Markdown and HTML ---------------------------


@dataclass(frozen=True)
class PackSection:
    """A titled table of display strings (what Markdown and HTML both render)."""

    title: Bilingual
    columns: tuple[Bilingual, ...]
    rows: tuple[tuple[str, ...], ...]
    note: Bilingual | None = None
    source: str = ""  # the reporting plugin, "" for the ledger's own sections


def both(text: Bilingual) -> str:
    """Japanese first, then English (one string when both are the same)."""
    return text.ja if text.ja == text.en else f"{text.ja} / {text.en}"


def _pct(ratio: float | None) -> str:
    return _DASH if ratio is None else f"{100 * ratio:.1f} %"


def _hours(value: float) -> str:
    return f"{value:,.1f}"


def _cell(value: ReportCell) -> str:
    if value is None:
        return _DASH
    if isinstance(value, Bilingual):
        return both(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def idle_text(pack: CompanyPack) -> str:
    if pack.idle is None or pack.idle.ratio is None:
        return both(NOT_MEASURED)
    idle, measured = _hours(pack.idle.idle_gpu_seconds / 3600), _hours(pack.idle.measured_gpu_seconds / 3600)
    return f"{_pct(pack.idle.ratio)} ({idle} / {measured} GPU-h)"


def _ledger_section(pack: CompanyPack) -> PackSection:
    grants = "; ".join(g.text() for g in pack.grants) or both(NO_GRANT)
    if pack.unit is None:
        granted = both(Bilingual("この時点で有効な割当なし", "no grant active at this date"))
        used = ratio = _DASH
    else:
        granted = f"{pack.unit.format(pack.granted)} {pack.unit.label}"
        used = f"{pack.unit.format(pack.used)} {pack.unit.label}"
        ratio = _pct(pack.used_ratio)
    rows = (
        (both(Bilingual("割当 (期間内の付与)", "Grants (overlapping the term)")), grants),
        (both(Bilingual("台帳の状況の時点", "Ledger position as of")), pack.as_of_day),
        (both(Bilingual("割当量 (比較単位)", "Granted (comparison unit)")), granted),
        (both(Bilingual("使用量 (同じ単位)", "Used (same unit)")), used),
        (both(Bilingual("使用率", "Used ratio")), ratio),
        (both(Bilingual("期間内の GPU 時間", "GPU-hours in the term")), _hours(pack.compute.gpu_hours)),
        (both(Bilingual("期間内の EFLOPS 時間", "EFLOPS-hours in the term")), f"{pack.compute.eflops_hours:,.2f}"),
        (both(Bilingual("アイドル率 (計測分)", "Idle share (of measured)")), idle_text(pack)),
        (both(Bilingual("受けた指示", "Directives received")), str(pack.directives_total)),
    )
    return PackSection(
        title=Bilingual("計算資源", "Compute"),
        columns=(Bilingual("項目", "Item"), Bilingual("値", "Value")),
        rows=rows,
        note=Bilingual(
            "割当量と使用量は台帳の状況 (有効な割当の期間開始から上記の時点まで、同じ単位で比較)。"
            "アイドル率はノードエージェントが計測した割当 GPU 時間のうちアイドルだった割合。",
            "Granted and used are the ledger's position (from the active grants' start to the date above, compared "
            "in one unit). Idle share is the idle part of the allocated GPU time the node agents measured.",
        ),
    )


def _directives_section(pack: CompanyPack) -> PackSection:
    return PackSection(
        title=Bilingual("期間中に受けた指示", "Directives received in the term"),
        columns=(Bilingual("ポリシー", "Policy"), Bilingual("重大度", "Severity"), Bilingual("件数", "Count")),
        rows=tuple((d.policy, d.severity_label, str(d.count)) for d in pack.directives),
        note=None if pack.directives else Bilingual("なし", "none"),
    )


def pack_sections(pack: CompanyPack) -> list[PackSection]:
    """The company's page as sections, in order: compute, directives, then each reporter's tables."""
    sections = [_ledger_section(pack), _directives_section(pack)]
    for source, table in pack.tables:
        sections.append(
            PackSection(
                title=table.title,
                columns=table.columns,
                rows=tuple(tuple(_cell(v) for v in row) for row in table.rows),
                note=table.note,
                source=source,
            )
        )
    return sections


def _title(packs: Sequence[CompanyPack]) -> str:
    if not packs:
        return both(Bilingual("期末報告", "End-of-term pack"))
    first = packs[0]
    label = both(Bilingual("期末報告", "End-of-term pack"))
    return f"{both(first.programme)} — {label} {first.term[0]} – {first.term[1]}"


def _md(text: str) -> str:
    """A text safe inside a Markdown table cell or heading: no table syntax, no raw HTML, one line."""
    for char in ("\\", "|", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text.replace("\r", " ").replace("\n", " ")


def pack_markdown(packs: Sequence[CompanyPack]) -> str:
    lines = [f"# {_md(_title(packs))}", ""]
    for pack in packs:
        lines += [f"## {_md(both(pack.name))} ({_md(pack.company_id)})", ""]
        for section in pack_sections(pack):
            lines += [f"### {_md(both(section.title))}", ""]
            if section.rows:
                lines.append("| " + " | ".join(_md(both(c)) for c in section.columns) + " |")
                lines.append("|" + "---|" * len(section.columns))
                lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in section.rows]
                lines.append("")
            if section.note is not None:
                lines += [f"_{_md(both(section.note))}_", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _environment() -> Environment:
    env = environment()
    env.filters["both"] = both
    return env


@dataclass(frozen=True)
class PackImage:
    """A chart drawn for the HTML pack: an SVG data URI and its text alternative."""

    src: str
    alt: str
    width: int
    height: int


def _image(chart: Chart) -> PackImage:
    svg = draw_chart(chart, fmt="svg")
    if isinstance(chart, ScoreCompute):
        alt = chart.alt()
    else:
        alt = f"{chart.title} ({both(Bilingual('数値は上の表', 'figures in the tables above'))})"
    width, height = svg_pixels(svg)
    return PackImage("data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"), alt, width, height)


def pack_html(packs: Sequence[CompanyPack], *, fragment: bool = False) -> str:
    """A whole page, or with ``fragment`` only its body's content (for embedding in the committee summary).

    Each company's charts follow its tables, drawn inline (SVG data URIs) so the pack stays one file."""
    pages = [(pack, pack_sections(pack), [_image(c) for c in pack.charts]) for pack in packs]
    template = "pack_body.html.j2" if fragment else "pack.html.j2"
    return _environment().get_template(template).render(
        title=_title(packs), pages=pages, charts_title=both(Bilingual("グラフ", "Charts"))
    )


CSV_COLUMNS = ("company_id", "name_ja", "name_en", "section", "row", "field_ja", "field_en", "value")


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: ReportCell) -> str:
    """Numbers as they are; a text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    text = both(value) if isinstance(value, Bilingual) else value
    return "'" + text if text.startswith(_FORMULA) else text


def pack_csv(packs: Sequence[CompanyPack]) -> str:
    """Long form, one value per line: (company, section, row, field) -> value, numbers unformatted.

    Sections: ``ledger`` (row 0; amounts in hours, ratios as fractions, the idle share empty with
    ``idle_measured`` = false when not measured), ``directives`` (one row per policy and severity) and
    ``<plugin>:<table key>`` for each reporter table. Texts that start like a spreadsheet formula are prefixed
    with an apostrophe, so a company or model name cannot run in the committee's spreadsheet.
    """
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for p in packs:
        head = (p.company_id, _csv_value(p.name.ja), _csv_value(p.name.en))

        def put(section: str, row: int, field: Bilingual, value: ReportCell, head: tuple[str, ...] = head) -> None:
            out.writerow((*head, section, row, field.ja, field.en, _csv_value(value)))

        for i, g in enumerate(p.grants):
            put("grants", i, Bilingual("単位", "unit"), g.unit.label)
            put("grants", i, Bilingual("割当量", "amount"), round(g.unit.display(g.amount), 4))
        ledger: list[tuple[Bilingual, ReportCell]] = [
            (Bilingual("比較単位", "unit"), p.unit.label if p.unit else None),
            (Bilingual("割当量", "granted"), round(p.unit.display(p.granted), 4) if p.unit else None),
            (Bilingual("使用量", "used"), round(p.unit.display(p.used), 4) if p.unit else None),
            (Bilingual("使用率", "used_ratio"), None if p.used_ratio is None else round(p.used_ratio, 6)),
            (Bilingual("GPU時間", "gpu_hours"), round(p.compute.gpu_hours, 4)),
            (Bilingual("EFLOPS時間", "eflops_hours"), round(p.compute.eflops_hours, 6)),
            (Bilingual("アイドル計測", "idle_measured"), "true" if p.idle_ratio is not None else "false"),
            (
                Bilingual("計測GPU時間", "measured_gpu_hours"),
                None if p.idle is None else round(p.idle.measured_gpu_seconds / 3600, 4),
            ),
            (
                Bilingual("アイドルGPU時間", "idle_gpu_hours"),
                None if p.idle is None else round(p.idle.idle_gpu_seconds / 3600, 4),
            ),
            (Bilingual("アイドル率", "idle_share"), None if p.idle_ratio is None else round(p.idle_ratio, 6)),
        ]
        for field, value in ledger:
            put("ledger", 0, field, value)
        for i, d in enumerate(p.directives):
            put("directives", i, Bilingual("ポリシー", "policy"), d.policy)
            put("directives", i, Bilingual("重大度", "severity"), d.severity_label)
            put("directives", i, Bilingual("件数", "count"), d.count)
        for source, table in p.tables:
            for i, row in enumerate(table.rows):
                for column, value in zip(table.columns, row, strict=False):
                    put(f"{source}:{table.key}", i, column, value)
    return buf.getvalue()


PackFormat = Literal["md", "html", "csv"]
PACK_FORMATS: tuple[PackFormat, ...] = ("md", "html", "csv")
_RENDERERS: dict[str, Callable[[Sequence[CompanyPack]], str]] = {
    "md": pack_markdown,
    "html": pack_html,
    "csv": pack_csv,
}


def render_pack(packs: Sequence[CompanyPack], fmt: str) -> str:
    """The pack in ``fmt`` (one of ``PACK_FORMATS``), for a command's ``--format``."""
    try:
        return _RENDERERS[fmt](packs)
    except KeyError:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(PACK_FORMATS)}") from None
