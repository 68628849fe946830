"""Hypothesis profiles shared by every reader's fuzz tests (holds no tests): ``ci`` (default) and ``fuzz``.

``ci`` is derandomized (a fixed seed: the same inputs every run, so CI never flakes on a new example) with a
small number of examples, a per-example deadline and no example database (CI never depends on an earlier run);
``fuzz`` draws fresh random inputs, many more of them (``make fuzz``). Choose with ``QUOTAD_FUZZ_PROFILE`` (or
``HYPOTHESIS_PROFILE``). Importing this module registers both and loads the chosen one; registering a name again
replaces it with the same settings, so ``register_profiles`` is idempotent.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "examples", "register_profiles"]

_COMMON = {
    "deadline": None,  # a database write's time varies with the machine; bounded by max_examples instead
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
_PROFILES = {
    "ci": {**_COMMON, "max_examples": 30, "derandomize": True, "deadline": timedelta(seconds=30)},
    "fuzz": {**_COMMON, "max_examples": 2000},
}
#: The profile this run uses.
PROFILE = os.environ.get("QUOTAD_FUZZ_PROFILE") or os.environ.get("HYPOTHESIS_PROFILE") or "ci"


def register_profiles() -> None:
    """Register ``ci`` and ``fuzz`` and load the one the environment names (``ci`` by default)."""
    for name, options in _PROFILES.items():
        settings.register_profile(name, **options)  # type: ignore[arg-type]
    settings.load_profile(PROFILE if PROFILE in _PROFILES else "ci")


def examples(ci: int) -> int:
    """A test's own example count: ``ci`` under the ci profile, the profile's count otherwise."""
    return ci if PROFILE == "ci" else int(settings.get_profile(PROFILE).max_examples)


register_profiles()
