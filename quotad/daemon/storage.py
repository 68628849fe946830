"""Before the daemon opens a SQLite ledger: is its directory writable, with room to grow?

Why at start: SQLite in WAL mode maps the ``-shm`` file into memory. When that file cannot be written or
extended (a full disk, a read-only mount, a file left by another user), the process can die by SIGBUS inside
SQLite, with no Python exception and no log line; at best the open fails with "disk I/O error", which names
neither the path nor the cause. Checking first turns both into one clear error naming the path and what is
wrong, logged, and a non-zero exit (systemd then shows why the unit failed).

The check is real, not a permission-bit guess (root ignores those): it creates a probe file next to the
ledger and allocates ``PROBE_BYTES`` in it, opens the ledger and its ``-wal``/``-shm`` for writing, and
requires ``MIN_FREE_BYTES`` free. PostgreSQL ledgers are not checked (the server owns its storage).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from quotad.errors import LedgerError

__all__ = ["MIN_FREE_BYTES", "PROBE_BYTES", "NoLedgerError", "check_ledger_storage", "sqlite_path"]

#: Room the ledger's file system must have at start: the -shm index (32 KiB steps) and WAL growth between
#: checkpoints of a busy poll (a few MB).
MIN_FREE_BYTES = 16 * 1024 * 1024
#: Bytes actually allocated in the probe file (a tmpfs or quota refuses here, where free space may lie).
PROBE_BYTES = 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def sqlite_path(url: str) -> Path | None:
    """The ledger file of a SQLite URL; None for another database or an in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # a URI filename: SQLite resolves it; nothing we can check reliably
    return Path(parsed.database).resolve()


class NoLedgerError(LedgerError):
    """The ledger's folder is missing: a set-up step not done yet (a usage error, exit 2), not a failure."""

    exit_code = 2


def check_ledger_storage(url: str) -> None:
    """Raise ``LedgerError`` naming the path unless a SQLite ledger's directory can be written and has room."""
    path = sqlite_path(url)
    if path is None:
        return
    directory = path.parent
    if not directory.is_dir():
        raise NoLedgerError(
            f"cannot open the ledger {path}: its directory {directory} does not exist; run `quotad db upgrade` "
            "to create the ledger there, or fix [database] url"
        )
    _probe(directory, path)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            try:
                with file.open("r+b"):
                    pass
            except OSError as exc:
                raise LedgerError(
                    f"cannot open the ledger {path}: {file} is not writable ({exc.strerror}); SQLite must write "
                    "the ledger, its -wal and its -shm file"
                ) from None
    free = shutil.disk_usage(directory).free
    if free < MIN_FREE_BYTES:
        raise LedgerError(_no_space(path, directory, free))


def _probe(directory: Path, path: Path) -> None:
    probe = directory / f".{path.name}.quotad-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise LedgerError(_no_space(path, directory, shutil.disk_usage(directory).free)) from None
        raise LedgerError(
            f"cannot open the ledger {path}: its directory {directory} is not writable ({exc.strerror}); SQLite "
            "creates the -wal and -shm files there"
        ) from None
    try:
        try:
            os.posix_fallocate(fd, 0, PROBE_BYTES)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.write(fd, b"\0" * PROBE_BYTES)  # a file system without fallocate: allocate by writing
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise LedgerError(_no_space(path, directory, shutil.disk_usage(directory).free)) from None
        raise LedgerError(f"cannot open the ledger {path}: cannot write in {directory} ({exc.strerror})") from None
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


def _no_space(path: Path, directory: Path, free: int) -> str:
    return (
        f"cannot open the ledger {path}: no space left in {directory} ({free // 1024} KiB free, at least "
        f"{MIN_FREE_BYTES // (1024 * 1024)} MiB needed for the ledger's -wal and -shm files); free some space"
    )
