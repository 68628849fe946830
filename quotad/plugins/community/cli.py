"""``quotad community``: events, registrations, materials and attendee lists. Thin, like the core CLI."""

from __future__ import annotations

from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format
from quotad.plugins.api import Bilingual, plugin_context
from quotad.plugins.community.events import EventSpec, format_local, parse_local_time
from quotad.plugins.community.render import attendees_table, event_detail_table, events_table, materials_table
from quotad.plugins.community.store import (
    add_event,
    add_material,
    cancel_event,
    get_event,
    list_events,
    list_materials,
    list_registrations,
    register,
    registration_counts,
    unregister,
)
from quotad.render import emit
from quotad.timeutil import epoch_now

__all__ = ["app"]

app = typer.Typer(help="Community events: registrations, waitlist, materials.", no_args_is_help=True)
event_app = typer.Typer(help="Add, list, show and cancel events.", no_args_is_help=True)
material_app = typer.Typer(help="Slides, recordings and other materials of an event.", no_args_is_help=True)
app.add_typer(event_app, name="event")
app.add_typer(material_app, name="material")


@event_app.command("add")
def event_add(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Stable id (slug), e.g. 2026-12-kickoff."),
    title_ja: str = typer.Option(..., "--title-ja"),
    title_en: str = typer.Option(..., "--title-en"),
    starts: str = typer.Option(..., "--starts", help="Start, ISO 8601; without an offset: programme time zone."),
    ends: str = typer.Option(..., "--ends", help="End, as --starts."),
    description_ja: str = typer.Option("", "--description-ja"),
    description_en: str = typer.Option("", "--description-en"),
    place_ja: str = typer.Option("", "--place-ja", help="Venue (with --place-en)."),
    place_en: str = typer.Option("", "--place-en"),
    online_url: str = typer.Option("", "--online-url", help="Meeting URL (never published)."),
    info_url: str = typer.Option("", "--info-url", help="Public page about the event (the site links to it)."),
    capacity: int | None = typer.Option(None, "--capacity", help="Places; beyond them people are waitlisted."),
    public: bool = typer.Option(False, "--public/--private", help="Show the event on the public site."),
) -> None:
    """Add an event (both languages); a place, an online URL or both."""
    pc = plugin_context(ctx)
    tz = pc.settings.programme.timezone
    spec = EventSpec(
        id=event_id,
        title=Bilingual(title_ja, title_en),
        starts_at=parse_local_time("--starts", starts, tz),
        ends_at=parse_local_time("--ends", ends, tz),
        description=Bilingual(description_ja, description_en),
        place=Bilingual(place_ja, place_en),
        online_url=online_url,
        info_url=info_url,
        capacity=capacity,
        public=public,
    )
    with pc.writing() as (conn, _view):
        event = add_event(conn, spec, now=epoch_now())
    print(f"event {event.id} added: {format_local(event.starts_at, tz)}, {'public' if event.public else 'private'}")


@event_app.command("list")
def event_list(
    ctx: typer.Context,
    upcoming: bool = typer.Option(False, "--upcoming", help="Only events not yet ended (see --now)."),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Every event with its registration counts."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        events = list_events(conn, since=parse_now(now_text) if upcoming else None)
        counts = registration_counts(conn)
    emit(events_table(events, counts, pc.settings.programme.timezone), chosen)


@event_app.command("show")
def event_show(ctx: typer.Context, event_id: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """One event: every field, registration counts and materials."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        event = get_event(conn, event_id)
        counts = registration_counts(conn).get(event_id, {})
        materials = list_materials(conn, event_id)
    emit(event_detail_table(event, counts, materials, pc.settings.programme.timezone), chosen)


@event_app.command("cancel")
def event_cancel(ctx: typer.Context, event_id: str) -> None:
    """Cancel an event: it leaves the public site; registrations are kept so registrants can be told."""
    pc = plugin_context(ctx)
    with pc.writing() as (conn, _view):
        cancel_event(conn, event_id, now=epoch_now())
        active = [r for r in list_registrations(conn, event_id) if r.status != "cancelled"]
    print(f"event {event_id} cancelled; {len(active)} registrations to notify (see `community attendees`)")


@app.command("register")
def register_cmd(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Event id."),
    name: str = typer.Option(..., "--name"),
    email: str = typer.Option(..., "--email"),
    company: str | None = typer.Option(None, "--company", help="Company id, when the person comes for one."),
    now_text: str | None = NowOption,
) -> None:
    """Register someone; when the event is full they are waitlisted. One registration per e-mail."""
    pc = plugin_context(ctx)
    with pc.writing() as (conn, view):
        reg = register(conn, view, event_id, name=name, email=email, company_id=company, now=parse_now(now_text))
    if reg.status == "waitlisted":
        print(f"{reg.email}: waitlisted for {event_id} (position {reg.waitlist_position})")
    else:
        print(f"{reg.email}: registered for {event_id}")


@app.command("unregister")
def unregister_cmd(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Event id."),
    email: str = typer.Option(..., "--email"),
    now_text: str | None = NowOption,
) -> None:
    """Cancel a registration; a freed place goes to the first on the waitlist."""
    pc = plugin_context(ctx)
    with pc.writing() as (conn, _view):
        cancelled, promoted = unregister(conn, event_id, email=email, now=parse_now(now_text))
    print(f"{cancelled.email}: registration for {event_id} cancelled")
    if promoted is not None:
        print(f"{promoted.email}: promoted from the waitlist to registered")


@material_app.command("add")
def material_add(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Event id."),
    title: str = typer.Option(..., "--title"),
    url: str | None = typer.Option(None, "--url", help="Where the material is."),
    file: Path | None = typer.Option(None, "--file", help="A local file, recorded by name, size and sha256."),
) -> None:
    """Record a material of an event (a URL or a file)."""
    pc = plugin_context(ctx)
    with pc.writing() as (conn, _view):
        material = add_material(conn, event_id, title=title, url=url, file=file, now=epoch_now())
    where = material.url or f"{material.file_name} ({material.size} bytes, sha256 {material.sha256})"
    print(f"material {material.id} added to {event_id}: {where}")


@material_app.command("list")
def material_list(ctx: typer.Context, event_id: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """The materials of an event."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        get_event(conn, event_id)
        materials = list_materials(conn, event_id)
    emit(materials_table(materials, pc.settings.programme.timezone), chosen)


@app.command("attendees")
def attendees_cmd(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Event id."),
    include_cancelled: bool = typer.Option(False, "--include-cancelled", help="List cancelled ones too."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Registered and waitlisted people in queue order (personal data: for the office only)."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        event = get_event(conn, event_id)
        regs = list_registrations(conn, event_id, include_cancelled=include_cancelled)
    emit(attendees_table(event, regs, pc.settings.programme.timezone), chosen)
