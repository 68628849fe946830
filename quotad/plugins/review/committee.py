"""What the sheets show, gathered from the database: one reviewer's sheet, or the committee summary.

Reviewer sheets are built only through ``access.ReviewerAccess`` (assigned, non-conflicted proposals); the
summary counts only the scores ``access.committee_scores`` lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from quotad.plugins.api import Bilingual, LedgerView
from quotad.plugins.review.access import ReviewerAccess, committee_scores
from quotad.plugins.review.aggregate import Aggregation, CriterionWeight, ScoreInput, aggregate
from quotad.plugins.review.people import Reviewer
from quotad.plugins.review.store import (
    Call,
    Criterion,
    Decision,
    Proposal,
    RequestSpec,
    criteria,
    get_call,
    latest_decisions,
    list_proposals,
    requests_of,
)

__all__ = ["ReviewerSheet", "SheetEntry", "Summary", "call_aggregation", "reviewer_sheet", "summary"]


@dataclass(frozen=True)
class SheetEntry:
    proposal: Proposal
    company: Bilingual
    requests: tuple[RequestSpec, ...]
    scores: Mapping[str, tuple[int, str]]


@dataclass(frozen=True)
class ReviewerSheet:
    call: Call
    reviewer: Reviewer
    criteria: tuple[Criterion, ...]
    entries: tuple[SheetEntry, ...]


@dataclass(frozen=True)
class Summary:
    call: Call
    criteria: tuple[Criterion, ...]
    proposals: Mapping[int, Proposal]
    companies: Mapping[str, Bilingual]
    requests: Mapping[int, tuple[RequestSpec, ...]]
    aggregation: Aggregation
    decisions: Mapping[int, Decision]


def _names(view: LedgerView) -> dict[str, Bilingual]:
    return {c.id: Bilingual(c.name_ja, c.name_en) for c in view.companies()}


def reviewer_sheet(access: ReviewerAccess) -> ReviewerSheet:
    names = _names(access.view)
    entries = tuple(
        SheetEntry(
            p,
            names.get(p.company_id, Bilingual(p.company_id, p.company_id)),
            tuple(access.requests(p.id)),
            access.own_scores(p.id),
        )
        for p in access.assigned()
    )
    return ReviewerSheet(access.call, access.reviewer, tuple(access.criteria()), entries)


def call_aggregation(conn: Connection, view: LedgerView, call_id: str, *, threshold: float) -> Aggregation:
    """The call's committee figures (see ``aggregate``), from the scores that count."""
    rubric = [CriterionWeight(c.key, c.weight) for c in criteria(conn, call_id)]
    scores = [
        ScoreInput(s.reviewer_id, s.proposal_id, s.criterion, float(s.score))
        for s in committee_scores(conn, view, call_id)
    ]
    return aggregate(rubric, [p.id for p in list_proposals(conn, call_id)], scores, threshold=threshold)


def summary(conn: Connection, view: LedgerView, call_id: str, *, threshold: float) -> Summary:
    call = get_call(conn, call_id)
    proposals = {p.id: p for p in list_proposals(conn, call_id)}
    return Summary(
        call,
        tuple(criteria(conn, call_id)),
        proposals,
        _names(view),
        {pid: tuple(reqs) for pid, reqs in requests_of(conn, list(proposals)).items()},
        call_aggregation(conn, view, call_id, threshold=threshold),
        latest_decisions(conn, call_id),
    )
