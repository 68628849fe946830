"""The policies a tick runs, built from their config sections, in a fixed order.

Why an explicit list rather than discovery by import: the set of policies is part of the programme's
rules; adding one is a reviewed change to this file and to ``PoliciesConfig``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from quotad.errors import QuotadError
from quotad.policies.base import Evaluation, Policy, Scope
from quotad.policies.config import PoliciesConfig
from quotad.policies.forecast_overrun import ForecastOverrun
from quotad.policies.idle_allocation import IdleAllocation
from quotad.policies.low_efficiency import LowEfficiency
from quotad.policies.out_of_programme import OutOfProgramme
from quotad.policies.quota_threshold import QuotaThreshold
from quotad.policies.underuse import Underuse

if TYPE_CHECKING:
    from quotad.ledger.facts import LedgerFacts

__all__ = ["PolicyFailure", "all_policies", "enabled_policies", "evaluate"]

log = logging.getLogger("quotad.policy")

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


@dataclass(frozen=True)
class PolicyFailure:
    policy: str
    error: str


def evaluate(
    policies: Sequence[Policy], facts: LedgerFacts, scope: Scope, timings: list[tuple[str, float]] | None = None
) -> tuple[list[Evaluation], list[PolicyFailure]]:
    """Run each policy; one that raises is reported and skipped, the others still run."""
    evaluations, failures = [], []
    for policy in policies:
        started = time.perf_counter()
        try:
            evaluations.append(policy.evaluate(facts, scope))
            if timings is not None:
                timings.append((policy.name, (time.perf_counter() - started) * 1000))
        except SQLAlchemyError:
            raise
        except (QuotadError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            log.exception("policy %s failed; its directives are left as they are", policy.name)
            failures.append(PolicyFailure(policy.name, f"{type(exc).__name__}: {exc}"))
    return evaluations, failures
