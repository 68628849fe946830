"""Built-in plugin ``review``: the review committee (selection and end-of-term evaluation).

Calls with their rubrics and attestation, proposals with requested compute and versioned documents,
reviewers and conflicts of interest (enforced in ``access.py``, the one query layer for reviewer-scoped reads
and writes), assignment under load caps, scores, committee aggregation, decisions, an audit log, and sheets in
Markdown, CSV and HTML; an end-of-term summary carries the per-company pack (``pack.py``).
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; ``host`` gives the committee reporters at command time."""
    from quotad.plugins.review import models as m
    from quotad.plugins.review.cli import make_app
    from quotad.plugins.review.store import call_exists
    from quotad.plugins.review.survey import survey

    return Plugin(
        name="review",
        summary="Review committee: calls, proposals, conflicts, assignment, scores, decisions, sheets.",
        app=make_app(host),
        tables=table_of(
            m.ReviewCall,
            m.ReviewCriterion,
            m.ReviewProposal,
            m.ReviewRequest,
            m.ReviewDocument,
            m.ReviewReviewer,
            m.ReviewConflict,
            m.ReviewAttestation,
            m.ReviewCap,
            m.ReviewAssignment,
            m.ReviewScore,
            m.ReviewDecision,
            m.ReviewAudit,
        ),
        migrations=Path(__file__).resolve().parent / "migrations",
        references={"review_call": call_exists},
        survey=survey,
    )
