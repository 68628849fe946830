"""Providers, their contracts and reserved capacity: typed specs in, idempotent writes, typed rows out.

Every write is "create or replace" by a natural key (provider id; provider + contract reference; provider +
cluster + node type + start), like ``grant set``, so re-importing a corrected CSV updates rows instead of
duplicating them. Validation names the offending value and raises ``UsageError``/``NotFoundError`` (exit 2).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, insert, select, update

from quotad.errors import NotFoundError, UsageError
from quotad.ledger.models import Cluster
from quotad.pool.models import Provider, ProviderContract, ReservedCapacity
from quotad.pool.money import Money

__all__ = [
    "CONTRACT_KINDS",
    "PROVIDER_KINDS",
    "ContractInfo",
    "ContractKind",
    "ContractSpec",
    "ProviderInfo",
    "ProviderKind",
    "ProviderSpec",
    "ReservationInfo",
    "ReservationSpec",
    "list_providers",
    "list_reservations",
    "require_provider",
    "set_contract",
    "set_provider",
    "set_reservation",
]

ProviderKind = Literal["national_hpc", "cloud"]
ContractKind = Literal["contract", "memorandum"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = get_args(ProviderKind)
CONTRACT_KINDS: tuple[ContractKind, ...] = get_args(ContractKind)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ProviderSpec:
    id: str
    name_ja: str
    name_en: str
    kind: ProviderKind


@dataclass(frozen=True)
class ContractSpec:
    """A contract or memorandum; the period is [period_start, period_end) in epoch seconds."""

    provider_id: str
    reference: str
    kind: ContractKind
    period_start: int
    period_end: int
    contact: str = ""
    terms_note: str = ""


@dataclass(frozen=True)
class ReservationSpec:
    """``node_count`` nodes × ``gpus_per_node`` GPUs of ``gpu_type`` on ``cluster`` for [period_start, period_end)."""

    provider_id: str
    cluster: str
    node_type: str
    gpu_type: str
    gpus_per_node: int
    node_count: int
    period_start: int
    period_end: int
    price: Money | None = None  # per GPU-hour
    contract_reference: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ContractInfo:
    id: int
    provider_id: str
    reference: str
    kind: ContractKind
    period_start: int
    period_end: int
    contact: str
    terms_note: str


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    name_ja: str
    name_en: str
    kind: ProviderKind
    contracts: tuple[ContractInfo, ...]
    reservations: int


@dataclass(frozen=True)
class ReservationInfo:
    """One reserved block as stored; ``gpus`` and ``gpu_seconds`` are what the pool arithmetic uses."""

    id: int
    provider_id: str
    contract_reference: str | None
    cluster: str
    node_type: str
    gpu_type: str
    gpus_per_node: int
    node_count: int
    period_start: int
    period_end: int
    price: Money | None
    note: str

    @property
    def gpus(self) -> int:
        return self.node_count * self.gpus_per_node

    def overlap(self, start: int, end: int) -> int:
        """Seconds of [start, end) inside this block's period."""
        return max(0, min(end, self.period_end) - max(start, self.period_start))

    def gpu_seconds(self, start: int, end: int) -> int:
        return self.overlap(start, end) * self.gpus


def _check_period(start: int, end: int, what: str) -> None:
    if end <= start:
        raise UsageError(f"{what}: the last day must not be before the first")


def require_provider(conn: Connection, provider_id: str) -> None:
    if conn.scalar(select(Provider.id).where(Provider.id == provider_id)) is None:
        known = ", ".join(conn.scalars(select(Provider.id).order_by(Provider.id))) or "none yet"
        raise NotFoundError("provider", provider_id, hint=f"known: {known}")


def set_provider(conn: Connection, spec: ProviderSpec, *, now: int) -> bool:
    """Create or update a provider; returns True when it was created."""
    if not _SLUG.match(spec.id):
        raise UsageError(f"provider id {spec.id!r}: expected lower-case letters, digits, '-' or '_'")
    if not spec.name_ja.strip() or not spec.name_en.strip():
        raise UsageError(f"provider {spec.id!r}: both the Japanese and the English name are required")
    if spec.kind not in PROVIDER_KINDS:
        raise UsageError(f"provider kind {spec.kind!r}: expected one of {', '.join(PROVIDER_KINDS)}")
    values = {"name_ja": spec.name_ja.strip(), "name_en": spec.name_en.strip(), "kind": spec.kind}
    if conn.scalar(select(Provider.id).where(Provider.id == spec.id)) is None:
        conn.execute(insert(Provider).values(id=spec.id, created_at=now, **values))
        return True
    conn.execute(update(Provider).where(Provider.id == spec.id).values(**values))
    return False


def set_contract(conn: Connection, spec: ContractSpec) -> int:
    """Create or replace the contract keyed by (provider, reference); returns its id."""
    require_provider(conn, spec.provider_id)
    if not spec.reference.strip():
        raise UsageError("a contract needs a reference")
    if spec.kind not in CONTRACT_KINDS:
        raise UsageError(f"contract kind {spec.kind!r}: expected one of {', '.join(CONTRACT_KINDS)}")
    _check_period(spec.period_start, spec.period_end, f"contract {spec.reference!r}")
    values = {
        "kind": spec.kind,
        "period_start": spec.period_start,
        "period_end": spec.period_end,
        "contact": spec.contact,
        "terms_note": spec.terms_note,
    }
    key = (ProviderContract.provider_id == spec.provider_id, ProviderContract.reference == spec.reference.strip())
    found = conn.scalar(select(ProviderContract.id).where(*key))
    if found is not None:
        conn.execute(update(ProviderContract).where(ProviderContract.id == found).values(**values))
        return int(found)
    result = conn.execute(
        insert(ProviderContract).values(provider_id=spec.provider_id, reference=spec.reference.strip(), **values)
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _contract_id(conn: Connection, provider_id: str, reference: str | None) -> int | None:
    if reference is None:
        return None
    found = conn.scalar(
        select(ProviderContract.id).where(
            ProviderContract.provider_id == provider_id, ProviderContract.reference == reference
        )
    )
    if found is None:
        known = ", ".join(
            conn.scalars(select(ProviderContract.reference).where(ProviderContract.provider_id == provider_id))
        )
        raise NotFoundError("contract", reference, hint=f"of provider {provider_id}; known: {known or 'none yet'}")
    return int(found)


def set_reservation(conn: Connection, spec: ReservationSpec, *, known_gpu_types: Sequence[str]) -> int:
    """Create or replace the reserved block keyed by (provider, cluster, node type, start); returns its id."""
    require_provider(conn, spec.provider_id)
    if conn.scalar(select(Cluster.name).where(Cluster.name == spec.cluster)) is None:
        raise NotFoundError("cluster", spec.cluster, hint="configure it under [[clusters]]")
    if spec.gpu_type not in known_gpu_types:
        raise NotFoundError("GPU type", spec.gpu_type, hint=f"known: {', '.join(sorted(known_gpu_types))}")
    if not spec.node_type.strip():
        raise UsageError("a reservation needs a node type (e.g. the provider's name for the node model)")
    if spec.gpus_per_node <= 0 or spec.node_count <= 0:
        raise UsageError("GPUs per node and node count must be positive")
    _check_period(spec.period_start, spec.period_end, "reservation")
    values = {
        "contract_id": _contract_id(conn, spec.provider_id, spec.contract_reference),
        "gpu_type": spec.gpu_type,
        "gpus_per_node": spec.gpus_per_node,
        "node_count": spec.node_count,
        "period_end": spec.period_end,
        "price_minor": spec.price.minor if spec.price else None,
        "currency": spec.price.currency if spec.price else None,
        "note": spec.note,
    }
    key = (
        ReservedCapacity.provider_id == spec.provider_id,
        ReservedCapacity.cluster == spec.cluster,
        ReservedCapacity.node_type == spec.node_type.strip(),
        ReservedCapacity.period_start == spec.period_start,
    )
    found = conn.scalar(select(ReservedCapacity.id).where(*key))
    if found is not None:
        conn.execute(update(ReservedCapacity).where(ReservedCapacity.id == found).values(**values))
        return int(found)
    result = conn.execute(
        insert(ReservedCapacity).values(
            provider_id=spec.provider_id,
            cluster=spec.cluster,
            node_type=spec.node_type.strip(),
            period_start=spec.period_start,
            **values,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _contract(row: Any) -> ContractInfo:
    """``row``: a ``provider_contracts`` result row."""
    kind: ContractKind = "memorandum" if row.kind == "memorandum" else "contract"
    return ContractInfo(
        row.id, row.provider_id, row.reference, kind, row.period_start, row.period_end, row.contact, row.terms_note
    )


def list_providers(conn: Connection) -> list[ProviderInfo]:
    contracts: defaultdict[str, list[ContractInfo]] = defaultdict(list)
    for row in conn.execute(select(ProviderContract).order_by(ProviderContract.period_start, ProviderContract.id)):
        contracts[row.provider_id].append(_contract(row))
    counts: defaultdict[str, int] = defaultdict(int)
    for provider_id in conn.scalars(select(ReservedCapacity.provider_id)):
        counts[provider_id] += 1
    out = []
    for p in conn.execute(select(Provider).order_by(Provider.id)):
        kind: ProviderKind = "cloud" if p.kind == "cloud" else "national_hpc"
        out.append(ProviderInfo(p.id, p.name_ja, p.name_en, kind, tuple(contracts[p.id]), counts[p.id]))
    return out


def list_reservations(
    conn: Connection,
    *,
    provider_id: str | None = None,
    cluster: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[ReservationInfo]:
    """Reserved blocks, optionally of one provider or cluster, or overlapping [start, end)."""
    rc, pc = ReservedCapacity, ProviderContract
    stmt = select(rc, pc.reference).outerjoin(pc, pc.id == rc.contract_id)
    if provider_id is not None:
        stmt = stmt.where(rc.provider_id == provider_id)
    if cluster is not None:
        stmt = stmt.where(rc.cluster == cluster)
    if start is not None:
        stmt = stmt.where(rc.period_end > start)
    if end is not None:
        stmt = stmt.where(rc.period_start < end)
    stmt = stmt.order_by(rc.cluster, rc.period_start, rc.id)
    out = []
    for r in conn.execute(stmt):
        price = Money(r.currency, r.price_minor) if r.price_minor is not None and r.currency else None
        out.append(
            ReservationInfo(
                id=r.id,
                provider_id=r.provider_id,
                contract_reference=r.reference,
                cluster=r.cluster,
                node_type=r.node_type,
                gpu_type=r.gpu_type,
                gpus_per_node=r.gpus_per_node,
                node_count=r.node_count,
                period_start=r.period_start,
                period_end=r.period_end,
                price=price,
                note=r.note,
            )
        )
    return out
