"""Collector progress in the ledger: the watermark (moved with the data) and health (recorded on failure too)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from quotad.ledger.collector_models import CollectorState

__all__ = ["CollectorHealth", "collector_health", "record_failure", "record_success", "watermark"]


@dataclass(frozen=True)
class CollectorHealth:
    cluster: str
    source: str
    watermark: int | None
    last_attempt: int | None
    last_success: int | None
    last_duration_ms: int | None
    last_error: str
    polls_total: int
    errors_total: int


def _ensure(conn: Connection, cluster: str, source: str) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(CollectorState)
        .values(cluster=cluster, source=source, last_error="", polls_total=0, errors_total=0)
        .on_conflict_do_nothing()
    )


def watermark(conn: Connection, cluster: str, source: str, *, lock: bool = False) -> int | None:
    """The end of the last successful poll; with ``lock`` the row is held until commit (PostgreSQL)."""
    _ensure(conn, cluster, source)
    stmt = select(CollectorState.watermark).where(CollectorState.cluster == cluster, CollectorState.source == source)
    if lock:
        stmt = stmt.with_for_update()
    return conn.scalar(stmt)


def record_success(
    conn: Connection, cluster: str, source: str, *, new_watermark: int, now: int, duration_ms: int
) -> None:
    """Called in the poll's own transaction, so the watermark moves only with the data it covers."""
    _ensure(conn, cluster, source)
    conn.execute(
        update(CollectorState)
        .where(CollectorState.cluster == cluster, CollectorState.source == source)
        .values(
            watermark=new_watermark,
            last_attempt=now,
            last_success=now,
            last_duration_ms=duration_ms,
            last_error="",
            polls_total=CollectorState.polls_total + 1,
        )
    )


def record_failure(conn: Connection, cluster: str, source: str, *, error: str, now: int, duration_ms: int) -> None:
    """Called in a transaction of its own after the poll's was rolled back."""
    _ensure(conn, cluster, source)
    conn.execute(
        update(CollectorState)
        .where(CollectorState.cluster == cluster, CollectorState.source == source)
        .values(
            last_attempt=now,
            last_duration_ms=duration_ms,
            last_error=error[:4000],
            polls_total=CollectorState.polls_total + 1,
            errors_total=CollectorState.errors_total + 1,
        )
    )


def collector_health(conn: Connection) -> list[CollectorHealth]:
    rows = conn.execute(select(CollectorState).order_by(CollectorState.cluster, CollectorState.source))
    return [
        CollectorHealth(
            r.cluster,
            r.source,
            r.watermark,
            r.last_attempt,
            r.last_success,
            r.last_duration_ms,
            r.last_error,
            r.polls_total,
            r.errors_total,
        )
        for r in rows
    ]
