"""Governance checklists as data: the ten sections, file validation, shipped versions and the version diff.

A checklist is a TOML file (see the shipped ``ai-guidelines-business-*.toml`` in this package): a version, the
guideline version it follows, and items with a stable key, a section, text in Japanese and English and a
reference into the guideline. The sections are fixed here, not in files, because they are the structure of
the guideline itself (Part 2 C, the common guiding principles) and every report is laid out by them; a file
must give every section at least one item, so a checklist cannot silently drop a principle.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quotad.errors import ConfigError
from quotad.plugins.api import Bilingual

__all__ = [
    "MEANING_FIELDS",
    "SECTIONS",
    "Checklist",
    "ChecklistItem",
    "DiffEntry",
    "Section",
    "diff_checklists",
    "load_checklist_file",
    "parse_checklist",
    "shipped_checklists",
    "version_key",
]


@dataclass(frozen=True)
class Section:
    key: str
    title: Bilingual
    reference: str


SECTIONS: tuple[Section, ...] = (
    Section("human-centric", Bilingual("人間中心", "Human-centric"), "第2部 C. 1)"),
    Section("safety", Bilingual("安全性", "Safety"), "第2部 C. 2)"),
    Section("fairness", Bilingual("公平性", "Fairness"), "第2部 C. 3)"),
    Section("privacy", Bilingual("プライバシー保護", "Privacy protection"), "第2部 C. 4)"),
    Section("security", Bilingual("セキュリティ確保", "Ensuring security"), "第2部 C. 5)"),
    Section("transparency", Bilingual("透明性", "Transparency"), "第2部 C. 6)"),
    Section("accountability", Bilingual("アカウンタビリティ", "Accountability"), "第2部 C. 7)"),
    Section("education", Bilingual("教育・リテラシー", "Education and literacy"), "第2部 C. 8)"),
    Section("fair-competition", Bilingual("公正競争確保", "Ensuring fair competition"), "第2部 C. 9)"),
    Section("innovation", Bilingual("イノベーション", "Innovation"), "第2部 C. 10)"),
)
_SECTION_KEYS = tuple(s.key for s in SECTIONS)
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: An item whose section or text changed asks a different question: its old answer does not carry over. A
#: changed reference alone (the guideline renumbered) asks the same one.
MEANING_FIELDS = frozenset({"section", "text_ja", "text_en"})


def version_key(version: str) -> tuple[int, ...]:
    """``"1.10"`` after ``"1.9"``: versions compare as numbers."""
    return tuple(int(p) for p in version.split("."))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Guideline(_Strict):
    title_ja: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    version: str = Field(min_length=1)
    published: date | None = None


class _Item(_Strict):
    key: str
    section: Literal[
        "human-centric", "safety", "fairness", "privacy", "security", "transparency", "accountability",
        "education", "fair-competition", "innovation",
    ]  # fmt: skip
    reference: str = Field(min_length=1)
    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("expected lower-case letters, digits and '-' (at most 64)")
        return value


class _ChecklistFile(_Strict):
    version: str
    title_ja: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    guideline: _Guideline
    items: list[_Item] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("expected a version of numbers and dots, such as 1.0 or 1.1")
        return value

    @model_validator(mode="after")
    def _complete(self) -> _ChecklistFile:
        seen: set[str] = set()
        for item in self.items:
            if item.key in seen:
                raise ValueError(f"item key {item.key!r} appears more than once")
            seen.add(item.key)
        missing = [s for s in _SECTION_KEYS if not any(i.section == s for i in self.items)]
        if missing:
            raise ValueError(f"sections without any item: {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    section: str
    text: Bilingual
    reference: str
    position: int


@dataclass(frozen=True)
class Checklist:
    version: str
    title: Bilingual
    guideline: Bilingual
    guideline_version: str
    guideline_published: str
    items: tuple[ChecklistItem, ...]
    source: str
    sha256: str

    def item(self, key: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.key == key), None)

    def item_keys(self) -> list[str]:
        return [i.key for i in self.items]


def _where(loc: tuple[int | str, ...], raw: object) -> str:
    """``items[3] (key 'hc-01').ja`` rather than ``items.3.ja``: the key is what the author searches for."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and loc[i - 1] == "items":
            key = ""
            items = raw.get("items") if isinstance(raw, dict) else None
            if isinstance(items, list) and part < len(items) and isinstance(items[part], dict):
                key = f" (key {items[part].get('key')!r})" if items[part].get("key") else ""
            parts[-1] = f"items[{part}]{key}"
        else:
            parts.append(str(part))
    return ".".join(parts) or "(file)"


def parse_checklist(content: bytes, source: str) -> Checklist:
    """The checklist in ``content``, or ``ConfigError`` naming ``source`` and each bad field."""
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"checklist {source}: not valid UTF-8 TOML: {exc}") from None
    try:
        parsed = _ChecklistFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']), raw)}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"checklist {source} is invalid:", problems=problems) from None
    g = parsed.guideline
    return Checklist(
        version=parsed.version,
        title=Bilingual(parsed.title_ja, parsed.title_en),
        guideline=Bilingual(g.title_ja, g.title_en),
        guideline_version=g.version,
        guideline_published=g.published.isoformat() if g.published else "",
        items=tuple(
            ChecklistItem(i.key, i.section, Bilingual(i.ja, i.en), i.reference, n)
            for n, i in enumerate(parsed.items, 1)
        ),
        source=source,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def load_checklist_file(path: Path) -> Checklist:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"checklist {path}: cannot read it ({exc.strerror or exc})") from None
    return parse_checklist(content, str(path))


def shipped_checklists() -> dict[str, Checklist]:
    """Every checklist shipped in this package (``*.toml``), by version."""
    out: dict[str, Checklist] = {}
    for entry in sorted(files("quotad.plugins.governance").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            checklist = parse_checklist(entry.read_bytes(), f"(shipped) {entry.name}")
            out[checklist.version] = checklist
    return out


@dataclass(frozen=True)
class DiffEntry:
    key: str
    kind: Literal["added", "removed", "changed"]
    section: str
    fields: tuple[str, ...] = ()
    old: ChecklistItem | None = None
    new: ChecklistItem | None = None

    @property
    def answers_carry(self) -> bool:
        return self.kind == "changed" and not MEANING_FIELDS & set(self.fields)


def diff_checklists(old: Checklist, new: Checklist) -> list[DiffEntry]:
    """Items added, removed or changed (with the fields that changed) from ``old`` to ``new``, by key."""
    entries: list[DiffEntry] = []
    for item in old.items:
        other = new.item(item.key)
        if other is None:
            entries.append(DiffEntry(item.key, "removed", item.section, old=item))
            continue
        fields = [
            name
            for name, a, b in (
                ("section", item.section, other.section),
                ("text_ja", item.text.ja, other.text.ja),
                ("text_en", item.text.en, other.text.en),
                ("reference", item.reference, other.reference),
            )
            if a != b
        ]
        if fields:
            entries.append(DiffEntry(item.key, "changed", other.section, tuple(fields), item, other))
    entries += [DiffEntry(i.key, "added", i.section, new=i) for i in new.items if old.item(i.key) is None]
    order = {s: n for n, s in enumerate(_SECTION_KEYS)}
    return sorted(entries, key=lambda e: (order[e.section], e.key))
