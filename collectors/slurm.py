"""Slurm accounting into the ledger: ``sacct`` text from a file, stdin or an incremental poll.

A poll of one cluster is one transaction: the windowed ``sacct`` read, a re-read of the segments the ledger
still holds as running or pending that the window did not return, and the new watermark. A poll that dies
half-way (killed, sacct failing, slurmdbd down) writes nothing, so the next one neither misses nor
double-counts. Failures are recorded in a transaction of their own, with sacct's stderr.

The collector runs sacct with ``TZ=UTC`` and ``SLURM_TIME_FORMAT=%s`` so times arrive as epoch seconds,
whatever the cluster's local time zone; both forms parse regardless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, Engine, select

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
from quotad.errors import InputError, NotFoundError, UsageError
from quotad.ledger.collector_state import record_failure, record_success, watermark
from quotad.ledger.ingest import IngestSummary, load_records, sync_clusters
from quotad.ledger.models import Grant, Job
from quotad.ledger.records import JobRecord

__all__ = ["SOURCE", "PollResult", "ingest_sacct_text", "poll_cluster", "sacct_argv", "sacct_env"]

log = logging.getLogger("quotad.collect.slurm")

SOURCE = "sacct"
#: States whose record sacct may still change: re-read each poll until they are final.
OPEN_STATES = ("RUNNING", "PENDING", "SUSPENDED", "REQUEUED", "RESIZING")
#: First poll without a watermark and without any grant: look back this far.
DEFAULT_LOOKBACK_S = 7 * 86400
_RECHECK_CHUNK = 500


def ingest_sacct_text(
    conn: Connection, settings: Settings, lines: Iterable[str], *, source: str, now: int, timezone: str | None = None
) -> IngestSummary:
    """Parse and store sacct ``--parsable2`` text in the caller's transaction; refused lines are quarantined.

    ``timezone`` overrides the clusters' configured zones (the collector's own sacct runs print UTC).
    """
    sync_clusters(conn, settings)
    parser = SacctParser(clusters=cluster_views(settings, timezone=timezone), source=source)
    return load_records(conn, parser.parse(lines), source=source, kind="sacct", now=now)


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


def _seen(items: Iterable[JobRecord | InputError], ids: set[int]) -> Iterator[JobRecord | InputError]:
    for item in items:
        if isinstance(item, JobRecord):
            ids.add(item.job_id_raw)
        yield item


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
    """One incremental poll of one cluster; raises ``CommandFailed`` (after recording it) if sacct failed."""
    cluster = settings.cluster(cluster_name)
    if cluster is None:
        known = ", ".join(c.name for c in settings.clusters) or "none"
        raise NotFoundError("cluster", cluster_name, hint=f"configured: {known}")
    if cluster.scheduler != "slurm":
        raise UsageError(f"cluster {cluster_name!r} runs {cluster.scheduler}, not Slurm")
    started = time.monotonic()
    poll_end = int(time.time()) if now is None else now
    env, timeout = sacct_env(cluster), float(cluster.sacct.timeout_s)
    try:
        with engine.begin() as conn:
            sync_clusters(conn, settings)
            mark = watermark(conn, cluster.name, SOURCE, lock=True)
            if since is not None:
                start = since
            elif mark is not None:
                start = mark - cluster.sacct.overlap_s
            else:
                start = _first_start(conn, poll_end)
            result = PollResult(cluster.name, start, poll_end)
            views = cluster_views(settings, timezone="UTC")  # the collector's sacct runs print UTC
            parser = SacctParser(clusters=views, source=f"sacct:{cluster.name}")
            seen: set[int] = set()
            jobs = _pyslurm_jobs(cluster, pyslurm_loader, start=start, end=poll_end)
            if jobs is not None:
                items = _seen(
                    records_from_pyslurm(jobs, cluster=views[cluster.name], source=f"pyslurm:{cluster.name}"), seen
                )
                result.summaries.append(
                    load_records(conn, items, source=f"pyslurm:{cluster.name}", kind="pyslurm", now=poll_end)
                )
            else:
                with runner.stream(sacct_argv(cluster, start=start), env=env, timeout_s=timeout) as lines:
                    items = _seen(parser.parse(lines), seen)
                    result.summaries.append(
                        load_records(conn, items, source=f"sacct:{cluster.name}", kind="sacct", now=poll_end)
                    )
            stale = sorted(
                set(conn.scalars(select(Job.job_id_raw).where(Job.cluster == cluster.name, Job.state.in_(OPEN_STATES))))
                - seen
            )
            for i in range(0, len(stale), _RECHECK_CHUNK):
                chunk = stale[i : i + _RECHECK_CHUNK]
                source = f"sacct:{cluster.name}:recheck"
                recheck = SacctParser(clusters=views, source=source)
                with runner.stream(sacct_argv(cluster, job_ids=chunk), env=env, timeout_s=timeout) as lines:
                    result.summaries.append(
                        load_records(conn, recheck.parse(lines), source=source, kind="sacct", now=poll_end)
                    )
                result.rechecked += len(chunk)
            result.duration_s = time.monotonic() - started
            record_success(
                conn,
                cluster.name,
                SOURCE,
                new_watermark=poll_end,
                now=poll_end,
                duration_ms=int(result.duration_s * 1000),
            )
    except (CommandFailed, InputError, PyslurmQueryError) as exc:
        took = int((time.monotonic() - started) * 1000)
        log.error("poll of %s failed, nothing written: %s", cluster.name, exc)
        with engine.begin() as conn:
            sync_clusters(conn, settings)
            record_failure(conn, cluster.name, SOURCE, error=str(exc), now=poll_end, duration_ms=took)
        raise
    return result
