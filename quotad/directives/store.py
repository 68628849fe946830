"""Reading directives and the two transitions people make: acknowledge and resolve.

Why here and not in the engine: the CLI, the digest and the weekly summary read directives without running
a tick, and an operator's ``ack``/``resolve`` is one small transaction with an audit event, nothing more.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, func, insert, select, update

from quotad.directives.codec import DirectiveView
from quotad.directives.models import ACTIVE_STATES, STATES, Directive, DirectiveAction, DirectiveEvent
from quotad.errors import NotFoundError, UsageError
from quotad.policies.base import Severity

__all__ = [
    "ActionView",
    "DirectiveCount",
    "EventView",
    "acknowledge",
    "add_note",
    "count_events",
    "directive_actions",
    "directive_counts_by_company",
    "directive_events",
    "directive_exists",
    "directive_outcomes",
    "get_directive",
    "list_directives",
    "resolve",
]

_D = cast(Table, Directive.__table__)


@dataclass(frozen=True)
class EventView:
    at: int
    kind: str
    actor: str
    detail: str


@dataclass(frozen=True)
class ActionView:
    at: int
    action: str
    target: str
    command: str
    outcome: str
    reason: str
    detail: str


def list_directives(
    conn: Connection,
    *,
    company_id: str | None = None,
    policy: str | None = None,
    states: Collection[str] | None = None,
) -> list[DirectiveView]:
    """Directives matching every filter given, most severe and oldest first."""
    for state in states or ():
        if state not in STATES:
            raise UsageError(f"state {state!r}: expected one of {', '.join(STATES)}")
    stmt = select(_D)
    if company_id is not None:
        stmt = stmt.where(_D.c.company_id == company_id)
    if policy is not None:
        stmt = stmt.where(_D.c.policy == policy)
    if states:
        stmt = stmt.where(_D.c.state.in_(list(states)))
    stmt = stmt.order_by(_D.c.severity.desc(), _D.c.opened_at, _D.c.id)
    return [DirectiveView.from_row(r) for r in conn.execute(stmt)]


def get_directive(conn: Connection, directive_id: int) -> DirectiveView:
    row = conn.execute(select(_D).where(_D.c.id == directive_id)).first()
    if row is None:
        raise NotFoundError("directive", str(directive_id))
    return DirectiveView.from_row(row)


def directive_exists(conn: Connection, directive_id: int) -> bool:
    return conn.execute(select(_D.c.id).where(_D.c.id == directive_id)).first() is not None


def directive_events(conn: Connection, directive_id: int) -> list[EventView]:
    e = DirectiveEvent
    stmt = select(e.at, e.kind, e.actor, e.detail).where(e.directive_id == directive_id).order_by(e.at, e.id)
    return [EventView(*r) for r in conn.execute(stmt)]


def directive_actions(conn: Connection, directive_id: int) -> list[ActionView]:
    a = DirectiveAction
    stmt = (
        select(a.at, a.action, a.target, a.command, a.outcome, a.reason, a.detail)
        .where(a.directive_id == directive_id)
        .order_by(a.at, a.id)
    )
    return [ActionView(*r) for r in conn.execute(stmt)]


def count_events(conn: Connection, kind: str, *, since: int, until: int) -> int:
    e = DirectiveEvent
    rows = conn.execute(select(e.id).where(e.kind == kind, e.at >= since, e.at < until)).all()
    return len(rows)


def _event(conn: Connection, directive_id: int, kind: str, *, at: int, actor: str, detail: str) -> None:
    conn.execute(insert(DirectiveEvent).values(directive_id=directive_id, at=at, kind=kind, actor=actor, detail=detail))


def add_note(conn: Connection, directive_id: int, *, at: int, actor: str, detail: str) -> None:
    """A ``note`` event: something said about the directive, e.g. the job's user notify could not reach."""
    _event(conn, directive_id, "note", at=at, actor=actor, detail=detail)


def acknowledge(conn: Connection, directive_id: int, *, by: str, note: str = "", now: int) -> DirectiveView:
    """The company (or the office for it) has seen the directive: no more reminders unless it changes."""
    d = get_directive(conn, directive_id)
    if d.state not in ACTIVE_STATES:
        raise UsageError(f"directive {directive_id} is {d.state}; only an active directive can be acknowledged")
    conn.execute(
        update(_D).where(_D.c.id == directive_id).values(state="acknowledged", acknowledged_at=now, acknowledged_by=by)
    )
    _event(conn, directive_id, "acknowledged", at=now, actor=by, detail=note)
    return get_directive(conn, directive_id)


def resolve(conn: Connection, directive_id: int, *, by: str, note: str = "", now: int) -> DirectiveView:
    """Close a directive by hand. If its policy still fires, the next tick opens a new one."""
    d = get_directive(conn, directive_id)
    if d.state not in ACTIVE_STATES:
        raise UsageError(f"directive {directive_id} is already {d.state}")
    reason = f"resolved by {by}" + (f": {note}" if note else "")
    conn.execute(update(_D).where(_D.c.id == directive_id).values(state="resolved", closed_at=now, close_reason=reason))
    _event(conn, directive_id, "resolved", at=now, actor=by, detail=note or "by hand")
    return get_directive(conn, directive_id)


@dataclass(frozen=True)
class DirectiveCount:
    """How many directives of one policy, at one severity, a company was sent over a period."""

    policy: str
    severity: int  # ``quotad.policies.base.Severity``'s integer scale, as stored
    count: int

    @property
    def severity_label(self) -> str:
        try:
            return Severity(self.severity).label
        except ValueError:
            return str(self.severity)


def directive_outcomes(conn: Connection, *, start: int, end: int) -> dict[tuple[str, str], int]:
    """Directives opened in [start, end) counted by (policy, state now): where each case ended (or stands)."""
    stmt = (
        select(_D.c.policy, _D.c.state, func.count())
        .where(_D.c.opened_at >= start, _D.c.opened_at < end)
        .group_by(_D.c.policy, _D.c.state)
    )
    return {(str(policy), str(state)): int(n) for policy, state, n in conn.execute(stmt)}


def directive_counts_by_company(conn: Connection, *, start: int, end: int) -> dict[str, tuple[DirectiveCount, ...]]:
    """Directives opened in [start, end) per company id, by (policy, severity), most severe first.

    The company is the directive's own ``company_id`` (its subject's company; directives without one, such as
    an unclaimed account's, are left out). The severity is the directive's present one, i.e. after any
    escalation: what the company was last told it stands at, whatever its state now (resolved ones count too:
    the question is what it received, not what is still open).
    """
    stmt = (
        select(_D.c.company_id, _D.c.policy, _D.c.severity, func.count())
        .where(_D.c.company_id.is_not(None), _D.c.opened_at >= start, _D.c.opened_at < end)
        .group_by(_D.c.company_id, _D.c.policy, _D.c.severity)
        .order_by(_D.c.company_id, _D.c.severity.desc(), _D.c.policy)
    )
    out: dict[str, list[DirectiveCount]] = {}
    for company, policy, severity, n in conn.execute(stmt):
        out.setdefault(str(company), []).append(DirectiveCount(str(policy), int(severity), int(n)))
    return {company: tuple(counts) for company, counts in out.items()}
