"""The policies a tick runs, built from their config sections, in a fixed order.

Why an explicit list rather than discovery by import: the set of policies is part of the programme's
rules; adding one is a reviewed change to this file and to ``PoliciesConfig``.
"""

from __future__ import annotations

from quotad.policies.base import Policy
from quotad.policies.config import PoliciesConfig
from quotad.policies.forecast_overrun import ForecastOverrun
from quotad.policies.idle_allocation import IdleAllocation
from quotad.policies.low_efficiency import LowEfficiency
from quotad.policies.out_of_programme import OutOfProgramme
from quotad.policies.quota_threshold import QuotaThreshold
from quotad.policies.underuse import Underuse

__all__ = ["POLICY_NAMES", "all_policies", "enabled_policies"]

POLICY_NAMES = (
    "quota_threshold",
    "forecast_overrun",
    "underuse",
    "idle_allocation",
    "low_efficiency",
    "out_of_programme",
)


def all_policies(config: PoliciesConfig) -> list[Policy]:
    return [
        QuotaThreshold(config.quota_threshold),
        ForecastOverrun(config.forecast_overrun),
        Underuse(config.underuse),
        IdleAllocation(config.idle_allocation),
        LowEfficiency(config.low_efficiency),
        OutOfProgramme(config.out_of_programme),
    ]


def enabled_policies(config: PoliciesConfig) -> list[Policy]:
    return [p for p in all_policies(config) if config.section(p.name).enabled]
