"""Money as integer minor units of an ISO 4217 currency: parsed and shown here, never stored as a float.

Why minor units: a price of ¥450 per GPU-hour over 75 × 8 GPUs for four months must add up to the yen, and
a decimal price must not drift as it is summed over thousands of hours. The exponent (digits after the
decimal point) is the currency's own, so "450" JPY is 450 minor units and "2.50" USD is 250.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["CURRENCY_EXPONENT", "Money", "parse_price"]

#: ISO 4217 minor-unit exponents of the currencies a programme is likely to be invoiced in.
CURRENCY_EXPONENT: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "SGD": 2,
    "TWD": 2,
    "CNY": 2,
    "HKD": 2,
    "INR": 2,
}


@dataclass(frozen=True, order=True)
class Money:
    """``minor`` units of ``currency`` (an ISO 4217 code)."""

    currency: str
    minor: int

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENT[self.currency]

    def major(self) -> float:
        """For display and JSON only."""
        return float(Decimal(self.minor).scaleb(-self.exponent))

    def __str__(self) -> str:
        return f"{self.major():,.{self.exponent}f} {self.currency}"


def parse_price(text: str, currency: str) -> Money:
    """``"450"`` / ``"2.50"`` in ``currency`` to exact minor units; ``ValueError`` names what is wrong."""
    code = currency.strip().upper()
    if code not in CURRENCY_EXPONENT:
        raise ValueError(f"currency {currency!r} is not known; expected one of {', '.join(sorted(CURRENCY_EXPONENT))}")
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"price {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"price {text!r} must be a non-negative number")
    scaled = amount.scaleb(CURRENCY_EXPONENT[code])
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {text!r} has more decimals than {code} has minor units")
    return Money(code, int(scaled))
