"""Delivery of flush windows: to the ledger when it answers, to the spool when it does not.

Why the spool is replayed before the current window is written: windows then reach the ledger in the order
they were taken, so the ledger never even briefly holds older totals after newer ones (the upsert's
``last_sample`` guard would refuse them anyway). Each spool file is replayed in its own transaction and
removed after commit; a crash in between replays it again, harmlessly, since it holds absolute values.

Why one connection per flush, closed after it: the agent runs on every GPU node, and a connection held open
between flushes is one of PostgreSQL's ``max_connections`` per node, whether it is used or not (past ~95 nodes
the agents, the daemon and the operators would be refused). A flush opens one connection (the engine has no
pool, see ``service.ledger_engine``), replays the spool and writes the window through it, each window in its
own transaction, and closes it. Transient failures are retried by ``FlushPacing`` with jittered backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.spool import Spool
from quotad.ledger.telemetry import GpuUsageRow, node_hour_rows, upsert_gpu_usage
from quotad.ledger.telemetry_models import GpuUsageHourly

__all__ = ["Delivery", "LedgerSink"]

log = logging.getLogger("quotad.agent.sink")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Delivery:
    """What one flush did: rows written to the ledger, spool windows replayed, or spooled instead."""

    written: int
    replayed_windows: int
    spooled: bool
    error: str = ""


class LedgerSink:
    """Writes rows through ``quotad.ledger.telemetry``; falls back to ``spool``."""

    def __init__(
        self, engine: Engine | None, spool: Spool, *, counters: AgentCounters, pacing: FlushPacing | None = None
    ) -> None:
        self.engine = engine
        self.spool = spool
        self.counters = counters
        #: Retries of a refused connection (none by default: the daemon's ``spool_replay`` tries once a run).
        self.pacing = pacing if pacing is not None else FlushPacing.single()
        self._down = False

    def deliver(self, rows: Sequence[GpuUsageRow], *, now: int) -> Delivery:
        """Replay the spool, then write ``rows``, through one connection closed afterwards; a transient failure
        is retried (``FlushPacing``), any remaining ledger failure spools ``rows`` (``OSError`` if that fails)."""
        engine = self.engine
        replayed = 0
        if engine is not None and not rows and not self.spool.pending():
            return Delivery(written=0, replayed_windows=0, spooled=False)  # nothing to send: no connection

        def once() -> int:
            nonlocal replayed
            assert engine is not None
            with engine.connect() as conn:
                replayed += self.replay(conn)
                if not rows:
                    return 0
                with conn.begin():
                    return upsert_gpu_usage(conn, rows)

        try:
            if engine is None:
                raise ConnectionError("no ledger configured")
            written = self.pacing.attempt(once, what="flush")
        except (SQLAlchemyError, ConnectionError) as exc:
            self.counters.inc("flush_failures")
            message = _first_line(exc)
            if not self._down:
                self._down = True
                log.warning("ledger unreachable (%s): spooling windows to %s", message, self.spool.directory)
            if rows:
                self.spool.write(rows, created=now)
            return Delivery(written=0, replayed_windows=replayed, spooled=bool(rows), error=message)
        if self._down:
            self._down = False
            log.warning("ledger reachable again: replayed %d spooled window(s)", replayed)
        self.counters.inc("rows_written", written)
        return Delivery(written=written, replayed_windows=replayed, spooled=False)

    @contextmanager
    def session(self) -> Iterator[Connection | None]:
        """One connection for the agent's start-up reads, closed afterwards; None (and a log line saying why)
        when the ledger is not configured, unreachable after the retries, or has no telemetry table. Never
        raises for the ledger's sake.

        Only the table the agent writes is checked, not the whole schema revision: an agent must keep working
        across a central ``quotad db upgrade`` that does not touch it (and this keeps Alembic out of the
        agent's memory). A missing SQLite file is reported without connecting, which would create it.
        """
        engine = self.engine
        if engine is None:
            log.warning("no ledger configured: every window goes to the spool at %s", self.spool.directory)
            yield None
            return
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:" and not Path(database).exists():
            log.error("no ledger at %s (run `quotad db upgrade`): windows are spooled until it exists", database)
            yield None
            return
        try:
            conn = self.pacing.attempt(engine.connect, what="start-up")
        except SQLAlchemyError as exc:
            log.error("ledger unreachable now (%s): windows are spooled until it answers", _first_line(exc))
            yield None
            return
        with conn:  # one read-only transaction for every start-up read, rolled back on close: fewest round trips
            try:
                found = inspect(conn).has_table(GpuUsageHourly.__tablename__)
            except SQLAlchemyError as exc:
                log.error("ledger unreachable now (%s): windows are spooled until it answers", _first_line(exc))
                found = None
            if found is False:
                log.error(
                    "the ledger has no %s table (run `quotad db upgrade`): windows are spooled until it has",
                    GpuUsageHourly.__tablename__,
                )
            yield conn if found else None

    def replay(self, conn: Connection | None = None) -> int:
        """Write every spooled window, oldest first, each in its own transaction on ``conn`` (else on one
        connection of its own); stop (raising) at the first ledger failure.

        A window that vanishes between listing and reading was replayed by another process sharing the
        directory (the daemon's ``spool_replay`` beside a live agent): it is skipped, not an error.
        """
        pending = self.spool.pending()
        if not pending:
            return 0
        if conn is None:
            assert self.engine is not None
            with self.engine.connect() as own:
                return self.replay(own)
        done = 0
        for path in pending:
            try:
                rows = self.spool.read(path)
            except FileNotFoundError:
                continue
            if rows:
                with conn.begin():
                    upsert_gpu_usage(conn, rows)
            self.spool.remove(path)
            self.counters.inc("spool_windows_replayed")
            done += 1
        return done

    def resume_rows(self, *, cluster: str, node: str, hour: int, conn: Connection | None) -> list[GpuUsageRow]:
        """This node's rows of ``hour`` as last recorded: the newest spool window's, else the ledger's (read on
        ``conn``, the start-up ``session``; none when it is None)."""
        pending = self.spool.pending()
        if pending:
            rows = [r for r in self.spool.read(pending[-1]) if (r.cluster, r.node, r.hour) == (cluster, node, hour)]
            if rows:
                return rows
        if conn is None:
            return []
        try:
            return node_hour_rows(conn, cluster, node, hour)
        except SQLAlchemyError as exc:
            log.warning(
                "cannot resume this hour's totals from the ledger (%s): starting from zero",
                str(exc).splitlines()[0][:200],
            )
            return []
