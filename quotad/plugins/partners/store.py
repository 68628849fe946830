"""Reads and writes of the partners plugin's own tables; the only module that touches them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.introductions import IntroTables, move_intro, record_proposed
from quotad.plugins.partners.models import (
    PartnerIntroduction,
    PartnerIntroEvent,
    PartnerOrg,
    PartnerOutreach,
    PartnerRequest,
)
from quotad.plugins.partners.records import PartnerSpec, RequestSpec, join_list, split_list

__all__ = [
    "INTRO_TABLES",
    "IntroRow",
    "OutreachRow",
    "StoredRequest",
    "add_outreach",
    "add_partner",
    "add_request",
    "get_partner",
    "get_request",
    "list_intros",
    "list_outreach",
    "list_partners",
    "list_requests",
    "propose_intro",
    "set_intro_status",
    "update_partner",
]

INTRO_TABLES = IntroTables(PartnerIntroduction.__table__, PartnerIntroEvent.__table__)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredRequest:
    id: int
    spec: RequestSpec
    created_at: int


@dataclass(frozen=True)
class IntroRow:
    id: int
    request_id: int
    company_id: str
    partner_id: str
    status: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class OutreachRow:
    event_id: str
    partner_id: str
    partner_name: str
    country: str
    note: str


def _partner(row: Any) -> PartnerSpec:
    return PartnerSpec(
        id=row.id,
        name=row.name,
        name_ja=row.name_ja,
        country=row.country,
        kind=row.kind,
        offers=split_list(row.offers),
        contacts=split_list(row.contacts),
        nda=row.nda,
        nda_on=row.nda_on,
        mou=row.mou,
        mou_on=row.mou_on,
        note=row.note,
    )


def _partner_columns(spec: PartnerSpec) -> dict[str, Any]:
    return {**spec.__dict__, "offers": join_list(spec.offers), "contacts": join_list(spec.contacts)}


def add_partner(conn: Connection, spec: PartnerSpec, *, now: int) -> None:
    if conn.execute(select(PartnerOrg.id).where(PartnerOrg.id == spec.id)).first() is not None:
        raise UsageError(f"partner {spec.id!r} already exists: change it with `quotad partners partner update`")
    conn.execute(insert(PartnerOrg).values(**_partner_columns(spec), created_at=now, updated_at=now))


def update_partner(conn: Connection, spec: PartnerSpec, *, now: int) -> None:
    values = _partner_columns(spec)
    conn.execute(update(PartnerOrg).where(PartnerOrg.id == spec.id).values(**values, updated_at=now))


def get_partner(conn: Connection, partner_id: str) -> PartnerSpec:
    row = conn.execute(select(PartnerOrg).where(PartnerOrg.id == partner_id)).one_or_none()
    if row is None:
        raise NotFoundError("partner", partner_id, hint="see `quotad partners partner list`")
    return _partner(row)


def list_partners(conn: Connection) -> list[PartnerSpec]:
    return [_partner(r) for r in conn.execute(select(PartnerOrg).order_by(PartnerOrg.id))]


def _request(row: Any) -> StoredRequest:
    spec = RequestSpec(row.company_id, split_list(row.seeks), split_list(row.countries), row.description, row.needed_by)
    return StoredRequest(row.id, spec, row.created_at)


def add_request(conn: Connection, spec: RequestSpec, *, now: int) -> StoredRequest:
    values = {**spec.__dict__, "seeks": join_list(spec.seeks), "countries": join_list(spec.countries)}
    new_id = conn.execute(insert(PartnerRequest).values(**values, created_at=now).returning(PartnerRequest.id))
    return StoredRequest(int(new_id.scalar_one()), spec, now)


def get_request(conn: Connection, request_id: int) -> StoredRequest:
    row = conn.execute(select(PartnerRequest).where(PartnerRequest.id == request_id)).one_or_none()
    if row is None:
        raise NotFoundError("partner request", str(request_id), hint="see `quotad partners request list`")
    return _request(row)


def list_requests(conn: Connection, *, company_id: str | None = None) -> list[StoredRequest]:
    stmt = select(PartnerRequest).order_by(PartnerRequest.id)
    if company_id is not None:
        stmt = stmt.where(PartnerRequest.company_id == company_id)
    return [_request(r) for r in conn.execute(stmt)]


def _intro_query() -> Any:
    i = PartnerIntroduction
    return select(
        i.id, i.request_id, PartnerRequest.company_id, i.partner_id, i.status, i.created_at, i.updated_at
    ).join(PartnerRequest, PartnerRequest.id == i.request_id)


def _get_intro(conn: Connection, intro_id: int) -> IntroRow:
    row = conn.execute(_intro_query().where(PartnerIntroduction.id == intro_id)).first()
    if row is None:
        raise NotFoundError("partner introduction", str(intro_id), hint="see `quotad partners intro list`")
    return IntroRow(*row)


def propose_intro(conn: Connection, request_id: int, partner_id: str, *, actor: str, note: str, now: int) -> IntroRow:
    """A new introduction in status ``proposed``; a pairing already on record is refused with its status."""
    get_request(conn, request_id)
    get_partner(conn, partner_id)
    i = PartnerIntroduction
    existing = conn.execute(
        select(i.id, i.status).where(i.request_id == request_id, i.partner_id == partner_id)
    ).first()
    if existing is not None:
        raise UsageError(
            f"request {request_id} and partner {partner_id!r} are already introduction {existing[0]} ({existing[1]})"
        )
    values = {"request_id": request_id, "partner_id": partner_id, "status": "proposed"}
    intro_id = conn.execute(insert(i).values(**values, created_at=now, updated_at=now).returning(i.id)).scalar_one()
    record_proposed(conn, INTRO_TABLES, intro_id, actor=actor, note=note, now=now)
    return _get_intro(conn, intro_id)


def set_intro_status(conn: Connection, intro_id: int, status: str, *, actor: str, note: str, now: int) -> IntroRow:
    intro = _get_intro(conn, intro_id)
    move_intro(conn, INTRO_TABLES, intro_id, intro.status, status, actor=actor, note=note, now=now)
    return _get_intro(conn, intro_id)


def list_intros(
    conn: Connection, *, company_id: str | None = None, status: str | None = None, request_id: int | None = None
) -> list[IntroRow]:
    query = _intro_query().order_by(PartnerIntroduction.id)
    if company_id is not None:
        query = query.where(PartnerRequest.company_id == company_id)
    if status is not None:
        query = query.where(PartnerIntroduction.status == status)
    if request_id is not None:
        query = query.where(PartnerIntroduction.request_id == request_id)
    return [IntroRow(*r) for r in conn.execute(query)]


def add_outreach(conn: Connection, event_id: str, partner_id: str, *, note: str, now: int) -> None:
    get_partner(conn, partner_id)
    o = PartnerOutreach
    if conn.execute(select(o.id).where(o.event_id == event_id, o.partner_id == partner_id)).first() is not None:
        raise UsageError(f"partner {partner_id!r} is already invited to event {event_id!r}")
    conn.execute(insert(o).values(event_id=event_id, partner_id=partner_id, note=note, created_at=now))


def list_outreach(conn: Connection, *, event_id: str | None = None) -> list[OutreachRow]:
    o, p = PartnerOutreach, PartnerOrg
    stmt = select(o.event_id, o.partner_id, p.name, p.country, o.note).join(p, p.id == o.partner_id)
    if event_id is not None:
        stmt = stmt.where(o.event_id == event_id)
    return [OutreachRow(*r) for r in conn.execute(stmt.order_by(o.event_id, o.partner_id))]
