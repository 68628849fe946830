"""The governance chapter: checklist coverage of the newest checklist, per company for the office and the
consortium, and as a programme-wide figure per section for the public."""

from __future__ import annotations

from quotad.errors import QuotadError
from quotad.plugins.api import Bilingual, ReportCell, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.governance.checklist import SECTIONS
from quotad.plugins.governance.coverage import CoverageRow, build_coverage
from quotad.plugins.governance.store import available_checklists, current_answers, pick_checklist

__all__ = ["survey"]


def _pct(value: float | None) -> ReportCell:
    return None if value is None else round(100 * value, 1)


def survey(request: SurveyRequest) -> SurveyContent:
    try:
        checklist = pick_checklist(available_checklists(request.conn), None)
    except QuotadError:
        return SurveyContent()
    answers = current_answers(request.conn, version=checklist.version)
    if not answers:
        return SurveyContent()
    companies = [c.id for c in request.ledger.companies()]
    rows = build_coverage(checklist, companies, answers)
    titles = {s.key: s.title for s in SECTIONS}
    columns = (Bilingual("項目", "Section"), Bilingual("回答済", "Answered"), Bilingual("はい（%）", "Yes (%)"))
    if request.audience == "public":
        body: list[tuple[ReportCell, ...]] = []
        for section in SECTIONS:
            part = [r for r in rows if r.section == section.key]
            total, answered = sum(r.total for r in part), sum(r.answered for r in part)
            yes, applicable = sum(r.yes for r in part), sum(r.answered - r.na for r in part)
            body.append((section.title, f"{answered}/{total}", _pct(yes / applicable if applicable else None)))
        title = Bilingual(
            f"チェックリスト {checklist.version} の回答状況（全体）", f"Checklist {checklist.version}: programme-wide"
        )
        return SurveyContent(tables={"governance": (ReportTable("governance", title, columns, tuple(body)),)})

    def line(r: CoverageRow) -> tuple[ReportCell, ...]:
        return (titles.get(r.section, Bilingual("計", "All sections")), f"{r.answered}/{r.total}", _pct(r.yes_share))

    tables = tuple(
        ReportTable(
            key=f"governance-{company}",
            title=Bilingual(
                f"{company}: チェックリスト {checklist.version}", f"{company}: checklist {checklist.version}"
            ),
            columns=columns,
            rows=tuple(line(r) for r in rows if r.company_id == company),
        )
        for company in companies
    )
    return SurveyContent(tables={"governance": tables})
