"""``policy explain``: for one job or one company, whether each policy fired and, if not, why not.

Why every policy, enabled or not: the question is usually "why did nobody tell them?", and the answer can
be "that policy is off", "the job's account belongs to no company", a threshold (with the measured number
next to it), or missing data (no telemetry, no grant). Each policy reports its own checks when asked
(``Scope.explain``); this module picks the scope and fills in the policies that had nothing to say.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from quotad.config import Settings
from quotad.directives.config import Rules
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.facts import facts_for
from quotad.ledger.models import Job
from quotad.ledger.records import JobRef
from quotad.ledger.registry import require_company
from quotad.policies.base import Check, Scope, Subject
from quotad.policies.registry import all_policies, evaluate

__all__ = ["Explanation", "explain", "resolve_job"]

#: A company id no company has: "this job's account belongs to nobody", so company policies see nothing.
NO_COMPANY = ""


@dataclass(frozen=True)
class Explanation:
    policy: str
    enabled: bool
    checks: tuple[Check, ...]
    error: str = ""


def resolve_job(conn: Connection, job: str, cluster: str | None) -> JobRef:
    """``123`` (JobIDRaw) or ``123_4`` (JobID as sacct prints it), on ``cluster`` when given."""
    stmt = select(Job.cluster, Job.job_id_raw).distinct()
    stmt = stmt.where(Job.job_id_raw == int(job)) if job.isdigit() else stmt.where(Job.job_id == job)
    if cluster is not None:
        stmt = stmt.where(Job.cluster == cluster)
    found = sorted({(c, int(i)) for c, i in conn.execute(stmt)})
    if not found:
        where = f" on cluster {cluster}" if cluster else ""
        raise NotFoundError("job", job, hint=f"not in the ledger{where}")
    if len(found) > 1:
        clusters = ", ".join(sorted({c for c, _ in found}))
        raise UsageError(f"job {job} is in the ledger on {clusters}: give --cluster")
    return JobRef(*found[0])


def explain(
    conn: Connection,
    settings: Settings,
    rules: Rules,
    *,
    now: int,
    company_id: str | None = None,
    job: JobRef | None = None,
) -> list[Explanation]:
    """One explanation per policy for the company, or for the job (and its company's position)."""
    if (company_id is None) == (job is None):
        raise UsageError("give exactly one of --job or --company")
    facts = facts_for(conn, settings, now=now)
    if job is not None:
        row = facts.job(job)
        owner = facts.owner(job.cluster, row.account) if row is not None else None
        scope = Scope(company_id=owner if owner is not None else NO_COMPANY, job=job, explain=True)
    else:
        assert company_id is not None
        require_company(conn, company_id)
        scope = Scope(company_id=company_id, explain=True)
    out = []
    for policy in all_policies(rules.policies):
        enabled = rules.policies.section(policy.name).enabled
        evaluations, failures = evaluate([policy], facts, scope)
        checks = evaluations[0].checks if evaluations else ()
        if not checks and not failures:
            why = "nothing in scope"
            if job is not None and scope.company_id == NO_COMPANY:
                why = "the job's account belongs to no company, so company positions do not apply"
            checks = (Check(policy.name, Subject(company_id, job=job), False, why),)
        out.append(Explanation(policy.name, enabled, checks, failures[0].error if failures else ""))
    return out
