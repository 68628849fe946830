"""The directive engine: one tick's findings in, directive rows updated, notices and enforcement decided.

Why it works on all active directives at once: dedup (one active directive per policy and subject),
resolution (an active directive whose policy ran and did not fire again) and expiry (its policy is off, its
period is over) are all questions about the set, answered in one pass over a few hundred rows. A persisting
condition updates its row — new figures, same id — and never opens a second one (a partial unique index
backs this up against a concurrent tick).

The engine decides, it does not send: notices come back as ``Notice`` values for the notifier to queue in
the same transaction, enforcement candidates for ``quotad.directives.enforcement`` to act on after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from quotad.directives.codec import DirectiveView, dump_finding
from quotad.directives.config import Rules
from quotad.directives.lifecycle import NoticeRules, close_state, plan_notice
from quotad.directives.models import ACTIVE_STATES, Directive, DirectiveEvent
from quotad.policies.base import Finding

__all__ = ["EngineResult", "Notice", "apply_findings"]

log = logging.getLogger("quotad.directives")


@dataclass(frozen=True)
class Notice:
    """A notice the engine decided on: queue it (``quotad.notify.notices``)."""

    directive: DirectiveView
    number: int
    kind: str
    reason: str

    @property
    def escalated(self) -> bool:
        return self.directive.escalation > 0


@dataclass(frozen=True)
class EngineResult:
    opened: tuple[DirectiveView, ...]
    updated: tuple[DirectiveView, ...]
    closed: tuple[DirectiveView, ...]
    notices: tuple[Notice, ...]
    deferred: tuple[DirectiveView, ...]
    enforceable: tuple[DirectiveView, ...]

    @property
    def active(self) -> tuple[DirectiveView, ...]:
        return self.opened + self.updated


def _load_active(conn: Connection) -> dict[tuple[str, str], DirectiveView]:
    rows = conn.execute(select(cast(Table, Directive.__table__)).where(Directive.state.in_(ACTIVE_STATES)))
    return {(v.policy, v.subject_key): v for v in map(DirectiveView.from_row, rows)}


def _finding_columns(f: Finding) -> dict[str, Any]:
    return {
        "base_severity": int(f.severity),
        "level": f.level,
        "summary": f.summary,
        "finding": dump_finding(f),
        "urgent": f.urgent,
        "enforceable": f.enforceable,
        "expires_at": f.expires_at,
    }


def _open(conn: Connection, f: Finding, now: int) -> DirectiveView:
    subject = f.subject
    values: dict[str, Any] = {
        "policy": f.policy,
        "subject_key": subject.key,
        "company_id": subject.company_id,
        "cluster": subject.cluster,
        "account": subject.account,
        "job_id": subject.job.job_id if subject.job else None,
        "grant_id": subject.grant_id,
        "state": "open",
        "severity": int(f.severity),
        "opened_at": now,
        "last_seen_at": now,
        "changed_at": now,
        "notices": 0,
        "unchanged_notices": 0,
        "escalation": 0,
        "acknowledged_by": "",
        "close_reason": "",
        **_finding_columns(f),
    }
    new_id = conn.execute(insert(Directive).values(**values).returning(Directive.id)).scalar_one()
    return DirectiveView(
        id=int(new_id), policy=f.policy, subject_key=subject.key, company_id=subject.company_id,
        cluster=subject.cluster, account=subject.account, job_id=values["job_id"], grant_id=subject.grant_id,
        state="open", base_severity=f.severity, severity=f.severity, level=f.level, summary=f.summary,
        finding_json=values["finding"],
        urgent=f.urgent, enforceable=f.enforceable, expires_at=f.expires_at, opened_at=now, last_seen_at=now,
        changed_at=now, notices=0, unchanged_notices=0, escalation=0, last_notified_at=None, notified_level=None,
        notified_severity=None, acknowledged_at=None, acknowledged_by="", closed_at=None, close_reason="",
    )


def _refresh(d: DirectiveView, f: Finding, now: int) -> tuple[DirectiveView, bool]:
    changed = d.level != f.level or d.base_severity != f.severity
    return (
        replace(
            d, base_severity=f.severity, severity=f.severity.raised(d.escalation), level=f.level,
            summary=f.summary, finding_json=dump_finding(f), urgent=f.urgent, enforceable=f.enforceable,
            expires_at=f.expires_at,
            last_seen_at=now, changed_at=now if changed else d.changed_at,
        ),
        changed,
    )


def _row_values(d: DirectiveView) -> dict[str, Any]:
    return {
        "b_id": d.id,
        "state": d.state,
        "base_severity": int(d.base_severity),
        "severity": int(d.severity),
        "level": d.level,
        "summary": d.summary,
        "finding": d.finding_json,
        "urgent": d.urgent,
        "enforceable": d.enforceable,
        "expires_at": d.expires_at,
        "last_seen_at": d.last_seen_at,
        "changed_at": d.changed_at,
        "notices": d.notices,
        "unchanged_notices": d.unchanged_notices,
        "escalation": d.escalation,
        "last_notified_at": d.last_notified_at,
        "notified_level": d.notified_level,
        "notified_severity": int(d.notified_severity) if d.notified_severity is not None else None,
        "closed_at": d.closed_at,
        "close_reason": d.close_reason,
    }


Event = dict[str, Any]


def _merge(
    conn: Connection, active: dict[tuple[str, str], DirectiveView], seen: dict[tuple[str, str], Finding], now: int,
    events: list[Event],
) -> tuple[list[DirectiveView], set[int]]:
    """Open a directive for each new (policy, subject); refresh the existing ones. Returns all, and new ids."""
    current: list[DirectiveView] = []
    opened: set[int] = set()
    for key, f in seen.items():
        existing = active.get(key)
        if existing is None:
            view = _open(conn, f, now)
            opened.add(view.id)
            events.append({"directive_id": view.id, "at": now, "kind": "opened", "detail": f.summary})
        else:
            view, changed = _refresh(existing, f, now)
            if changed:
                detail = f"{existing.level} ({existing.base_severity.label}) -> {f.level} ({f.severity.label})"
                events.append({"directive_id": view.id, "at": now, "kind": "changed", "detail": detail})
        current.append(view)
    return current, opened


def _notify(
    current: list[DirectiveView], *, rules: Rules, now: int, working_day: bool, events: list[Event]
) -> tuple[list[DirectiveView], list[Notice], list[DirectiveView]]:
    """Apply ``plan_notice`` to each seen directive: (directives as updated, notices, deferred ones)."""
    final: list[DirectiveView] = []
    notices: list[Notice] = []
    deferred: list[DirectiveView] = []
    for view in current:
        policy_rules = NoticeRules(rules.cooldown_s(view.policy), rules.escalate_after(view.policy))
        plan = plan_notice(view, now=now, rules=policy_rules, working_day=working_day)
        if plan.send:
            fresh = plan.kind in ("first", "change")
            escalated_now = plan.escalation > view.escalation
            view = replace(
                view, state="notified", notices=view.notices + 1,
                unchanged_notices=1 if fresh else view.unchanged_notices + 1, escalation=plan.escalation,
                severity=plan.severity, last_notified_at=now, notified_level=view.level,
                notified_severity=view.base_severity,
            )
            events.append({"directive_id": view.id, "at": now, "kind": "notified", "detail": plan.reason})
            if escalated_now:
                detail = f"escalation level {plan.escalation}, severity {plan.severity.label}, programme office in Cc"
                events.append({"directive_id": view.id, "at": now, "kind": "escalated", "detail": detail})
            notices.append(Notice(view, view.notices, plan.kind, plan.reason))
        elif plan.deferred:
            deferred.append(view)
        final.append(view)
    return final, notices, deferred


def _close(
    active: dict[tuple[str, str], DirectiveView], seen: dict[tuple[str, str], Finding], *,
    evaluated: Collection[str], enabled: Collection[str], now: int, grace_s: int, events: list[Event],
) -> list[DirectiveView]:
    """Resolve or expire the active directives whose finding is absent (see ``lifecycle.close_state``)."""
    closed: list[DirectiveView] = []
    for key, view in active.items():
        if key in seen:
            continue
        policy_on = view.policy in enabled
        if policy_on and view.policy not in evaluated:
            continue  # the policy failed this tick: keep the directive as it is
        if policy_on and now < view.last_seen_at + grace_s:
            continue
        decision = close_state(view, now=now, policy_enabled=policy_on)
        if decision is None:
            continue
        state, reason = decision
        view = replace(view, state=state, closed_at=now, close_reason=reason)
        events.append({"directive_id": view.id, "at": now, "kind": state, "detail": reason})
        closed.append(view)
    return closed


def apply_findings(
    conn: Connection,
    findings: Sequence[Finding],
    *,
    evaluated: Collection[str],
    enabled: Collection[str],
    now: int,
    rules: Rules,
    working_day: bool,
) -> EngineResult:
    """Open, update and close directives for one tick, in the caller's transaction.

    ``evaluated``: policies that ran without error this tick (only their absent findings close directives);
    ``enabled``: policies switched on (directives of the others expire).
    """
    active = _load_active(conn)
    seen = {(f.policy, f.subject.key): f for f in findings}
    events: list[Event] = []
    current, opened = _merge(conn, active, seen, now, events)
    final, notices, deferred = _notify(current, rules=rules, now=now, working_day=working_day, events=events)
    closed = _close(active, seen, evaluated=evaluated, enabled=enabled, now=now,
                    grace_s=rules.directives.resolve_grace_minutes * 60, events=events)
    changed_rows = [_row_values(v) for v in final + closed]
    if changed_rows:
        table = cast(Table, Directive.__table__)
        conn.execute(update(table).where(table.c.id == bindparam("b_id")), changed_rows)
    if events:
        conn.execute(insert(DirectiveEvent), [{"actor": "quotad", **e} for e in events])
    enforce = tuple(
        v for v in final if v.enforceable and v.notices > 0 and rules.policies.enforcement(v.policy) != "off"
    )
    result = EngineResult(
        tuple(v for v in final if v.id in opened), tuple(v for v in final if v.id not in opened), tuple(closed),
        tuple(notices), tuple(deferred), enforce,
    )
    log.debug("directives: %d opened, %d updated, %d closed, %d notices, %d deferred", len(result.opened),
             len(result.updated), len(result.closed), len(notices), len(deferred))
    return result
