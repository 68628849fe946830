"""Office-side queries on calls, rubrics, proposals, requested compute, documents and decisions.

Nothing here is scoped to a reviewer: a reviewer's reads and writes go through ``access.py``, which is where
conflicts are enforced. Every change writes an audit row in the same transaction (``audit.record``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, func, insert, select, update

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.review import audit
from quotad.plugins.review.models import (
    ReviewCall,
    ReviewCriterion,
    ReviewDecision,
    ReviewDocument,
    ReviewProposal,
    ReviewRequest,
)
from quotad.units import SECONDS_PER_HOUR, TFLOP_PER_EFLOPS_HOUR

__all__ = [
    "CALL_KINDS",
    "CALL_STATUSES",
    "OUTCOMES",
    "Call",
    "CallKind",
    "CallSpec",
    "Criterion",
    "CriterionSpec",
    "Decision",
    "Document",
    "Proposal",
    "Request",
    "RequestSpec",
    "add_criterion",
    "add_document",
    "add_proposal",
    "call_exists",
    "create_call",
    "criteria",
    "decide",
    "document_content",
    "documents",
    "get_call",
    "get_proposal",
    "latest_decisions",
    "list_calls",
    "list_proposals",
    "proposal_not_found",
    "requests_of",
    "require_open",
    "set_attestation",
    "set_call_status",
]

CallKind = Literal["selection", "end_of_term"]
CALL_KINDS: tuple[CallKind, ...] = get_args(CallKind)
CallStatus = Literal["open", "closed"]
CALL_STATUSES: tuple[CallStatus, ...] = get_args(CallStatus)
#: Outcomes a decision may record, per kind of call.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "selection": ("accept", "reject", "waitlist"),
    "end_of_term": ("continue", "reduce", "terminate"),
}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
POOL = "*"


@dataclass(frozen=True)
class CallSpec:
    id: str
    kind: CallKind
    title_ja: str
    title_en: str
    attestation_ja: str
    attestation_en: str
    opens_at: int | None = None
    closes_at: int | None = None
    period_start: int | None = None
    period_end: int | None = None
    load_cap: int = 5


@dataclass(frozen=True)
class Call:
    id: str
    kind: str
    title_ja: str
    title_en: str
    opens_at: int | None
    closes_at: int | None
    period_start: int | None
    period_end: int | None
    status: str
    attestation_ja: str
    attestation_en: str
    attestation_version: int
    load_cap: int


@dataclass(frozen=True)
class CriterionSpec:
    key: str
    title_ja: str
    title_en: str
    weight: float
    scale_min: int
    scale_max: int
    comment_required: bool


@dataclass(frozen=True)
class Criterion:
    id: int
    call_id: str
    key: str
    title_ja: str
    title_en: str
    weight: float
    scale_min: int
    scale_max: int
    comment_required: bool


@dataclass(frozen=True)
class RequestSpec:
    """Requested compute on one cluster (or the pool "*"), in the ledger's integer units.

    ``unit`` is a GPU type (``amount`` in GPU-seconds) or "*" (``amount`` in TFLOP, shown as EFLOPS-hours).
    """

    cluster: str
    unit: str
    amount: int

    @classmethod
    def parse(cls, text: str, *, clusters: Sequence[str], gpu_types: Sequence[str]) -> RequestSpec:
        """``CLUSTER:AMOUNT:gpu_hours:TYPE`` or ``CLUSTER:AMOUNT:eflops_hours`` (CLUSTER "*" is the pool)."""
        where = f"--request {text!r}"
        parts = text.split(":", 2)
        if len(parts) != 3:
            raise UsageError(f"{where}: expected CLUSTER:AMOUNT:gpu_hours:TYPE or CLUSTER:AMOUNT:eflops_hours")
        cluster, amount_text, unit_text = (p.strip() for p in parts)
        if cluster != POOL and cluster not in clusters:
            raise UsageError(f"{where}: unknown cluster {cluster!r} (known: {', '.join(clusters) or 'none'}, or *)")
        try:
            amount = float(amount_text)
        except ValueError:
            raise UsageError(f"{where}: amount {amount_text!r} is not a number") from None
        if not amount > 0:
            raise UsageError(f"{where}: amount must be positive")
        if unit_text == "eflops_hours":
            return cls(cluster, POOL, round(amount * TFLOP_PER_EFLOPS_HOUR))
        kind, _, gpu_type = unit_text.partition(":")
        if kind != "gpu_hours" or not gpu_type:
            raise UsageError(f"{where}: unit {unit_text!r}: expected gpu_hours:TYPE or eflops_hours")
        if gpu_type not in gpu_types:
            raise UsageError(f"{where}: unknown GPU type {gpu_type!r} (known: {', '.join(sorted(gpu_types))})")
        return cls(cluster, gpu_type, round(amount * SECONDS_PER_HOUR))

    @property
    def display_amount(self) -> float:
        return self.amount / (TFLOP_PER_EFLOPS_HOUR if self.unit == POOL else SECONDS_PER_HOUR)

    @property
    def display_unit(self) -> str:
        return "eflops_hours" if self.unit == POOL else f"gpu_hours:{self.unit}"


Request = RequestSpec


@dataclass(frozen=True)
class Proposal:
    id: int
    call_id: str
    company_id: str
    title: str
    plan: str
    submitted_at: int


@dataclass(frozen=True)
class Document:
    id: int
    proposal_id: int
    name: str
    version: int
    sha256: str
    size: int
    uploaded_at: int
    uploaded_by: str


@dataclass(frozen=True)
class Decision:
    id: int
    proposal_id: int
    outcome: str
    rationale: str
    decided_by: str
    decided_at: int


def _call(row: Any) -> Call:
    return Call(
        row.id,
        row.kind,
        row.title_ja,
        row.title_en,
        row.opens_at,
        row.closes_at,
        row.period_start,
        row.period_end,
        row.status,
        row.attestation_ja,
        row.attestation_en,
        row.attestation_version,
        row.load_cap,
    )


def create_call(conn: Connection, spec: CallSpec, *, actor: str, now: int) -> Call:
    if not _SLUG.match(spec.id):
        raise UsageError(f"call id {spec.id!r}: expected lower-case letters, digits, '-' or '_'")
    if spec.kind not in CALL_KINDS:
        raise UsageError(f"call kind {spec.kind!r}: expected one of {', '.join(CALL_KINDS)}")
    if not spec.title_ja.strip() or not spec.title_en.strip():
        raise UsageError(f"call {spec.id!r}: both --title-ja and --title-en are required")
    if not spec.attestation_ja.strip() or not spec.attestation_en.strip():
        raise UsageError(f"call {spec.id!r}: the attestation text is required in Japanese and English")
    if spec.opens_at is not None and spec.closes_at is not None and spec.opens_at >= spec.closes_at:
        raise UsageError(f"call {spec.id!r}: --opens must be before --closes")
    if spec.kind == "end_of_term" and (spec.period_start is None or spec.period_end is None):
        raise UsageError(f"call {spec.id!r}: an end-of-term call needs --period-start and --period-end")
    if (spec.period_start is None) != (spec.period_end is None):
        raise UsageError(f"call {spec.id!r}: give both --period-start and --period-end, or neither")
    if spec.period_start is not None and spec.period_end is not None and spec.period_start >= spec.period_end:
        raise UsageError(f"call {spec.id!r}: --period-start must be before --period-end")
    if spec.load_cap < 1:
        raise UsageError(f"call {spec.id!r}: --load-cap must be at least 1")
    if conn.scalar(select(ReviewCall.id).where(ReviewCall.id == spec.id)) is not None:
        raise UsageError(f"call {spec.id!r} already exists")
    values = {**asdict(spec), "status": "open", "attestation_version": 1, "created_at": now}
    conn.execute(insert(ReviewCall).values(**values))
    audit.record(conn, actor=actor, action="call.create", entity=f"call:{spec.id}", now=now, after=asdict(spec))
    return get_call(conn, spec.id)


def call_exists(conn: Connection, call_id: str) -> bool:
    """The ``"review_call"`` reference check other plugins link through (``api.ReferenceCheck``)."""
    return conn.execute(select(ReviewCall.id).where(ReviewCall.id == call_id)).first() is not None


def get_call(conn: Connection, call_id: str) -> Call:
    row = conn.execute(select(ReviewCall).where(ReviewCall.id == call_id)).one_or_none()
    if row is None:
        raise NotFoundError("review call", call_id, hint="see `quotad review call list`")
    return _call(row)


def list_calls(conn: Connection) -> list[Call]:
    return [_call(r) for r in conn.execute(select(ReviewCall).order_by(ReviewCall.created_at, ReviewCall.id))]


def set_call_status(conn: Connection, call_id: str, status: str, *, actor: str, now: int) -> Call:
    if status not in CALL_STATUSES:
        raise UsageError(f"status {status!r}: expected one of {', '.join(CALL_STATUSES)}")
    before = get_call(conn, call_id)
    conn.execute(update(ReviewCall).where(ReviewCall.id == call_id).values(status=status))
    audit.record(
        conn,
        actor=actor,
        action="call.status",
        entity=f"call:{call_id}",
        now=now,
        before={"status": before.status},
        after={"status": status},
    )
    return get_call(conn, call_id)


def set_attestation(conn: Connection, call_id: str, *, text_ja: str, text_en: str, actor: str, now: int) -> Call:
    """A new attestation text: its version goes up, so every reviewer must attest again before reading on."""
    if not text_ja.strip() or not text_en.strip():
        raise UsageError("the attestation text is required in Japanese and English")
    before = get_call(conn, call_id)
    conn.execute(
        update(ReviewCall)
        .where(ReviewCall.id == call_id)
        .values(attestation_ja=text_ja, attestation_en=text_en, attestation_version=before.attestation_version + 1)
    )
    audit.record(
        conn,
        actor=actor,
        action="call.attestation",
        entity=f"call:{call_id}",
        now=now,
        before={"version": before.attestation_version, "ja": before.attestation_ja, "en": before.attestation_en},
        after={"version": before.attestation_version + 1, "ja": text_ja, "en": text_en},
    )
    return get_call(conn, call_id)


def require_open(call: Call, what: str) -> None:
    if call.status != "open":
        raise UsageError(f"call {call.id!r} is {call.status}: {what} is no longer possible")


def add_criterion(conn: Connection, call_id: str, spec: CriterionSpec, *, actor: str, now: int) -> Criterion:
    """Add one rubric criterion. Every criterion of a call shares one scale, so weighted means stay in it."""
    get_call(conn, call_id)
    if not _SLUG.match(spec.key):
        raise UsageError(f"criterion key {spec.key!r}: expected lower-case letters, digits, '-' or '_'")
    if not spec.title_ja.strip() or not spec.title_en.strip():
        raise UsageError(f"criterion {spec.key!r}: both --title-ja and --title-en are required")
    if not spec.weight > 0:
        raise UsageError(f"criterion {spec.key!r}: --weight must be positive")
    if spec.scale_min >= spec.scale_max:
        raise UsageError(f"criterion {spec.key!r}: --min must be below --max")
    existing = criteria(conn, call_id)
    if any(c.key == spec.key for c in existing):
        raise UsageError(f"criterion {spec.key!r} already exists in call {call_id!r}")
    if existing and (existing[0].scale_min, existing[0].scale_max) != (spec.scale_min, spec.scale_max):
        first = existing[0]
        raise UsageError(
            f"criterion {spec.key!r}: scale {spec.scale_min}-{spec.scale_max} differs from the call's "
            f"{first.scale_min}-{first.scale_max} (criterion {first.key!r}); one scale per call keeps weighted "
            "means comparable"
        )
    conn.execute(insert(ReviewCriterion).values(call_id=call_id, position=len(existing), **asdict(spec)))
    audit.record(
        conn,
        actor=actor,
        action="criterion.add",
        entity=f"call:{call_id}",
        now=now,
        after={"criterion": spec.key, **asdict(spec)},
    )
    return next(c for c in criteria(conn, call_id) if c.key == spec.key)


def criteria(conn: Connection, call_id: str) -> list[Criterion]:
    c = ReviewCriterion
    stmt = select(c).where(c.call_id == call_id).order_by(c.position, c.id)
    return [
        Criterion(
            r.id, r.call_id, r.key, r.title_ja, r.title_en, r.weight, r.scale_min, r.scale_max, r.comment_required
        )
        for r in conn.execute(stmt)
    ]


def _proposal(row: Any) -> Proposal:
    return Proposal(row.id, row.call_id, row.company_id, row.title, row.plan, row.submitted_at)


def add_proposal(
    conn: Connection,
    view: LedgerView,
    call_id: str,
    *,
    company_id: str,
    title: str,
    plan: str,
    requests: Sequence[RequestSpec],
    actor: str,
    now: int,
) -> Proposal:
    call = get_call(conn, call_id)
    require_open(call, "adding a proposal")
    view.company(company_id)
    if not title.strip():
        raise UsageError("a proposal needs a --title")
    taken = conn.scalar(
        select(ReviewProposal.id).where(ReviewProposal.call_id == call_id, ReviewProposal.company_id == company_id)
    )
    if taken is not None:
        raise UsageError(f"company {company_id!r} already has proposal {taken} in call {call_id!r}")
    keys = [(r.cluster, r.unit) for r in requests]
    if len(set(keys)) != len(keys):
        raise UsageError("the same cluster and unit are requested twice; give each once")
    pid = conn.execute(
        insert(ReviewProposal)
        .values(call_id=call_id, company_id=company_id, title=title, plan=plan, submitted_at=now)
        .returning(ReviewProposal.id)
    ).scalar_one()
    if requests:
        conn.execute(insert(ReviewRequest), [{"proposal_id": pid, **asdict(r)} for r in requests])
    audit.record(
        conn,
        actor=actor,
        action="proposal.add",
        entity=f"proposal:{pid}",
        now=now,
        after={"call": call_id, "company": company_id, "title": title, "requests": [asdict(r) for r in requests]},
    )
    return get_proposal(conn, pid)


def get_proposal(conn: Connection, proposal_id: int) -> Proposal:
    """Office lookup: any proposal. A reviewer's lookup is ``access.ReviewerAccess.proposal``."""
    row = conn.execute(select(ReviewProposal).where(ReviewProposal.id == proposal_id)).one_or_none()
    if row is None:
        raise proposal_not_found(proposal_id)
    return _proposal(row)


def proposal_not_found(proposal_id: int) -> NotFoundError:
    """The one refusal for a proposal that does not exist or must not be known to exist (a conflict)."""
    return NotFoundError("proposal", str(proposal_id), hint="see `quotad review proposal list CALL`")


def list_proposals(conn: Connection, call_id: str) -> list[Proposal]:
    stmt = select(ReviewProposal).where(ReviewProposal.call_id == call_id).order_by(ReviewProposal.id)
    return [_proposal(r) for r in conn.execute(stmt)]


def requests_of(conn: Connection, proposal_ids: Sequence[int]) -> dict[int, list[RequestSpec]]:
    out: dict[int, list[RequestSpec]] = {pid: [] for pid in proposal_ids}
    if not proposal_ids:
        return out
    r = ReviewRequest
    stmt = select(r).where(r.proposal_id.in_(list(proposal_ids))).order_by(r.proposal_id, r.cluster, r.unit)
    for row in conn.execute(stmt):
        out[row.proposal_id].append(RequestSpec(row.cluster, row.unit, row.amount))
    return out


_DOC_COLUMNS = (
    ReviewDocument.id,
    ReviewDocument.proposal_id,
    ReviewDocument.name,
    ReviewDocument.version,
    ReviewDocument.sha256,
    ReviewDocument.size,
    ReviewDocument.uploaded_at,
    ReviewDocument.uploaded_by,
)


def add_document(
    conn: Connection, proposal_id: int, *, name: str, content: bytes, actor: str, now: int
) -> tuple[Document, bool]:
    """Store a file as the next version of ``name``; bytes identical to a stored version are recognised.

    Returns the document and whether it was newly stored (False: the same bytes were already there under this
    name, whichever version, and nothing was added).
    """
    get_proposal(conn, proposal_id)
    name = name.strip()
    if not name or "/" in name or "\\" in name:
        raise UsageError(f"document name {name!r}: expected a plain file name")
    sha = hashlib.sha256(content).hexdigest()
    existing = documents(conn, proposal_id, name=name)
    for doc in existing:
        if doc.sha256 == sha:
            return doc, False
    version = max((d.version for d in existing), default=0) + 1
    conn.execute(
        insert(ReviewDocument).values(
            proposal_id=proposal_id,
            name=name,
            version=version,
            sha256=sha,
            size=len(content),
            content=content,
            uploaded_at=now,
            uploaded_by=actor[:64],
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="document.add",
        entity=f"proposal:{proposal_id}",
        now=now,
        after={"name": name, "version": version, "sha256": sha, "size": len(content)},
    )
    return next(d for d in documents(conn, proposal_id, name=name) if d.version == version), True


def documents(conn: Connection, proposal_id: int, *, name: str | None = None) -> list[Document]:
    d = ReviewDocument
    stmt = select(*_DOC_COLUMNS).where(d.proposal_id == proposal_id).order_by(d.name, d.version)
    if name is not None:
        stmt = stmt.where(d.name == name)
    return [Document(*row) for row in conn.execute(stmt)]


def document_content(conn: Connection, proposal_id: int, name: str, version: int | None) -> tuple[Document, bytes]:
    """One version of a document (the latest when ``version`` is None) and its bytes."""
    found = documents(conn, proposal_id, name=name)
    if version is not None:
        found = [d for d in found if d.version == version]
    if not found:
        label = name if version is None else f"{name} v{version}"
        raise NotFoundError("document", label, hint=f"see `quotad review document list {proposal_id}`")
    doc = found[-1]
    content = conn.scalar(select(ReviewDocument.content).where(ReviewDocument.id == doc.id))
    return doc, bytes(content or b"")


def decide(conn: Connection, proposal_id: int, *, outcome: str, rationale: str, actor: str, now: int) -> Decision:
    """Record a decision (history is kept; the latest one counts). A rationale is required."""
    proposal = get_proposal(conn, proposal_id)
    call = get_call(conn, proposal.call_id)
    allowed = OUTCOMES[call.kind]
    if outcome not in allowed:
        raise UsageError(f"--outcome {outcome!r}: a {call.kind} call allows {', '.join(allowed)}")
    if not rationale.strip():
        raise UsageError("a decision needs a --rationale")
    before = latest_decisions(conn, call.id).get(proposal_id)
    did = conn.execute(
        insert(ReviewDecision)
        .values(proposal_id=proposal_id, outcome=outcome, rationale=rationale, decided_by=actor[:64], decided_at=now)
        .returning(ReviewDecision.id)
    ).scalar_one()
    audit.record(
        conn,
        actor=actor,
        action="decision.record",
        entity=f"proposal:{proposal_id}",
        now=now,
        before=None if before is None else {"outcome": before.outcome, "rationale": before.rationale},
        after={"outcome": outcome, "rationale": rationale},
    )
    return Decision(did, proposal_id, outcome, rationale, actor, now)


def latest_decisions(conn: Connection, call_id: str) -> dict[int, Decision]:
    d = ReviewDecision
    latest = (
        select(func.max(d.id))
        .join(ReviewProposal, ReviewProposal.id == d.proposal_id)
        .where(ReviewProposal.call_id == call_id)
        .group_by(d.proposal_id)
    )
    stmt = select(d).where(d.id.in_(latest))
    return {
        r.proposal_id: Decision(r.id, r.proposal_id, r.outcome, r.rationale, r.decided_by, r.decided_at)
        for r in conn.execute(stmt)
    }
