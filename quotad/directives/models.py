"""Tables of the directive engine.

Why each exists:
- ``directives``: one row per (policy, subject) while its condition lasts, with its lifecycle state and the
  "last notified" facts (when, at which level and severity, how many unchanged notices) that cooldown and
  escalation need. Keeping them here, in the ledger, is what lets the daemon restart without re-sending.
  A partial unique index allows one *active* directive per (policy, subject); a condition that comes back
  after resolution opens a new row, so history is kept.
- ``directive_events``: the audit trail (opened, changed, notified, escalated, acknowledged, resolved ...).
- ``directive_actions``: every enforcement command run (hold, cancel, sync-limits), with its reason.

The outbox the notifier sends from is ``quotad.notify.outbox_models``; the daily usage rollup the policies read
is ``quotad.ledger.models.UsageDaily``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "Directive",
    "DirectiveAction",
    "DirectiveEvent",
]

#: Lifecycle: open -> notified -> acknowledged -> resolved (condition gone) | expired (moot or not judged).
STATES = ("open", "notified", "acknowledged", "resolved", "expired")
ACTIVE_STATES = ("open", "notified", "acknowledged")
_ACTIVE = text("state IN ('open', 'notified', 'acknowledged')")


class Directive(Base):
    """A finding that persists across ticks, and what the company has been told about it."""

    __tablename__ = "directives"
    __table_args__ = (
        Index(
            "ux_directives_active_subject",
            "policy",
            "subject_key",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index("ix_directives_state", "state"),
        Index("ix_directives_company_id", "company_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    policy: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    cluster: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(255))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    grant_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    #: What the policy said; ``severity`` is that raised by ``escalation`` steps.
    base_severity: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    #: The latest finding's threshold, figures and jobs (JSON, see ``quotad.directives.codec``).
    finding: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean)
    enforceable: Mapped[bool] = mapped_column(Boolean)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[int] = mapped_column(BigInteger)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_notices: Mapped[int] = mapped_column(Integer, default=0)
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    last_notified_at: Mapped[int | None] = mapped_column(BigInteger)
    notified_level: Mapped[str | None] = mapped_column(String(64))
    notified_severity: Mapped[int | None] = mapped_column(Integer)
    acknowledged_at: Mapped[int | None] = mapped_column(BigInteger)
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    close_reason: Mapped[str] = mapped_column(Text, default="")


class DirectiveEvent(Base):
    """One step in a directive's life, with who or what caused it."""

    __tablename__ = "directive_events"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directives.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(200), default="quotad")
    detail: Mapped[str] = mapped_column(Text, default="")


class DirectiveAction(Base):
    """An enforcement command run for a directive: the exact command line, why, and how it ended."""

    __tablename__ = "directive_actions"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directives.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(24))
    target: Mapped[str] = mapped_column(String(128))
    command: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
