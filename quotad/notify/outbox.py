"""The outbox: every message is a row first, and is sent from the row — queued -> sending -> sent.

**Delivery is at-least-once.** A message can reach a recipient twice; it is never silently lost.

Why a table and not "send, then remember": the directive engine marks a directive notified in the same
transaction as it queues the message, so a notice is never decided without being kept, and the SMTP server
being down loses nothing — delivery retries with exponential backoff (``retry_base_s × 2^(n−1)``, capped
at ``retry_max_s``), forever, until the server takes the message (``sent``) or refuses it for good with a
5xx reply (``rejected``, kept with the server's words; ``requeue`` puts it back).

Idempotency: a row is keyed by ``dedup_key`` ("notice:42:3", "digest:acme:2026-11-20", "weekly:2026-W47"),
so queueing the same thing twice is a no-op, and by its Message-ID, fixed when the row is created.

How a message is claimed, so that two senders (two daemons, a daemon and ``quotad notify send``) never send one
row at once, and a sender killed mid-send neither loses the message nor leaves it stuck:

- **PostgreSQL: a row lock held across the send.** One transaction per message: ``SELECT … FOR UPDATE SKIP
  LOCKED`` takes the next due row that no other sender holds, the SMTP transaction runs, and the outcome
  (``sent``, backoff, ``uncertain``, ``rejected``, with the attempt counted) is written and committed in that
  same transaction. Another sender skips the locked row and takes the next. A sender killed (even by SIGKILL)
  mid-send holds nothing: PostgreSQL rolls its transaction back and drops the lock when the connection dies,
  and the row, still ``queued`` as committed, is taken by the next delivery run at once. A slow SMTP server
  cannot cause a second copy either: the lock lasts as long as the live sender works on the row. (The
  transaction is idle while the server talks: a server-side ``idle_in_transaction_session_timeout`` shorter
  than ``[notify.smtp] timeout_s`` would end it mid-send and cause exactly the duplicate described below.)
- **SQLite: a committed claim with a lease** (one daemon per ledger, but ``quotad notify send`` may run
  beside it; a write transaction held across an SMTP send would block every other writer). The row is
  claimed (``sending``, attempt counted, claim time recorded) by a conditional UPDATE in its own transaction
  before the SMTP transaction starts, and its outcome is written in another right after. A row left
  ``sending`` longer than ``lease_s`` is taken to be interrupted and sent again (on either database: rows an
  older release left ``sending`` are recovered the same way).

Where duplicates still come from (what SMTP forces: it has no two-phase commit with our database). Two
things can leave us not knowing whether the server took a message:

- The process dies (or loses the database) between the server's final 250 and our commit. On PostgreSQL the
  transaction rolls back and the row is sent again by the next run; on SQLite it is sent again after the
  lease.
- The connection is lost after the message was handed over with DATA and before the server's reply (a server
  or network fault, a timeout on a slow server). The server may well have delivered it. The row is marked
  ``uncertain`` and tried **once** more after ``uncertain_retry_s`` (hours, not the minutes of the backoff,
  which could mean one more copy per attempt); if that attempt is uncertain too, the row is ``rejected`` with
  the reason, for an operator to check with the recipient and ``requeue`` if it did not arrive.

Every copy carries the very same bytes and Message-ID, fixed when the row was queued. A receiving system that
suppresses duplicate Message-IDs (Gmail, Exchange Online, Sieve ``duplicate`` [RFC 7352], ``formail -D``)
then shows it once; one that does not may show it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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


def _write(conn: Connection, row_id: int, **values: Any) -> None:
    table = _table()
    conn.execute(update(table).where(table.c.id == row_id).values(**values))


def _finish(engine: Engine, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        _write(conn, row_id, **values)


Finish = Callable[..., None]


@dataclass
class _Outcomes:
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _send_one(
    transport: Transport, row: Any, *, attempts: int, was_uncertain: bool, finish: Finish, now: int,
    config: OutboxConfig, out: _Outcomes,
) -> bool:
    """Send one claimed row and write its outcome through ``finish``; False when the server is down (stop)."""
    recipients = [r for r in row.recipients.split(",") if r]
    try:
        refused = transport.send(row.sender, recipients, row.raw.encode("ascii"))
    except PermanentSendError as exc:
        finish(state="rejected", last_error=str(exc), claimed_at=None)
        out.rejected.append(row.message_id)
        log.error("outbox: %s rejected for good: %s", row.message_id, exc)
        return True
    except UncertainSendError as exc:
        if was_uncertain:
            reason = f"uncertain twice, not sent again automatically (check with the recipient): {exc}"
            finish(state="rejected", last_error=reason, claimed_at=None)
            out.rejected.append(row.message_id)
            log.error("outbox: %s %s", row.message_id, reason)
        else:
            wait = config.uncertain_retry_s
            finish(state="uncertain", last_error=str(exc), next_attempt_at=now + wait, claimed_at=None)
            out.retrying.append(row.message_id)
            log.warning("outbox: %s may or may not have been delivered; one more attempt in %d s: %s",
                        row.message_id, wait, exc)
        return True
    except TransientSendError as exc:
        wait = backoff_s(attempts, config)
        finish(state="queued", last_error=str(exc), next_attempt_at=now + wait, claimed_at=None)
        out.retrying.append(row.message_id)
        log.warning("outbox: %s not sent (attempt %d), retrying in %d s: %s", row.message_id, attempts, wait, exc)
        return exc.code is not None  # no reply at all: the server is down; do not hammer it
    note = "; ".join(f"{k}: {v}" for k, v in sorted(refused.items()))
    finish(state="sent", sent_at=now, last_error=f"refused: {note}" if note else "", claimed_at=None)
    out.sent.append(row.message_id)
    return True


def _due(now: int) -> Any:
    table = _table()
    return (
        select(table)
        .where(table.c.state.in_(_DUE_STATES), table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at, table.c.id)
    )


def _deliver_locked(engine: Engine, transport: Transport, *, now: int, config: OutboxConfig, out: _Outcomes) -> bool:
    """PostgreSQL: each message in one transaction holding its row lock (``FOR UPDATE SKIP LOCKED``) from the
    claim through the send to the outcome; returns whether the run stopped early (server down)."""
    table = _table()
    seen: list[int] = []
    while len(seen) < config.batch:
        with engine.begin() as conn:
            stmt = _due(now).limit(1).with_for_update(skip_locked=True)
            if seen:
                stmt = stmt.where(table.c.id.notin_(seen))
            row = conn.execute(stmt).first()
            if row is None:
                return False
            seen.append(int(row.id))
            attempts = int(row.attempts) + 1
            finish = partial(_write, conn, int(row.id), attempts=attempts)  # in the claim's transaction
            go_on = _send_one(transport, row, attempts=attempts, was_uncertain=row.state == "uncertain",
                              finish=finish, now=now, config=config, out=out)
        if not go_on:
            return True
    return False


def _deliver_leased(engine: Engine, transport: Transport, *, now: int, config: OutboxConfig, out: _Outcomes) -> bool:
    """SQLite: a committed claim per message, its outcome committed after the send (see the module's note)."""
    table = _table()
    with engine.connect() as conn:
        due: Sequence[int] = conn.scalars(_due(now).with_only_columns(table.c.id).limit(config.batch)).all()
    for row_id in due:
        claim = _claim(engine, row_id, now)
        if claim is None:
            continue
        row, was_uncertain = claim
        if not _send_one(transport, row, attempts=int(row.attempts), was_uncertain=was_uncertain,
                         finish=partial(_finish, engine, row_id), now=now, config=config, out=out):
            return True
    return False


def deliver(engine: Engine, transport: Transport, *, now: int, config: OutboxConfig) -> DeliveryReport:
    """Send what is due, each message claimed so that no other sender has it at the same time.

    A server that cannot be reached ends the run (the rest stay queued, due as they were); a message the
    server refuses for now is rescheduled with backoff; one it refuses for good is marked rejected.
    """
    out = _Outcomes()
    try:
        recovered = _recover(engine, now, config)
        run = _deliver_locked if engine.dialect.name == "postgresql" else _deliver_leased
        stopped = run(engine, transport, now=now, config=config, out=out)
    except SQLAlchemyError as exc:
        raise LedgerError(f"outbox: {exc}") from exc
    finally:
        transport.close()
    return DeliveryReport(tuple(out.sent), tuple(out.retrying), tuple(out.rejected), recovered, stopped)
