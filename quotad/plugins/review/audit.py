"""The review audit log: one row per change (and per refused access), with the entity's before/after as JSON.

Why a log of its own rather than logging: decisions about public money get challenged, and the committee must
be able to show who changed which score, conflict or decision when, from the database the decision came from.
Rows are only ever inserted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from quotad.plugins.review.models import ReviewAudit

__all__ = ["AuditEntry", "list_audit", "record"]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: int
    actor: str
    action: str
    entity: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _dump(data: Mapping[str, Any] | None) -> str | None:
    return None if data is None else json.dumps(dict(data), ensure_ascii=False, sort_keys=True)


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    now: int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction, so a change and its audit row commit (or fail) together."""
    conn.execute(
        insert(ReviewAudit).values(
            at=now, actor=actor[:64], action=action, entity=entity[:128], before=_dump(before), after=_dump(after)
        )
    )


def list_audit(
    conn: Connection, *, entity: str | None = None, actor: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Newest first; ``entity`` matches exactly or as a prefix ending in ':' (``call:sel26`` or ``proposal:``)."""
    stmt = select(ReviewAudit).order_by(ReviewAudit.id.desc()).limit(limit)
    if entity is not None:
        stmt = stmt.where(
            ReviewAudit.entity.startswith(entity) if entity.endswith(":") else ReviewAudit.entity == entity
        )
    if actor is not None:
        stmt = stmt.where(ReviewAudit.actor == actor)
    return [
        AuditEntry(
            row.id,
            row.at,
            row.actor,
            row.action,
            row.entity,
            None if row.before is None else json.loads(row.before),
            None if row.after is None else json.loads(row.after),
        )
        for row in conn.execute(stmt)
    ]
