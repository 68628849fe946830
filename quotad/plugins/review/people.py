"""Reviewers, their stored conflicts (declared or pinned), attestations and per-call load caps.

Automatic conflicts are not stored: they follow from a reviewer's company and affiliation and are derived
where access is decided (``access.py``), so a changed affiliation can never leave a stale "no conflict".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, delete, insert, select

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.review import audit
from quotad.plugins.review.models import ReviewAttestation, ReviewCap, ReviewConflict, ReviewReviewer
from quotad.plugins.review.store import get_call, get_proposal

__all__ = [
    "CONFLICT_TYPES",
    "ConflictType",
    "Reviewer",
    "StoredConflict",
    "add_conflict",
    "add_reviewer",
    "attest",
    "attested_version",
    "cap_for",
    "get_reviewer",
    "list_reviewers",
    "set_cap",
    "stored_conflicts",
]

ConflictType = Literal[
    "employment", "capital_tie", "advisory_role", "co_development", "competitor", "personal", "other", "affiliation"
]
#: Types a reviewer or the office may give; "affiliation" is the type of automatic conflicts only.
CONFLICT_TYPES: tuple[str, ...] = tuple(t for t in get_args(ConflictType) if t != "affiliation")
StoredSource = Literal["declared", "pinned"]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Reviewer:
    id: str
    name: str
    email: str
    affiliation: str
    company_id: str | None


@dataclass(frozen=True)
class StoredConflict:
    id: int
    reviewer_id: str
    company_id: str | None
    proposal_id: int | None
    type: str
    source: str
    note: str
    created_by: str
    created_at: int


def add_reviewer(
    conn: Connection,
    view: LedgerView,
    *,
    reviewer_id: str,
    name: str,
    email: str,
    affiliation: str,
    company_id: str | None,
    actor: str,
    now: int,
) -> Reviewer:
    if not _SLUG.match(reviewer_id):
        raise UsageError(f"reviewer id {reviewer_id!r}: expected lower-case letters, digits, '.', '-' or '_'")
    if not name.strip():
        raise UsageError(f"reviewer {reviewer_id!r}: --name is required")
    if company_id is not None:
        view.company(company_id)
    if conn.scalar(select(ReviewReviewer.id).where(ReviewReviewer.id == reviewer_id)) is not None:
        raise UsageError(f"reviewer {reviewer_id!r} already exists")
    values = {"name": name, "email": email, "affiliation": affiliation, "company_id": company_id}
    conn.execute(insert(ReviewReviewer).values(id=reviewer_id, created_at=now, **values))
    audit.record(conn, actor=actor, action="reviewer.add", entity=f"reviewer:{reviewer_id}", now=now, after=values)
    return get_reviewer(conn, reviewer_id)


def _reviewer(row: Any) -> Reviewer:
    return Reviewer(row.id, row.name, row.email, row.affiliation, row.company_id)


def get_reviewer(conn: Connection, reviewer_id: str) -> Reviewer:
    row = conn.execute(select(ReviewReviewer).where(ReviewReviewer.id == reviewer_id)).one_or_none()
    if row is None:
        raise NotFoundError("reviewer", reviewer_id, hint="see `quotad review reviewer list`")
    return _reviewer(row)


def list_reviewers(conn: Connection) -> list[Reviewer]:
    return [_reviewer(r) for r in conn.execute(select(ReviewReviewer).order_by(ReviewReviewer.id))]


def add_conflict(
    conn: Connection,
    view: LedgerView,
    reviewer_id: str,
    *,
    company_id: str | None,
    proposal_id: int | None,
    type: str,
    source: StoredSource,
    note: str,
    actor: str,
    now: int,
) -> StoredConflict:
    """Record a conflict with a company (all its proposals) or with one proposal."""
    get_reviewer(conn, reviewer_id)
    if (company_id is None) == (proposal_id is None):
        raise UsageError("a conflict names either --company or --proposal (exactly one)")
    if type not in CONFLICT_TYPES:
        raise UsageError(f"--type {type!r}: expected one of {', '.join(CONFLICT_TYPES)}")
    if source not in get_args(StoredSource):
        raise UsageError(f"conflict source {source!r}: expected declared or pinned")
    if company_id is not None:
        view.company(company_id)
    if proposal_id is not None:
        get_proposal(conn, proposal_id)
    cid = conn.execute(
        insert(ReviewConflict)
        .values(
            reviewer_id=reviewer_id,
            company_id=company_id,
            proposal_id=proposal_id,
            type=type,
            source=source,
            note=note,
            created_by=actor[:64],
            created_at=now,
        )
        .returning(ReviewConflict.id)
    ).scalar_one()
    audit.record(
        conn,
        actor=actor,
        action=f"conflict.{source}",
        entity=f"reviewer:{reviewer_id}",
        now=now,
        after={"company": company_id, "proposal": proposal_id, "type": type, "note": note},
    )
    return StoredConflict(cid, reviewer_id, company_id, proposal_id, type, source, note, actor, now)


def stored_conflicts(conn: Connection, reviewer_id: str | None = None) -> list[StoredConflict]:
    c = ReviewConflict
    stmt = select(c).order_by(c.reviewer_id, c.id)
    if reviewer_id is not None:
        stmt = stmt.where(c.reviewer_id == reviewer_id)
    return [
        StoredConflict(
            r.id, r.reviewer_id, r.company_id, r.proposal_id, r.type, r.source, r.note, r.created_by, r.created_at
        )
        for r in conn.execute(stmt)
    ]


def attest(conn: Connection, reviewer_id: str, call_id: str, *, now: int) -> int:
    """Record the reviewer's attestation of the call's current text; returns its version."""
    get_reviewer(conn, reviewer_id)
    call = get_call(conn, call_id)
    if attested_version(conn, reviewer_id, call_id) == call.attestation_version:
        return call.attestation_version
    conn.execute(
        insert(ReviewAttestation).values(
            reviewer_id=reviewer_id, call_id=call_id, version=call.attestation_version, attested_at=now
        )
    )
    audit.record(
        conn,
        actor=f"reviewer:{reviewer_id}",
        action="attestation.give",
        entity=f"call:{call_id}",
        now=now,
        after={"version": call.attestation_version, "ja": call.attestation_ja, "en": call.attestation_en},
    )
    return call.attestation_version


def attested_version(conn: Connection, reviewer_id: str, call_id: str) -> int | None:
    a = ReviewAttestation
    return conn.scalar(
        select(a.version).where(a.reviewer_id == reviewer_id, a.call_id == call_id).order_by(a.version.desc()).limit(1)
    )


def set_cap(conn: Connection, call_id: str, reviewer_id: str, cap: int, *, actor: str, now: int) -> None:
    """Override the call's load cap for one reviewer."""
    call = get_call(conn, call_id)
    get_reviewer(conn, reviewer_id)
    if cap < 0:
        raise UsageError("a load cap cannot be negative")
    before = cap_for(conn, call_id, reviewer_id)
    conn.execute(delete(ReviewCap).where(ReviewCap.call_id == call_id, ReviewCap.reviewer_id == reviewer_id))
    conn.execute(insert(ReviewCap).values(call_id=call_id, reviewer_id=reviewer_id, cap=cap))
    audit.record(
        conn,
        actor=actor,
        action="cap.set",
        entity=f"call:{call.id}",
        now=now,
        before={"reviewer": reviewer_id, "cap": before},
        after={"reviewer": reviewer_id, "cap": cap},
    )


def cap_for(conn: Connection, call_id: str, reviewer_id: str) -> int:
    """The reviewer's load cap in the call: the override if set, else the call's default."""
    override = conn.scalar(
        select(ReviewCap.cap).where(ReviewCap.call_id == call_id, ReviewCap.reviewer_id == reviewer_id)
    )
    return get_call(conn, call_id).load_cap if override is None else int(override)
