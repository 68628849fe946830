"""The committee chapter of the survey report: the calls held and their decisions, counted by outcome.

Scores, reviewers, conflicts and rationales are the committee's confidential record and never reach the
report; a proposal's outcome reaches only the office edition (which company got what).
"""

from __future__ import annotations

from collections import Counter

from quotad.plugins.api import Bilingual, ReportCell, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.review.store import OUTCOMES, latest_decisions, list_calls, list_proposals

__all__ = ["survey"]

_OUTCOME_LABELS = {
    "accept": Bilingual("採択", "Accepted"),
    "reject": Bilingual("不採択", "Rejected"),
    "waitlist": Bilingual("補欠", "Waitlisted"),
    "continue": Bilingual("継続", "Continue"),
    "reduce": Bilingual("縮小", "Reduce"),
    "terminate": Bilingual("終了", "Terminate"),
}
_KIND_LABELS = {"selection": Bilingual("採択審査", "Selection"), "end_of_term": Bilingual("期末評価", "End of term")}


def survey(request: SurveyRequest) -> SurveyContent:
    calls = list_calls(request.conn)
    if not calls:
        return SurveyContent()
    outcomes = tuple(dict.fromkeys(o for kind in OUTCOMES.values() for o in kind))
    rows: list[tuple[ReportCell, ...]] = []
    per_proposal: list[tuple[ReportCell, ...]] = []
    for call in calls:
        proposals = {p.id: p for p in list_proposals(request.conn, call.id)}
        decided = latest_decisions(request.conn, call.id)
        counts = Counter(d.outcome for d in decided.values())
        title = Bilingual(call.title_ja, call.title_en)
        rows.append(
            (
                title,
                _KIND_LABELS.get(call.kind, Bilingual(call.kind, call.kind)),
                len(proposals),
                *(counts[o] for o in outcomes),
            )
        )
        for pid, decision in sorted(decided.items()):
            per_proposal.append((title, proposals[pid].company_id, _OUTCOME_LABELS[decision.outcome]))
    tables = [
        ReportTable(
            key="committee-calls",
            title=Bilingual("審査と決定（結果別の件数）", "Calls and decisions, counted by outcome"),
            columns=(
                Bilingual("審査", "Call"),
                Bilingual("種別", "Kind"),
                Bilingual("提案", "Proposals"),
                *(_OUTCOME_LABELS[o] for o in outcomes),
            ),
            rows=tuple(rows),
        )
    ]
    if request.audience == "office":
        tables.append(
            ReportTable(
                key="committee-decisions",
                title=Bilingual("企業別の決定（事務局版のみ）", "Decisions per company (office edition only)"),
                columns=(Bilingual("審査", "Call"), Bilingual("企業", "Company"), Bilingual("決定", "Decision")),
                rows=tuple(per_proposal),
            )
        )
    return SurveyContent(tables={"committee": tuple(tables)})
