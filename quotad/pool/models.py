"""Ledger tables of the pool: providers, contracts, reserved capacity and maintenance windows.

Conventions follow ``quotad.ledger.models``: epoch seconds (UTC) and integers only; money is integer minor units
of an ISO 4217 currency (yen, cents) per GPU-hour. Empty strings rather than NULLs in unique keys
(``maintenance_windows.node_type`` = "" means every node type), so uniqueness holds on SQLite and PostgreSQL
alike.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = [
    "MaintenanceWindow",
    "Provider",
    "ProviderContract",
    "ReservedCapacity",
]


class Provider(Base):
    """A supplier of GPUs: a national HPC centre or a cloud."""

    __tablename__ = "providers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: "national_hpc" or "cloud"
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ProviderContract(Base):
    """A contract or memorandum with a provider: what reserved capacity is bought under."""

    __tablename__ = "provider_contracts"
    __table_args__ = (UniqueConstraint("provider_id", "reference"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(128))
    #: "contract" or "memorandum"
    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    contact: Mapped[str] = mapped_column(String(254), default="")
    terms_note: Mapped[str] = mapped_column(Text, default="")


class ReservedCapacity(Base):
    """A block of reserved nodes: ``node_count`` × ``gpus_per_node`` GPUs of one type on one cluster, for a period.

    ``price_minor`` is per GPU-hour in minor units of ``currency`` (both NULL when unpriced).
    """

    __tablename__ = "reserved_capacity"
    __table_args__ = (UniqueConstraint("provider_id", "cluster", "node_type", "period_start"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("provider_contracts.id", ondelete="SET NULL"))
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"))
    node_type: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(32))
    gpus_per_node: Mapped[int] = mapped_column(Integer)
    node_count: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(Text, default="")


class MaintenanceWindow(Base):
    """Provider maintenance on a cluster: [start_time, end_time), on ``node_count`` nodes (NULL: all of them).

    ``source`` is manual, csv or slurm; ``reference`` is the Slurm reservation name or an operator's reference.
    A key includes the start, so a recurring Slurm reservation keeps one row per occurrence.
    """

    __tablename__ = "maintenance_windows"
    __table_args__ = (
        UniqueConstraint(
            "cluster", "source", "reference", "node_type", "start_time", name="uq_maintenance_windows_key"
        ),
        Index("ix_maintenance_windows_cluster_start_time", "cluster", "start_time"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128), default="")
    node_type: Mapped[str] = mapped_column(String(64), default="")
    node_count: Mapped[int | None] = mapped_column(Integer)
    nodes: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
