"""``quota_threshold``: a company's use of its active grants crossed 50 / 80 / 90 / 100 % (configurable).

Why steps and not a continuous ratio: a company should hear once when it passes 80 %, again at 90 %, and
at once when the grant is used up — not every time another GPU-hour is charged. The step crossed is the
directive's level, so a new step is a change (notified again, escalation reset) and the same step only
earns reminders after the cooldown.

The numbers are those of ``quotad status``: used and granted over the company's active grants, in their
common unit (normalised EFLOPS-h when the units differ). The comparison is done on integers
(``used × 100 >= step × granted``) so 80 % means 80 %, exactly.

Severity: below 80 % info, from 80 % notice, from 90 % warning, from 100 % critical and urgent (sent at
once, even on a holiday, and enforceable: ``enforcement = "sync-limits"`` pushes the remaining grant into
Slurm with ``quotad slurm sync-limits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from quotad.policies import figures
from quotad.policies.base import Evaluation, Figure, Finding, Outcomes, Scope, Severity, Threshold
from quotad.policies.settings import Override, PolicySettings

if TYPE_CHECKING:  # the facts (and the ledger queries behind them) load with the policy engine, not
    # with the configuration that names this policy's section (the node agent reads that too)
    from quotad.ledger.facts import LedgerFacts

__all__ = ["NAME", "QuotaThreshold", "QuotaThresholdConfig", "QuotaThresholdOverride"]

NAME = "quota_threshold"


def _steps(value: tuple[int, ...]) -> tuple[int, ...]:
    if not value:
        raise ValueError("expected at least one step, e.g. [50, 80, 90, 100]")
    if any(s <= 0 for s in value) or list(value) != sorted(set(value)):
        raise ValueError(f"{list(value)}: expected positive percentages in increasing order")
    return value


class QuotaThresholdOverride(Override):
    steps: tuple[int, ...] | None = None

    @field_validator("steps")
    @classmethod
    def _check(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if value is None else _steps(value)


class QuotaThresholdConfig(PolicySettings):
    """``[policies.quota_threshold]``."""

    #: Percentages of the grant whose crossing is reported.
    steps: tuple[int, ...] = (50, 80, 90, 100)
    #: From this percentage a finding is enforceable (``enforcement = "sync-limits"``).
    enforce_from_pct: int = Field(default=100, gt=0)
    enforcement: Literal["off", "sync-limits"] = "off"
    overrides: dict[str, QuotaThresholdOverride] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _check(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _steps(value)


def severity_of(step: int) -> Severity:
    if step >= 100:
        return Severity.CRITICAL
    if step >= 90:
        return Severity.WARNING
    if step >= 80:
        return Severity.NOTICE
    return Severity.INFO


class QuotaThreshold:
    """Fires per company at the highest configured step its use has reached."""

    def __init__(self, config: QuotaThresholdConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        tz = facts.timezone
        for subject, row, unit, period_end in out.granted_positions(facts):
            cfg = self.config.for_company(row.company_id)
            pct = figures.ratio_pct(row.used, row.granted)
            crossed = [s for s in cfg.steps if row.used * 100 >= s * row.granted]
            if not crossed:
                out.held_back(subject, f"used {pct:.1f}% of the grant, below the first step {cfg.steps[0]}%")
                continue
            step = crossed[-1]
            nxt = next((s for s in cfg.steps if s > step), None)
            out.fired(
                Finding(
                    policy=NAME,
                    subject=subject,
                    severity=severity_of(step),
                    level=f"step-{step}",
                    summary=(
                        f"{row.company_id}: {pct:.1f}% of the grant used ({unit.format(row.used)} of "
                        f"{unit.format(row.granted)} {unit.label}), crossing {step}%"
                    ),
                    threshold=Threshold("step_pct", step, "%", ">="),
                    figures=(
                        figures.unit_label(unit),
                        figures.amount("used", row.used, unit),
                        figures.amount("granted", row.granted, unit),
                        # negative once the grant is overdrawn: a reader must see "over", never "0 left"
                        figures.amount("remaining", row.granted - row.used, unit),
                        *([figures.amount("over_by", row.used - row.granted, unit)]
                          if row.used > row.granted else []),
                        figures.percent("used_pct", pct),
                        figures.amount("projected", row.projected, unit),
                        figures.percent("projected_pct", figures.ratio_pct(row.projected, row.granted)),
                        figures.day("period_last_day", period_end - 1, tz),
                        *([Figure("next_step_pct", nxt, "%")] if nxt is not None else []),
                        Figure("grant_ids", ",".join(str(g) for g in row.grant_ids), ""),
                    ),
                    urgent=row.used >= row.granted,
                    enforceable=row.used * 100 >= cfg.enforce_from_pct * row.granted,
                    expires_at=period_end,
                )
            )
        return out.result()
