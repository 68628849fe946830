"""One policy tick end to end: read the facts, run every enabled policy, update directives, queue notices,
then enforce. The one function ``quotad policy run`` and the daemon call; it sits above ``policies``,
``directives``, ``notify`` and ``enforce`` and orchestrates them, so none of them calls back up into another.

Why in this order and in these transactions: policies, the directive updates and the queued notices share
one transaction, so a directive is never marked notified without its message in the outbox (and a dry run
rolls all of it back). Enforcement runs after the commit, each command logged in a transaction of its own,
because a Slurm command cannot be rolled back with the database. On PostgreSQL an advisory lock keeps two
ticks (daemon and an operator) from interleaving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from quotad.config import Settings
from quotad.directives.config import Rules
from quotad.directives.enforcement import ActionOutcome, execute, plan_actions
from quotad.directives.engine import EngineResult, apply_findings
from quotad.enforce.sacctmgr import default_runner
from quotad.enforce.slurm_limits import RunnerFor
from quotad.errors import LedgerError
from quotad.ledger.facts import facts_for
from quotad.ledger.queries import list_companies
from quotad.notify.notices import Queued, queue_notices
from quotad.notify.service import calendar_for, renderer_for
from quotad.policies.base import Evaluation, Finding, Scope
from quotad.policies.registry import PolicyFailure, enabled_policies, evaluate

__all__ = ["TickReport", "policy_tick"]

log = logging.getLogger("quotad.policy")
TICK_LOCK = 7_207_740_315


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
