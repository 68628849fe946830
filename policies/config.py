"""``[policies]``: one sub-section per policy, each with its thresholds and per-company overrides.

Why one model per policy, gathered here: the config file is validated once at load (unknown keys and bad
thresholds are refused with their key), and each policy receives only its own typed section.

    [policies.quota_threshold]
    steps = [50, 80, 90, 100]
    [policies.quota_threshold.overrides.acme]
    steps = [80, 100]
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from quotad.policies.forecast_overrun import ForecastOverrunConfig
from quotad.policies.idle_allocation import IdleAllocationConfig
from quotad.policies.low_efficiency import LowEfficiencyConfig
from quotad.policies.out_of_programme import OutOfProgrammeConfig
from quotad.policies.quota_threshold import QuotaThresholdConfig
from quotad.policies.settings import PolicySettings
from quotad.policies.underuse import UnderuseConfig

__all__ = ["PoliciesConfig"]


class PoliciesConfig(BaseModel):
    """Every policy's section; all enabled with the documented defaults when the file says nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quota_threshold: QuotaThresholdConfig = Field(default_factory=QuotaThresholdConfig)
    forecast_overrun: ForecastOverrunConfig = Field(default_factory=ForecastOverrunConfig)
    underuse: UnderuseConfig = Field(default_factory=UnderuseConfig)
    idle_allocation: IdleAllocationConfig = Field(default_factory=IdleAllocationConfig)
    low_efficiency: LowEfficiencyConfig = Field(default_factory=LowEfficiencyConfig)
    out_of_programme: OutOfProgrammeConfig = Field(default_factory=OutOfProgrammeConfig)

    def section(self, policy: str) -> PolicySettings:
        """The section of ``policy`` by name (``KeyError`` for a name no policy has)."""
        if policy not in type(self).model_fields:
            raise KeyError(policy)
        value = getattr(self, policy)
        assert isinstance(value, PolicySettings)
        return value

    def enforcement(self, policy: str) -> str:
        """The configured enforcement of ``policy`` ("off" when it has none)."""
        return str(getattr(self.section(policy), "enforcement", "off"))
