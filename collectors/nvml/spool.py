"""The local spool: each flush window's rows, kept on disk while the ledger cannot be reached.

Why it is safe to replay: a file holds absolute values of running totals (never deltas), so replaying the
files oldest first, and replaying one again after a crash between commit and unlink, leaves the ledger
exactly as if every flush had succeeded; the ledger's upsert also refuses a row older than the stored one.

Durability: a file is written to a temporary name, fsync'd, renamed into place and the directory fsync'd,
so a power cut leaves either the whole window or nothing. Names are ``<created epoch>-<seq>.json``, which
sort in write order. Over ``max_bytes`` the oldest windows are dropped, each with an ERROR log line and the
``spool_dropped_windows`` counter (later windows of the same hour carry the same totals, so what is lost is
at most the final values of hours that ended during the outage).

A window may carry a ``pending_base`` (``PendingBase``): its rows of that hour count only from ``since`` on,
because the agent that wrote it started while the ledger was unreachable and has not yet read the hour's
earlier totals. An agent that resumes from such a window keeps the mark, so it still adds those totals when
the ledger answers (see ``agent.NodeAgent``); replaying the window itself writes what it holds, like any other.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from quotad.collectors.nvml.counters import AgentCounters
from quotad.ledger.telemetry import GpuUsageRow

__all__ = ["SPOOL_VERSION", "PendingBase", "Spool", "SpoolStats"]

log = logging.getLogger("quotad.agent.spool")
SPOOL_VERSION = 1
_NAME = re.compile(r"^(\d{12})-(\d{8})\.json$")


@dataclass(frozen=True)
class SpoolStats:
    files: int
    bytes: int


@dataclass(frozen=True)
class PendingBase:
    """Node ``node``'s totals of ``hour`` from before ``since`` (the start of the agent run that counted from zero)
    are in the ledger only, not yet under the running totals: rows there with ``first_sample < since`` are them."""

    cluster: str
    node: str
    hour: int
    since: int


class Spool:
    """A directory of window files; ``write`` appends one, ``pending`` lists them oldest first."""

    def __init__(self, directory: Path, *, max_bytes: int, counters: AgentCounters) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.counters = counters

    def pending(self) -> list[Path]:
        """Window files, oldest first (empty when the directory does not exist yet)."""
        try:
            names = [p for p in self.directory.iterdir() if _NAME.match(p.name)]
        except FileNotFoundError:
            return []
        return sorted(names, key=lambda p: p.name)

    def stats(self) -> SpoolStats:
        sizes = []
        for path in self.pending():
            try:
                sizes.append(path.stat().st_size)
            except FileNotFoundError:
                continue
        return SpoolStats(files=len(sizes), bytes=sum(sizes))

    def write(self, rows: Sequence[GpuUsageRow], *, created: int, pending_base: PendingBase | None = None) -> Path:
        """Store one window atomically (with its ``pending_base`` mark, if any); then enforce the size limit.
        Raises ``OSError`` if the disk refuses."""
        # Group bits are left to the process umask: 0077 (a private local spool) gives 0700/0600, the unit's 0007
        # on a shared spool gives 0770/0660 so the daemon's spool_replay (group quotad) can read and remove them.
        self.directory.mkdir(mode=0o770, parents=True, exist_ok=True)
        existing = self.pending()
        last = _NAME.match(existing[-1].name) if existing else None
        seq = int(last.group(2)) + 1 if last else 0
        path = self.directory / f"{created:012d}-{seq:08d}.json"
        tmp = path.with_suffix(".tmp")
        window: dict[str, object] = {"version": SPOOL_VERSION, "created": created, "rows": [r.as_dict() for r in rows]}
        if pending_base is not None:
            window["pending_base"] = asdict(pending_base)
        payload = json.dumps(window, separators=(",", ":")).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o660)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.counters.inc("spool_windows_written")
        self._enforce_limit()
        return path

    def _enforce_limit(self) -> None:
        files = self.pending()
        sizes = {p: p.stat().st_size for p in files}
        total = sum(sizes.values())
        while total > self.max_bytes and len(files) > 1:
            oldest = files.pop(0)
            total -= sizes[oldest]
            rows = self._count_rows(oldest)
            oldest.unlink(missing_ok=True)
            self.counters.inc("spool_dropped_windows")
            log.error(
                "SPOOL FULL (%d bytes > spool_max_bytes %d): DROPPED the oldest window %s (%s rows) in %s; "
                "the ledger has been unreachable too long",
                total + sizes[oldest],
                self.max_bytes,
                oldest.name,
                rows,
                self.directory,
            )

    @staticmethod
    def _count_rows(path: Path) -> int | str:
        try:
            return len(json.loads(path.read_bytes())["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            return "?"

    def read(self, path: Path) -> list[GpuUsageRow]:
        """Rows of one window; a file that cannot be understood is renamed ``*.bad`` and yields nothing."""
        return self.read_marked(path)[0]

    def read_marked(self, path: Path) -> tuple[list[GpuUsageRow], PendingBase | None]:
        """Rows of one window and its ``pending_base`` mark; a file that cannot be understood is renamed
        ``*.bad`` and yields nothing."""
        try:
            data = json.loads(path.read_bytes())
            if data.get("version") != SPOOL_VERSION:
                raise ValueError(f"spool version {data.get('version')!r}, expected {SPOOL_VERSION}")
            mark = data.get("pending_base")
            base = None
            if mark is not None:
                base = PendingBase(str(mark["cluster"]), str(mark["node"]), int(mark["hour"]), int(mark["since"]))
            return [GpuUsageRow.from_dict(row) for row in data["rows"]], base
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            bad = path.with_suffix(".bad")
            os.replace(path, bad)
            self.counters.inc("spool_bad_windows")
            log.error("spool file %s cannot be read (%s): moved to %s and skipped", path, exc, bad.name)
            return [], None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
