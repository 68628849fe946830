"""``underuse``: a grant's use is below X % of its plan curve for the part of the period that has passed.

Why against the plan and not against a straight line: companies ramp up (data preparation first, the big
run later), and the plan they filed (``grant set --plan YYYY-MM=N``) says when. Planned-to-date is the sum of
the plan months that have passed plus the elapsed share of the current month (months in the programme's
time zone, clipped to the grant period); a grant without a plan is read as a straight line over its period
(``without_plan = "linear"``) or skipped (``"skip"``).

The shortfall (planned-to-date − used) is capacity at risk of being wasted; it is given in GPU-hours — for a
normalised (EFLOPS-h) grant as GPU-hours of ``reference_gpu_type`` — and in the grant's own unit.

Thresholds: fire below ``min_plan_pct`` % of planned-to-date, warning below ``warning_plan_pct`` %; nothing
is judged before ``min_elapsed_days`` of the period have passed, or for a shortfall under
``min_shortfall_gpu_hours``. One directive per grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, model_validator

from quotad.ledger.models import POOL
from quotad.ledger.queries import GrantInfo
from quotad.policies import figures
from quotad.policies.base import Evaluation, Figure, Finding, Outcomes, Scope, Severity, Subject, Threshold
from quotad.policies.settings import Override, PolicySettings
from quotad.timeutil import add_months, month_bounds, month_start
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, GpuCatalog

if TYPE_CHECKING:  # the facts (and the ledger queries behind them) load with the policy engine, not
    # with the configuration that names this policy's section (the node agent reads that too)
    from quotad.ledger.facts import LedgerFacts

__all__ = ["NAME", "Underuse", "UnderuseConfig", "UnderuseOverride", "planned_to_date"]

NAME = "underuse"


class UnderuseOverride(Override):
    min_plan_pct: float | None = Field(default=None, gt=0, le=100)
    warning_plan_pct: float | None = Field(default=None, gt=0, le=100)
    min_elapsed_days: NonNegativeFloat | None = None
    min_shortfall_gpu_hours: NonNegativeFloat | None = None


class UnderuseConfig(PolicySettings):
    """``[policies.underuse]``."""

    min_plan_pct: float = Field(default=70.0, gt=0, le=100)
    warning_plan_pct: float = Field(default=50.0, gt=0, le=100)
    min_elapsed_days: NonNegativeFloat = 14.0
    min_shortfall_gpu_hours: NonNegativeFloat = 100.0
    without_plan: Literal["linear", "skip"] = "linear"
    reference_gpu_type: str = "h100"
    enforcement: Literal["off"] = "off"
    overrides: dict[str, UnderuseOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> UnderuseConfig:
        if self.warning_plan_pct > self.min_plan_pct:
            raise ValueError(
                f"warning_plan_pct = {self.warning_plan_pct:g} must not exceed min_plan_pct = {self.min_plan_pct:g}"
            )
        return self


def _share(amount: int, lo: int, hi: int, now: int) -> int:
    """The part of ``amount`` (spread evenly over [lo, hi)) that falls before ``now``."""
    if hi <= lo or now <= lo:
        return 0
    return amount if now >= hi else amount * (now - lo) // (hi - lo)


def planned_to_date(grant: GrantInfo, now: int, tz: str, *, linear: bool = True) -> int | None:
    """Planned use of ``grant`` up to ``now`` in its unit; None when it has no plan and ``linear`` is off."""
    if not grant.plan:
        return _share(grant.amount, grant.period_start, grant.period_end, now) if linear else None
    total = 0
    for month, amount in grant.plan:
        year, mon = month_start(month, tz)
        ny, nm = add_months(year, mon, 1)
        lo = max(month, grant.period_start)
        hi = min(month_bounds(ny, nm, tz)[0], grant.period_end)
        total += _share(amount, lo, hi, now)
    return total


def _gpu_hours(amount: int, grant: GrantInfo, catalog: GpuCatalog, reference: str) -> float:
    if not grant.unit.normalised:
        return amount / SECONDS_PER_HOUR
    return amount / (catalog.peak(reference) * SECONDS_PER_HOUR)


class Underuse:
    """Fires per active grant whose use lags its plan curve."""

    def __init__(self, config: UnderuseConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        now, tz = facts.now, facts.timezone
        for grant in facts.active_grants():
            if not scope.wants_company(grant.company_id):
                continue
            subject = Subject(grant.company_id, cluster=None if grant.cluster == POOL else grant.cluster,
                              grant_id=grant.id)
            cfg = self.config.for_company(grant.company_id)
            elapsed = now - grant.period_start
            if elapsed < cfg.min_elapsed_days * SECONDS_PER_DAY:
                out.held_back(
                    subject,
                    f"only {elapsed / SECONDS_PER_DAY:.1f} days of the period have passed "
                    f"(min_elapsed_days = {cfg.min_elapsed_days:g})",
                )
                continue
            planned = planned_to_date(grant, now, tz, linear=cfg.without_plan == "linear")
            if planned is None:
                out.held_back(subject, "the grant has no plan curve (without_plan = 'skip')", missing_data=True)
                continue
            if planned <= 0:
                out.held_back(subject, "nothing is planned up to now")
                continue
            used = facts.used(grant, start=grant.period_start, end=now)
            pct = figures.ratio_pct(used, planned)
            shortfall = planned - used
            short_h = _gpu_hours(max(0, shortfall), grant, facts.catalog, cfg.reference_gpu_type)
            if used * 100 >= cfg.min_plan_pct * planned:
                out.held_back(subject, f"use is {pct:.1f}% of the plan to date, not below {cfg.min_plan_pct:g}%")
                continue
            if short_h < cfg.min_shortfall_gpu_hours:
                out.held_back(
                    subject,
                    f"shortfall {short_h:.1f} GPU-h is under min_shortfall_gpu_hours = {cfg.min_shortfall_gpu_hours:g}",
                )
                continue
            unit = grant.unit
            severity = Severity.WARNING if used * 100 < cfg.warning_plan_pct * planned else Severity.NOTICE
            gpu_type = cfg.reference_gpu_type if unit.normalised else unit.gpu_type
            out.fired(
                Finding(
                    policy=NAME,
                    subject=subject,
                    severity=severity,
                    level=severity.label,
                    summary=(
                        f"{grant.company_id}: grant {grant.id} used {pct:.1f}% of its plan to date; shortfall "
                        f"{short_h:,.1f} GPU-h ({gpu_type.upper()})"
                    ),
                    threshold=Threshold("min_plan_pct", cfg.min_plan_pct, "%", "<"),
                    figures=(
                        figures.unit_label(unit),
                        figures.amount("used", used, unit),
                        figures.amount("planned_to_date", planned, unit),
                        figures.percent("used_of_plan_pct", pct),
                        Figure("shortfall_gpu_hours", round(short_h, 1), f"GPU-h ({gpu_type.upper()})"),
                        figures.amount("shortfall", shortfall, unit),
                        figures.percent("period_elapsed_pct",
                                        figures.ratio_pct(elapsed, grant.period_end - grant.period_start)),
                        figures.amount("granted", grant.amount, unit),
                        figures.day("period_last_day", grant.period_end - 1, tz),
                        Figure("plan", "monthly plan" if grant.plan else "linear", ""),
                    ),
                    expires_at=grant.period_end,
                )
            )
        return out.result()
