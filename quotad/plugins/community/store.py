"""Reads and writes of the community tables: events, the registration queue and materials.

The queue rule, in one place: while fewer than ``capacity`` registrations are ``registered`` a newcomer is
registered, otherwise waitlisted; cancelling a ``registered`` place promotes the first waitlisted one (oldest
``registered_at``, then id). The event row is locked (``FOR UPDATE`` on PostgreSQL; SQLite serialises writers
anyway) before the count, so two registrations at once cannot both take the last place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import Bilingual, LedgerView
from quotad.plugins.community.events import EventSpec, check_email, check_slug, check_url
from quotad.plugins.community.models import CommunityEvent, CommunityMaterial, CommunityRegistration

__all__ = [
    "Event",
    "Material",
    "Registration",
    "RegistrationStatus",
    "add_event",
    "add_material",
    "cancel_event",
    "event_exists",
    "get_event",
    "list_events",
    "list_materials",
    "list_registrations",
    "register",
    "registration_counts",
    "unregister",
]

RegistrationStatus = Literal["registered", "waitlisted", "cancelled"]


@dataclass(frozen=True)
class Event:
    id: str
    title: Bilingual
    description: Bilingual
    starts_at: int
    ends_at: int
    place: Bilingual
    online_url: str
    info_url: str
    capacity: int | None
    public: bool
    status: str
    created_at: int
    cancelled_at: int | None

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass(frozen=True)
class Registration:
    id: int
    event_id: str
    name: str
    email: str
    company_id: str | None
    registered_at: int
    status: str
    #: 1-based place in the waitlist, for a waitlisted registration.
    waitlist_position: int | None = None


@dataclass(frozen=True)
class Material:
    id: int
    event_id: str
    title: str
    url: str
    file_name: str
    size: int | None
    sha256: str
    added_at: int


def _event(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        title=Bilingual(row.title_ja, row.title_en),
        description=Bilingual(row.description_ja, row.description_en),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        place=Bilingual(row.place_ja, row.place_en),
        online_url=row.online_url,
        info_url=row.info_url,
        capacity=row.capacity,
        public=row.public,
        status=row.status,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
    )


def add_event(conn: Connection, spec: EventSpec, *, now: int) -> Event:
    spec.validate()
    if conn.scalar(select(func.count()).select_from(CommunityEvent).where(CommunityEvent.id == spec.id)):
        raise UsageError(f"event {spec.id!r} already exists (choose another id)")
    conn.execute(
        insert(CommunityEvent).values(
            id=spec.id,
            title_ja=spec.title.ja,
            title_en=spec.title.en,
            description_ja=spec.description.ja,
            description_en=spec.description.en,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            place_ja=spec.place.ja,
            place_en=spec.place.en,
            online_url=spec.online_url,
            info_url=spec.info_url,
            capacity=spec.capacity,
            public=spec.public,
            status="scheduled",
            created_at=now,
            cancelled_at=None,
        )
    )
    return get_event(conn, spec.id)


def event_exists(conn: Connection, event_id: str) -> bool:
    """The ``"event"`` reference check other plugins link through (``api.ReferenceCheck``)."""
    return conn.execute(select(CommunityEvent.id).where(CommunityEvent.id == event_id)).first() is not None


def get_event(conn: Connection, event_id: str, *, lock: bool = False) -> Event:
    """The event, or ``NotFoundError``; ``lock`` holds its row until the transaction ends (queue changes)."""
    stmt = select(CommunityEvent).where(CommunityEvent.id == event_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        known = list(conn.scalars(select(CommunityEvent.id).order_by(CommunityEvent.starts_at.desc()).limit(10)))
        hint = f"known: {', '.join(known)}" if known else "no events yet; see `quotad community event add`"
        raise NotFoundError("event", event_id, hint=hint)
    return _event(row)


def list_events(conn: Connection, *, since: int | None = None, public_only: bool = False) -> list[Event]:
    """Events by start time; ``since``: only those not yet ended at that time."""
    stmt = select(CommunityEvent).order_by(CommunityEvent.starts_at, CommunityEvent.id)
    if since is not None:
        stmt = stmt.where(CommunityEvent.ends_at > since)
    if public_only:
        stmt = stmt.where(CommunityEvent.public.is_(True), CommunityEvent.status == "scheduled")
    return [_event(row) for row in conn.execute(stmt)]


def cancel_event(conn: Connection, event_id: str, *, now: int) -> Event:
    """Mark the event cancelled; registrations are kept (the office may need to tell the registrants)."""
    event = get_event(conn, event_id, lock=True)
    if event.cancelled:
        raise UsageError(f"event {event_id!r} is already cancelled")
    conn.execute(
        update(CommunityEvent).where(CommunityEvent.id == event_id).values(status="cancelled", cancelled_at=now)
    )
    return get_event(conn, event_id)


def _registered_count(conn: Connection, event_id: str) -> int:
    r = CommunityRegistration
    stmt = select(func.count()).select_from(r).where(r.event_id == event_id, r.status == "registered")
    return int(conn.scalar(stmt) or 0)


def list_registrations(conn: Connection, event_id: str, *, include_cancelled: bool = True) -> list[Registration]:
    """In queue order (registered_at, id); waitlisted ones carry their place in the waitlist."""
    r = CommunityRegistration
    stmt = select(r).where(r.event_id == event_id).order_by(r.registered_at, r.id)
    out: list[Registration] = []
    waiting = 0
    for row in conn.execute(stmt):
        position = None
        if row.status == "waitlisted":
            waiting += 1
            position = waiting
        if row.status == "cancelled" and not include_cancelled:
            continue
        out.append(
            Registration(
                row.id, row.event_id, row.name, row.email, row.company_id, row.registered_at, row.status, position
            )
        )
    return out


def registration_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Per event id: how many registrations are in each status."""
    r = CommunityRegistration
    counts: dict[str, dict[str, int]] = {}
    for event_id, status, n in conn.execute(select(r.event_id, r.status, func.count()).group_by(r.event_id, r.status)):
        counts.setdefault(event_id, {})[status] = int(n)
    return counts


def _find(conn: Connection, event_id: str, email: str) -> Registration | None:
    return next((x for x in list_registrations(conn, event_id) if x.email == email), None)


def register(
    conn: Connection,
    view: LedgerView,
    event_id: str,
    *,
    name: str,
    email: str,
    company_id: str | None,
    now: int,
) -> Registration:
    """Register someone, or waitlist them when the event is full; a second registration is refused."""
    address = check_email(email)
    if not name.strip():
        raise UsageError("--name must not be empty")
    if company_id is not None:
        view.company(company_id)
    event = get_event(conn, event_id, lock=True)
    if event.cancelled:
        raise UsageError(f"event {event_id!r} is cancelled; no registrations are taken")
    if now >= event.ends_at:
        raise UsageError(f"event {event_id!r} is over; no registrations are taken")
    full = event.capacity is not None and _registered_count(conn, event_id) >= event.capacity
    status: RegistrationStatus = "waitlisted" if full else "registered"
    existing = _find(conn, event_id, address)
    values = {"name": name.strip(), "company_id": company_id, "registered_at": now, "status": status, "updated_at": now}
    if existing is not None:
        if existing.status != "cancelled":
            raise UsageError(f"{address} is already {existing.status} for event {event_id!r}")
        # Back in the queue as a newcomer: an earlier cancelled registration keeps no place.
        conn.execute(update(CommunityRegistration).where(CommunityRegistration.id == existing.id).values(**values))
    else:
        try:
            with conn.begin_nested():
                conn.execute(insert(CommunityRegistration).values(event_id=event_id, email=address, **values))
        except IntegrityError:  # registered by someone else in the meantime
            raise UsageError(f"{address} is already registered for event {event_id!r}") from None
    found = _find(conn, event_id, address)
    assert found is not None
    return found


def unregister(conn: Connection, event_id: str, *, email: str, now: int) -> tuple[Registration, Registration | None]:
    """Cancel one registration; the place it frees goes to the first waitlisted, who is returned too."""
    address = check_email(email)
    event = get_event(conn, event_id, lock=True)
    existing = _find(conn, event_id, address)
    if existing is None or existing.status == "cancelled":
        raise NotFoundError("registration", f"{address} for event {event_id}")
    r = CommunityRegistration
    conn.execute(update(r).where(r.id == existing.id).values(status="cancelled", updated_at=now))
    promoted: Registration | None = None
    room = event.capacity is None or _registered_count(conn, event_id) < event.capacity
    if existing.status == "registered" and not event.cancelled and room:
        first = next((x for x in list_registrations(conn, event_id) if x.status == "waitlisted"), None)
        if first is not None:
            conn.execute(update(r).where(r.id == first.id).values(status="registered", updated_at=now))
            promoted = _find(conn, event_id, first.email)
    cancelled = _find(conn, event_id, address)
    assert cancelled is not None
    return cancelled, promoted


def add_material(
    conn: Connection, event_id: str, *, title: str, url: str | None, file: Path | None, now: int
) -> Material:
    """Record one material: a URL, or a local file by name, size and sha256 (exactly one of the two)."""
    check_slug(event_id)
    get_event(conn, event_id)
    if not title.strip():
        raise UsageError("--title must not be empty")
    if (url is None) == (file is None):
        raise UsageError("give exactly one of --url or --file")
    name, size, digest = "", None, ""
    if url is not None:
        check_url("--url", url)
    else:
        assert file is not None
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"--file {file}: cannot read it ({exc.strerror or exc})") from None
        name, size, digest = file.name, len(content), hashlib.sha256(content).hexdigest()
    stmt = insert(CommunityMaterial).values(
        event_id=event_id, title=title.strip(), url=url or "", file_name=name, size=size, sha256=digest, added_at=now
    )
    material_id = int(conn.execute(stmt.returning(CommunityMaterial.id)).scalar_one())
    return next(m for m in list_materials(conn, event_id) if m.id == material_id)


def list_materials(conn: Connection, event_id: str) -> list[Material]:
    m = CommunityMaterial
    stmt = select(m).where(m.event_id == event_id).order_by(m.added_at, m.id)
    return [
        Material(row.id, row.event_id, row.title, row.url, row.file_name, row.size, row.sha256, row.added_at)
        for row in conn.execute(stmt)
    ]
