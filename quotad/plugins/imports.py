"""What every plugin's bulk import reports, written once: row errors by place and field, and the outcome counts.

An office imports sheets (datasets, challenges); each command must say the same things in the same words: which
file, which line or item, which record, which field, what is wrong; how many rows were created, updated, left
unchanged or refused. The plugins keep their own readers and tables; this is only the report's shape and the
file's first read (UTF-8, a BOM accepted), so a Shift_JIS export is refused the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from quotad.errors import UsageError

__all__ = ["ImportReport", "RowError", "read_text"]


@dataclass(frozen=True)
class RowError:
    source: str
    where: str  # "line 4", "item 2", "package 3"
    key: str  # the record's own id, when it has one
    field: str
    message: str

    def __str__(self) -> str:
        who = f" ({self.key})" if self.key else ""
        return f"{self.source}: {self.where}{who}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed_rows(self) -> int:
        return len({e.where for e in self.errors})


def read_text(path: Path, *, hint: str = "") -> str:
    """The whole file as text (UTF-8, a BOM accepted), or a ``UsageError`` naming the path."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}){hint}") from exc
