"""``forecast_overrun``: at its trailing 7-day burn rate a company uses up its grant before the period ends.

Why the trailing 7 days: it is the rate ``quotad status`` shows and projects with, so the date in the mail
is the one the ops team sees; a week smooths weekends without hiding a ramp-up. The run-out moment is
``now + remaining × window / used_in_window`` in integers; the finding gives it as a date in the programme's
time zone, with how many days early that is.

Thresholds: the burn window must span at least ``min_window_days`` (a grant started yesterday has no rate
yet), and the run-out must fall more than ``margin_days`` before the period's end. Severity: warning when
the run-out is within ``warning_days`` of now, else notice. A grant already used up is ``quota_threshold``'s
finding, not this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat

from quotad.policies import figures
from quotad.policies.base import Evaluation, Finding, Outcomes, Scope, Severity, Threshold
from quotad.policies.settings import Override, PolicySettings
from quotad.timeutil import format_day
from quotad.units import SECONDS_PER_DAY

if TYPE_CHECKING:  # the facts (and the ledger queries behind them) load with the policy engine, not
    # with the configuration that names this policy's section (the node agent reads that too)
    from quotad.ledger.facts import LedgerFacts

__all__ = ["NAME", "ForecastOverrun", "ForecastOverrunConfig", "ForecastOverrunOverride"]

NAME = "forecast_overrun"


class ForecastOverrunOverride(Override):
    margin_days: NonNegativeFloat | None = None
    warning_days: PositiveFloat | None = None
    min_window_days: PositiveFloat | None = None


class ForecastOverrunConfig(PolicySettings):
    """``[policies.forecast_overrun]``."""

    #: Fire only when the grant runs out more than this many days before the period ends.
    margin_days: NonNegativeFloat = 0.0
    #: A run-out within this many days from now is a warning (else a notice).
    warning_days: PositiveFloat = 14.0
    #: The burn window must cover at least this many days of the grant period.
    min_window_days: PositiveFloat = 2.0
    enforcement: Literal["off", "sync-limits"] = "off"
    overrides: dict[str, ForecastOverrunOverride] = Field(default_factory=dict)


class ForecastOverrun:
    """Fires per company whose projected run-out date falls before its period's end."""

    def __init__(self, config: ForecastOverrunConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return NAME

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation:
        out = Outcomes(NAME, scope)
        tz, now = facts.timezone, facts.now
        for subject, row, unit, period_end in out.granted_positions(facts):
            cfg = self.config.for_company(row.company_id)
            left = row.granted - row.used
            if left <= 0:
                out.held_back(subject, "the grant is already used up (reported by quota_threshold)")
                continue
            if row.burn_window_s < cfg.min_window_days * SECONDS_PER_DAY:
                out.held_back(
                    subject,
                    f"the burn window covers {row.burn_window_s / SECONDS_PER_DAY:.1f} days, fewer than "
                    f"min_window_days = {cfg.min_window_days:g}",
                    missing_data=True,
                )
                continue
            if row.used_last_7d <= 0:
                out.held_back(subject, "no use in the last 7 days: no burn rate to project")
                continue
            runout = now + left * row.burn_window_s // row.used_last_7d
            early = period_end - runout
            if early <= cfg.margin_days * SECONDS_PER_DAY:
                out.held_back(
                    subject,
                    f"at the 7-day rate the grant lasts until {format_day(runout, tz)}, not more than "
                    f"{cfg.margin_days:g} days before the period's last day {format_day(period_end - 1, tz)}",
                )
                continue
            severity = Severity.WARNING if runout - now <= cfg.warning_days * SECONDS_PER_DAY else Severity.NOTICE
            burn_per_day = row.used_last_7d * SECONDS_PER_DAY // row.burn_window_s
            burn = figures.amount("burn_per_day", burn_per_day, unit)
            out.fired(
                Finding(
                    policy=NAME,
                    subject=subject,
                    severity=severity,
                    level=severity.label,
                    summary=(
                        f"{row.company_id}: at {burn.value} {unit.label}/day the grant runs out on "
                        f"{format_day(runout, tz)}, {early / SECONDS_PER_DAY:.1f} days before the period ends"
                    ),
                    threshold=Threshold("margin_days", cfg.margin_days, "days", ">"),
                    figures=(
                        figures.unit_label(unit),
                        figures.day("runout_day", runout, tz),
                        figures.days("days_early", early),
                        figures.days("days_left", runout - now),
                        burn,
                        figures.amount("remaining", left, unit),
                        figures.amount("used", row.used, unit),
                        figures.amount("granted", row.granted, unit),
                        figures.amount("projected", row.projected, unit),
                        figures.percent("projected_pct", figures.ratio_pct(row.projected, row.granted)),
                        figures.day("period_last_day", period_end - 1, tz),
                    ),
                    enforceable=True,
                    expires_at=period_end,
                )
            )
        return out.result()
