"""PBS Professional accounting into the ledger: log lines to job segments, and the incremental collector.

Segments. A PBS job that is rerun keeps one job id and (usually) its ``qtime``, so neither tells its runs apart;
each run has its own ``start``, carried alike by its S (started), R (rerun: that run ended and the job was
requeued) and E (ended) records. The segment key is therefore (cluster, raw id, submit = the run's start): the S
record of a run and its later R or E land on the same segment (running -> final), each rerun is a separate
segment, and reading a file twice changes nothing. The raw id is ``sequence × 10^6`` (+ index + 1 for an array
subjob ``123[4]``), unique per subjob and still an integer as ``jobs.job_id_raw`` requires.

Charge = ``resources_used.walltime`` (else end − start) × GPUs (``Resource_List.ngpus``, else the ``select``
chunks), as the cluster's default GPU type unless the site's ``Resource_List.gpu_type`` names a known one.
The account is ``project`` (PBS's ``_pbs_project_default`` meaning "none"), else ``group``; companies claim it
like a Slurm account (``company add -a CLUSTER:PROJECT``).

Open runs. An S record without its R/E yet is a running job: charged up to now but never past its
``Resource_List.walltime`` (so a log that lost its E record cannot charge for ever), refreshed at every poll
(``settle_open_runs``). An A (aborted by the server) record closes the open run at the abort time; a later start
of the same job closes an earlier open run with no charge (the start failed: PBS writes R for any run it
requeues). D (deleted) marks the job's E as CANCELLED. An S record never reopens a run the ledger holds as
ended (a re-read of an older file after the E was read).

Incremental collection (``poll_pbs``): one transaction per cluster with the file position (``pbs_log_cursor``),
the open runs and the collector's health row, like the Slurm collector's watermark; see ``pbs_files``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from quotad.collectors.pbs_files import FilePosition, accounting_files, read_from
from quotad.collectors.pbs_log import PbsEntry, parse_line
from quotad.collectors.pbs_state import (
    RunKey,
    forget_open_runs,
    load_cursor,
    open_run_limits,
    remember_open_runs,
    save_cursor,
)
from quotad.collectors.polls import IngestedRuns
from quotad.config import ClusterConfig, Settings
from quotad.errors import (
    ConfigError,
    InputError,
    LedgerError,
    NotFoundError,
    QuotadError,
    RefusalReason,
    UsageError,
    refusal_of,
)
from quotad.ledger.bounds import DEFAULT_BOUNDS, RecordBounds, bounds_for
from quotad.ledger.collector_models import CollectorState
from quotad.ledger.collector_state import record_failure, record_success, watermark
from quotad.ledger.ingest import WRITE_FAILED, IngestSummary, load_records, lock_cluster_writes, sync_clusters
from quotad.ledger.models import Grant, Job
from quotad.ledger.records import JobRecord, decode_gpus

__all__ = [
    "ARRAY_SPAN",
    "SOURCE",
    "PbsBatch",
    "PbsCluster",
    "PbsLogError",
    "PbsPollResult",
    "assemble",
    "ingest_pbs_lines",
    "pbs_cluster",
    "pbs_job_id_raw",
    "poll_pbs",
    "settle_open_runs",
]

log = logging.getLogger("quotad.collect.pbs")

SOURCE = "pbs"
#: Array subjob indices must stay below this (PBS's default max_array_size is 10,000).
ARRAY_SPAN = 1_000_000
#: First poll without a position and without any grant: read this many days back.
DEFAULT_LOOKBACK_DAYS = 7
_NO_PROJECT = frozenset({"", "_pbs_project_default"})
_CHUNK = 500


class PbsLogError(QuotadError):
    """The accounting directory or a file in it could not be read; nothing of the poll was written."""


@dataclass(frozen=True)
class PbsCluster:
    """What the PBS parser and collector need of one configured cluster."""

    name: str
    timezone: str
    default_gpu_type: str
    known_gpu_types: frozenset[str]
    accounting_dir: Path | None = None
    #: What every record must satisfy before it is charged (``quotad.ledger.bounds``).
    bounds: RecordBounds = DEFAULT_BOUNDS


def pbs_cluster(settings: Settings, name: str, *, accounting_dir: Path | None = None) -> PbsCluster:
    """The configured PBS cluster ``name``; its directory is ``accounting_dir`` or ``[clusters.pbs] accounting_dir``."""
    cluster = settings.cluster(name)
    if cluster is None:
        known = ", ".join(c.name for c in settings.clusters) or "none"
        raise NotFoundError("cluster", name, hint=f"configured: {known}")
    if cluster.scheduler != "pbs":
        raise UsageError(f'cluster {name!r} runs {cluster.scheduler}, not PBS (set scheduler = "pbs")')
    return PbsCluster(
        name=cluster.name,
        timezone=cluster.timezone,
        default_gpu_type=cluster.default_gpu_type,
        known_gpu_types=frozenset(settings.gpu_types),
        accounting_dir=accounting_dir or _configured_dir(cluster),
        bounds=bounds_for(settings)[cluster.name],
    )


def _configured_dir(cluster: ClusterConfig) -> Path | None:
    """``[clusters.pbs] accounting_dir`` once config has that section (read defensively until it does)."""
    section = getattr(cluster, "pbs", None)
    value = getattr(section, "accounting_dir", None)
    return Path(value) if value is not None else None


def pbs_job_id_raw(sequence: int, array_index: int | None) -> int:
    """The integer segment id: unique per job and per array subjob."""
    if array_index is None:
        return sequence * ARRAY_SPAN
    if not 0 <= array_index < ARRAY_SPAN - 1:
        raise ValueError(f"array index {array_index} is beyond what quotad's job ids hold ({ARRAY_SPAN - 2})")
    return sequence * ARRAY_SPAN + array_index + 1


@dataclass
class PbsBatch:
    """What one stream of lines says: segments by key, refused lines, and the facts ``settle_open_runs`` needs."""

    records: dict[RunKey, JobRecord] = field(default_factory=dict)
    #: Keys whose record is final (R or E); an S never replaces one of them.
    closed: set[RunKey] = field(default_factory=set)
    #: Open runs (S records) with their walltime limit.
    opened: dict[RunKey, int | None] = field(default_factory=dict)
    #: raw id -> time of the last A (aborted) record
    aborts: dict[int, int] = field(default_factory=dict)
    errors: list[InputError] = field(default_factory=list)
    lines: int = 0
    skipped: int = 0


def _account(entry: PbsEntry) -> str:
    return entry.project if entry.project not in _NO_PROJECT else entry.group


def _gpus(entry: PbsEntry, cluster: PbsCluster) -> tuple[tuple[str, int], ...]:
    count = entry.gpus or 0
    if count <= 0:
        return ()
    gpu_type = cluster.default_gpu_type
    if entry.gpu_type:
        if entry.gpu_type not in cluster.known_gpu_types:
            known = ", ".join(sorted(cluster.known_gpu_types))
            raise ValueError(f"Resource_List.gpu_type {entry.gpu_type!r} is not configured under [gpu_types] ({known})")
        gpu_type = entry.gpu_type
    return ((gpu_type, count),)


def running_elapsed(start: int, now: int, limit: int | None) -> int:
    """Seconds an open run is charged at ``now``: never negative, never past its walltime limit."""
    elapsed = max(0, now - start)
    return min(elapsed, limit) if limit is not None else elapsed


def _record(entry: PbsEntry, cluster: PbsCluster, *, raw: int, state: str, now: int) -> JobRecord | None:
    if entry.start is None:
        if entry.record_type == "S":
            raise ValueError("S record without a start time")
        return None  # ended or requeued without ever running: nothing to charge
    if entry.record_type == "S":
        elapsed, end = running_elapsed(entry.start, now, entry.walltime_limit), None
    elif entry.walltime_used is not None:
        elapsed, end = entry.walltime_used, entry.end
    elif entry.end is not None:
        elapsed, end = max(0, entry.end - entry.start), entry.end
    else:
        raise ValueError(f"{entry.record_type} record has neither resources_used.walltime nor an end time")
    return JobRecord(
        cluster.name,
        entry.job_id,
        raw,
        entry.start,
        _account(entry),
        entry.user,
        entry.queue,
        state,
        entry.start,
        end,
        elapsed,
        _gpus(entry, cluster),
        entry.nodes,
    )


def assemble(lines: Iterable[tuple[int, str]], cluster: PbsCluster, *, source: str, now: int) -> PbsBatch:
    """Parse numbered lines into segments; each bad line becomes an ``InputError`` with ``source`` and its number."""
    zone = ZoneInfo(cluster.timezone)
    batch = PbsBatch()
    deleted: set[int] = set()
    for line_no, line in lines:
        if not line.strip():
            continue
        batch.lines += 1
        try:
            entry = parse_line(line, line_no, zone)
            if entry is None:
                batch.skipped += 1
                continue
            raw = pbs_job_id_raw(entry.sequence, entry.array_index)
            kind = entry.record_type
            if kind == "D":
                deleted.add(raw)
                continue
            if kind == "A":
                batch.aborts[raw] = max(batch.aborts.get(raw, 0), entry.logged_at)
                continue
            if kind == "E":
                state = "CANCELLED" if raw in deleted else "COMPLETED" if entry.exit_status == 0 else "FAILED"
            else:
                state = "REQUEUED" if kind == "R" else "RUNNING"
            record = _record(entry, cluster, raw=raw, state=state, now=now)
            if record is not None:
                cluster.bounds.check(record)
        except (ValueError, OverflowError) as exc:
            # OverflowError: a year-1 stamp in a zone east of UTC, or an epoch beyond what datetime holds.
            refusal = RefusalReason.INTEGER_RANGE if isinstance(exc, OverflowError) else refusal_of(exc)
            batch.errors.append(InputError(str(exc), source=source, line_no=line_no, line=line, refusal=refusal))
            continue
        if record is None:
            continue
        key = (raw, record.submit)
        if kind == "S":
            if key in batch.closed:
                continue
            limit = entry.walltime_limit
            # A limit beyond the plausible run is no limit at all; kept within what the ledger's BIGINT holds.
            batch.opened[key] = None if limit is None else min(limit, cluster.bounds.max_elapsed)
        else:
            batch.closed.add(key)
            batch.opened.pop(key, None)
        batch.records[key] = record
    return batch


def _ended_in_ledger(conn: Connection, cluster: str, keys: Sequence[RunKey]) -> set[RunKey]:
    """Of ``keys``, those the ledger already holds in a final state."""
    found: set[RunKey] = set()
    raws = sorted({raw for raw, _ in keys})
    wanted = set(keys)
    for i in range(0, len(raws), _CHUNK):
        stmt = select(Job.job_id_raw, Job.submit).where(
            Job.cluster == cluster, Job.job_id_raw.in_(raws[i : i + _CHUNK]), Job.state != "RUNNING"
        )
        found.update(k for k in ((int(r), int(s)) for r, s in conn.execute(stmt)) if k in wanted)
    return found


@dataclass
class PbsIngest:
    """One stream written: the write path's summary and what ``settle_open_runs`` must still apply."""

    summary: IngestSummary
    aborts: dict[int, int]
    lines: int
    skipped: int


def ingest_pbs_lines(
    conn: Connection,
    cluster: PbsCluster,
    lines: Iterable[tuple[int, str]],
    *,
    source: str,
    now: int,
    isolate: bool = False,
) -> PbsIngest:
    """Parse and store numbered accounting lines in the caller's transaction; bad lines are quarantined.

    Call ``settle_open_runs`` after the last stream of a transaction, with the aborts of every stream.
    ``isolate``: write record by record (see ``load_records``), after a poll whose write the ledger refused.
    """
    lock_cluster_writes(conn, cluster.name)
    batch = assemble(lines, cluster, source=source, now=now)
    for key in _ended_in_ledger(conn, cluster.name, sorted(batch.opened)):
        batch.opened.pop(key, None)
        batch.records.pop(key, None)
    items: list[JobRecord | InputError] = [*batch.records.values(), *batch.errors]
    summary = load_records(
        conn, items, source=source, kind="pbs", now=now, bounds={cluster.name: cluster.bounds}, isolate=isolate
    )
    remember_open_runs(conn, cluster.name, batch.opened, now=now)
    forget_open_runs(conn, cluster.name, batch.closed)
    return PbsIngest(summary, batch.aborts, batch.lines, batch.skipped)


def settle_open_runs(conn: Connection, cluster: PbsCluster, aborts: dict[int, int], *, now: int) -> IngestSummary:
    """Bring every open run of ``cluster`` up to ``now``: charge it on, or close it (abort, failed start)."""
    limits = open_run_limits(conn, cluster.name)
    running = list(conn.execute(select(Job).where(Job.cluster == cluster.name, Job.state == "RUNNING")))
    raws = sorted({int(j.job_id_raw) for j in running})
    latest: dict[int, int] = {}
    for i in range(0, len(raws), _CHUNK):
        stmt = select(Job.job_id_raw, Job.submit).where(
            Job.cluster == cluster.name, Job.job_id_raw.in_(raws[i : i + _CHUNK])
        )
        for raw, submit in conn.execute(stmt):
            latest[int(raw)] = max(latest.get(int(raw), int(submit)), int(submit))
    records: list[JobRecord] = []
    closed: list[RunKey] = []
    for j in running:
        raw, start = int(j.job_id_raw), int(j.start_time if j.start_time is not None else j.submit)
        key = (raw, int(j.submit))
        limit = limits.get(key)
        state, end, elapsed = "RUNNING", None, running_elapsed(start, now, limit)
        if latest.get(raw, key[1]) > key[1]:
            state, elapsed = "START_FAILED", 0
        elif raw in aborts and aborts[raw] >= start:
            state, end, elapsed = "CANCELLED", aborts[raw], running_elapsed(start, aborts[raw], limit)
        if state != "RUNNING":
            closed.append(key)
        records.append(
            JobRecord(
                cluster.name,
                j.job_id,
                raw,
                int(j.submit),
                j.account,
                j.user_name,
                j.partition,
                state,
                start,
                end,
                elapsed,
                decode_gpus(j.gpu_alloc),
            )
        )
    summary = load_records(conn, records, source=f"pbs:{cluster.name}:open-runs", kind="pbs", now=now)
    forget_open_runs(conn, cluster.name, closed)
    return summary


@dataclass
class PbsFileRead:
    name: str
    lines: int
    refused: int
    restarted: str


@dataclass
class PbsPollResult(IngestedRuns):
    cluster: str
    files: list[PbsFileRead] = field(default_factory=list)
    summaries: list[IngestSummary] = field(default_factory=list)
    duration_s: float = 0.0


def _day_name(epoch: int, tz: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y%m%d")


def _first_file(conn: Connection, cluster: PbsCluster, *, now: int, since: int | None) -> str:
    """Without a position: the file of ``since``, else the day before the earliest grant, else a week back."""
    if since is not None:
        return _day_name(since, cluster.timezone)
    earliest = conn.scalar(select(Grant.period_start).order_by(Grant.period_start).limit(1))
    if earliest is not None:
        return _day_name(int(earliest) - 86400, cluster.timezone)
    day = datetime.fromtimestamp(now, ZoneInfo(cluster.timezone)) - timedelta(days=DEFAULT_LOOKBACK_DAYS)
    return day.strftime("%Y%m%d")


def poll_pbs(
    engine: Engine,
    settings: Settings,
    cluster: PbsCluster,
    *,
    now: int | None = None,
    since: int | None = None,
) -> PbsPollResult:
    """Read what the cluster's accounting directory gained since the last poll, in one transaction.

    ``since`` re-reads from that day's file regardless of the stored position (idempotent). Raises
    ``PbsLogError`` (after recording it in ``collector_state``) when the directory or a file cannot be read.
    """
    if cluster.accounting_dir is None:
        raise ConfigError(
            f"cluster {cluster.name!r}: set [clusters.pbs] accounting_dir (the PBS server's accounting/ directory) "
            "or pass --accounting-dir"
        )
    directory = cluster.accounting_dir
    started = time.monotonic()
    poll_end = int(time.time()) if now is None else now
    result = PbsPollResult(cluster.name)
    try:
        with engine.connect() as conn:
            last_error = conn.scalar(
                select(CollectorState.last_error).where(
                    CollectorState.cluster == cluster.name, CollectorState.source == SOURCE
                )
            )
        isolate = (last_error or "").startswith(WRITE_FAILED)
        with engine.begin() as conn:
            sync_clusters(conn, settings)
            watermark(conn, cluster.name, SOURCE, lock=True)
            position: FilePosition | None = None if since is not None else load_cursor(conn, cluster.name)
            first = position.name if position else _first_file(conn, cluster, now=poll_end, since=since)
            aborts: dict[int, int] = {}
            for path in accounting_files(directory, first=first):
                chunk = read_from(path, position if position and position.name == path.name else None)
                if chunk.restarted:
                    log.warning("%s: %s since the last poll; reading it again from the start", path, chunk.restarted)
                written = ingest_pbs_lines(
                    conn, cluster, chunk.lines, source=f"pbs:{cluster.name}:{path}", now=poll_end, isolate=isolate
                )
                for raw, at in written.aborts.items():
                    aborts[raw] = max(aborts.get(raw, 0), at)
                result.summaries.append(written.summary)
                result.files.append(PbsFileRead(path.name, written.lines, written.summary.lines_bad, chunk.restarted))
                position = chunk.position
            result.summaries.append(settle_open_runs(conn, cluster, aborts, now=poll_end))
            if position is not None:
                save_cursor(conn, cluster.name, position, now=poll_end)
            result.duration_s = time.monotonic() - started
            record_success(
                conn,
                cluster.name,
                SOURCE,
                new_watermark=poll_end,
                now=poll_end,
                duration_ms=int(result.duration_s * 1000),
            )
    except OSError as exc:
        error = PbsLogError(f"PBS accounting of {cluster.name} at {directory}: {exc.strerror or exc}")
        _failed(engine, settings, cluster.name, error, started, poll_end)
        raise error from exc
    except InputError as exc:
        _failed(engine, settings, cluster.name, exc, started, poll_end)
        raise
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig if orig is not None else exc).splitlines()[0][:500]
        if isinstance(exc, OperationalError | InterfaceError):  # unreachable or locked: not about the records
            failure = LedgerError(f"poll of {cluster.name} could not reach the ledger: {reason}")
        else:
            failure = LedgerError(f"{WRITE_FAILED} poll of {cluster.name}: {reason}")
        _failed(engine, settings, cluster.name, failure, started, poll_end)
        raise failure from exc
    return result


def _failed(engine: Engine, settings: Settings, cluster: str, exc: Exception, started: float, now: int) -> None:
    took = int((time.monotonic() - started) * 1000)
    log.error("poll of %s failed, nothing written: %s", cluster, exc)
    try:
        with engine.begin() as conn:
            sync_clusters(conn, settings)
            record_failure(conn, cluster, SOURCE, error=str(exc), now=now, duration_ms=took)
    except SQLAlchemyError as db_exc:  # the ledger itself is down: the log line above is all there can be
        log.error("poll of %s: the failure could not be recorded either: %s", cluster, db_exc.__class__.__name__)
