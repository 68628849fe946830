"""``idle_allocation``: a running job holds GPUs at or below N % utilisation for at least M minutes.

Why from the NVML aggregates and per job: Slurm only knows a GPU is allocated; the node agent knows whether
it did anything. An allocated GPU is idle when its latest row (sampled within ``stale_minutes``) shows an
idle streak (at the agent's ``idle_util_pct``) or a trailing window averaging at most ``max_util_pct`` %,
covering at least ``idle_minutes``. The finding names the job, how many of its GPUs are idle, for how long
(the shortest streak among them: "all of these for at least ...") and the GPU-hours wasted so far (the sum
of the idle GPUs' streaks).

Past ``hold_after_minutes`` the finding is critical and urgent (sent at once, even on a holiday) and
enforceable: with ``enforcement = "hold"`` the job is requeued and held (``scontrol requeuehold``), with
``"cancel"`` it is cancelled (``scancel``). Enforcement is off by default. One directive per job; the idle
GPU count and whether the hold threshold is passed are its level.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Literal

from pydantic import Field, PositiveInt, model_validator

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
    from quotad.ledger.facts import LedgerFacts
    from quotad.ledger.telemetry import IdleGpu

__all__ = ["NAME", "IdleAllocation", "IdleAllocationConfig", "IdleAllocationOverride"]

NAME = "idle_allocation"


class IdleAllocationOverride(Override):
    max_util_pct: float | None = Field(default=None, ge=0, le=100)
    idle_minutes: PositiveInt | None = None
    hold_after_minutes: PositiveInt | None = None


class IdleAllocationConfig(PolicySettings):
    """``[policies.idle_allocation]``."""

    #: A GPU at or below this utilisation (%) counts as idle.
    max_util_pct: float = Field(default=5.0, ge=0, le=100)
    #: Minutes idle before a job is reported.
    idle_minutes: PositiveInt = 30
    #: Minutes idle after which the finding is urgent and the configured enforcement acts.
    hold_after_minutes: PositiveInt = 120
    #: Telemetry older than this is not "now" (the agent stopped, the job ended).
    stale_minutes: PositiveInt = 5
    enforcement: Literal["off", "hold", "cancel"] = "off"
    overrides: dict[str, IdleAllocationOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> IdleAllocationConfig:
        if self.hold_after_minutes < self.idle_minutes:
            raise ValueError(
                f"hold_after_minutes = {self.hold_after_minutes} is shorter than idle_minutes = {self.idle_minutes}"
            )
        return self

    def loosest(self) -> tuple[int, float]:
        """(idle seconds, util %) that admit every GPU any company's settings could report."""
        configs = [self, *(self.for_company(c) for c in self.overrides)]
        return min(c.idle_minutes for c in configs) * 60, max(c.max_util_pct for c in configs)


class IdleAllocation:
    """Fires per running job with allocated GPUs idle past the threshold."""

    def __init__(self, config: IdleAllocationConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        min_idle_s, max_util = self.config.loosest()
        stale_s = self.config.stale_minutes * 60
        by_job: defaultdict[JobRef, list[IdleGpu]] = defaultdict(list)
        for gpu in facts.idle_gpus(min_idle_s=min_idle_s, max_util_pct=max_util, stale_s=stale_s):
            by_job[JobRef(gpu.cluster, gpu.job_id)].append(gpu)
        fired: set[JobRef] = set()
        wanted = {
            ref: (facts.owner(ref.cluster, gpus[0].account), gpus)
            for ref, gpus in sorted(by_job.items())
            if scope.wants_job(ref) and scope.wants_company(facts.owner(ref.cluster, gpus[0].account))
        }
        sizes = facts.gpu_counts(wanted) if wanted else {}
        for ref, (owner, gpus) in wanted.items():
            finding = self._finding(facts, ref, owner, gpus, sizes.get(ref, len(gpus)))
            if finding is not None:
                out.fired(finding)
                fired.add(ref)
        if scope.explain:
            self._explain(facts, scope, out, fired)
        return out.result()

    def _finding(
        self, facts: LedgerFacts, ref: JobRef, owner: str | None, gpus: list[IdleGpu], held: int
    ) -> Finding | None:
        cfg = self.config.for_company(owner)
        now = facts.now
        idle = sorted(
            ((g, g.idle_for(now, cfg.max_util_pct)) for g in gpus), key=lambda item: (item[0].node, item[0].gpu_index)
        )
        idle = [(g, s) for g, s in idle if s >= cfg.idle_minutes * 60]
        if not idle:
            return None
        first = idle[0][0]
        shortest = min(s for _, s in idle)
        longest = max(s for _, s in idle)
        wasted = sum(s for _, s in idle)
        past_hold = shortest >= cfg.hold_after_minutes * 60
        severity = Severity.CRITICAL if past_hold else Severity.WARNING
        nodes = sorted({f"{g.node}:{g.gpu_index}" for g, _ in idle})
        return Finding(
            policy=NAME,
            subject=Subject(owner, cluster=ref.cluster, account=first.account, job=ref),
            severity=severity,
            level=f"{'hold' if past_hold else 'idle'}:{len(idle)}",
            summary=(
                f"job {ref}: {len(idle)} of {held} GPUs at <= {cfg.max_util_pct:g}% for at least {shortest // 60} min "
                f"({wasted / 3600:.1f} GPU-h wasted so far)"
            ),
            threshold=Threshold("idle_minutes", cfg.idle_minutes, "min", ">="),
            figures=(
                Figure("job_id", ref.job_id, ""),
                Figure("cluster", ref.cluster, ""),
                Figure("account", first.account, ""),
                Figure("user", first.user_name, ""),
                Figure("idle_gpus", len(idle), "GPUs"),
                Figure("job_gpus", held, "GPUs"),
                Figure("idle_minutes", shortest // 60, "min"),
                Figure("longest_idle_minutes", longest // 60, "min"),
                figures.hours("wasted_gpu_hours", wasted),
                Figure("max_util_pct", cfg.max_util_pct, "%"),
                Figure("hold_after_minutes", cfg.hold_after_minutes, "min"),
                Figure("gpus", " ".join(nodes), ""),
            ),
            jobs=(
                JobLine(ref.cluster, ref.job_id, first.account, first.user_name, held, round(wasted / 3600, 1),
                        float(shortest // 60), "min idle"),
            ),
            urgent=past_hold,
            enforceable=past_hold,
        )

    def _explain(self, facts: LedgerFacts, scope: Scope, out: Outcomes, fired: set[JobRef]) -> None:
        stale = self.config.stale_minutes
        if scope.job is None:
            if not fired:
                out.held_back(
                    Subject(scope.company_id),
                    f"no allocated GPU idle for {self.config.idle_minutes} min or more in telemetry sampled within "
                    f"the last {stale} min",
                )
            return
        ref = scope.job
        if ref in fired:
            return
        job = facts.job(ref)
        owner = facts.owner(ref.cluster, job.account) if job is not None else None
        cfg = self.config.for_company(owner)
        subject = Subject(owner, cluster=ref.cluster, account=job.account if job else None, job=ref)
        if job is None or job.state != "RUNNING":
            out.held_back(subject, f"job is not running (state {job.state if job else 'unknown to the ledger'})")
            return
        gpus = facts.job_gpus_now(ref, stale_s=stale * 60)
        if not gpus:
            out.held_back(subject, f"no GPU telemetry for this job in the last {stale} min", missing_data=True)
            return
        allocated = [g for g in gpus if g.allocated]
        if not allocated:
            out.held_back(subject, "telemetry shows no GPU allocated to this job by Slurm", missing_data=True)
            return
        longest = 0
        for g in allocated:
            from quotad.ledger.telemetry import IdleGpu  # runtime use; see the TYPE_CHECKING import

            probe = IdleGpu(ref.cluster, ref.job_id, g.node, g.gpu_index, job.account, job.user_name, g.idle_since,
                            g.recent_seconds, g.recent_util_pct_seconds, g.last_sample)
            longest = max(longest, probe.idle_for(facts.now, cfg.max_util_pct))
        out.held_back(
            subject,
            f"longest idle GPU: {longest // 60} min at <= {cfg.max_util_pct:g}%, below idle_minutes = "
            f"{cfg.idle_minutes}",
        )
