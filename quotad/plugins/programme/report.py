"""The programme's survey report, assembled: the compute chapter from the ledger view, every other chapter
from the plugins' survey reporters (``Host.survey_reporters``), and the office's findings per chapter.

No plugin's tables are read here but the programme plugin's own findings: what a chapter holds, and what an
audience may see of it, is each reporter's decision (``SurveyRequest.audience``). Which companies publish their
compute comes from the plugins' disclosure shares (``Host.disclosures``), and only the public edition asks:
its totals follow the site's rule (``quotad.plugins.disclosure``), see ``compute``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from quotad.charts.data import BurnDown, Series
from quotad.config import Settings
from quotad.errors import QuotadError, UsageError
from quotad.plugins.api import (
    SURVEY_PARTS,
    Audience,
    Bilingual,
    Disclosure,
    Language,
    LedgerView,
    ReportTable,
    SurveyPart,
    SurveyReporter,
    SurveyRequest,
)
from quotad.plugins.disclosure import disclosing
from quotad.plugins.programme.compute import compute_charts, compute_tables, public_totals
from quotad.plugins.programme.findings import findings
from quotad.timeutil import format_day

__all__ = ["CHAPTER_TITLES", "Chapter", "ReportError", "SurveyReport", "build_report"]

CHAPTER_TITLES: dict[SurveyPart, Bilingual] = {
    "compute": Bilingual("計算資源の配分と利用", "Compute: grants and use"),
    "evaluation": Bilingual("評価", "Evaluation"),
    "data": Bilingual("データ保有者との連携", "Data holders"),
    "community": Bilingual("コミュニティ・海外連携・アウトリーチ", "Community, partnerships and outreach"),
    "governance": Bilingual("ガバナンス", "Governance"),
    "committee": Bilingual("審査委員会", "Review committee"),
    "challenges": Bilingual("開発を妨げた課題", "What held development back"),
}
EDITION_NAMES: dict[Audience, Bilingual] = {
    "office": Bilingual("事務局版", "Office edition"),
    "consortium": Bilingual("コンソーシアム版", "Consortium edition"),
    "public": Bilingual("公開版", "Public edition"),
}


class ReportError(QuotadError):
    """A survey reporter failed: the report names the plugin rather than printing half a report."""


@dataclass(frozen=True)
class Chapter:
    part: SurveyPart
    title: Bilingual
    #: (source, table): source is the plugin that reported it, "ledger" for the compute chapter's own tables.
    tables: tuple[tuple[str, ReportTable], ...]
    findings: str
    #: Chart data, drawn when the report is rendered (HTML and PDF; Markdown lists them by title).
    charts: tuple[Series | BurnDown, ...] = ()


@dataclass(frozen=True)
class SurveyReport:
    programme: Bilingual
    edition: Bilingual
    audience: Audience
    lang: Language
    first_day: str
    last_day: str
    generated: str
    chapters: tuple[Chapter, ...]


def _contributions(
    reporters: Sequence[tuple[str, SurveyReporter]], request: SurveyRequest
) -> tuple[dict[SurveyPart, list[tuple[str, ReportTable]]], dict[SurveyPart, list[Series | BurnDown]]]:
    out: defaultdict[SurveyPart, list[tuple[str, ReportTable]]] = defaultdict(list)
    charts: defaultdict[SurveyPart, list[Series | BurnDown]] = defaultdict(list)
    for name, report in reporters:
        try:
            content = report(request)
        except QuotadError:
            raise
        except Exception as exc:  # a plugin's bug: say whose, write no report
            raise ReportError(f"plugin {name!r} failed to report to the survey: {type(exc).__name__}: {exc}") from exc
        for part in (*content.tables, *content.charts):
            if part not in SURVEY_PARTS:
                raise ReportError(f"plugin {name!r} reported to an unknown chapter {part!r}")
        for part, tables in content.tables.items():
            out[part].extend((name, t) for t in tables if t.rows)  # an empty table says nothing a reader needs
        for part, series in content.charts.items():
            charts[part].extend(series)
    return out, charts


def build_report(
    view: LedgerView,
    reporters: Sequence[tuple[str, SurveyReporter]],
    conn: Connection,
    settings: Settings,
    *,
    start: int,
    end: int,
    audience: Audience,
    lang: Language,
    now: int,
    disclosures: Sequence[tuple[str, Disclosure]] = (),
) -> SurveyReport:
    """The report for one audience; ``disclosures`` (``Host.disclosures``) say whose compute is public, which
    decides the public edition's totals (none: nobody's is)."""
    if end <= start:
        raise UsageError("the report's period must end after it starts")
    request = SurveyRequest(settings=settings, ledger=view, conn=conn, now=now, start=start, end=end, audience=audience)
    parts, charts = _contributions(reporters, request)
    try:
        disclosed = disclosing(disclosures, conn) if audience == "public" else None
    except QuotadError:
        raise
    except Exception as exc:  # a plugin's bug: say whose, and never print totals unchecked
        names = ", ".join(name for name, _share in disclosures)
        raise ReportError(f"plugins' disclosure shares ({names}) failed: {type(exc).__name__}: {exc}") from exc
    totals = public_totals(request, disclosed)
    parts["compute"][:0] = [("ledger", t) for t in compute_tables(request, totals) if t.rows]
    charts["compute"][:0] = compute_charts(request, totals, lang)
    texts = {(f.part, f.lang): f.text for f in findings(conn)}
    tz = settings.programme.timezone
    chapters = tuple(
        Chapter(
            part, CHAPTER_TITLES[part], tuple(parts.get(part, ())), texts.get((part, lang), ""), tuple(charts[part])
        )
        for part in SURVEY_PARTS
    )
    return SurveyReport(
        programme=Bilingual(settings.programme.name_ja, settings.programme.name_en),
        edition=EDITION_NAMES[audience],
        audience=audience,
        lang=lang,
        first_day=format_day(start, tz),
        last_day=format_day(end - 1, tz),
        generated=format_day(now, tz),
        chapters=chapters,
    )
