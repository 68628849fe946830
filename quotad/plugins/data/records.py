"""Validated records: one function turns a raw mapping (a CSV row, a JSON object, CLI options) into a dataset.

Every entry point (``dataset add``, CSV, JSON, CKAN) goes through ``dataset_from_raw``, so a value accepted by
one is accepted by all and refused with the same words. Problems are collected per field rather than stopping
at the first, so one pass over a bad file tells the holder everything to fix in each row.

Licence and uses: a known SPDX id implies defaults (everything allowed unless the licence forbids it: NC forbids
commercial use, ND derivatives); an explicit "no" is allowed (a holder may be stricter than its licence), an
explicit "yes" against the licence is an error. A ``LicenseRef-...`` or a licence given only by name implies
nothing, so all three uses must then be stated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from quotad.plugins.data.vocab import (
    ACCESS_MODES,
    COPYRIGHT_STATUSES,
    ISO_639_1,
    MODALITIES,
    PII_STATUSES,
    USES,
    Use,
    canonical_licence,
    licence_terms,
)

__all__ = [
    "CURRENCIES",
    "DATASET_FIELDS",
    "FIELD_ALIASES",
    "DatasetRecord",
    "FieldProblem",
    "HolderRecord",
    "Price",
    "dataset_from_raw",
    "format_price",
    "join_list",
    "parse_bool",
    "parse_choice",
    "parse_languages",
    "parse_list",
    "parse_price",
    "parse_size",
    "parse_slug",
    "split_list",
]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: ISO 4217 codes a data price is likely to be quoted in; a typo such as "YEN" is refused rather than stored.
CURRENCIES = frozenset(["JPY", "USD", "EUR", "GBP", "CNY", "KRW", "TWD", "HKD", "SGD", "AUD", "CAD", "CHF", "INR"])
_LIST_SEP = re.compile(r"[;,|]")
#: The largest whole number the ledger stores (a signed 64-bit column on SQLite and PostgreSQL alike): a
#: larger size or price is refused as the row's problem instead of failing the write with ``OverflowError``.
MAX_STORED_INT = 2**63 - 1

#: Every key a dataset row may carry (CSV header, JSON object); ``license`` is accepted for ``licence``.
DATASET_FIELDS = (
    "id",
    "holder",
    "holder_name_ja",
    "holder_name_en",
    "holder_email",
    "holder_url",
    "title_ja",
    "title_en",
    "description_ja",
    "description_en",
    "publisher",
    "contact_email",
    "url",
    "domains",
    "languages",
    "modality",
    "size_tokens",
    "size_bytes",
    "licence",
    "licence_name",
    "training",
    "commercial",
    "derivatives",
    "access_mode",
    "pii",
    "copyright",
    "price",
)
FIELD_ALIASES = {"license": "licence", "license_name": "licence_name", "domain": "domains", "language": "languages"}


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Price:
    """``minor`` None: on request; 0: free; otherwise minor units of ``currency``."""

    minor: int | None
    currency: str = ""


@dataclass(frozen=True)
class HolderRecord:
    id: str
    name_ja: str = ""
    name_en: str = ""
    contact_email: str = ""
    url: str = ""


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    holder_id: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    publisher: str
    contact_email: str
    url: str
    domains: tuple[str, ...]
    languages: tuple[str, ...]
    modality: str
    size_tokens: int | None
    size_bytes: int | None
    licence_spdx: str | None
    licence_name: str
    allow_training: bool
    allow_commercial: bool
    allow_derivatives: bool
    access_mode: str
    pii_status: str
    copyright_status: str
    price: Price
    #: The holder's own details when the row carries them (upserted with the dataset), else None.
    holder: HolderRecord | None = None


# -- value parsers: each raises ValueError with a message that names the value and what was expected --------


def _short(value: object, keep: int = 40) -> str:
    """``repr`` of a value cut to ``keep`` characters: a 10,000-digit number must not fill the error report."""
    text = repr(value)
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return str(value)
    raise ValueError(f"expected text, got {type(value).__name__}")


def parse_slug(value: object) -> str:
    text = _text(value)
    if not _SLUG.match(text):
        raise ValueError(f"{text!r} is not an id: expected lower-case letters, digits, '.', '-' or '_' (max 64)")
    return text


def split_list(value: object) -> tuple[str, ...]:
    """A list from a JSON array or a string separated by ';', ',' or '|'; items stripped, lower-cased, deduplicated."""
    items: Iterable[object]
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        items = value
    elif isinstance(value, str):
        items = _LIST_SEP.split(value)
    else:
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return tuple(sorted({_text(i).lower() for i in items} - {""}))


def join_list(items: Iterable[str]) -> str:
    return ",".join(sorted(set(items)))


def parse_list(value: object) -> tuple[str, ...]:
    return split_list(value)


def parse_languages(value: object) -> tuple[str, ...]:
    codes = split_list(value)
    bad = [c for c in codes if c not in ISO_639_1]
    if bad:
        raise ValueError(f"{', '.join(repr(b) for b in bad)} not ISO 639-1 (two-letter codes such as ja, en, zh)")
    return codes


def parse_choice(value: object, allowed: tuple[str, ...]) -> str:
    text = _text(value).lower()
    if text == "":
        raise ValueError(f"required: one of {', '.join(allowed)}")
    if text not in allowed:
        raise ValueError(f"{text!r}: expected one of {', '.join(allowed)}")
    return text


def parse_bool(value: object) -> bool | None:
    """Tri-state: None when empty (the default applies)."""
    if value is None or isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text == "":
        return None
    if text in ("yes", "y", "true", "1", "allowed"):
        return True
    if text in ("no", "n", "false", "0", "forbidden"):
        return False
    raise ValueError(f"{text!r}: expected yes or no")


_TOKEN_SUFFIX = {"k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_BYTE_SUFFIX = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
_QUANTITY = re.compile(r"^([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([a-z]*)$")


def parse_size(value: object, *, unit: str) -> int | None:
    """Tokens ("2.5B", "300M", 1000) or bytes ("12GB", "3GiB"); exact decimal arithmetic, whole results only."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a size, got a boolean")
    if isinstance(value, int):
        number, suffix = Decimal(value), ""
    else:
        match = _QUANTITY.match(_text(value).lower())
        if not match:
            raise ValueError(f"{_text(value)!r}: expected a number with an optional suffix (e.g. 2.5B, 12GB)")
        try:
            number = Decimal(match.group(1).replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"{_text(value)!r} is not a number") from None
        suffix = match.group(2)
    table = _TOKEN_SUFFIX if unit == "tokens" else _BYTE_SUFFIX
    if suffix and suffix not in table:
        raise ValueError(f"unknown suffix {suffix!r}: expected one of {', '.join(table)}")
    if number.adjusted() > 30:  # decided before scaling: "1e999999999" must not be multiplied out
        raise ValueError(f"{_short(value)} is too large: at most {MAX_STORED_INT} {unit}")
    scaled = number * table.get(suffix, 1)
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ValueError(f"{_short(value)} is not a whole, non-negative number of {unit}")
    if scaled > MAX_STORED_INT:
        raise ValueError(f"{_short(value)} is too large: at most {MAX_STORED_INT} {unit}")
    return int(scaled)


def parse_price(value: object) -> Price:
    """Free; "" (on request); "500000 JPY" (minor units); or a JSON {"amount_minor": n, "currency": "JPY"}."""
    if isinstance(value, Mapping):
        amount, currency = value.get("amount_minor"), _text(value.get("currency")).upper()
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise ValueError("amount_minor: expected a non-negative integer")
        if amount > MAX_STORED_INT:
            raise ValueError(f"amount_minor: too large: at most {MAX_STORED_INT}")
        if amount and currency not in CURRENCIES:
            raise ValueError(f"currency {currency!r}: expected one of {', '.join(sorted(CURRENCIES))}")
        return Price(amount, currency if amount else "")
    text = _text(value)
    if text == "" or text.lower() in ("on request", "on-request", "negotiable"):
        return Price(None)
    if text.lower() == "free":
        return Price(0)
    parts = text.split()
    if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()):
        raise ValueError(f"{text!r}: expected free, on request, or an integer amount in minor units and a currency")
    if parts[1].upper() not in CURRENCIES:
        raise ValueError(f"currency {parts[1]!r}: expected one of {', '.join(sorted(CURRENCIES))}")
    if len(parts[0]) > 19 or int(parts[0]) > MAX_STORED_INT:
        raise ValueError(f"{_short(parts[0])}: too large: at most {MAX_STORED_INT} minor units")
    amount = int(parts[0])
    return Price(amount, parts[1].upper() if amount else "")


def format_price(price: Price) -> str:
    if price.minor is None:
        return "on request"
    if price.minor == 0:
        return "free"
    return f"{price.minor} {price.currency}"


def _email(value: object) -> str:
    text = _text(value)
    if text and not _EMAIL.match(text):
        raise ValueError(f"{text!r} is not an e-mail address")
    return text


# -- the dataset ------------------------------------------------------------------------------------------------

T = TypeVar("T")


class _Collector:
    """Runs each field's parser, keeping its value or its problem, so every problem of a row is reported."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.problems: list[FieldProblem] = []

    def get(self, name: str, parse: Callable[[object], T], default: T) -> T:
        try:
            return parse(self.raw.get(name))
        except ValueError as exc:
            self.problems.append(FieldProblem(name, str(exc)))
            return default

    def problem(self, name: str, message: str) -> None:
        self.problems.append(FieldProblem(name, message))


def normalise_keys(raw: Mapping[str, object]) -> tuple[dict[str, object], list[FieldProblem]]:
    """Keys lower-cased, aliases resolved; unknown keys are problems (a misspelt column must not vanish)."""
    out: dict[str, object] = {}
    problems = []
    for key, value in raw.items():
        name = FIELD_ALIASES.get(key.strip().lower(), key.strip().lower())
        if name not in DATASET_FIELDS:
            problems.append(FieldProblem(key if key.strip() else repr(key), "unknown field"))
        else:
            out[name] = value
    return out, problems


def _uses(c: _Collector, spdx: str | None) -> dict[Use, bool]:
    terms = licence_terms(spdx)
    allowed: dict[Use, bool] = {}
    for use in USES:
        explicit = c.get(use, parse_bool, None)
        if terms is None:
            if explicit is None and not any(p.field == use for p in c.problems):
                c.problem(use, "required (yes or no): the licence is not a known SPDX id, so no default applies")
            allowed[use] = bool(explicit)
            continue
        licence_allows = {"training": True, "commercial": terms.commercial, "derivatives": terms.derivatives}[use]
        if explicit and not licence_allows:
            c.problem(use, f"yes contradicts the licence: {spdx} forbids {use} use")
        allowed[use] = licence_allows if explicit is None else explicit and licence_allows
    return allowed


def dataset_from_raw(raw: Mapping[str, object]) -> tuple[DatasetRecord | None, list[FieldProblem]]:
    """The dataset a raw row describes, or None with every problem found in it."""
    values, problems = normalise_keys(raw)
    c = _Collector(values)
    c.problems.extend(problems)
    dataset_id = c.get("id", parse_slug, "")
    holder_id = c.get("holder", parse_slug, "")
    title_ja, title_en = c.get("title_ja", _text, ""), c.get("title_en", _text, "")
    if not title_ja and not title_en:
        c.problem("title_en", "a title is required (title_ja or title_en)")
    no_items: tuple[str, ...] = ()
    languages = c.get("languages", parse_languages, no_items)
    if not languages and not any(p.field == "languages" for p in c.problems):
        c.problem("languages", "required: at least one ISO 639-1 code")
    modality = c.get("modality", lambda v: parse_choice(v, MODALITIES), "")
    licence_text, licence_name = c.get("licence", _text, ""), c.get("licence_name", _text, "")
    spdx: str | None = None
    if licence_text:
        spdx = c.get("licence", lambda v: canonical_licence(_text(v)), None)
    elif not licence_name:
        c.problem("licence", "required: an SPDX id, a LicenseRef-..., or a licence_name")
    uses = _uses(c, spdx)
    holder = None
    if any(values.get(k) for k in ("holder_name_ja", "holder_name_en", "holder_email", "holder_url")):
        holder = HolderRecord(
            id=holder_id,
            name_ja=c.get("holder_name_ja", _text, ""),
            name_en=c.get("holder_name_en", _text, ""),
            contact_email=c.get("holder_email", _email, ""),
            url=c.get("holder_url", _text, ""),
        )
    record = DatasetRecord(
        id=dataset_id,
        holder_id=holder_id,
        title_ja=title_ja,
        title_en=title_en,
        description_ja=c.get("description_ja", _text, ""),
        description_en=c.get("description_en", _text, ""),
        publisher=c.get("publisher", _text, ""),
        contact_email=c.get("contact_email", _email, ""),
        url=c.get("url", _text, ""),
        domains=c.get("domains", parse_list, no_items),
        languages=languages,
        modality=modality,
        size_tokens=c.get("size_tokens", lambda v: parse_size(v, unit="tokens"), None),
        size_bytes=c.get("size_bytes", lambda v: parse_size(v, unit="bytes"), None),
        licence_spdx=spdx,
        licence_name=licence_name,
        allow_training=uses["training"],
        allow_commercial=uses["commercial"],
        allow_derivatives=uses["derivatives"],
        access_mode=c.get("access_mode", lambda v: parse_choice(v, ACCESS_MODES), ""),
        pii_status=c.get("pii", lambda v: parse_choice(v or "unknown", PII_STATUSES), "unknown"),
        copyright_status=c.get("copyright", lambda v: parse_choice(v or "unknown", COPYRIGHT_STATUSES), "unknown"),
        price=c.get("price", parse_price, Price(None)),
        holder=holder,
    )
    if c.problems:
        return None, c.problems
    return record, []
