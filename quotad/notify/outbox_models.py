"""The outbox table: one row per message the notifier sends.

Keyed by its Message-ID and by an idempotency key (directive notice n, digest of company/day, weekly summary of
a week); the full RFC 5322 text is stored when queued, so a retry sends the very same bytes. Owned by
``quotad.notify`` (``outbox`` queues and delivers); a row may point at the directive it tells about.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.directives.models import Directive
from quotad.ledger.models import Base, IdType

__all__ = ["OutboxMessage"]


class OutboxMessage(Base):
    """A message to send: queued -> sending -> sent (or rejected for good by the server)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    directive_id: Mapped[int | None] = mapped_column(ForeignKey(Directive.id, ondelete="SET NULL"), index=True)
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
