"""The review plugin's tables. Changed only by its migrations (``migrations/p_review_0001_review.py``).

- ``review_calls`` is one call for proposals (selection) or one end-of-term evaluation, with the
  attestation text every reviewer must give (versioned: a new text needs a new attestation) and a default
  per-reviewer load cap; ``review_criteria`` is its rubric.
- ``review_proposals`` is one company's proposal in a call, ``review_requests`` its requested compute in the
  ledger's integer units (GPU-seconds of a type, or TFLOP when ``unit`` is "*"), ``review_documents`` its
  files byte for byte under their sha256, one row per version of a name.
- ``review_reviewers``, ``review_conflicts`` (declared by the reviewer or pinned by the office; automatic
  conflicts are derived at query time from company and affiliation, so they can never go stale),
  ``review_attestations``, ``review_caps`` (per-call override of the load cap) and ``review_assignments``.
- ``review_scores`` (per assignment and criterion), ``review_decisions`` (history; the latest counts) and
  ``review_audit`` (who changed what, with before/after JSON; refused access attempts too).

``company_id`` is checked through the core's query API; there is deliberately no foreign key into core tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = [
    "ReviewAssignment",
    "ReviewAttestation",
    "ReviewAudit",
    "ReviewCall",
    "ReviewCap",
    "ReviewConflict",
    "ReviewCriterion",
    "ReviewDecision",
    "ReviewDocument",
    "ReviewProposal",
    "ReviewRequest",
    "ReviewReviewer",
    "ReviewScore",
]


class ReviewCall(Base):
    __tablename__ = "review_calls"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title_ja: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    opens_at: Mapped[int | None] = mapped_column(BigInteger)
    closes_at: Mapped[int | None] = mapped_column(BigInteger)
    period_start: Mapped[int | None] = mapped_column(BigInteger)
    period_end: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attestation_ja: Mapped[str] = mapped_column(Text)
    attestation_en: Mapped[str] = mapped_column(Text)
    attestation_version: Mapped[int] = mapped_column(Integer)
    load_cap: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ReviewCriterion(Base):
    __tablename__ = "review_criteria"
    __table_args__ = (UniqueConstraint("call_id", "key"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("review_calls.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    title_ja: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    weight: Mapped[float] = mapped_column(Float)
    scale_min: Mapped[int] = mapped_column(Integer)
    scale_max: Mapped[int] = mapped_column(Integer)
    comment_required: Mapped[bool] = mapped_column(Boolean)
    position: Mapped[int] = mapped_column(Integer)


class ReviewProposal(Base):
    __tablename__ = "review_proposals"
    __table_args__ = (UniqueConstraint("call_id", "company_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("review_calls.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    plan: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[int] = mapped_column(BigInteger)


class ReviewRequest(Base):
    __tablename__ = "review_requests"
    __table_args__ = (UniqueConstraint("proposal_id", "cluster", "unit"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("review_proposals.id", ondelete="CASCADE"), index=True)
    cluster: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)


class ReviewDocument(Base):
    __tablename__ = "review_documents"
    __table_args__ = (UniqueConstraint("proposal_id", "name", "version"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("review_proposals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[str] = mapped_column(String(64))


class ReviewReviewer(Base):
    __tablename__ = "review_reviewers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    affiliation: Mapped[str] = mapped_column(String(300))
    company_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ReviewConflict(Base):
    __tablename__ = "review_conflicts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("review_reviewers.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str | None] = mapped_column(String(64))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("review_proposals.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ReviewAttestation(Base):
    __tablename__ = "review_attestations"
    __table_args__ = (UniqueConstraint("reviewer_id", "call_id", "version"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("review_reviewers.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("review_calls.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    attested_at: Mapped[int] = mapped_column(BigInteger)


class ReviewCap(Base):
    __tablename__ = "review_caps"
    call_id: Mapped[str] = mapped_column(ForeignKey("review_calls.id", ondelete="CASCADE"), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("review_reviewers.id", ondelete="CASCADE"), primary_key=True)
    cap: Mapped[int] = mapped_column(Integer)


class ReviewAssignment(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("reviewer_id", "proposal_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("review_calls.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("review_reviewers.id", ondelete="CASCADE"))
    proposal_id: Mapped[int] = mapped_column(ForeignKey("review_proposals.id", ondelete="CASCADE"), index=True)
    assigned_at: Mapped[int] = mapped_column(BigInteger)
    assigned_by: Mapped[str] = mapped_column(String(64))


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (UniqueConstraint("assignment_id", "criterion_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("review_assignments.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("review_criteria.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    scored_at: Mapped[int] = mapped_column(BigInteger)


class ReviewDecision(Base):
    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("review_proposals.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[int] = mapped_column(BigInteger)


class ReviewAudit(Base):
    __tablename__ = "review_audit"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(128), index=True)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
