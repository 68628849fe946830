"""Field parsers shared by the CLI options and the CSV columns, so both accept exactly the same text.

Each raises ``ValueError`` naming the field and the expected form; callers turn it into a ``UsageError`` (CLI,
exit 2) or a row error (CSV). Days are programme-local and an end day is inclusive, as for grants.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from quotad.collectors.hostlist import hosts_in
from quotad.errors import UsageError
from quotad.pool.money import Money, parse_price
from quotad.pool.registry import CONTRACT_KINDS, PROVIDER_KINDS, ContractKind, ProviderKind
from quotad.timeutil import parse_day

__all__ = [
    "contract_kind",
    "day",
    "moment",
    "node_spec",
    "optional_count",
    "positive_int",
    "price",
    "provider_kind",
]


def day(text: str, tz: str, *, field: str, end: bool = False) -> int:
    """``YYYY-MM-DD`` to its local midnight; ``end`` gives the next midnight (the day is included)."""
    try:
        return parse_day(text.strip(), tz, end_of_day=end)
    except UsageError:
        raise ValueError(f"{field} {text!r}: expected YYYY-MM-DD") from None


def moment(text: str, tz: str, *, field: str) -> int:
    """``YYYY-MM-DDTHH:MM[:SS]`` (or with a space, or an offset) to epoch seconds; naive times are in ``tz``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{field} {text!r}: expected YYYY-MM-DDTHH:MM, e.g. 2026-05-10T09:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return int(value.timestamp())


def positive_int(text: str, *, field: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{field} {text!r}: expected a positive whole number")
    return int(value)


def optional_count(text: str, *, field: str) -> int | None:
    """Empty means "all"."""
    return positive_int(text, field=field) if text.strip() else None


def node_spec(text: str, *, field: str) -> tuple[int | None, str]:
    """(node count, node names) of a window's nodes: empty is all, ``10`` a count, else a Slurm hostlist.

    Why both: a provider's notice says either "10 nodes" or which ones (``gpu[01-10]``); only the names let
    overlaps be told per node, and a count taken from them is their number of distinct hosts, as Slurm's
    NodeCnt is. A bare number is a count (no cluster names a host by digits alone), as ``--nodes`` always was.
    """
    value = text.strip()
    if not value:
        return None, ""
    if value.isdigit():
        return positive_int(value, field=field), ""
    try:
        return len(hosts_in(value)), value
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}; expected a node count or a Slurm hostlist such as gpu[01-10]") from None


def price(text: str, currency: str) -> Money | None:
    """Empty price and currency: unpriced; one without the other is refused."""
    if not text.strip() and not currency.strip():
        return None
    if not text.strip() or not currency.strip():
        raise ValueError("give both a price per GPU-hour and its currency, or neither")
    return parse_price(text, currency)


def provider_kind(text: str) -> ProviderKind:
    value = text.strip().lower().replace("-", "_")
    for kind in PROVIDER_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"provider kind {text!r}: expected {' or '.join(k.replace('_', '-') for k in PROVIDER_KINDS)}")


def contract_kind(text: str) -> ContractKind:
    value = text.strip().lower() or "contract"
    for kind in CONTRACT_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"contract kind {text!r}: expected {' or '.join(CONTRACT_KINDS)}")
