"""The challenges plugin's tables. Changed only by its migrations.

- ``challenges_entries``: one row per challenge the office heard of. ``key`` is the office's own stable
  reference (``2026-11-acme-interview-1``): a CSV import upserts by it, so importing the same sheet twice
  changes nothing. ``company_id`` is None for a programme-wide challenge; it is checked through the ledger view
  (no foreign key into the core). ``noted_on`` is an ISO date in the programme time zone: when the office
  heard of it, which is what the survey counts by month.
- ``challenges_changes``: the history, one row per changed field (before and after as text), with who and
  when; adding an entry records its creation. The survey report shows how a challenge was answered over time.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["ChallengeChange", "ChallengeEntry"]


class ChallengeEntry(Base):
    __tablename__ = "challenges_entries"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    company_id: Mapped[str | None] = mapped_column(String(64), index=True)
    noted_on: Mapped[str] = mapped_column(String(10), index=True)
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    source_kind: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16))
    response: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ChallengeChange(Base):
    __tablename__ = "challenges_changes"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("challenges_entries.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")
