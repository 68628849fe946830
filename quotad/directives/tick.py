"""One policy tick end to end: read the facts, run every enabled policy, update directives, queue notices,
then enforce. The one function ``quotad policy run`` and the daemon call.

Why in this order and in these transactions: policies, the directive updates and the queued notices share
one transaction, so a directive is never marked notified without its message in the outbox (and a dry run
rolls all of it back). Enforcement runs after the commit, each command logged in a transaction of its own,
because a Slurm command cannot be rolled back with the database. On PostgreSQL an advisory lock keeps two
ticks (daemon and an operator) from interleaving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from quotad.collectors.sacctmgr import default_runner
from quotad.collectors.slurm_limits import RunnerFor
from quotad.config import Settings
from quotad.directives.config import Rules
from quotad.directives.enforcement import ActionOutcome, execute, plan_actions
from quotad.directives.engine import EngineResult, apply_findings
from quotad.errors import LedgerError, QuotadError
from quotad.ledger.queries import list_companies
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.notices import Queued, queue_notices
from quotad.notify.render import Renderer
from quotad.policies.base import Evaluation, Finding, Policy, Scope
from quotad.policies.facts import LedgerFacts
from quotad.policies.registry import enabled_policies
from quotad.units import GpuCatalog

__all__ = ["PolicyFailure", "TickReport", "calendar_for", "evaluate", "facts_for", "policy_tick", "renderer_for"]

log = logging.getLogger("quotad.policy")
TICK_LOCK = 7_207_740_315


@dataclass(frozen=True)
class PolicyFailure:
    policy: str
    error: str


@dataclass(frozen=True)
class TickReport:
    now: int
    dry_run: bool
    working_day: bool
    evaluations: tuple[Evaluation, ...]
    failures: tuple[PolicyFailure, ...]
    result: EngineResult
    queued: tuple[Queued, ...]
    actions: tuple[ActionOutcome, ...]
    elapsed_ms: float
    #: (policy, milliseconds) of each policy's evaluation, in order.
    policy_ms: tuple[tuple[str, float], ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for e in self.evaluations for f in e.findings)


def facts_for(conn: Connection, settings: Settings, *, now: int) -> LedgerFacts:
    return LedgerFacts(
        conn,
        now=now,
        catalog=GpuCatalog(settings.gpu_types),
        timezone=settings.programme.timezone,
        programme_partitions={c.name: tuple(c.programme_partitions) for c in settings.clusters},
        clusters=[c.name for c in settings.clusters],
    )


def renderer_for(settings: Settings, rules: Rules) -> Renderer:
    return Renderer(
        programme_ja=settings.programme.name_ja,
        programme_en=settings.programme.name_en,
        timezone=settings.programme.timezone,
        subject_prefix=rules.notify.subject_prefix,
        templates_dir=rules.notify.templates_dir,
    )


def calendar_for(settings: Settings, rules: Rules) -> WorkingCalendar:
    cal = rules.notify.calendar
    return WorkingCalendar(
        timezone=cal.timezone or settings.programme.timezone,
        country=cal.country,
        extra_holidays=cal.extra_holidays,
        working_weekdays=cal.working_weekdays,
    )


def evaluate(
    policies: Sequence[Policy], facts: LedgerFacts, scope: Scope, timings: list[tuple[str, float]] | None = None
) -> tuple[list[Evaluation], list[PolicyFailure]]:
    """Run each policy; one that raises is reported and skipped, the others still run."""
    evaluations, failures = [], []
    for policy in policies:
        started = time.perf_counter()
        try:
            evaluations.append(policy.evaluate(facts, scope))
            if timings is not None:
                timings.append((policy.name, (time.perf_counter() - started) * 1000))
        except SQLAlchemyError:
            raise
        except (QuotadError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            log.exception("policy %s failed; its directives are left as they are", policy.name)
            failures.append(PolicyFailure(policy.name, f"{type(exc).__name__}: {exc}"))
    return evaluations, failures


def policy_tick(
    engine: Engine,
    settings: Settings,
    rules: Rules,
    *,
    now: int,
    dry_run: bool = False,
    runner_for: RunnerFor = default_runner,
) -> TickReport:
    """Evaluate every enabled policy at ``now`` and act on the findings (``dry_run``: change nothing)."""
    started = time.perf_counter()
    policies = enabled_policies(rules.policies)
    calendar = calendar_for(settings, rules)
    working_day = calendar.is_working_time(now)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TICK_LOCK})
            facts = facts_for(conn, settings, now=now)
            timings: list[tuple[str, float]] = []
            evaluations, failures = evaluate(policies, facts, Scope(), timings)
            findings = [f for e in evaluations for f in e.findings]
            result = apply_findings(
                conn,
                findings,
                evaluated={e.policy for e in evaluations},
                enabled={p.name for p in policies},
                now=now,
                rules=rules,
                working_day=working_day,
            )
            queued = queue_notices(
                conn, result.notices, companies=list_companies(conn), renderer=renderer_for(settings, rules),
                config=rules.notify, now=now,
            )
            planned = plan_actions(conn, result.enforceable, policies=rules.policies, settings=settings)
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
    except SQLAlchemyError as exc:
        raise LedgerError(f"policy tick failed and changed nothing: {exc}") from exc
    actions = execute(engine, planned, settings=settings, runner_for=runner_for, now=now, dry_run=dry_run)
    elapsed = (time.perf_counter() - started) * 1000
    log.debug(  # the daemon logs its own one-line summary of the run; `policy tick` prints the report
        "policy tick at %d: %d findings, %d notices queued, %d actions%s in %.0f ms",
        now, len(findings), len(queued), len(actions), " (dry run)" if dry_run else "", elapsed,
    )
    return TickReport(
        now, dry_run, working_day, tuple(evaluations), tuple(failures), result, tuple(queued), tuple(actions), elapsed,
        tuple(timings),
    )
