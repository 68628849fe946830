"""Which of two ``quotad run`` daemons on one PostgreSQL ledger runs a job: a PostgreSQL advisory lock per job.

Why: operators run two daemons for availability. Without a lock both would poll the same cluster, tick the
same policies and work the same outbox. Each scheduled job has a session-level advisory lock, keyed by a
stable hash of the ledger (database and schema) and the job's id, so ``slurm_poll:c1`` of one ledger never
collides with another ledger's job sharing the server.

What "each job runs every interval" means with two daemons: both schedule every job; at each run a daemon
tries the job's lock. The daemon that gets it **keeps** it after a successful run, so the job runs once per
interval, on that daemon, and the other daemon finds it held and skips (recording the holder for /healthz).
Keeping it, rather than locking around each run only, is what stops both daemons running every job once per
interval each (two polls, two ticks): the locks would almost never overlap in time. The holder gives the lock
back when the job fails (so the other daemon tries at its next run: a daemon whose sacct is broken does not
keep a healthy one idle), when a reload removes the job, and when it stops. A daemon killed outright holds
nothing: PostgreSQL releases session locks when the connection dies, so the other takes the job over at its
next run, within one interval. (A killed process's socket is closed by its kernel at once; a crashed or
cut-off host is found by the server's TCP keepalive, set on this session to give up after about a minute.)

All locks of a daemon live on one dedicated connection (autocommit: no transaction is left open between runs),
its ``application_name`` naming the daemon (``quotad run pid=… host=…``), which is how the other daemon names
the holder (``pg_locks`` joined with ``pg_stat_activity``). A connection lost while holding locks (a database
restart, a terminated backend) is noticed at the next run, which opens a new one and tries again: the locks
went with the old connection.

SQLite needs none of this: one daemon per ledger file (``instance.SqliteRunLock``), so ``NoJobLocks``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["Acquired", "JobLocks", "NoJobLocks", "PgJobLocks", "instance_name", "job_locks", "lock_key"]

log = logging.getLogger("quotad.daemon")

#: PostgreSQL keeps at most 63 bytes of application_name.
_APP_NAME_BYTES = 63


def instance_name() -> str:
    """How this daemon names itself to the database and in /healthz: ``quotad run pid=PID host=HOST``."""
    name = f"quotad run pid={os.getpid()} host={socket.gethostname()}"
    return name.encode()[:_APP_NAME_BYTES].decode(errors="ignore")


def lock_key(ledger: str, job_id: str) -> int:
    """The advisory lock key (signed 64 bits) of ``job_id`` on ``ledger``: the same in every process and release
    (BLAKE2b, not ``hash()``, which is salted per process)."""
    digest = hashlib.blake2b(f"quotad-job\0{ledger}\0{job_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class Acquired:
    """The outcome of trying a job's lock: ``held`` by this daemon, or not, and then who has it."""

    held: bool
    #: The other holder as PostgreSQL shows it (its application_name, else its backend pid); "" when held.
    holder: str = ""


class JobLocks(Protocol):
    """Decides, at each run, whether this daemon runs a job; the scheduler asks before running it."""

    def acquire(self, job_id: str) -> Acquired: ...

    def release(self, job_id: str) -> None: ...

    def close(self) -> None: ...


class NoJobLocks:
    """One daemon per ledger (SQLite): every job is always this daemon's."""

    def acquire(self, job_id: str) -> Acquired:
        return Acquired(True)

    def release(self, job_id: str) -> None:
        return None

    def close(self) -> None:
        return None


_HOLDER = text(
    """
    SELECT a.application_name, a.pid, host(a.client_addr) AS addr
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = :hi AND l.objid::bigint = :lo
    """
)


#: The server probes this session's client: a daemon whose host crashed or was cut off (no FIN ever comes) loses
#: its locks about a minute later, not after the kernel's default two hours (ignored on a Unix socket).
_KEEPALIVE = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}


class PgJobLocks:
    """Session advisory locks on one dedicated connection; thread-safe (jobs run on several worker threads)."""

    def __init__(self, engine: Engine, *, name: str | None = None) -> None:
        self._engine = engine
        self._name = name or instance_name()
        self._mutex = threading.Lock()
        self._conn: Connection | None = None
        self._ledger = ""
        self._held: set[str] = set()

    def acquire(self, job_id: str) -> Acquired:
        """Keep or take the job's lock; raises ``SQLAlchemyError`` when the database cannot be asked."""
        with self._mutex:
            conn = self._connection()
            if job_id in self._held:
                try:
                    conn.execute(text("SELECT 1"))
                    return Acquired(True)
                except SQLAlchemyError:
                    log.warning("the job-lock connection was lost; its locks went with it; trying again")
                    self._drop()
                    conn = self._connection()
            key = lock_key(self._ledger, job_id)
            if conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                self._held.add(job_id)
                return Acquired(True)
            return Acquired(False, self._holder(conn, key))

    def release(self, job_id: str) -> None:
        """Give the job's lock back (after a failed run, or the job removed); harmless when not held."""
        with self._mutex:
            if job_id not in self._held or self._conn is None:
                return
            self._held.discard(job_id)
            try:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self._ledger, job_id)}
                )
            except SQLAlchemyError:
                self._drop()  # the connection is gone, and every lock with it

    def close(self) -> None:
        """Release every lock: the connection is closed for real, not returned to the pool holding them."""
        with self._mutex:
            if self._conn is not None and self._held:
                with contextlib.suppress(SQLAlchemyError):  # now, not when the server notices the closed socket
                    self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            self._drop()

    def held(self) -> set[str]:
        with self._mutex:
            return set(self._held)

    def _connection(self) -> Connection:
        if self._conn is not None and not self._conn.invalidated and not self._conn.closed:
            return self._conn
        self._drop()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": self._name})
            for setting, value in _KEEPALIVE.items():
                conn.execute(text("SELECT set_config(:s, :v, false)"), {"s": setting, "v": value})
            row = conn.execute(text("SELECT current_database(), current_schema()")).one()
        except SQLAlchemyError:
            conn.invalidate()
            conn.close()
            raise
        self._ledger = f"{row[0]}.{row[1]}"
        self._conn = conn
        return conn

    def _drop(self) -> None:
        """Close the connection for real (invalidate: a pooled connection would keep its session locks)."""
        self._held.clear()
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        with contextlib.suppress(SQLAlchemyError):
            conn.invalidate()
        conn.close()

    def _holder(self, conn: Connection, key: int) -> str:
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        row = conn.execute(_HOLDER, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}).first()
        if row is None:
            return "another session (gone since)"
        if row.application_name:
            return str(row.application_name)
        where = f" from {row.addr}" if row.addr else ""
        return f"PostgreSQL backend pid {row.pid}{where}"


def job_locks(engine: Engine) -> JobLocks:
    """Advisory locks on PostgreSQL; none on SQLite (whose daemon is alone on its ledger file)."""
    return PgJobLocks(engine) if engine.dialect.name == "postgresql" else NoJobLocks()
