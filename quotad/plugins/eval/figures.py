"""The one rounding rule for every score the eval plugin prints: leaderboard, public site, committee pack.

A score is printed as points on 0-100 (its value over its full scale, times 100: an accuracy of 0.6512 is
65.12, an MT-Bench 7.3 is 73.00, jp-stable's JSQuAD F1 of 75.89 stays 75.89) with two decimals, rounded half
up on the decimal value. Printing every score on one scale with one precision is what lets the reader
compare a benchmark cell with an average, and what makes the site and the leaderboard agree to the last
printed digit: both print ``text(points(x))`` of the same stored value. The raw value as the harness wrote it
stays in the ledger and in ``eval leaderboard --json``.

A value without a full scale (a metric the catalogue gives no ``max``) cannot be put on 0-100; it is printed
as written, rounded the same way, and is never averaged.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["DECIMALS", "points", "rounded", "text"]

DECIMALS = 2
_QUANTUM = Decimal(1).scaleb(-DECIMALS)


def rounded(value: float | None) -> float | None:
    """``value`` to ``DECIMALS`` places, half up on its shortest decimal form (62.025 -> 62.03, not 62.02)."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(_QUANTUM, rounding=ROUND_HALF_UP))


def points(fraction: float | None) -> float | None:
    """A normalised score (0-1, from its full scale) as rounded points on 0-100."""
    return None if fraction is None else rounded(100 * fraction)


def text(value: float | None) -> str | None:
    """A rounded score as every output prints it: always ``DECIMALS`` places (58.00, not 58 or 58.0)."""
    return None if value is None else f"{value:.{DECIMALS}f}"
