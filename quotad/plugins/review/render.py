"""The review commands' tables (table, csv, md, json through ``quotad.render``): raw values, snake_case keys."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from quotad.plugins.review.access import AssignmentRow, ConflictReason
from quotad.plugins.review.aggregate import Aggregation
from quotad.plugins.review.audit import AuditEntry
from quotad.plugins.review.people import Reviewer
from quotad.plugins.review.store import Call, Criterion, Document, Proposal, RequestSpec
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = [
    "aggregation_table",
    "assignments_table",
    "audit_table",
    "calls_table",
    "conflicts_table",
    "criteria_table",
    "documents_table",
    "proposals_table",
    "reviewers_table",
]


def _day(epoch: int | None, tz: str) -> str | None:
    return None if epoch is None else format_day(epoch, tz)


def _last_day(epoch: int | None, tz: str) -> str | None:
    """Ends are stored exclusive (next midnight); shown as the inclusive last day."""
    return None if epoch is None else format_day(epoch - 1, tz)


def calls_table(calls: Sequence[Call], tz: str) -> Table:
    return Table(
        [
            "Call",
            "Kind",
            "Title (ja)",
            "Title (en)",
            "Status",
            "Opens",
            "Closes",
            "Term from",
            "Term to",
            "Load cap",
            "Attestation",
        ],
        [
            [
                c.id,
                c.kind,
                c.title_ja,
                c.title_en,
                c.status,
                _day(c.opens_at, tz),
                _last_day(c.closes_at, tz),
                _day(c.period_start, tz),
                _last_day(c.period_end, tz),
                c.load_cap,
                c.attestation_version,
            ]
            for c in calls
        ],
        title="Review calls",
        keys=[
            "call",
            "kind",
            "title_ja",
            "title_en",
            "status",
            "opens",
            "closes",
            "period_start",
            "period_end",
            "load_cap",
            "attestation_version",
        ],
    )


def criteria_table(call: Call, rubric: Sequence[Criterion]) -> Table:
    total = sum(c.weight for c in rubric) or 1.0
    return Table(
        ["Key", "Title (ja)", "Title (en)", "Weight", "Share", "Min", "Max", "Comment required"],
        [
            [
                c.key,
                c.title_ja,
                c.title_en,
                c.weight,
                round(c.weight / total, 4),
                c.scale_min,
                c.scale_max,
                "yes" if c.comment_required else "no",
            ]
            for c in rubric
        ],
        title=f"Rubric of {call.id}: {call.title_en}",
        keys=["key", "title_ja", "title_en", "weight", "share", "min", "max", "comment_required"],
        meta={"call": call.id, "kind": call.kind, "status": call.status},
    )


def _requests(requests: Sequence[RequestSpec]) -> str:
    return ", ".join(f"{r.cluster}:{r.display_amount:g}:{r.display_unit}" for r in requests)


def proposals_table(
    proposals: Sequence[Proposal], requests: Mapping[int, Sequence[RequestSpec]], *, with_plan: bool = False
) -> Table:
    columns = ["Proposal", "Call", "Company", "Title", "Requested"]
    keys = ["proposal", "call", "company", "title", "requested"]
    if with_plan:
        columns.append("Plan")
        keys.append("plan")
    rows: list[Sequence[Cell]] = []
    for p in proposals:
        row: list[Cell] = [p.id, p.call_id, p.company_id, p.title, _requests(requests.get(p.id, ()))]
        if with_plan:
            row.append(p.plan)
        rows.append(row)
    return Table(columns, rows, title="Proposals", keys=keys)


def documents_table(docs: Sequence[Document], tz: str) -> Table:
    return Table(
        ["Name", "Version", "Size", "sha256", "Uploaded", "By"],
        [[d.name, d.version, d.size, d.sha256, format_day(d.uploaded_at, tz), d.uploaded_by] for d in docs],
        title="Documents",
        keys=["name", "version", "size", "sha256", "uploaded", "by"],
    )


def reviewers_table(reviewers: Sequence[Reviewer]) -> Table:
    return Table(
        ["Reviewer", "Name", "Email", "Affiliation", "Company"],
        [[r.id, r.name, r.email, r.affiliation, r.company_id] for r in reviewers],
        title="Reviewers",
        keys=["reviewer", "name", "email", "affiliation", "company"],
    )


def conflicts_table(conflicts: Sequence[ConflictReason]) -> Table:
    return Table(
        ["Reviewer", "Proposal", "Type", "Source", "Note"],
        [[c.reviewer_id, c.proposal_id, c.type, c.source, c.note] for c in conflicts],
        title="Conflicts of interest",
        keys=["reviewer", "proposal", "type", "source", "note"],
    )


def assignments_table(rows: Sequence[AssignmentRow]) -> Table:
    return Table(
        ["Reviewer", "Proposal", "Company", "Scores", "Assigned by", "Void (conflict)"],
        [
            [r.reviewer_id, r.proposal_id, r.company_id, r.scored, r.assigned_by, "yes" if r.conflicted else "no"]
            for r in rows
        ],
        title="Assignments",
        keys=["reviewer", "proposal", "company", "scores", "assigned_by", "conflicted"],
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def aggregation_table(result: Aggregation, rubric: Sequence[Criterion]) -> Table:
    return Table(
        [
            "Rank",
            "Proposal",
            *(f"Mean {c.key}" for c in rubric),
            "Weighted mean",
            "Spread (pop. SD)",
            "Mean z",
            "Reviewers",
            "Disagreement",
        ],
        [
            [
                f.rank,
                f.proposal_id,
                *(_r(f.criterion_means.get(c.key)) for c in rubric),
                _r(f.weighted_mean),
                _r(f.spread),
                _r(f.mean_z),
                f.reviewers,
                "yes" if f.flagged else "no",
            ]
            for f in result.proposals
        ],
        title=f"Committee figures (disagreement: spread > {result.threshold:g})",
        keys=[
            "rank",
            "proposal",
            *(f"mean_{c.key}" for c in rubric),
            "weighted_mean",
            "spread",
            "mean_z",
            "reviewers",
            "disagreement",
        ],
        meta={
            "threshold": result.threshold,
            "spread": "population standard deviation of reviewer weighted totals",
            "z_scores": [{"reviewer": r, "proposal": p, "z": _r(z)} for (r, p), z in sorted(result.z_scores.items())],
        },
    )


def audit_table(entries: Sequence[AuditEntry]) -> Table:
    def dump(data: object) -> str | None:
        return None if data is None else json.dumps(data, ensure_ascii=False, sort_keys=True)

    return Table(
        ["Id", "At", "Actor", "Action", "Entity", "Before", "After"],
        [[e.id, e.at, e.actor, e.action, e.entity, dump(e.before), dump(e.after)] for e in entries],
        title="Review audit log",
        keys=["id", "at", "actor", "action", "entity", "before", "after"],
    )
