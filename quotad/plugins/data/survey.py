"""The data-holders chapter: holders and datasets identified, introductions and their outcomes.

Which company was introduced to which dataset is the companies' business: the office edition lists
introductions by company, the consortium and public editions only count them by outcome.
"""

from __future__ import annotations

from collections import Counter

from quotad.plugins.api import Bilingual, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.data.store import list_datasets, list_holders, list_intros
from quotad.plugins.introductions import INTRO_STATUSES, STATUS_LABELS

__all__ = ["survey"]


def survey(request: SurveyRequest) -> SurveyContent:
    holders, datasets = list_holders(request.conn), list_datasets(request.conn)
    intros = [i for i in list_intros(request.conn) if request.start <= i.created_at < request.end]
    if not holders and not intros:
        return SurveyContent()
    outcome = Counter(i.status for i in intros)
    tables = [
        ReportTable(
            key="data-identified",
            title=Bilingual("データ保有者とデータセット", "Data holders and datasets identified"),
            columns=(Bilingual("項目", "What"), Bilingual("件数", "Count")),
            rows=(
                (Bilingual("データ保有者", "Data holders"), len(holders)),
                (Bilingual("データセット", "Datasets"), len(datasets)),
                (Bilingual("紹介（期間内）", "Introductions in the period"), len(intros)),
            ),
        ),
        ReportTable(
            key="data-outcomes",
            title=Bilingual("紹介の結果", "Introductions by outcome"),
            columns=(Bilingual("結果", "Outcome"), Bilingual("件数", "Count")),
            rows=tuple((STATUS_LABELS[s], outcome[s]) for s in INTRO_STATUSES if outcome[s]),
        ),
    ]
    if request.audience == "office":
        per_company = Counter((i.company_id, i.status) for i in intros)
        companies = sorted({i.company_id for i in intros})
        tables.append(
            ReportTable(
                key="data-by-company",
                title=Bilingual("企業別の紹介（事務局版のみ）", "Introductions by company (office edition only)"),
                columns=(Bilingual("企業", "Company"), *(STATUS_LABELS[s] for s in INTRO_STATUSES)),
                rows=tuple((c, *(per_company[(c, s)] for s in INTRO_STATUSES)) for c in companies),
            )
        )
    return SurveyContent(tables={"data": tuple(tables)})
