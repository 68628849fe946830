"""Tables of the directive engine and the notifier, plus the daily usage rollup the policies read.

Why each exists:
- ``directives``: one row per (policy, subject) while its condition lasts, with its lifecycle state and the
  "last notified" facts (when, at which level and severity, how many unchanged notices) that cooldown and
  escalation need. Keeping them here, in the ledger, is what lets the daemon restart without re-sending.
  A partial unique index allows one *active* directive per (policy, subject); a condition that comes back
  after resolution opens a new row, so history is kept.
- ``directive_events``: the audit trail (opened, changed, notified, escalated, acknowledged, resolved ...).
- ``directive_actions``: every enforcement command run (hold, cancel, sync-limits), with its reason.
- ``outbox``: one row per message, keyed by its Message-ID and by an idempotency key (directive notice n,
  digest of company/day, weekly summary of a week); the full RFC 5322 text is stored when queued, so a retry
  sends the very same bytes.
- ``usage_daily``: GPU-seconds per (cluster, account, GPU type, UTC day), kept equal to the sum of
  ``usage_hourly`` by database triggers (migration 0004directives). Policies ask for usage since a grant
  started — up to six months of hourly rows, hundreds of thousands — on every tick; full days come from here
  and only the partial days at either end from the hourly table, which keeps a tick within its time budget
  while staying exact to the second. It belongs with the ledger rollups and can move to
  ``quotad.ledger.models`` without a schema change.
- ``ix_jobs_end_time``: an index on ``jobs.end_time`` for "jobs that finished in the last day"
  (``low_efficiency``, ``out_of_programme``), which would otherwise scan every historical job per tick.
- ``ix_gpu_usage_hourly_job_hour``: (cluster, job_id, hour) plus the two sums ``low_efficiency`` reads, so
  a finished job's utilisation is summed from the index alone (half the time of the table rows on SQLite).
  Both indexes are on other modules' tables; they are declared here so they exist with these tables.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType, Job
from quotad.ledger.telemetry_models import GpuUsageHourly

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "Directive",
    "DirectiveAction",
    "DirectiveEvent",
    "OutboxMessage",
    "UsageDaily",
]

#: Lifecycle: open -> notified -> acknowledged -> resolved (condition gone) | expired (moot or not judged).
STATES = ("open", "notified", "acknowledged", "resolved", "expired")
ACTIVE_STATES = ("open", "notified", "acknowledged")
_ACTIVE = text("state IN ('open', 'notified', 'acknowledged')")

Index("ix_jobs_end_time", cast(Table, Job.__table__).c.end_time)
_GPU = cast(Table, GpuUsageHourly.__table__).c
Index(
    "ix_gpu_usage_hourly_job_hour", _GPU.cluster, _GPU.job_id, _GPU.hour, _GPU.observed_seconds, _GPU.util_pct_seconds
)


class UsageDaily(Base):
    """GPU-seconds per (cluster, account, GPU type, UTC day start); maintained by triggers on usage_hourly."""

    __tablename__ = "usage_daily"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_usage_daily_day", "day"),)


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


class OutboxMessage(Base):
    """A message to send: queued -> sending -> sent (or rejected for good by the server)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    directive_id: Mapped[int | None] = mapped_column(ForeignKey("directives.id", ondelete="SET NULL"), index=True)
    company_id: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(254))
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[int | None] = mapped_column(BigInteger)
