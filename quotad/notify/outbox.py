"""The outbox: every message is a row first, and is sent from the row — queued -> sending -> sent.

**Delivery is at-least-once.** A message can reach a recipient twice; it is never silently lost.

Why a table and not "send, then remember": the directive engine marks a directive notified in the same
transaction as it queues the message, so a notice is never decided without being kept, and the SMTP server
being down loses nothing — delivery retries with exponential backoff (``retry_base_s × 2^(n−1)``, capped
at ``retry_max_s``), forever, until the server takes the message (``sent``) or refuses it for good with a
5xx reply (``rejected``, kept with the server's words; ``requeue`` puts it back).

Idempotency: a row is keyed by ``dedup_key`` ("notice:42:3", "digest:acme:2026-11-20", "weekly:2026-W47"),
so queueing the same thing twice is a no-op, and by its Message-ID, fixed when the row is created.

Where duplicates come from. Each message is claimed (``sending``, attempt counted, claim time recorded) in
its own committed transaction before the SMTP transaction starts, and marked ``sent`` in another right after
the server's final 250. Two things can leave us not knowing whether the server took a message:

- The process dies between the server's 250 and our commit. The row stays ``sending``; after ``lease_s`` it
  is taken to be interrupted and sent again.
- The connection is lost after the message was handed over with DATA and before the server's reply (a server
  or network fault, a timeout on a slow server). The server may well have delivered it. The row is marked
  ``uncertain`` and tried **once** more after ``uncertain_retry_s`` (hours, not the minutes of the backoff,
  which could mean one more copy per attempt); if that attempt is uncertain too, the row is ``rejected`` with
  the reason, for an operator to check with the recipient and ``requeue`` if it did not arrive.

Every copy carries the very same bytes and Message-ID, fixed when the row was queued. A receiving system that
suppresses duplicate Message-IDs (Gmail, Exchange Online, Sieve ``duplicate`` [RFC 7352], ``formail -D``)
then shows it once; one that does not may show it twice. Two delivery processes never send the same row at
once: the claim is a conditional UPDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from quotad.errors import LedgerError, NotFoundError, UsageError
from quotad.notify.config import OutboxConfig
from quotad.notify.outbox_models import OutboxMessage
from quotad.notify.smtp import PermanentSendError, TransientSendError, Transport, UncertainSendError

__all__ = [
    "DeliveryReport",
    "OutboxState",
    "OutboxView",
    "OutgoingMessage",
    "backoff_s",
    "deliver",
    "enqueue",
    "list_outbox",
    "requeue",
]

log = logging.getLogger("quotad.notify")

OutboxState = Literal["queued", "sending", "uncertain", "sent", "rejected"]
#: States a delivery run picks up when due: "uncertain" waits for its single retry.
_DUE_STATES = ("queued", "uncertain")


def _table() -> Table:
    return cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class OutgoingMessage:
    """A composed message ready to queue: envelope, subject (for listings) and the exact RFC 5322 text."""

    dedup_key: str
    message_id: str
    kind: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    raw: str
    directive_id: int | None = None
    company_id: str | None = None


@dataclass(frozen=True)
class OutboxView:
    id: int
    message_id: str
    dedup_key: str
    kind: str
    directive_id: int | None
    company_id: str | None
    recipients: tuple[str, ...]
    subject: str
    state: str
    attempts: int
    next_attempt_at: int
    last_error: str
    created_at: int
    sent_at: int | None


@dataclass(frozen=True)
class DeliveryReport:
    sent: tuple[str, ...]
    retrying: tuple[str, ...]
    rejected: tuple[str, ...]
    recovered: int
    stopped_early: bool


def backoff_s(attempts: int, config: OutboxConfig) -> int:
    """Wait after the ``attempts``-th failed attempt: doubling from ``retry_base_s``, capped."""
    return int(min(config.retry_max_s, config.retry_base_s * 2 ** max(0, attempts - 1)))


def enqueue(conn: Connection, message: OutgoingMessage, *, now: int) -> bool:
    """Queue in the caller's transaction; False when a message with this key is already there."""
    table = _table()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(table)
        .values(
            message_id=message.message_id,
            dedup_key=message.dedup_key,
            kind=message.kind,
            directive_id=message.directive_id,
            company_id=message.company_id,
            sender=message.sender,
            recipients=",".join(message.recipients),
            subject=message.subject,
            raw=message.raw,
            state="queued",
            attempts=0,
            next_attempt_at=now,
            last_error="",
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(conn.execute(stmt).rowcount)


def _view(row: Any) -> OutboxView:
    return OutboxView(
        id=int(row.id), message_id=row.message_id, dedup_key=row.dedup_key, kind=row.kind,
        directive_id=row.directive_id, company_id=row.company_id,
        recipients=tuple(filter(None, row.recipients.split(","))), subject=row.subject, state=row.state,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        created_at=row.created_at, sent_at=row.sent_at,
    )


def list_outbox(conn: Connection, *, state: str | None = None, limit: int = 200) -> list[OutboxView]:
    table = _table()
    stmt = select(table).order_by(table.c.id.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(table.c.state == state)
    return [_view(r) for r in conn.execute(stmt)]


def requeue(conn: Connection, message_id: int, *, now: int) -> None:
    """Put a rejected (or stuck) message back in the queue for the next delivery."""
    table = _table()
    state = conn.scalar(select(table.c.state).where(table.c.id == message_id))
    if state is None:
        raise NotFoundError("outbox message", str(message_id))
    if state == "sent":
        raise UsageError(f"outbox message {message_id} was sent already; not queueing it again")
    conn.execute(update(table).where(table.c.id == message_id).values(state="queued", next_attempt_at=now))


def _recover(engine: Engine, now: int, config: OutboxConfig) -> int:
    table = _table()
    with engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.state == "sending", table.c.claimed_at < now - config.lease_s)
            .values(state="queued", next_attempt_at=now, last_error="interrupted while sending; sent again")
        )
    if result.rowcount:
        log.warning("outbox: %d message(s) were interrupted while sending; sending them again", result.rowcount)
    return int(result.rowcount or 0)


def _claim(engine: Engine, row_id: int, now: int) -> tuple[Any, bool] | None:
    """The claimed row and whether it was ``uncertain`` before (its one retry), or None if another took it."""
    table = _table()
    with engine.begin() as conn:
        before = conn.scalar(select(table.c.state).where(table.c.id == row_id))
        if before not in _DUE_STATES:
            return None
        claimed = conn.execute(
            update(table)
            .where(table.c.id == row_id, table.c.state == before)
            .values(state="sending", claimed_at=now, attempts=table.c.attempts + 1)
        )
        if not claimed.rowcount:
            return None
        return conn.execute(select(table).where(table.c.id == row_id)).first(), before == "uncertain"


def _finish(engine: Engine, row_id: int, **values: Any) -> None:
    table = _table()
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(**values))


def deliver(engine: Engine, transport: Transport, *, now: int, config: OutboxConfig) -> DeliveryReport:
    """Send what is due, one committed claim and one committed result per message.

    A server that cannot be reached ends the run (the rest stay queued, due as they were); a message the
    server refuses for now is rescheduled with backoff; one it refuses for good is marked rejected.
    """
    table = _table()
    sent: list[str] = []
    retrying: list[str] = []
    rejected: list[str] = []
    try:
        recovered = _recover(engine, now, config)
        with engine.connect() as conn:
            due: Sequence[int] = conn.scalars(
                select(table.c.id)
                .where(table.c.state.in_(_DUE_STATES), table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(config.batch)
            ).all()
        stopped = False
        for row_id in due:
            claim = _claim(engine, row_id, now)
            if claim is None:
                continue
            row, was_uncertain = claim
            recipients = [r for r in row.recipients.split(",") if r]
            try:
                refused = transport.send(row.sender, recipients, row.raw.encode("ascii"))
            except PermanentSendError as exc:
                _finish(engine, row_id, state="rejected", last_error=str(exc), claimed_at=None)
                rejected.append(row.message_id)
                log.error("outbox: %s rejected for good: %s", row.message_id, exc)
                continue
            except UncertainSendError as exc:
                if was_uncertain:
                    reason = f"uncertain twice, not sent again automatically (check with the recipient): {exc}"
                    _finish(engine, row_id, state="rejected", last_error=reason, claimed_at=None)
                    rejected.append(row.message_id)
                    log.error("outbox: %s %s", row.message_id, reason)
                else:
                    wait = config.uncertain_retry_s
                    _finish(engine, row_id, state="uncertain", last_error=str(exc), next_attempt_at=now + wait,
                            claimed_at=None)
                    retrying.append(row.message_id)
                    log.warning("outbox: %s may or may not have been delivered; one more attempt in %d s: %s",
                                row.message_id, wait, exc)
                continue
            except TransientSendError as exc:
                wait = backoff_s(row.attempts, config)
                _finish(engine, row_id, state="queued", last_error=str(exc), next_attempt_at=now + wait,
                        claimed_at=None)
                retrying.append(row.message_id)
                log.warning("outbox: %s not sent (attempt %d), retrying in %d s: %s", row.message_id, row.attempts,
                            wait, exc)
                if exc.code is None:  # no reply at all: the server is down; do not hammer it
                    stopped = True
                    break
                continue
            note = "; ".join(f"{k}: {v}" for k, v in sorted(refused.items()))
            _finish(engine, row_id, state="sent", sent_at=now, last_error=f"refused: {note}" if note else "")
            sent.append(row.message_id)
    except SQLAlchemyError as exc:
        raise LedgerError(f"outbox: {exc}") from exc
    finally:
        transport.close()
    return DeliveryReport(tuple(sent), tuple(retrying), tuple(rejected), recovered, stopped)
