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

Why a flush may carry a ``PendingBase`` (the agent started without knowing the hour's earlier totals, see
``agent.NodeAgent``): that flush reads the hour's rows the previous process wrote, replays the spool, and writes
this process's totals stacked on the base (``aggregate.stack``), all in ONE transaction (``_rebase``). Reading
first means the base is the previous process's row, not one of this process's own spooled windows (they would
replace it, being newer, and then be read back as the base: counted twice). The stacked rows go last, since a
row of an hour that ended during the outage has the same ``last_sample`` (the hour's end) in every window, and
the upsert lets an equal one replace it. One transaction means the ledger never holds this process's smaller
totals alone, even after a crash half way. A row of that hour whose ``first_sample`` is not before ``since``
was written from this run's own windows by another replayer (the daemon's ``spool_replay`` on a shared spool):
it is no base, and is skipped, loudly (the earlier totals it replaced are lost; so are they if that replayer
writes one of this run's windows of an ended hour just after the stacked rows, a narrow race).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from quotad.collectors.nvml.aggregate import stack
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.spool import PendingBase, Spool
from quotad.ledger.telemetry import GpuUsageRow, node_hour_rows, upsert_gpu_usage
from quotad.ledger.telemetry_models import GpuUsageHourly

__all__ = ["Delivery", "LedgerSink", "Resumed"]

log = logging.getLogger("quotad.agent.sink")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Delivery:
    """What one flush did: rows written to the ledger, spool windows replayed, or spooled instead; with a
    ``PendingBase``, ``base`` holds the earlier rows read and added (None: not read, the base is still pending)."""

    written: int
    replayed_windows: int
    spooled: bool
    error: str = ""
    base: tuple[GpuUsageRow, ...] | None = None


@dataclass(frozen=True)
class Resumed:
    """What a starting agent resumes from: ``rows`` (this hour's totals), and ``pending`` when the hour's totals
    before ``pending.since`` are still to be read from the ledger (it could not be read, or the spool window
    resumed from was itself written before they were)."""

    rows: list[GpuUsageRow]
    pending: PendingBase | None = None


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

    def deliver(self, rows: Sequence[GpuUsageRow], *, now: int, pending: PendingBase | None = None) -> Delivery:
        """Replay the spool, then write ``rows``, through one connection closed afterwards; a transient failure
        is retried (``FlushPacing``), any remaining ledger failure spools ``rows`` (``OSError`` if that fails).

        With ``pending``: in one transaction, read the earlier rows of ``pending.hour``, replay the spool, and
        write ``rows`` stacked on those rows (``_rebase``, and the module docstring); ``Delivery.base`` returns
        the rows added, and a spooled window keeps the ``pending`` mark."""
        engine = self.engine
        replayed = 0
        base: list[GpuUsageRow] = []
        if engine is not None and not rows and not self.spool.pending() and pending is None:
            return Delivery(written=0, replayed_windows=0, spooled=False)  # nothing to send: no connection

        def once() -> int:
            nonlocal replayed
            assert engine is not None
            with engine.connect() as conn:
                if pending is not None:
                    written, done = self._rebase(conn, rows, pending, base)
                    replayed += done
                    return written
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
                self.spool.write(rows, created=now, pending_base=pending)
            return Delivery(written=0, replayed_windows=replayed, spooled=bool(rows), error=message)
        if self._down:
            self._down = False
            log.warning("ledger reachable again: replayed %d spooled window(s)", replayed)
        self.counters.inc("rows_written", written)
        return Delivery(
            written=written, replayed_windows=replayed, spooled=False, base=tuple(base) if pending else None
        )

    def _rebase(
        self, conn: Connection, rows: Sequence[GpuUsageRow], pending: PendingBase, base: list[GpuUsageRow]
    ) -> tuple[int, int]:
        """The flush that adds the pending base, in ONE transaction: read the base (into ``base``), replay every
        spooled window, then write ``rows`` stacked on the base; the windows are removed after the commit.
        Returns (rows written, windows replayed).

        One transaction, and the stacked rows last: a row of an hour that ended during the outage has the same
        ``last_sample`` (the hour's end) in every window, so the upsert's guard alone would let a replayed window
        replace the stacked row; and a crash in between must not leave this run's totals without the base."""
        windows = self.spool.pending()
        replayed: list[Path] = []
        with conn.begin():
            base[:] = self.base_rows(conn, pending)
            for path in windows:
                try:
                    window = self.spool.read(path)
                except FileNotFoundError:
                    continue
                if window:
                    upsert_gpu_usage(conn, window)
                replayed.append(path)
            earlier = {r.key: r for r in base}
            stacked = [stack(earlier[r.key], r) if r.key in earlier else r for r in rows]
            written = upsert_gpu_usage(conn, stacked) if stacked else 0
        for path in replayed:
            self.spool.remove(path)
            self.counters.inc("spool_windows_replayed")
        return written, len(replayed)

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

    def resume_rows(self, *, cluster: str, node: str, hour: int, conn: Connection | None, since: int) -> Resumed:
        """This node's rows of ``hour`` as last recorded: the newest spool window's (with its mark, and then also
        the rows of the mark's hour), else the ledger's (read on ``conn``, the start-up ``session``). When
        neither can be had, none, and a ``PendingBase(hour, since)``: the agent counts from zero and adds the
        ledger's rows at its first flush that reaches it (``since``, the start, tells them from rows of this
        run's own windows)."""
        pending = self.spool.pending()
        if pending:
            window, mark = self.spool.read_marked(pending[-1])
            if mark is not None and (mark.cluster, mark.node) != (cluster, node):
                mark = None
            # a marked window: its run never reached the ledger, so the window holds all it counted, of this hour
            # and of the hour whose base is pending (kept until that base is added)
            hours = {hour} if mark is None else {hour, mark.hour}
            rows = [r for r in window if (r.cluster, r.node) == (cluster, node) and r.hour in hours]
            if rows or mark is not None:
                return Resumed(rows, mark)
        if conn is None:
            return Resumed([], PendingBase(cluster, node, hour, since))
        try:
            return Resumed(node_hour_rows(conn, cluster, node, hour))
        except SQLAlchemyError as exc:
            log.warning(
                "cannot resume this hour's totals from the ledger (%s): counting from zero, and adding them at "
                "the first flush that reaches the ledger",
                str(exc).splitlines()[0][:200],
            )
            return Resumed([], PendingBase(cluster, node, hour, since))

    def base_rows(self, conn: Connection, pending: PendingBase) -> list[GpuUsageRow]:
        """The ledger's rows of the pending node and hour written before ``pending.since`` (``first_sample``
        earlier): the base to add. A row begun later holds this run's own totals (a window of it replayed by
        someone else): it is left out, with an ERROR, since whatever it replaced can no longer be told apart."""
        rows = node_hour_rows(conn, pending.cluster, pending.node, pending.hour)
        own = [r for r in rows if r.first_sample >= pending.since]
        if own:
            log.error(
                "%d row(s) of hour %d were written from this agent's spooled windows before the hour's earlier "
                "totals were added (a shared spool replayed elsewhere): those earlier totals are lost",
                len(own),
                pending.hour,
            )
        return [r for r in rows if r.first_sample < pending.since]

