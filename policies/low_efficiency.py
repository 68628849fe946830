"""``low_efficiency``: a company's jobs that finished in the last day averaged below a utilisation threshold.

Why weighted by GPU-hours: a 512-GPU run at 20 % wastes more than a hundred one-GPU tests at 5 %, so the
company's figure is ``Σ util_j × GPU-h_j / Σ GPU-h_j`` over its finished GPU jobs that have telemetry
(util_j: the job's time-weighted mean from the NVML aggregates over the hours it ran). The worst jobs
listed are those that wasted most capacity, ``GPU-h × (100 − util) %``.

Thresholds: fire below ``min_util_pct`` (warning below ``warning_util_pct``); ignore a company whose
finished jobs held fewer than ``min_gpu_hours``; if telemetry covers less than ``min_coverage_pct`` of those
GPU-hours the policy does not judge (missing data) rather than judge on a few jobs. One directive per
company; the severity is its level.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from quotad.policies import figures
from quotad.policies.base import Evaluation, Figure, Finding, JobLine, Outcomes, Scope, Severity, Subject, Threshold
from quotad.policies.settings import Override, PolicySettings

if TYPE_CHECKING:  # the facts (and the ledger queries behind them) load with the policy engine, not
    # with the configuration that names this policy's section (the node agent reads that too)
    from quotad.ledger.facts import FinishedJob, LedgerFacts

__all__ = ["NAME", "LowEfficiency", "LowEfficiencyConfig", "LowEfficiencyOverride"]

NAME = "low_efficiency"


class LowEfficiencyOverride(Override):
    min_util_pct: float | None = Field(default=None, gt=0, le=100)
    warning_util_pct: float | None = Field(default=None, gt=0, le=100)
    min_gpu_hours: NonNegativeFloat | None = None


class LowEfficiencyConfig(PolicySettings):
    """``[policies.low_efficiency]``."""

    window_hours: PositiveInt = 24
    min_util_pct: float = Field(default=40.0, gt=0, le=100)
    warning_util_pct: float = Field(default=20.0, gt=0, le=100)
    min_gpu_hours: NonNegativeFloat = 8.0
    min_coverage_pct: float = Field(default=50.0, ge=0, le=100)
    worst_jobs: PositiveInt = 5
    enforcement: Literal["off"] = "off"
    overrides: dict[str, LowEfficiencyOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> LowEfficiencyConfig:
        if self.warning_util_pct > self.min_util_pct:
            raise ValueError(
                f"warning_util_pct = {self.warning_util_pct:g} must not exceed min_util_pct = {self.min_util_pct:g}"
            )
        return self


def _waste(job: FinishedJob) -> float:
    return job.charged_seconds * (100.0 - (job.util_mean or 0.0))


class LowEfficiency:
    """Fires per company whose finished jobs' GPU-hour-weighted utilisation is low."""

    def __init__(self, config: LowEfficiencyConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        window = self.config.window_hours * 3600
        by_company: defaultdict[str, list[FinishedJob]] = defaultdict(list)
        for job in facts.finished_jobs(facts.now - window, facts.now + 1):
            owner = facts.owner(job.cluster, job.account)
            if owner is not None:
                by_company[owner].append(job)
        for company in facts.companies():
            if not scope.wants_company(company.id):
                continue
            subject = Subject(company.id)
            jobs = by_company.get(company.id, [])
            cfg = self.config.for_company(company.id)
            total = sum(j.charged_seconds for j in jobs)
            hours = self.config.window_hours
            if total < cfg.min_gpu_hours * 3600:
                out.held_back(
                    subject,
                    f"finished jobs of the last {hours} h held {total / 3600:.1f} GPU-h, under min_gpu_hours = "
                    f"{cfg.min_gpu_hours:g}",
                )
                continue
            measured = [j for j in jobs if j.util_mean is not None]
            covered = sum(j.charged_seconds for j in measured)
            coverage = figures.ratio_pct(covered, total)
            if not measured or coverage < cfg.min_coverage_pct:
                out.held_back(
                    subject,
                    f"GPU telemetry covers {coverage:.0f}% of the finished jobs' GPU-hours, under min_coverage_pct = "
                    f"{cfg.min_coverage_pct:g}",
                    missing_data=True,
                )
                continue
            mean = sum((j.util_mean or 0.0) * j.charged_seconds for j in measured) / covered if covered else 0.0
            if mean >= cfg.min_util_pct:
                out.held_back(
                    subject, f"weighted utilisation {mean:.1f}% is not below min_util_pct = {cfg.min_util_pct:g}"
                )
                continue
            severity = Severity.WARNING if mean < cfg.warning_util_pct else Severity.NOTICE
            worst = sorted(measured, key=lambda j: (-_waste(j), j.cluster, j.job_id))[: cfg.worst_jobs]
            out.fired(
                Finding(
                    policy=NAME,
                    subject=subject,
                    severity=severity,
                    level=severity.label,
                    summary=(
                        f"{company.id}: jobs finished in the last {hours} h averaged {mean:.1f}% GPU utilisation "
                        f"(weighted by GPU-hours), below {cfg.min_util_pct:g}%"
                    ),
                    threshold=Threshold("min_util_pct", cfg.min_util_pct, "%", "<"),
                    figures=(
                        figures.percent("util_pct", mean),
                        Figure("jobs", len(jobs), "jobs"),
                        Figure("jobs_measured", len(measured), "jobs"),
                        figures.hours("gpu_hours", total),
                        figures.percent("coverage_pct", coverage),
                        Figure("window_hours", hours, "h"),
                    ),
                    jobs=tuple(
                        JobLine(j.cluster, j.job_id, j.account, j.user_name, j.gpu_count,
                                round(j.charged_seconds / 3600, 1), round(j.util_mean or 0.0, 1), "% util")
                        for j in worst
                    ),
                )
            )
        return out.result()
