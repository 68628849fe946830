"""Slurm accounting into the ledger: ``sacct`` text from a file, stdin or an incremental poll.

A poll of one cluster is one transaction: the windowed ``sacct`` read, a re-read of the segments the ledger
still holds as running or pending that the window did not return, and the new watermark. A poll that dies
half-way (killed, sacct failing, slurmdbd down) writes nothing, so the next one neither misses nor
double-counts. Failures are recorded in a transaction of their own, with sacct's stderr.

The collector runs sacct with ``TZ=UTC`` and ``SLURM_TIME_FORMAT=%s`` so times arrive as epoch seconds,
whatever the cluster's local time zone; both forms parse regardless.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import IO, Any, cast

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from quotad.collectors.polls import IngestedRuns
from quotad.collectors.runner import CommandFailed, CommandRunner
from quotad.collectors.sacct import SACCT_FORMAT, SacctParser, cluster_views
from quotad.collectors.slurm_pyslurm import (
    BackendUnavailable,
    PyslurmQueryError,
    load_jobs,
    load_pyslurm,
    records_from_pyslurm,
)
from quotad.config import ClusterConfig, Settings
from quotad.errors import InputError, LedgerError, NotFoundError, UsageError
from quotad.ledger.bounds import bounds_for
from quotad.ledger.collector_models import CollectorState
from quotad.ledger.collector_state import record_failure, record_success, watermark
from quotad.ledger.ingest import (
    WRITE_FAILED,
    IngestSummary,
    load_records,
    lock_cluster_writes,
    retrying,
    sync_clusters,
)
from quotad.ledger.models import OPEN_SEGMENT, Grant, Job
from quotad.ledger.records import JobRecord

__all__ = ["SOURCE", "PollResult", "ingest_sacct_text", "poll_cluster", "sacct_argv", "sacct_env"]

log = logging.getLogger("quotad.collect.slurm")

SOURCE = "sacct"
#: First poll without a watermark and without any grant: look back this far.
DEFAULT_LOOKBACK_S = 7 * 86400
_RECHECK_CHUNK = 500
#: sacct output kept in memory up to this size while the poll runs sacct; beyond, it spills to a temporary file.
_SPOOL_MEMORY = 8 * 1024 * 1024


def ingest_sacct_text(
    conn: Connection, settings: Settings, lines: Iterable[str], *, source: str, now: int, timezone: str | None = None
) -> IngestSummary:
    """Parse and store sacct ``--parsable2`` text in the caller's transaction; refused lines are quarantined.

    ``timezone`` overrides the clusters' configured zones (the collector's own sacct runs print UTC).
    """
    sync_clusters(conn, settings)
    # A file may hold any configured cluster: it waits for (and holds off) every writer of those clusters.
    lock_cluster_writes(conn, *(c.name for c in settings.clusters))
    parser = SacctParser(clusters=cluster_views(settings, timezone=timezone), source=source)
    return load_records(conn, parser.parse(lines), source=source, kind="sacct", now=now, bounds=bounds_for(settings))


def sacct_argv(cluster: ClusterConfig, *, start: int | None = None, job_ids: Sequence[int] = ()) -> list[str]:
    """The exact sacct command line of a poll (windowed) or of a re-read of given job ids."""
    argv = [
        cluster.sacct.command,
        "--allocations",
        "--duplicates",
        "--parsable2",
        "--allusers",
        f"--format={SACCT_FORMAT}",
    ]
    if cluster.sacct.use_cluster_flag:
        argv += ["-M", cluster.name]
    if job_ids:
        argv += ["--starttime=1970-01-01T00:00:00", "--jobs=" + ",".join(str(i) for i in job_ids)]
    elif start is not None:
        argv += [f"--starttime={_utc(start)}", "--endtime=now"]
    return argv


def _utc(epoch: int) -> str:
    """sacct reads --starttime in the TZ it runs with, which the collector sets to UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def sacct_env(cluster: ClusterConfig) -> dict[str, str]:
    env = {"TZ": "UTC", "SLURM_TIME_FORMAT": "%s"}
    if cluster.sacct.slurm_conf is not None:
        env["SLURM_CONF"] = str(cluster.sacct.slurm_conf)
    return env


@dataclass
class PollResult(IngestedRuns):
    cluster: str
    window_start: int
    window_end: int
    summaries: list[IngestSummary] = field(default_factory=list)
    rechecked: int = 0
    duration_s: float = 0.0


def _first_start(conn: Connection, now: int) -> int:
    earliest = conn.scalar(select(Grant.period_start).order_by(Grant.period_start).limit(1))
    return int(earliest) if earliest is not None else now - DEFAULT_LOOKBACK_S


def _pyslurm_jobs(
    cluster: ClusterConfig, loader: Callable[[], ModuleType], *, start: int, end: int
) -> list[Any] | None:
    """The window's jobs through pyslurm when the cluster asks for it and it can be exact; else None (use sacct).

    Why it fell back is logged: pyslurm missing, built for another Slurm, or unable to return requeued
    segments (sacct ``--duplicates``), which would lose charges.
    """
    if cluster.backend != "pyslurm":
        return None
    try:
        return load_jobs(loader(), cluster_name=cluster.name, start=start, end=end)
    except BackendUnavailable as exc:
        log.warning("cluster %s: pyslurm backend unavailable: %s", cluster.name, exc.reason)
        return None


def poll_cluster(
    engine: Engine,
    settings: Settings,
    cluster_name: str,
    *,
    runner: CommandRunner,
    now: int | None = None,
    since: int | None = None,
    pyslurm_loader: Callable[[], ModuleType] = load_pyslurm,
) -> PollResult:
    """One incremental poll of one cluster; raises ``CommandFailed`` or ``LedgerError`` after recording it.

    Three phases, so the ledger's write lock is held only while writing (on SQLite a lock held through a slow
    ``sacct`` made every other writer fail with "database is locked"): read the watermark and the open
    segments; run sacct (window and re-reads) into spool files; then one write transaction. A poll whose
    write failed is recorded as such, and the next poll writes record by record, quarantining any record the
    ledger refuses, so one bad record never stalls the collector.
    """
    cluster = settings.cluster(cluster_name)
    if cluster is None:
        known = ", ".join(c.name for c in settings.clusters) or "none"
        raise NotFoundError("cluster", cluster_name, hint=f"configured: {known}")
    if cluster.scheduler != "slurm":
        raise UsageError(f"cluster {cluster_name!r} runs {cluster.scheduler}, not Slurm")
    started = time.monotonic()
    poll_end = int(time.time()) if now is None else now
    env, timeout = sacct_env(cluster), float(cluster.sacct.timeout_s)
    bounds = bounds_for(settings)
    views = cluster_views(settings, timezone="UTC")  # the collector's sacct runs print UTC
    try:
        with contextlib.ExitStack() as spools:
            with engine.connect() as conn:
                mark, last_error = _last_poll(conn, cluster.name)
                if since is not None:
                    start = since
                elif mark is not None:
                    start = mark - cluster.sacct.overlap_s
                else:
                    start = _first_start(conn, poll_end)
                # The segments Slurm may still change, by ``ix_jobs_open`` (a few hundred, whatever the history).
                open_ids = set(conn.scalars(select(Job.job_id_raw).where(Job.cluster == cluster.name, OPEN_SEGMENT)))
            isolate = last_error.startswith(WRITE_FAILED)
            jobs = _pyslurm_jobs(cluster, pyslurm_loader, start=start, end=poll_end)
            seen: set[int] = set()
            window: _Spool | None = None
            if jobs is None:
                window = spools.enter_context(_spool(runner, sacct_argv(cluster, start=start), env, timeout))
                seen = _raw_ids(window)
            else:
                found = records_from_pyslurm(jobs, cluster=views[cluster.name], source=f"pyslurm:{cluster.name}")
                seen = {item.job_id_raw for item in found if isinstance(item, JobRecord)}
            stale = sorted(open_ids - seen)
            rechecks = [
                spools.enter_context(_spool(runner, sacct_argv(cluster, job_ids=chunk), env, timeout))
                for chunk in (stale[i : i + _RECHECK_CHUNK] for i in range(0, len(stale), _RECHECK_CHUNK))
            ]

            def write(conn: Connection) -> PollResult:
                """The write phase: repeatable (the spools are read again) for ``retrying``."""
                sync_clusters(conn, settings)
                watermark(conn, cluster.name, SOURCE, lock=True)
                lock_cluster_writes(conn, cluster.name)
                result = PollResult(cluster.name, start, poll_end)

                def load(items: Iterable[JobRecord | InputError], source: str, kind: str) -> IngestSummary:
                    return load_records(
                        conn, items, source=source, kind=kind, now=poll_end, bounds=bounds, isolate=isolate
                    )

                if jobs is not None:
                    source = f"pyslurm:{cluster.name}"
                    result.summaries.append(
                        load(records_from_pyslurm(jobs, cluster=views[cluster.name], source=source), source, "pyslurm")
                    )
                if window is not None:
                    source = f"sacct:{cluster.name}"
                    parser = SacctParser(clusters=views, source=source)
                    result.summaries.append(load(parser.parse(window.lines()), source, "sacct"))
                for spool in rechecks:
                    source = f"sacct:{cluster.name}:recheck"
                    recheck = SacctParser(clusters=views, source=source)
                    result.summaries.append(load(recheck.parse(spool.lines()), source, "sacct"))
                    result.rechecked += spool.job_count
                result.duration_s = time.monotonic() - started
                record_success(
                    conn,
                    cluster.name,
                    SOURCE,
                    new_watermark=poll_end,
                    now=poll_end,
                    duration_ms=int(result.duration_s * 1000),
                )
                return result

            result = retrying(engine, write)
    except (CommandFailed, InputError, PyslurmQueryError) as exc:
        _record_failed(engine, settings, cluster.name, str(exc), started, poll_end)
        raise
    except (OperationalError, InterfaceError) as exc:
        # The ledger is unreachable or locked: nothing about the records, so the next poll writes as usual.
        error = LedgerError(f"poll of {cluster.name} could not reach the ledger: {_db_reason(exc)}")
        _record_failed(engine, settings, cluster.name, str(error), started, poll_end)
        raise error from exc
    except SQLAlchemyError as exc:
        error = LedgerError(f"{WRITE_FAILED} poll of {cluster.name}: {_db_reason(exc)}")
        _record_failed(engine, settings, cluster.name, str(error), started, poll_end)
        raise error from exc
    return result


def _db_reason(exc: SQLAlchemyError) -> str:
    """The database's own message, without SQLAlchemy's statement and parameters (which can be huge)."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0][:500]


def _record_failed(engine: Engine, settings: Settings, cluster: str, error: str, started: float, now: int) -> None:
    took = int((time.monotonic() - started) * 1000)
    log.error("poll of %s failed, nothing written: %s", cluster, error)
    try:
        with engine.begin() as conn:
            sync_clusters(conn, settings)
            record_failure(conn, cluster, SOURCE, error=error, now=now, duration_ms=took)
    except SQLAlchemyError as exc:  # the ledger itself is down: the log line above is all there can be
        log.error("poll of %s: the failure could not be recorded either: %s", cluster, _db_reason(exc))


def _last_poll(conn: Connection, cluster: str) -> tuple[int | None, str]:
    """(watermark, last error) without writing: the read phase takes no write lock."""
    row = conn.execute(
        select(CollectorState.watermark, CollectorState.last_error).where(
            CollectorState.cluster == cluster, CollectorState.source == SOURCE
        )
    ).first()
    return (None, "") if row is None else (row[0], row[1] or "")


class _Spool:
    """One sacct run's output, kept in a temporary file (memory while small) until the write phase reads it."""

    def __init__(self, handle: IO[str], job_count: int) -> None:
        self.handle = handle
        self.job_count = job_count

    def lines(self) -> Iterator[str]:
        self.handle.seek(0)
        return iter(self.handle)


@contextlib.contextmanager
def _spool(runner: CommandRunner, argv: list[str], env: dict[str, str], timeout: float) -> Iterator[_Spool]:
    # newline="\n": only LF ends a line, exactly as the lines were split when they came from sacct.
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY, mode="w+", encoding="utf-8", newline="\n") as handle:
        with runner.stream(argv, env=env, timeout_s=timeout) as lines:
            for line in lines:
                handle.write(line.rstrip("\r\n") + "\n")
        jobs = argv[-1].count(",") + 1 if argv[-1].startswith("--jobs=") else 0
        yield _Spool(cast(IO[str], handle), jobs)


def _raw_ids(spool: _Spool) -> set[int]:
    """JobIDRaw of every line of a window: those segments need no re-read (a bad line is quarantined anyway)."""
    lines = spool.lines()
    header = next((text for text in lines if text.strip()), "")
    columns = header.rstrip("\r\n").removeprefix("\ufeff").split("|")
    if "JobIDRaw" not in columns:
        return set()
    index = columns.index("JobIDRaw")
    ids: set[int] = set()
    for line in lines:
        fields = line.split("|")
        if len(fields) > index and fields[index].isdigit() and len(fields[index]) < 20:
            ids.add(int(fields[index]))
    return ids
