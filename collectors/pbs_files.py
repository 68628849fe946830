"""The PBS accounting directory: one file per server-local day, named ``YYYYMMDD``, read from a remembered position.

Why a position and not a time watermark: the files are append-only text with no record ids, so "where I stopped"
is a byte offset in a named file. The position also remembers the file's inode and a hash of its first bytes;
if the file at that name was replaced (another inode), truncated (shorter than the offset) or rewritten (its
head changed), it is read again from the start. That is safe because the ledger's write path is idempotent by
segment key: re-read records replace themselves instead of adding.

Only complete lines are consumed: a record PBS is still writing (no newline yet) is left for the next read.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["HEAD_BYTES", "FilePosition", "LogChunk", "accounting_files", "read_from"]

#: How much of a file's beginning identifies it.
HEAD_BYTES = 4096
_DAY_FILE = re.compile(r"^\d{8}$")


@dataclass(frozen=True)
class FilePosition:
    """Where reading of ``name`` stopped: next byte ``offset``, last ``line_no`` consumed, and the file's identity."""

    name: str
    inode: int
    offset: int
    line_no: int
    head_len: int
    head_sha256: str


@dataclass(frozen=True)
class LogChunk:
    """Complete lines read from one file, numbered from 1 at the file's start, and the position after them."""

    path: Path
    lines: Sequence[tuple[int, str]]
    position: FilePosition
    #: Why the file was read again from its start ("" when it was resumed or read for the first time).
    restarted: str


def accounting_files(directory: Path, *, first: str | None = None) -> list[Path]:
    """``YYYYMMDD`` files in ``directory`` (other names are ignored), oldest first, from ``first`` on."""
    try:
        names = sorted(entry.name for entry in os.scandir(directory) if _DAY_FILE.match(entry.name) and entry.is_file())
    except OSError as exc:
        raise OSError(exc.errno, f"cannot list the PBS accounting directory {directory}: {exc.strerror}") from exc
    return [directory / name for name in names if first is None or name >= first]


def _head(handle: BinaryIO, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()


def read_from(path: Path, position: FilePosition | None) -> LogChunk:
    """Read the complete lines after ``position`` (which must name ``path``), or from the start (see module doc)."""
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        start, line_no, restarted = 0, 0, ""
        if position is not None and position.name == path.name:
            if position.inode != info.st_ino:
                restarted = "replaced (new inode)"
            elif info.st_size < position.offset:
                restarted = "truncated"
            elif _head(handle, position.head_len) != position.head_sha256:
                restarted = "rewritten (its first bytes changed)"
            else:
                start, line_no = position.offset, position.line_no
        handle.seek(start)
        data = handle.read()
        end = data.rfind(b"\n") + 1
        lines = []
        for raw in data[:end].split(b"\n")[:-1] if end else []:
            line_no += 1
            lines.append((line_no, raw.decode("utf-8", errors="replace").rstrip("\r")))
        offset = start + end
        head_len = min(HEAD_BYTES, offset)
        head = _head(handle, head_len)
    return LogChunk(path, lines, FilePosition(path.name, info.st_ino, offset, line_no, head_len, head), restarted)
