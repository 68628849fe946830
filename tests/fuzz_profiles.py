"""Hypothesis profiles shared by the fuzz tests (holds no tests): ``ci`` and ``fuzz``.

- ``ci`` (the default): a fixed seed (``derandomize``) and a few dozen examples per property, so the suite's run
  is repeatable and costs seconds per test; no example database, so CI never depends on an earlier run.
- ``fuzz``: thousands of random examples per property, for ``make fuzz`` (``HYPOTHESIS_PROFILE=fuzz``).

Registering is idempotent (a second registration replaces the first with the same values), so any fuzz module
may import this one; the profile named by ``HYPOTHESIS_PROFILE`` is loaded.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE"]

_COMMON = {
    "deadline": None,  # a database write's time varies with the machine; bounded by max_examples instead
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=30, derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile("fuzz", max_examples=2000, print_blob=True, **_COMMON)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
