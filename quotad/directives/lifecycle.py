"""The lifecycle rules, as pure functions of a directive's state and the clock.

    open ──notice──▶ notified ──ack──▶ acknowledged
      │                 │                  │
      └──── condition gone (after the grace) ──▶ resolved
      └──── period over / policy switched off ─▶ expired

When a notice goes out (``plan_notice``):
- the first notice, and a notice after a *change* (the policy's level or severity moved), go at the next
  tick; an acknowledged directive gets one only after a change (it then returns to "notified");
- an unchanged directive is reminded once ``cooldown`` has passed since its last notice;
- a non-urgent notice waits for a working day; an urgent one goes at once;
- after ``escalate_after`` notices without change, each further one is escalated: the programme office is
  put in Cc and the severity goes up one step (again after each further ``escalate_after``), never past
  critical. A change resets the count of unchanged notices but not the escalation already reached, so the
  office keeps hearing about a case it was brought into.

Why pure: the engine applies these decisions to rows; tests drive them with a controlled clock, and
``directives show`` can say when the next reminder is due without sending anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from quotad.directives.codec import DirectiveView
from quotad.policies.base import Severity

__all__ = ["NoticePlan", "NoticeRules", "close_state", "plan_notice"]


@dataclass(frozen=True)
class NoticeRules:
    cooldown_s: int
    escalate_after: int


@dataclass(frozen=True)
class NoticePlan:
    """Whether to notify now, why (one line), and with which escalation and severity."""

    send: bool
    reason: str
    kind: Literal["first", "change", "reminder", "none"] = "none"
    escalation: int = 0
    severity: Severity = Severity.INFO
    deferred: bool = False
    next_due: int | None = None

    @property
    def escalated(self) -> bool:
        return self.escalation > 0


def plan_notice(d: DirectiveView, *, now: int, rules: NoticeRules, working_day: bool) -> NoticePlan:
    """What to do about notifying ``d`` at ``now`` (``d`` carries this tick's level and severity)."""
    if not d.active:
        return NoticePlan(False, f"directive is {d.state}")
    changed = d.changed_since_notice
    if d.notices == 0:
        kind: Literal["first", "change", "reminder", "none"] = "first"
    elif changed:
        kind = "change"
    elif d.state == "acknowledged":
        return NoticePlan(False, "acknowledged; notified again only if the condition changes")
    else:
        due = (d.last_notified_at or 0) + rules.cooldown_s
        if now < due:
            return NoticePlan(False, "cooldown", next_due=due)
        kind = "reminder"
    escalation = d.escalation
    if kind == "reminder" and d.unchanged_notices >= rules.escalate_after * (d.escalation + 1):
        escalation = d.escalation + 1
    severity = d.base_severity.raised(escalation)
    if not d.urgent and not working_day:
        return NoticePlan(False, "waiting for a working day", kind, escalation, severity, deferred=True)
    reason = {
        "first": "first notice",
        "change": f"changed to {d.level} ({d.base_severity.label})",
        "reminder": f"reminder {d.unchanged_notices + 1} without change",
    }[kind]
    if escalation > d.escalation:
        reason += f"; escalated to level {escalation}"
    return NoticePlan(True, reason, kind, escalation, severity)


def close_state(d: DirectiveView, *, now: int, policy_enabled: bool) -> tuple[str, str] | None:
    """For an active directive whose finding is absent this tick: (new state, reason), or None to keep it.

    Expired: the policy was switched off, or the finding's own horizon (its grant period) has passed.
    Resolved: the condition is gone.
    """
    if not policy_enabled:
        return "expired", "policy disabled"
    if d.expires_at is not None and now >= d.expires_at:
        return "expired", "the period it was about has ended"
    return "resolved", "condition gone"
