"""What a partner and a company's request may hold: closed vocabularies, checked in one place.

Why closed lists: matching filters on offers and scores on agreement states, so a typo ("compute-credit")
must be refused at the door instead of silently excluding a partner from every match.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from quotad.errors import UsageError

__all__ = [
    "AGREEMENT_STATES",
    "KINDS",
    "OFFERS",
    "PartnerSpec",
    "RequestSpec",
    "check_partner",
    "check_request",
    "join_list",
    "split_list",
]

KINDS = ("tech_firm", "research_institute", "university", "public_body")
OFFERS = ("compute_credits", "technical_exchange", "joint_research", "evaluation", "data")
#: Furthest first: the order is also the agreement ranking used in scoring (``match.AGREEMENT_VALUE``).
AGREEMENT_STATES = ("signed", "negotiating", "none", "expired")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@\s;]+@[^@\s;]+\.[^@\s;]+$")


def join_list(values: Sequence[str]) -> str:
    return ";".join(values)


def split_list(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split(";") if v)


@dataclass(frozen=True)
class PartnerSpec:
    id: str
    name: str
    name_ja: str
    country: str
    kind: str
    offers: tuple[str, ...]
    contacts: tuple[str, ...]
    nda: str
    nda_on: str
    mou: str
    mou_on: str
    note: str


@dataclass(frozen=True)
class RequestSpec:
    company_id: str
    seeks: tuple[str, ...]
    countries: tuple[str, ...]
    description: str
    needed_by: str


def _date(option: str, text: str) -> list[str]:
    if not text:
        return []
    try:
        if len(text) != 10:
            raise ValueError
        dt.date.fromisoformat(text)
    except ValueError:
        return [f"{option} {text!r}: expected a date YYYY-MM-DD"]
    return []


def _choices(option: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    bad = [v for v in values if v not in allowed]
    return [f"{option} {', '.join(map(repr, bad))}: expected some of {', '.join(allowed)}"] if bad else []


def _agreement(name: str, state: str, on: str) -> list[str]:
    problems = _choices(f"--{name}", [state], AGREEMENT_STATES) + _date(f"--{name}-on", on)
    if state in ("signed", "expired") and not on:
        problems.append(f"--{name} {state} needs --{name}-on (the date it was {state})")
    return problems


def _countries(option: str, values: Sequence[str]) -> list[str]:
    bad = [c for c in values if not _COUNTRY.match(c)]
    return [f"{option} {', '.join(map(repr, bad))}: expected ISO 3166 two-letter codes (US, GB, FR)"] if bad else []


def check_partner(spec: PartnerSpec) -> None:
    """``UsageError`` naming every problem, or nothing."""
    problems: list[str] = []
    if not _SLUG.match(spec.id):
        problems.append(f"id {spec.id!r}: expected lower-case letters, digits, '-' or '_' (at most 64)")
    if not spec.name.strip() or len(spec.name) > 200 or len(spec.name_ja) > 200:
        problems.append("--name: 1 to 200 characters (and --name-ja at most 200)")
    problems += _countries("--country", [spec.country])
    problems += _choices("--kind", [spec.kind], KINDS)
    if not spec.offers:
        problems.append(f"--offer: at least one of {', '.join(OFFERS)}")
    problems += _choices("--offer", spec.offers, OFFERS)
    bad_mail = [c for c in spec.contacts if not _EMAIL.match(c)]
    if bad_mail:
        problems.append(f"--contact {', '.join(map(repr, bad_mail))}: expected e-mail addresses")
    problems += _agreement("nda", spec.nda, spec.nda_on) + _agreement("mou", spec.mou, spec.mou_on)
    if problems:
        raise UsageError(f"partner {spec.id!r}: " + "; ".join(problems))


def check_request(spec: RequestSpec) -> None:
    problems: list[str] = []
    if not spec.seeks:
        problems.append(f"--seek: at least one of {', '.join(OFFERS)}")
    problems += _choices("--seek", spec.seeks, OFFERS)
    problems += _countries("--country", spec.countries)
    problems += _date("--needed-by", spec.needed_by)
    if problems:
        raise UsageError(f"request of {spec.company_id!r}: " + "; ".join(problems))
