"""``[directives]`` and how the engine, the notifier and the CLI find their config sections.

``rules_from`` bundles the sections ``[policies]``, ``[directives]`` and ``[notify]``, which
``quotad.config.Settings`` validates like every other section, so nothing downstream reads raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveFloat, PositiveInt

from quotad.notify.config import NotifyConfig
from quotad.policies.config import PoliciesConfig

if TYPE_CHECKING:  # quotad.config will import this module for its [directives] section
    from quotad.config import Settings

__all__ = ["DirectivesConfig", "Rules", "rules_from"]


class DirectivesConfig(BaseModel):
    """Lifecycle defaults every policy inherits unless its own section says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Hours before an unchanged directive is notified again.
    cooldown_hours: PositiveFloat = 24.0
    #: After this many notices without change the next one is escalated (office in Cc, severity up).
    escalate_after: PositiveInt = 3
    #: A directive whose condition is gone is resolved only after this many minutes without it (flapping).
    resolve_grace_minutes: NonNegativeInt = 0


@dataclass(frozen=True)
class Rules:
    """The three sections the directive side reads, typed."""

    policies: PoliciesConfig
    directives: DirectivesConfig
    notify: NotifyConfig

    def cooldown_s(self, policy: str) -> int:
        own = self.policies.section(policy).cooldown_hours
        return round((own if own is not None else self.directives.cooldown_hours) * 3600)

    def escalate_after(self, policy: str) -> int:
        own = self.policies.section(policy).escalate_after
        return own if own is not None else self.directives.escalate_after


def rules_from(settings: Settings) -> Rules:
    """The three sections of ``settings`` the directive side reads."""
    return Rules(settings.policies, settings.directives, settings.notify)
