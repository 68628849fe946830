"""Challenges as ``quotad.render`` tables (table, csv, md, json)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from quotad.plugins.challenges.config import ChallengesConfig
from quotad.plugins.challenges.records import FIELDS
from quotad.plugins.challenges.store import Change, Entry
from quotad.render import Cell, Table

__all__ = ["categories_table", "entries_table", "entry_table", "history_table"]

_SHORT = 60


def _when(epoch: int, tz: str) -> str:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _SHORT else line[: _SHORT - 1] + "…"


def entries_table(entries: Sequence[Entry]) -> Table:
    rows: list[Sequence[Cell]] = [
        [
            e.spec.key,
            e.spec.noted_on,
            e.spec.company_id or "(programme)",
            e.spec.category,
            e.spec.severity,
            e.spec.status,
            e.spec.visibility,
            f"{e.spec.source_kind} {e.spec.source_ref}".strip(),
            _short(e.spec.description_en or e.spec.description_ja),
        ]
        for e in entries
    ]
    return Table(
        ["Key", "Noted", "Company", "Category", "Severity", "Status", "Visibility", "Source", "Description"],
        rows,
        title="Challenges",
        keys=["key", "noted_on", "company", "category", "severity", "status", "visibility", "source", "description"],
    )


def entry_table(entry: Entry, tz: str) -> Table:
    """One entry as field/value pairs, every field whole, so every format can show it."""
    fields = entry.spec.as_fields()
    pairs: list[Sequence[Cell]] = [["id", entry.id], *([name, fields[name]] for name in FIELDS)]
    pairs += [["created", _when(entry.created_at, tz)], ["updated", _when(entry.updated_at, tz)]]
    return Table(["Field", "Value"], pairs, title=f"Challenge {entry.spec.key}", keys=["field", "value"])


def history_table(entry: Entry, changes: Sequence[Change], tz: str) -> Table:
    return Table(
        [f"When ({tz})", "Who", "Field", "Before", "After"],
        [[_when(c.at, tz), c.actor, c.field, _short(c.before), _short(c.after)] for c in changes],
        title=f"History of {entry.spec.key}",
        keys=["at", "actor", "field", "before", "after"],
    )


def categories_table(config: ChallengesConfig) -> Table:
    return Table(
        ["Key", "Japanese", "English"],
        [[c.key, c.ja, c.en] for c in config.categories],
        title="Challenge categories",
        keys=["key", "ja", "en"],
    )
