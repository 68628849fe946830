"""Unit conversions at the display edge.

Inside the ledger everything is an integer: GPU-seconds per GPU type, and "TFLOP" (GPU-seconds × the type's
peak dense BF16 TFLOPS) for normalised amounts. Hours, PFLOPS-days and EFLOPS-hours exist only here, where a
number is shown to a person or compared with a threshold, so no float ever accumulates in storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "TFLOP_PER_EFLOPS_HOUR",
    "TFLOP_PER_PFLOPS_DAY",
    "GpuCatalog",
    "eflops_hours",
    "gpu_hours",
    "pflops_days",
]

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
#: 1 EFLOPS for one hour = 10^6 TFLOPS × 3600 s.
TFLOP_PER_EFLOPS_HOUR = 1_000_000 * SECONDS_PER_HOUR
#: 1 PFLOPS for one day = 10^3 TFLOPS × 86400 s.
TFLOP_PER_PFLOPS_DAY = 1_000 * SECONDS_PER_DAY


def gpu_hours(gpu_seconds: int) -> float:
    return gpu_seconds / SECONDS_PER_HOUR


def eflops_hours(tflop: int) -> float:
    return tflop / TFLOP_PER_EFLOPS_HOUR


def pflops_days(tflop: int) -> float:
    return tflop / TFLOP_PER_PFLOPS_DAY


@dataclass(frozen=True)
class GpuCatalog:
    """Peak dense BF16 TFLOPS per GPU type, from config; the one place normalisation factors come from."""

    tflops: Mapping[str, int]

    def peak(self, gpu_type: str) -> int:
        try:
            return self.tflops[gpu_type]
        except KeyError:
            known = ", ".join(sorted(self.tflops))
            raise KeyError(f"GPU type {gpu_type!r} has no peak TFLOPS configured (known: {known})") from None

    def tflop(self, gpu_seconds: int, gpu_type: str) -> int:
        """Normalised amount of ``gpu_seconds`` on ``gpu_type``, as an exact integer."""
        return gpu_seconds * self.peak(gpu_type)
