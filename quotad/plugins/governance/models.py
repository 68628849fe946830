"""The governance plugin's tables. Changed only by its migrations.

- ``governance_checklists``: one row per checklist version loaded (from a shipped file or ``checklist
  load``), with the file's sha256 so a different file under the same version is recognised and refused.
- ``governance_items``: the items of each version, keyed (version, key).
- ``governance_assessments``: every answer a company ever gave, append-only in substance: a changed answer is
  a new row and the previous one gets ``superseded_at``; the current answer is the one not superseded (a
  partial unique index keeps it to one per company, version and item). The office's sign-off is written on
  the answer it signs, so a new answer starts unsigned and the history shows what each sign-off covered.

``company_id`` is checked through the core's query API; there is deliberately no foreign key into the core.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["GovernanceAssessment", "GovernanceChecklist", "GovernanceItem"]


class GovernanceChecklist(Base):
    __tablename__ = "governance_checklists"
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    title_ja: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    guideline_ja: Mapped[str] = mapped_column(Text)
    guideline_en: Mapped[str] = mapped_column(Text)
    guideline_version: Mapped[str] = mapped_column(String(32))
    guideline_published: Mapped[str] = mapped_column(String(10), default="")
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[int] = mapped_column(BigInteger)


class GovernanceItem(Base):
    __tablename__ = "governance_items"
    __table_args__ = (ForeignKeyConstraint(["version"], ["governance_checklists.version"], ondelete="CASCADE"),)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    section: Mapped[str] = mapped_column(String(32))
    text_ja: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)


_CURRENT = text("superseded_at IS NULL")


class GovernanceAssessment(Base):
    __tablename__ = "governance_assessments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["version", "item_key"], ["governance_items.version", "governance_items.key"], ondelete="CASCADE"
        ),
        Index(
            "uq_governance_assessments_current",
            "company_id",
            "version",
            "item_key",
            unique=True,
            sqlite_where=_CURRENT,
            postgresql_where=_CURRENT,
        ),
        Index("ix_governance_assessments_version_item_key", "version", "item_key"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    item_key: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(String(16))
    evidence_url: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[int] = mapped_column(BigInteger)
    #: The version this answer was copied from by ``governance carry`` (None: answered for this version).
    carried_from: Mapped[str | None] = mapped_column(String(32))
    signed_off_by: Mapped[str | None] = mapped_column(String(200))
    signed_off_at: Mapped[int | None] = mapped_column(BigInteger)
    superseded_at: Mapped[int | None] = mapped_column(BigInteger)
