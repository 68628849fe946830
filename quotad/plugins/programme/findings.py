"""Reads and writes of the office's findings (``programme_findings``); the only module that touches them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from quotad.errors import UsageError
from quotad.plugins.api import LANGUAGES, SURVEY_PARTS, Language, SurveyPart
from quotad.plugins.programme.models import ProgrammeFinding

__all__ = ["Finding", "check_part", "findings", "set_finding"]

_MAX = 50_000


@dataclass(frozen=True)
class Finding:
    part: str
    lang: str
    text: str
    actor: str
    updated_at: int


def check_part(part: str) -> SurveyPart:
    for known in SURVEY_PARTS:
        if part == known:
            return known
    raise UsageError(f"chapter {part!r}: expected one of {', '.join(SURVEY_PARTS)}")


def _check_lang(lang: str) -> Language:
    for known in LANGUAGES:
        if lang == known:
            return known
    raise UsageError(f"--lang {lang!r}: expected ja or en")


def set_finding(conn: Connection, part: str, lang: str, text: str, *, actor: str, now: int) -> str:
    """Store (or, for an empty text, remove) the office's text for one chapter in one language."""
    check_part(part)
    _check_lang(lang)
    if len(text) > _MAX or "\x00" in text:
        raise UsageError(f"the findings text must be at most {_MAX} characters, without NUL characters")
    key = (ProgrammeFinding.part == part) & (ProgrammeFinding.lang == lang)
    exists = conn.execute(select(ProgrammeFinding.part).where(key)).first() is not None
    if not text.strip():
        conn.execute(delete(ProgrammeFinding).where(key))
        return "removed" if exists else "unchanged"
    values = {"text": text, "actor": actor, "updated_at": now}
    if exists:
        conn.execute(update(ProgrammeFinding).where(key).values(**values))
        return "updated"
    conn.execute(insert(ProgrammeFinding).values(part=part, lang=lang, **values))
    return "stored"


def findings(conn: Connection) -> list[Finding]:
    rows = conn.execute(select(ProgrammeFinding).order_by(ProgrammeFinding.part, ProgrammeFinding.lang))
    return [Finding(r.part, r.lang, r.text, r.actor, r.updated_at) for r in rows]
