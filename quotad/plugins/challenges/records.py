"""What a challenge entry may hold, checked in one place for the CLI and the CSV import alike.

Validation returns every problem (field and message) rather than stopping at the first, so an import row
error names all that is wrong with the row. Links are checked here too, through callables the caller builds
from the ledger view and the other plugins' reference checks: a directive, event or review call that does not
exist is refused, never stored as a dangling id.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quotad.plugins.challenges.config import ChallengesConfig

__all__ = [
    "FIELDS",
    "LINKED_KINDS",
    "SEVERITIES",
    "SOURCE_KINDS",
    "STATUSES",
    "VISIBILITIES",
    "ChallengeSpec",
    "FieldProblem",
    "Links",
    "check_spec",
]

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "in_progress", "resolved", "wont_fix")
VISIBILITIES = ("private", "consortium", "public")
#: Where the office heard of it. ``event``, ``directive`` and ``review`` name a record that must exist.
SOURCE_KINDS = ("interview", "event", "directive", "review", "other")
LINKED_KINDS = ("event", "directive", "review")

#: Editable fields, in the order of the CSV header and of ``show``.
FIELDS = (
    "key",
    "company",
    "noted_on",
    "category",
    "severity",
    "description_ja",
    "description_en",
    "source_kind",
    "source_ref",
    "status",
    "response",
    "visibility",
)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_TEXT_MAX = 20_000


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class ChallengeSpec:
    key: str
    company_id: str | None
    noted_on: str
    category: str
    severity: str
    description_ja: str
    description_en: str
    source_kind: str
    source_ref: str
    status: str
    response: str
    visibility: str

    def as_fields(self) -> dict[str, str]:
        """Field name -> stored text, for the history (None shown as empty)."""
        return {
            "key": self.key,
            "company": self.company_id or "",
            "noted_on": self.noted_on,
            "category": self.category,
            "severity": self.severity,
            "description_ja": self.description_ja,
            "description_en": self.description_en,
            "source_kind": self.source_kind,
            "source_ref": self.source_ref,
            "status": self.status,
            "response": self.response,
            "visibility": self.visibility,
        }


@dataclass(frozen=True)
class Links:
    """How to tell that a linked record exists: the company, and each kind of source."""

    company: Callable[[str], bool]
    #: Per kind of ``LINKED_KINDS``: the check, or None when the plugin owning that kind is not loaded.
    sources: Mapping[str, Callable[[str], bool] | None]


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> list[FieldProblem]:
    return [] if value in allowed else [FieldProblem(field, f"{value!r}: expected one of {', '.join(allowed)}")]


def _check_source(spec: ChallengeSpec, links: Links) -> list[FieldProblem]:
    kind = spec.source_kind
    if kind not in LINKED_KINDS:
        return []
    if not spec.source_ref:
        return [FieldProblem("source_ref", f"a {kind} source needs the {kind}'s id")]
    if kind == "directive" and not spec.source_ref.isdigit():
        return [FieldProblem("source_ref", f"{spec.source_ref!r}: a directive id is a number")]
    check = links.sources.get(kind)
    if check is None:
        return [FieldProblem("source_kind", f"{kind}: the plugin that owns {kind}s is not loaded")]
    if not check(spec.source_ref):
        return [FieldProblem("source_ref", f"{kind} {spec.source_ref!r} does not exist")]
    return []


def check_spec(spec: ChallengeSpec, config: ChallengesConfig, links: Links) -> list[FieldProblem]:
    """Every problem with ``spec``; empty when it may be stored."""
    problems: list[FieldProblem] = []
    if not _KEY.match(spec.key):
        problems.append(FieldProblem("key", f"{spec.key!r}: expected 1–128 letters, digits, '.', '_', ':' or '-'"))
    if spec.company_id is not None and not links.company(spec.company_id):
        problems.append(FieldProblem("company", f"{spec.company_id!r} is not a company of the ledger"))
    try:
        dt.date.fromisoformat(spec.noted_on)
        if len(spec.noted_on) != 10:
            raise ValueError
    except ValueError:
        problems.append(FieldProblem("noted_on", f"{spec.noted_on!r}: expected a date YYYY-MM-DD"))
    if config.category(spec.category) is None:
        keys = ", ".join(c.key for c in config.categories)
        problems.append(FieldProblem("category", f"{spec.category!r}: expected one of {keys}"))
    problems += _choice("severity", spec.severity, SEVERITIES)
    problems += _choice("status", spec.status, STATUSES)
    problems += _choice("visibility", spec.visibility, VISIBILITIES)
    problems += _choice("source_kind", spec.source_kind, SOURCE_KINDS)
    if not spec.description_ja.strip() and not spec.description_en.strip():
        problems.append(FieldProblem("description", "a description in Japanese, English or both is needed"))
    for name in ("description_ja", "description_en", "response"):
        value = getattr(spec, name)
        if len(value) > _TEXT_MAX:
            problems.append(FieldProblem(name, f"{len(value)} characters: at most {_TEXT_MAX}"))
        if "\x00" in value:
            problems.append(FieldProblem(name, "contains a NUL character"))
    if len(spec.source_ref) > 128:
        problems.append(FieldProblem("source_ref", "longer than 128 characters"))
    if not problems:
        problems += _check_source(spec, links)
    return problems
