"""The challenges chapter of the survey report: counts by category over the period, per month and in total.

What an audience sees follows each entry's visibility: the office every entry, the consortium its consortium
and public ones, the public only public ones. Descriptions and companies appear only in the office edition;
the other editions get counts.
"""

from __future__ import annotations

from collections import Counter

from quotad.charts.data import Series
from quotad.plugins.api import (
    Bilingual,
    ReportCell,
    ReportTable,
    SurveyContent,
    SurveyRequest,
    plugin_settings,
)
from quotad.plugins.challenges.config import ChallengesConfig
from quotad.plugins.challenges.store import list_entries
from quotad.timeutil import format_day

__all__ = ["VISIBLE_TO", "survey"]

VISIBLE_TO = {
    "office": ("private", "consortium", "public"),
    "consortium": ("consortium", "public"),
    "public": ("public",),
}


def _label(config: ChallengesConfig, key: str) -> Bilingual:
    category = config.category(key)
    return Bilingual(category.ja, category.en) if category else Bilingual(key, key)


def survey(request: SurveyRequest) -> SurveyContent:
    config = plugin_settings(request.settings, "challenges", ChallengesConfig)
    tz = request.settings.programme.timezone
    first, last = format_day(request.start, tz), format_day(request.end - 1, tz)
    entries = list_entries(request.conn, visibilities=VISIBLE_TO[request.audience], since=first, until=last)
    if not entries:
        return SurveyContent()
    months = sorted({e.spec.noted_on[:7] for e in entries})
    counts = Counter((e.spec.category, e.spec.noted_on[:7]) for e in entries)
    used = [c for c in config.categories if any(counts[(c.key, m)] for m in months)]
    by_month = ReportTable(
        key="challenges-by-month",
        title=Bilingual("分類別・月別の課題件数", "Challenges by category and month"),
        columns=(Bilingual("分類", "Category"), *(Bilingual(m, m) for m in months), Bilingual("計", "Total")),
        rows=tuple(
            (Bilingual(c.ja, c.en), *(counts[(c.key, m)] for m in months), sum(counts[(c.key, m)] for m in months))
            for c in used
        ),
    )
    status = Counter((e.spec.category, e.spec.status) for e in entries)
    by_status = ReportTable(
        key="challenges-by-status",
        title=Bilingual("分類別の対応状況", "Where each category stands"),
        columns=(
            Bilingual("分類", "Category"),
            Bilingual("未対応", "Open"),
            Bilingual("対応中", "In progress"),
            Bilingual("解決", "Resolved"),
            Bilingual("対応せず", "Won't fix"),
        ),
        rows=tuple(
            (Bilingual(c.ja, c.en), *(status[(c.key, s)] for s in ("open", "in_progress", "resolved", "wont_fix")))
            for c in used
        ),
    )
    tables = [by_month, by_status]
    if request.audience == "office":
        rows: list[tuple[ReportCell, ...]] = [
            (
                e.spec.noted_on,
                e.spec.company_id or "—",
                e.spec.category,
                e.spec.severity,
                e.spec.status,
                Bilingual(
                    e.spec.description_ja or e.spec.description_en, e.spec.description_en or e.spec.description_ja
                ),
            )
            for e in entries
        ]
        tables.append(
            ReportTable(
                key="challenges-entries",
                title=Bilingual("課題一覧（事務局版のみ）", "Every challenge (office edition only)"),
                columns=tuple(
                    Bilingual(ja, en)
                    for ja, en in (
                        ("記録日", "Noted"),
                        ("企業", "Company"),
                        ("分類", "Category"),
                        ("重大度", "Severity"),
                        ("状況", "Status"),
                        ("内容", "Description"),
                    )
                ),
                rows=tuple(rows),
            )
        )
    chart = Series(
        title="Challenges by category and month / 分類別・月別の課題件数",
        unit="entries / 件",
        labels=tuple(months),
        values={f"{c.en} / {c.ja}": tuple(float(counts[(c.key, m)]) for m in months) for c in used},
    )
    return SurveyContent(tables={"challenges": tuple(tables)}, charts={"challenges": (chart,)})
