"""Reads and writes of the challenges tables: entries by key, their history, counts for the survey.

One write path (``save``) serves ``add``, ``update`` and the import: it compares the stored entry with the new
one field by field and writes a history row per change, so an unchanged re-import writes nothing at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from quotad.errors import NotFoundError
from quotad.plugins.challenges.models import ChallengeChange, ChallengeEntry
from quotad.plugins.challenges.records import ChallengeSpec

__all__ = [
    "Change",
    "Entry",
    "SaveOutcome",
    "counts_by_month",
    "find_entry",
    "history",
    "list_entries",
    "save",
]

SaveOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Entry:
    id: int
    spec: ChallengeSpec
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Change:
    at: int
    actor: str
    field: str
    before: str
    after: str


def _entry(row: Any) -> Entry:
    spec = ChallengeSpec(
        key=row.key,
        company_id=row.company_id,
        noted_on=row.noted_on,
        category=row.category,
        severity=row.severity,
        description_ja=row.description_ja,
        description_en=row.description_en,
        source_kind=row.source_kind,
        source_ref=row.source_ref,
        status=row.status,
        response=row.response,
        visibility=row.visibility,
    )
    return Entry(row.id, spec, row.created_at, row.updated_at)


def _columns(spec: ChallengeSpec) -> dict[str, Any]:
    return dict(spec.__dict__)


def find_entry(conn: Connection, ref: str) -> Entry:
    """The entry by key, or by id when ``ref`` is a number; ``NotFoundError`` otherwise."""
    stmt = select(ChallengeEntry).where(ChallengeEntry.key == ref)
    row = conn.execute(stmt).one_or_none()
    if row is None and ref.isdigit():
        row = conn.execute(select(ChallengeEntry).where(ChallengeEntry.id == int(ref))).one_or_none()
    if row is None:
        raise NotFoundError("challenge", ref, hint="see `quotad challenges list`")
    return _entry(row)


def save(conn: Connection, spec: ChallengeSpec, *, actor: str, now: int) -> tuple[Entry, SaveOutcome]:
    """Create the entry for ``spec.key`` or bring it to ``spec``, with one history row per changed field.

    The caller has validated ``spec`` (``records.check_spec``).
    """
    row = conn.execute(select(ChallengeEntry).where(ChallengeEntry.key == spec.key)).one_or_none()
    if row is None:
        new_id = conn.execute(
            insert(ChallengeEntry).values(**_columns(spec), created_at=now, updated_at=now).returning(ChallengeEntry.id)
        ).scalar_one()
        conn.execute(
            insert(ChallengeChange).values(entry_id=new_id, at=now, actor=actor, field="created", before="", after="")
        )
        return Entry(new_id, spec, now, now), "created"
    old = _entry(row)
    before, after = old.spec.as_fields(), spec.as_fields()
    changed = [name for name in after if before[name] != after[name]]
    if not changed:
        return old, "unchanged"
    conn.execute(update(ChallengeEntry).where(ChallengeEntry.id == old.id).values(**_columns(spec), updated_at=now))
    conn.execute(
        insert(ChallengeChange),
        [
            {"entry_id": old.id, "at": now, "actor": actor, "field": n, "before": before[n], "after": after[n]}
            for n in changed
        ],
    )
    return replace(old, spec=spec, updated_at=now), "updated"


def history(conn: Connection, entry_id: int) -> list[Change]:
    c = ChallengeChange
    stmt = select(c.at, c.actor, c.field, c.before, c.after).where(c.entry_id == entry_id).order_by(c.at, c.id)
    return [Change(*r) for r in conn.execute(stmt)]


def list_entries(
    conn: Connection,
    *,
    company_id: str | None = None,
    category: str | None = None,
    status: str | None = None,
    visibilities: Collection[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[Entry]:
    """Entries matching every filter given (dates inclusive, ISO), oldest first."""
    e = ChallengeEntry
    stmt = select(e)
    if company_id is not None:
        stmt = stmt.where(e.company_id == company_id)
    if category is not None:
        stmt = stmt.where(e.category == category)
    if status is not None:
        stmt = stmt.where(e.status == status)
    if visibilities is not None:
        stmt = stmt.where(e.visibility.in_(list(visibilities)))
    if since is not None:
        stmt = stmt.where(e.noted_on >= since)
    if until is not None:
        stmt = stmt.where(e.noted_on <= until)
    return [_entry(r) for r in conn.execute(stmt.order_by(e.noted_on, e.id))]


def counts_by_month(conn: Connection, *, visibilities: Collection[str]) -> Counter[tuple[str, str]]:
    """Entries of the given visibilities counted by (category key, YYYY-MM of ``noted_on``)."""
    counts: Counter[tuple[str, str]] = Counter()
    for entry in list_entries(conn, visibilities=visibilities):
        counts[(entry.spec.category, entry.spec.noted_on[:7])] += 1
    return counts
