"""One introduction mechanism for every plugin that introduces a company to someone (a data holder, a partner).

An introduction is a pairing with a status that moves only along ``TRANSITIONS``; each move appends an event
(from, to, who, when, why) that is never edited. The plugins keep their own tables (``<plugin>_...``, shaped
as ``IntroTables`` describes) because a plugin owns what it stores; the rules, the history and their
rendering are written once, here, so a data introduction and a partner introduction behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Table, insert, select, update

from quotad.errors import UsageError
from quotad.plugins.api import Bilingual
from quotad.render import Cell
from quotad.render import Table as OutputTable

__all__ = [
    "INTRO_STATUSES",
    "STATUS_LABELS",
    "TRANSITIONS",
    "IntroEvent",
    "IntroStatus",
    "IntroTables",
    "check_status",
    "intro_events",
    "intro_events_table",
    "move_intro",
    "record_proposed",
]

IntroStatus = Literal["proposed", "introduced", "agreed", "declined"]
INTRO_STATUSES: tuple[IntroStatus, ...] = ("proposed", "introduced", "agreed", "declined")
#: What each status is called in reports written for people.
STATUS_LABELS: dict[str, Bilingual] = {
    "proposed": Bilingual("提案", "Proposed"),
    "introduced": Bilingual("紹介済", "Introduced"),
    "agreed": Bilingual("合意", "Agreed"),
    "declined": Bilingual("不成立", "Declined"),
}
#: Agreed and declined are final: a declined pairing is not silently re-proposed.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"introduced", "declined"}),
    "introduced": frozenset({"agreed", "declined"}),
    "agreed": frozenset(),
    "declined": frozenset(),
}


@dataclass(frozen=True)
class IntroTables:
    """A plugin's two introduction tables.

    ``intros`` has ``id``, ``status`` and ``updated_at``; ``events`` has ``intro_id``, ``from_status``,
    ``to_status``, ``actor``, ``at`` and ``note``.
    """

    intros: Table
    events: Table


@dataclass(frozen=True)
class IntroEvent:
    intro_id: int
    from_status: str | None
    to_status: str
    actor: str
    at: int
    note: str


def check_status(status: str, what: str = "status") -> IntroStatus:
    for known in INTRO_STATUSES:
        if status == known:
            return known
    raise UsageError(f"{what} {status!r}: expected one of {', '.join(INTRO_STATUSES)}")


def record_proposed(conn: Connection, tables: IntroTables, intro_id: int, *, actor: str, note: str, now: int) -> None:
    """The first event of a new introduction (its row was inserted with status ``proposed``)."""
    conn.execute(
        insert(tables.events).values(
            intro_id=intro_id, from_status=None, to_status="proposed", actor=actor, at=now, note=note
        )
    )


def move_intro(
    conn: Connection, tables: IntroTables, intro_id: int, current: str, status: str, *, actor: str, note: str, now: int
) -> None:
    """Move introduction ``intro_id`` from ``current`` to ``status`` if ``TRANSITIONS`` allows it, with its event."""
    check_status(status)
    allowed = TRANSITIONS[current]
    if status not in allowed:
        then = ", ".join(sorted(allowed)) or "nothing (final)"
        raise UsageError(f"introduction {intro_id} is {current}: it cannot become {status} (allowed: {then})")
    conn.execute(update(tables.intros).where(tables.intros.c.id == intro_id).values(status=status, updated_at=now))
    conn.execute(
        insert(tables.events).values(
            intro_id=intro_id, from_status=current, to_status=status, actor=actor, at=now, note=note
        )
    )


def intro_events(conn: Connection, tables: IntroTables, intro_ids: Sequence[int] | None = None) -> list[IntroEvent]:
    """The history of the given introductions (all when None), per introduction in the order it happened."""
    e = tables.events.c
    query = select(e.intro_id, e.from_status, e.to_status, e.actor, e.at, e.note).order_by(e.intro_id, e.id)
    if intro_ids is not None:
        query = query.where(e.intro_id.in_(list(intro_ids)))
    return [IntroEvent(*r) for r in conn.execute(query)]


def intro_events_table(events: Sequence[IntroEvent]) -> OutputTable:
    rows: list[Sequence[Cell]] = [[e.intro_id, e.from_status, e.to_status, e.actor, e.at, e.note] for e in events]
    return OutputTable(
        ["Intro", "From", "To", "Actor", "At (epoch)", "Note"],
        rows,
        title="Introduction history",
        keys=["intro", "from", "to", "actor", "at", "note"],
    )
