"""One ``quotad run`` per SQLite ledger: an exclusive lock on a file next to the ledger, held while it runs.

Why: two daemons on one PostgreSQL ledger share the work through advisory locks (``joblock``); SQLite has no
such locks, and two daemons on one ledger file would poll, tick and mail twice. The second is refused at
start, before it opens the ledger, naming the ledger, the lock file and the pid of the daemon holding it.

Why ``fcntl.flock`` on a file of its own: the kernel drops the lock when the holder dies, even by SIGKILL, so
a crashed daemon never blocks the next start (no stale pid file to clean up; the pid written in the file is
only for the message). The lock file (``<ledger>.run-lock``) stays on disk between runs; that is harmless.
A PostgreSQL URL (or an in-memory SQLite) takes no lock here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from quotad.daemon.storage import sqlite_path
from quotad.errors import LedgerError

__all__ = ["LOCK_SUFFIX", "AnotherDaemonError", "single_daemon"]

LOCK_SUFFIX = ".run-lock"


class AnotherDaemonError(LedgerError):
    """Another ``quotad run`` serves this SQLite ledger (exit 1, as for any ledger that cannot be opened)."""


def _holder_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
        if text.isdigit():
            return text
    return ""


@contextlib.contextmanager
def single_daemon(url: str) -> Iterator[Path | None]:
    """Hold the SQLite ledger's run lock for the ``with`` block (yields the lock file; None for PostgreSQL).

    Raises ``AnotherDaemonError`` naming the ledger, the lock file and the holder's pid when it is taken."""
    ledger = sqlite_path(url)
    if ledger is None:
        yield None
        return
    lock = ledger.with_name(ledger.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise LedgerError(
            f"cannot open the ledger {ledger}: cannot create its run lock {lock} ({exc.strerror})"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LedgerError(f"cannot lock {lock}: {exc.strerror}") from None
            pid = _holder_pid(fd)
            who = f"pid {pid}" if pid else "a process whose pid is not known"
            raise AnotherDaemonError(
                f"another quotad run ({who}) already serves the SQLite ledger {ledger} (it holds {lock}); "
                "a SQLite ledger has one daemon: stop that one first, or put the ledger on PostgreSQL to run two "
                "daemons for availability"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        os.close(fd)  # releases the lock
