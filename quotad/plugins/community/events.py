"""Event values and their validation, apart from storage: what an event must say before it is stored.

Times an operator types are local to the programme (an event in Tokyo is announced in Tokyo time), so a time
without an offset is read in the programme time zone; one with an offset is taken as written. Stored as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from quotad.errors import UsageError
from quotad.plugins.api import Bilingual

__all__ = [
    "ONLINE",
    "EventSpec",
    "EventStatus",
    "check_email",
    "check_slug",
    "check_url",
    "format_local",
    "parse_local_time",
]

EventStatus = Literal["scheduled", "cancelled"]
ONLINE = Bilingual("オンライン", "Online")
_EMPTY = Bilingual("", "")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class EventSpec:
    """What the office says about a new event."""

    id: str
    title: Bilingual
    starts_at: int
    ends_at: int
    description: Bilingual = _EMPTY
    place: Bilingual = _EMPTY
    online_url: str = ""
    info_url: str = ""
    capacity: int | None = None
    public: bool = False

    def validate(self) -> None:
        check_slug(self.id)
        if not self.title.ja.strip() or not self.title.en.strip():
            raise UsageError(f"event {self.id!r}: both --title-ja and --title-en are required")
        if self.ends_at <= self.starts_at:
            raise UsageError(f"event {self.id!r}: --ends must be after --starts")
        if bool(self.place.ja.strip()) != bool(self.place.en.strip()):
            raise UsageError(f"event {self.id!r}: give the place in both languages (--place-ja and --place-en)")
        if not self.place.ja.strip() and not self.online_url:
            raise UsageError(f"event {self.id!r}: give a place (--place-ja/--place-en) or --online-url, or both")
        if self.online_url:
            check_url("--online-url", self.online_url)
        if self.info_url:
            check_url("--info-url", self.info_url)
        if self.capacity is not None and self.capacity < 1:
            raise UsageError(f"event {self.id!r}: --capacity must be at least 1 (leave it out for no limit)")


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise UsageError(f"event id {slug!r}: expected lower-case letters, digits and '-' (at most 64)")
    return slug


def check_url(option: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{option} {url!r}: expected an http(s) URL")
    return url


def check_email(email: str) -> str:
    """The address lower-cased (one person, one registration, whatever the capitals), or a usage error."""
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise UsageError(f"e-mail {email!r}: expected an address such as name@example.jp")
    return address


def parse_local_time(option: str, text: str, tz: str) -> int:
    """``2026-12-10T14:00`` (programme time) or with an offset, to epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected an ISO 8601 time such as 2026-12-10T14:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp())


def format_local(epoch: int, tz: str) -> str:
    """``2026-12-10 14:00 JST``: minutes are enough for an event, and the zone is always said."""
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
