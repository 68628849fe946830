"""Hypothesis profiles shared by every reader's fuzz tests: ``ci`` (default) and ``fuzz`` (``make fuzz``).

``ci`` is derandomized (a fixed seed: the same inputs every run, so CI never flakes on a new example) with a
small number of examples and a per-example deadline; ``fuzz`` draws fresh random inputs, many more of them.
Choose with ``QUOTAD_FUZZ_PROFILE``. Several test modules call ``register_profiles``; registering a name again
replaces it with the same settings, so the call is idempotent.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "examples", "register_profiles"]

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
}
_PROFILES = {
    "ci": {**_COMMON, "max_examples": 40, "derandomize": True, "deadline": timedelta(seconds=30)},
    "fuzz": {**_COMMON, "max_examples": 2000},
}
#: The profile this run uses.
PROFILE = os.environ.get("QUOTAD_FUZZ_PROFILE", "ci")


def register_profiles() -> None:
    """Register ``ci`` and ``fuzz`` and load the one ``QUOTAD_FUZZ_PROFILE`` names (``ci`` by default)."""
    for name, options in _PROFILES.items():
        settings.register_profile(name, **options)  # type: ignore[arg-type]
    settings.load_profile(PROFILE if PROFILE in _PROFILES else "ci")


def examples(ci: int) -> int:
    """A test's own example count: ``ci`` under the ci profile, the profile's count otherwise."""
    return ci if PROFILE == "ci" else int(settings.get_profile(PROFILE).max_examples)
