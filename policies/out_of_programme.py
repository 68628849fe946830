"""``out_of_programme``: GPU jobs on programme partitions that the programme does not cover.

Two cases, both from the ``jobs`` table (running now, or ended within ``lookback_hours``), on the
partitions each cluster lists in ``programme_partitions``:
- ``unclaimed``: the job's account belongs to no company — someone computes on the programme's GPUs
  outside every grant (the usage is kept in the ledger as "(unclaimed)" but nobody is charged for it);
- ``outside_grant``: the account is a company's, but (part of) the job ran when none of the company's grants
  covering that cluster was in its period. The GPU-seconds outside every period are reported.

Why per (cluster, account) and not per job: one directive that lists the jobs tells an account's owner, or
the programme office, the whole story; one mail per job would bury it. The GPU-hours are summed over the
jobs in view; ``min_gpu_hours`` keeps a stray test job from raising anything.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt

from quotad.ledger.models import POOL
from quotad.ledger.queries import GrantInfo
from quotad.ledger.records import JobRef
from quotad.policies import figures
from quotad.policies.base import (
    Evaluation,
    Figure,
    Finding,
    JobLine,
    Outcomes,
    Scope,
    Severity,
    Subject,
    Threshold,
)
from quotad.policies.settings import Override, PolicySettings

if TYPE_CHECKING:  # the facts (and the ledger queries behind them) load with the policy engine, not
    # with the configuration that names this policy's section (the node agent reads that too)
    from quotad.ledger.facts import JobRow, LedgerFacts

__all__ = ["NAME", "OutOfProgramme", "OutOfProgrammeConfig", "OutOfProgrammeOverride", "outside_seconds"]

NAME = "out_of_programme"
Kind = Literal["unclaimed", "outside_grant"]


class OutOfProgrammeOverride(Override):
    min_gpu_hours: NonNegativeFloat | None = None


class OutOfProgrammeConfig(PolicySettings):
    """``[policies.out_of_programme]``."""

    lookback_hours: PositiveInt = 24
    #: Report an account only when its out-of-programme GPU-hours exceed this.
    min_gpu_hours: NonNegativeFloat = 0.0
    max_jobs_listed: PositiveInt = 20
    enforcement: Literal["off"] = "off"
    overrides: dict[str, OutOfProgrammeOverride] = Field(default_factory=dict)


def outside_seconds(interval: tuple[int, int], periods: list[tuple[int, int]]) -> int:
    """Seconds of ``interval`` that no period covers (periods may overlap)."""
    start, end = interval
    covered, cursor = 0, start
    for lo, hi in sorted(periods):
        lo, hi = max(lo, cursor), min(hi, end)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return max(0, end - start - covered)


def _job_hours(job: JobRow, now: int) -> float:
    interval = job.interval(now)
    return round(job.gpu_count * (interval[1] - interval[0]) / 3600, 1) if interval else 0.0


def _periods(grants: list[GrantInfo], company: str, cluster: str) -> list[tuple[int, int]]:
    return [
        (g.period_start, g.period_end) for g in grants if g.company_id == company and g.cluster in (POOL, cluster)
    ]


class OutOfProgramme:
    """Fires per (cluster, account) with GPU jobs on programme partitions outside every grant."""

    def __init__(self, config: OutOfProgrammeConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        now = facts.now
        grants = facts.grants()
        groups: defaultdict[tuple[str, str, str | None, Kind], list[tuple[JobRow, int]]] = defaultdict(list)
        seen_job = False
        for job in facts.programme_jobs(now - self.config.lookback_hours * 3600):
            owner = facts.owner(job.cluster, job.account)
            if not scope.wants_company(owner) or not scope.wants_job(job.ref):
                continue
            seen_job = seen_job or scope.job == job.ref
            interval = job.interval(now)
            if interval is None:
                continue
            if owner is None:
                held = job.gpu_count * (interval[1] - interval[0])
                groups[(job.cluster, job.account, None, "unclaimed")].append((job, held))
                continue
            outside = outside_seconds(interval, _periods(grants, owner, job.cluster))
            if outside > 0:
                groups[(job.cluster, job.account, owner, "outside_grant")].append((job, job.gpu_count * outside))
            elif scope.job == job.ref:
                out.held_back(
                    Subject(owner, cluster=job.cluster, account=job.account, job=job.ref),
                    f"account {job.cluster}:{job.account} is {owner}'s and the job ran inside its grant period",
                )
        for (cluster, account, owner, kind), jobs in sorted(groups.items(), key=lambda item: item[0][:2]):
            cfg = self.config.for_company(owner)
            gpu_seconds = sum(s for _, s in jobs)
            subject = Subject(owner, cluster=cluster, account=account)
            if gpu_seconds <= cfg.min_gpu_hours * 3600:
                out.held_back(
                    subject, f"{gpu_seconds / 3600:.1f} GPU-h out of programme, not over min_gpu_hours = "
                    f"{cfg.min_gpu_hours:g}"
                )
                continue
            listed = sorted(jobs, key=lambda item: (-item[1], item[0].job_id))[: cfg.max_jobs_listed]
            why = "no company claims the account" if kind == "unclaimed" else f"outside every grant period of {owner}"
            out.fired(
                Finding(
                    policy=NAME,
                    subject=subject,
                    severity=Severity.WARNING,
                    level=kind,
                    summary=(
                        f"{cluster}:{account}: {len(jobs)} GPU job(s) on programme partitions, "
                        f"{gpu_seconds / 3600:.1f} GPU-h, {why}"
                    ),
                    threshold=Threshold("min_gpu_hours", cfg.min_gpu_hours, "GPU-h", ">"),
                    figures=(
                        Figure("kind", kind, ""),
                        Figure("cluster", cluster, ""),
                        Figure("account", account, ""),
                        Figure("jobs", len(jobs), "jobs"),
                        figures.hours("gpu_hours", gpu_seconds),
                        Figure("partitions", ",".join(sorted({j.partition for j, _ in jobs})), ""),
                        Figure("lookback_hours", self.config.lookback_hours, "h"),
                    ),
                    jobs=tuple(
                        JobLine(j.cluster, j.job_id, j.account, j.user_name, j.gpu_count, _job_hours(j, now),
                                round(s / 3600, 1), "GPU-h outside")
                        for j, s in listed
                    ),
                )
            )
        if scope.explain and scope.job is not None and not seen_job:
            subject, reason, missing = self._why_not(facts, scope.job)
            out.held_back(subject, reason, missing_data=missing)
        elif scope.explain and scope.job is None and not groups:
            out.held_back(Subject(scope.company_id), "no GPU job on programme partitions outside the programme")
        return out.result()

    def _why_not(self, facts: LedgerFacts, ref: JobRef) -> tuple[Subject, str, bool]:
        """Why a job the database did not return is not out of programme (for ``policy explain``)."""
        found = facts.job(ref)
        subject = Subject(None, cluster=ref.cluster, job=ref)
        if found is None:
            return subject, "job unknown to the ledger", True
        parts = facts.programme_partitions.get(ref.cluster, ())
        owner = facts.owner(ref.cluster, found.account)
        subject = Subject(owner, cluster=ref.cluster, account=found.account, job=ref)
        if found.partition not in parts:
            known = ", ".join(parts) or "none configured"
            return subject, f"partition {found.partition!r} is not a programme partition ({known})", False
        hours = self.config.lookback_hours
        recent = found.state == "RUNNING" or (found.end_time or 0) >= facts.now - hours * 3600
        if not recent or found.gpu_count <= 0:
            return subject, f"job neither running nor ended in the last {hours} h, or held no GPU", False
        account = f"{ref.cluster}:{found.account}"
        return subject, f"account {account} is {owner}'s and the job ran inside its grant period", False
