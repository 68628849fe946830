"""The data plugin's tables: holders, their datasets, companies' needs, introductions and their history.

- ``data_holders`` / ``data_datasets`` are keyed by slug so an import is an upsert: the same file twice changes
  nothing. Lists (domains, languages) are stored normalised (sorted, lower case, comma-joined), which keeps the
  schema portable between SQLite and PostgreSQL; ``records`` is the one place that splits and joins them.
- ``price_minor`` is None when the price is "on request", 0 when the dataset is free, otherwise an amount in the
  currency's minor units (yen for JPY) with ``price_currency``.
- ``data_needs`` refers to a company by id, checked through the ledger view: no foreign key into core tables.
- ``data_introductions`` has one row per (need, dataset) with its current status; ``data_intro_events`` keeps
  every status change with who made it, when and why, so the history can never be rewritten by a later change.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["DataDataset", "DataHolder", "DataIntroEvent", "DataIntroduction", "DataNeed"]


class DataHolder(Base):
    __tablename__ = "data_holders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_ja: Mapped[str] = mapped_column(Text, default="")
    name_en: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class DataDataset(Base):
    __tablename__ = "data_datasets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("data_holders.id"), index=True)
    title_ja: Mapped[str] = mapped_column(Text, default="")
    title_en: Mapped[str] = mapped_column(Text, default="")
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    publisher: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    domains: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(String(16))
    size_tokens: Mapped[int | None] = mapped_column(BigInteger)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    licence_spdx: Mapped[str | None] = mapped_column(String(100))
    licence_name: Mapped[str] = mapped_column(Text, default="")
    allow_training: Mapped[bool] = mapped_column(Boolean)
    allow_commercial: Mapped[bool] = mapped_column(Boolean)
    allow_derivatives: Mapped[bool] = mapped_column(Boolean)
    access_mode: Mapped[str] = mapped_column(String(16))
    pii_status: Mapped[str] = mapped_column(String(16))
    copyright_status: Mapped[str] = mapped_column(String(16))
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    price_currency: Mapped[str] = mapped_column(String(3), default="")
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class DataNeed(Base):
    __tablename__ = "data_needs"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    domains: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[str] = mapped_column(Text, default="")
    modalities: Mapped[str] = mapped_column(Text, default="")
    min_tokens: Mapped[int | None] = mapped_column(BigInteger)
    require_training: Mapped[bool] = mapped_column(Boolean)
    require_commercial: Mapped[bool] = mapped_column(Boolean)
    require_derivatives: Mapped[bool] = mapped_column(Boolean)
    access_modes: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class DataIntroduction(Base):
    __tablename__ = "data_introductions"
    __table_args__ = (UniqueConstraint("need_id", "dataset_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("data_needs.id"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("data_datasets.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class DataIntroEvent(Base):
    __tablename__ = "data_intro_events"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    intro_id: Mapped[int] = mapped_column(ForeignKey("data_introductions.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
