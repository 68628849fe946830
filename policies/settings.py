"""The part of every policy's config section that is not a threshold: on/off, reminders, escalation.

Why a shared base: the engine treats every policy alike (cooldown, escalation, enforcement), so those keys
are spelled the same in every ``[policies.<name>]`` section; a policy adds its thresholds and a typed
``overrides`` table per company (``[policies.<name>.overrides.<company>]``) whose keys are its thresholds.
An override is validated against the whole section at load time, so a bad company override is refused with
its key, like any other bad value.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, ValidationError, model_validator

__all__ = ["Override", "PolicySettings"]


class Override(BaseModel):
    """A per-company override: every field optional, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicySettings(BaseModel):
    """Keys every policy section has. ``None`` for cooldown/escalation means the ``[directives]`` default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: Hours before an unchanged directive is notified again (default: ``[directives] cooldown_hours``).
    cooldown_hours: PositiveFloat | None = None
    #: Unchanged notices after which the next one is escalated (default: ``[directives] escalate_after``).
    escalate_after: PositiveInt | None = None

    def _overrides(self) -> dict[str, Override]:
        value = getattr(self, "overrides", None)
        return dict(value) if isinstance(value, dict) else {}

    def for_company(self, company_id: str | None) -> Self:
        """These settings with the company's override applied (itself when there is none)."""
        override = self._overrides().get(company_id or "")
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))

    @model_validator(mode="after")
    def _overrides_valid(self) -> Self:
        base: dict[str, Any] = self.model_dump(exclude={"overrides"})
        for company, override in self._overrides().items():
            try:
                type(self).model_validate({**base, **override.model_dump(exclude_none=True)})
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ValueError(f"overrides.{company}: {first['msg']}") from exc
        return self
