"""Community output as ``quotad.render`` tables (table, csv, md, json). Times in the programme time zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from quotad.plugins.community.events import format_local
from quotad.plugins.community.store import Event, Material, Registration
from quotad.render import Cell, Table

__all__ = ["attendees_table", "event_detail_table", "events_table", "materials_table"]


def _place(event: Event) -> str:
    parts = [event.place.en] if event.place.en else []
    if event.online_url:
        parts.append(f"online ({event.online_url})")
    return "; ".join(parts)


def events_table(events: Sequence[Event], counts: Mapping[str, Mapping[str, int]], tz: str) -> Table:
    rows: list[Sequence[Cell]] = []
    for e in events:
        c = counts.get(e.id, {})
        rows.append(
            [
                e.id,
                format_local(e.starts_at, tz),
                e.title.en,
                e.title.ja,
                _place(e),
                e.capacity,
                c.get("registered", 0),
                c.get("waitlisted", 0),
                "yes" if e.public else "no",
                e.status,
            ]
        )
    return Table(
        [
            "Event",
            "Starts",
            "Title (en)",
            "Title (ja)",
            "Place",
            "Capacity",
            "Registered",
            "Waitlisted",
            "Public",
            "Status",
        ],
        rows,
        title="Community events",
        keys=[
            "event",
            "starts",
            "title_en",
            "title_ja",
            "place",
            "capacity",
            "registered",
            "waitlisted",
            "public",
            "status",
        ],
    )


def event_detail_table(event: Event, counts: Mapping[str, int], materials: Sequence[Material], tz: str) -> Table:
    """One event as field/value pairs (its materials listed at the end), so every format can show it."""
    pairs: list[tuple[str, Cell]] = [
        ("id", event.id),
        ("title_ja", event.title.ja),
        ("title_en", event.title.en),
        ("description_ja", event.description.ja),
        ("description_en", event.description.en),
        ("starts", format_local(event.starts_at, tz)),
        ("ends", format_local(event.ends_at, tz)),
        ("place_ja", event.place.ja),
        ("place_en", event.place.en),
        ("online_url", event.online_url),
        ("info_url", event.info_url),
        ("capacity", event.capacity),
        ("registered", counts.get("registered", 0)),
        ("waitlisted", counts.get("waitlisted", 0)),
        ("cancelled_registrations", counts.get("cancelled", 0)),
        ("public", "yes" if event.public else "no"),
        ("status", event.status),
    ]
    pairs += [(f"material_{m.id}", f"{m.title}: {m.url or f'{m.file_name} sha256:{m.sha256}'}") for m in materials]
    return Table(
        ["Field", "Value"],
        [list(p) for p in pairs],
        title=f"Event {event.id}",
        keys=["field", "value"],
        meta={"event": event.id},
    )


def attendees_table(event: Event, registrations: Sequence[Registration], tz: str) -> Table:
    return Table(
        ["#", "Name", "E-mail", "Company", "Status", "Waitlist", "Registered"],
        [
            [i, r.name, r.email, r.company_id, r.status, r.waitlist_position, format_local(r.registered_at, tz)]
            for i, r in enumerate(registrations, 1)
        ],
        title=f"Attendees of {event.id}",
        keys=["n", "name", "email", "company", "status", "waitlist_position", "registered_at"],
    )


def materials_table(materials: Sequence[Material], tz: str) -> Table:
    return Table(
        ["Id", "Event", "Title", "URL", "File", "Size", "sha256", "Added"],
        [
            [m.id, m.event_id, m.title, m.url, m.file_name, m.size, m.sha256, format_local(m.added_at, tz)]
            for m in materials
        ],
        title="Materials",
        keys=["id", "event", "title", "url", "file", "size", "sha256", "added"],
    )
