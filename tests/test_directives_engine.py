"""The directive engine with a controlled clock, on both databases: one directive per (policy, subject),
cooldown, escalation after N unchanged notices, change, acknowledgement, working days, resolution and
expiry."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, func, select

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.directives.engine import EngineResult, apply_findings
from quotad.directives.models import Directive
from quotad.directives.store import acknowledge, directive_events, get_directive
from quotad.notify.config import NotifyConfig
from quotad.policies.base import Figure, Finding, Severity, Subject, Threshold
from quotad.policies.config import PoliciesConfig
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

T0 = utc("2026-11-18T01:00:00")  # a Wednesday
ALL = {"quota_threshold", "idle_allocation"}
RULES = Rules(PoliciesConfig(), DirectivesConfig(cooldown_hours=24, escalate_after=2), NotifyConfig())


def finding(level: str = "step-80", severity: Severity = Severity.NOTICE, *, used: float = 800.0,
            urgent: bool = False, expires_at: int | None = None, company: str = "acme") -> Finding:
    return Finding(
        policy="quota_threshold", subject=Subject(company), severity=severity, level=level,
        summary=f"{company}: {used} used", threshold=Threshold("step_pct", 80, "%", ">="),
        figures=(Figure("used", used, "GPU-h"),), urgent=urgent, expires_at=expires_at,
    )


@pytest.fixture
def ledger(engine: Engine, settings: Settings) -> Engine:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme")
        led.company("fuji")
    return engine


def tick(engine: Engine, findings: Sequence[Finding], now: int, *, evaluated: set[str] = ALL,
         enabled: set[str] = ALL, working_day: bool = True, rules: Rules = RULES) -> EngineResult:
    with engine.begin() as conn:
        return apply_findings(conn, findings, evaluated=evaluated, enabled=enabled, now=now, rules=rules,
                              working_day=working_day)


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Directive)) or 0)


def test_a_persisting_condition_updates_one_directive(ledger: Engine) -> None:
    first = tick(ledger, [finding(used=800)], T0)
    (opened,) = first.opened
    assert [n.number for n in first.notices] == [1] and first.notices[0].kind == "first"
    second = tick(ledger, [finding(used=812.5)], T0 + H)
    assert second.opened == () and [d.id for d in second.updated] == [opened.id]
    assert second.notices == ()  # within the cooldown
    assert count(ledger) == 1
    with ledger.connect() as conn:
        d = get_directive(conn, opened.id)
    assert d.state == "notified" and d.finding.figure("used").value == 812.5 and d.last_seen_at == T0 + H


def test_cooldown_reminders_and_escalation(ledger: Engine) -> None:
    tick(ledger, [finding()], T0)
    assert tick(ledger, [finding()], T0 + 24 * H - 1).notices == ()
    reminder = tick(ledger, [finding()], T0 + 24 * H).notices
    assert [(n.number, n.kind, n.escalated) for n in reminder] == [(2, "reminder", False)]
    third = tick(ledger, [finding()], T0 + 48 * H).notices[0]  # two unchanged notices sent: escalate
    assert (third.number, third.escalated) == (3, True)
    assert third.directive.severity is Severity.WARNING and third.directive.base_severity is Severity.NOTICE
    fourth = tick(ledger, [finding()], T0 + 72 * H).notices[0]
    assert fourth.escalated and fourth.directive.escalation == 1  # next step only after 2 more
    fifth = tick(ledger, [finding()], T0 + 96 * H).notices[0]
    assert fifth.directive.escalation == 2 and fifth.directive.severity is Severity.CRITICAL
    with ledger.connect() as conn:
        kinds = [e.kind for e in directive_events(conn, third.directive.id)]
    assert kinds.count("notified") == 5 and kinds.count("escalated") == 2


def test_a_change_is_notified_at_once_and_resets_the_count(ledger: Engine) -> None:
    tick(ledger, [finding()], T0)
    tick(ledger, [finding()], T0 + 24 * H)
    change = tick(ledger, [finding("step-90", Severity.WARNING)], T0 + 25 * H).notices
    assert [(n.kind, n.number) for n in change] == [("change", 3)]
    assert change[0].directive.unchanged_notices == 1 and not change[0].escalated
    assert tick(ledger, [finding("step-90", Severity.WARNING)], T0 + 26 * H).notices == ()


def test_acknowledged_directives_get_no_reminders_until_they_change(ledger: Engine) -> None:
    (n,) = tick(ledger, [finding()], T0).notices
    with ledger.begin() as conn:
        acknowledge(conn, n.directive.id, by="ops@acme", note="on it", now=T0 + H)
    assert tick(ledger, [finding()], T0 + 30 * H).notices == ()
    (change,) = tick(ledger, [finding("step-90", Severity.WARNING)], T0 + 31 * H).notices
    assert change.directive.state == "notified"


def test_non_urgent_notices_wait_for_a_working_day_urgent_ones_do_not(ledger: Engine) -> None:
    holiday = tick(ledger, [finding(), finding("step-100", Severity.CRITICAL, urgent=True, company="fuji")], T0,
                   working_day=False)
    assert [n.directive.company_id for n in holiday.notices] == ["fuji"]
    assert [d.company_id for d in holiday.deferred] == ["acme"]
    assert [n.directive.company_id for n in tick(ledger, [finding()], T0 + DAY).notices] == ["acme"]


def test_resolution_failure_disable_expiry_and_recurrence(ledger: Engine) -> None:
    (n,) = tick(ledger, [finding()], T0).notices
    kept = tick(ledger, [], T0 + H, evaluated=ALL - {"quota_threshold"})  # the policy failed: keep it
    assert kept.closed == ()
    (closed,) = tick(ledger, [], T0 + 2 * H).closed
    assert (closed.id, closed.state, closed.close_reason) == (n.directive.id, "resolved", "condition gone")
    again = tick(ledger, [finding()], T0 + 3 * H)
    assert again.opened[0].id != n.directive.id and again.notices[0].number == 1
    (expired,) = tick(ledger, [], T0 + 4 * H, enabled=ALL - {"quota_threshold"}).closed
    assert expired.state == "expired" and expired.close_reason == "policy disabled"
    tick(ledger, [finding(expires_at=T0 + 6 * H)], T0 + 5 * H)
    (moot,) = tick(ledger, [], T0 + 6 * H).closed
    assert moot.state == "expired" and "period" in moot.close_reason


def test_resolve_grace(ledger: Engine) -> None:
    rules = Rules(PoliciesConfig(), DirectivesConfig(resolve_grace_minutes=30), NotifyConfig())
    tick(ledger, [finding()], T0, rules=rules)
    assert tick(ledger, [], T0 + 29 * 60, rules=rules).closed == ()
    assert tick(ledger, [], T0 + 30 * 60, rules=rules).closed[0].state == "resolved"
