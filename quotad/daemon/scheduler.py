"""APScheduler (3.x) wiring: each registered job on its interval, never overlapping itself.

Why these settings: ``max_instances=1`` so a slow poll is never run twice at once (two polls of one cluster
would serialise on the watermark lock anyway, holding a worker each); ``coalesce`` so runs missed while the
process was suspended or busy collapse into one; no misfire grace limit, so a late run still happens. Each
run goes through ``guarded``, which records health and logs an exception with its traceback instead of
letting it reach APScheduler: a job that raises is simply run again at its next interval.

Before running, ``guarded`` asks the job locks (``joblock``) whether the run is this daemon's: with two
daemons on one PostgreSQL ledger, a job whose lock the other holds is skipped and the skip recorded (with the
holder) for /healthz. A failed run gives the lock back, so the other daemon tries the job at its next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from quotad.daemon.health import JobHealth
from quotad.daemon.joblock import JobLocks, NoJobLocks
from quotad.daemon.jobs import JobContext, JobSummary, ScheduledJob
from quotad.daemon.logs import FIELDS

__all__ = ["MAX_LINE_BYTES", "JobScheduler", "guarded", "summary_line"]

log = logging.getLogger("quotad.daemon")

ContextFactory = Callable[[ScheduledJob], JobContext]

#: A run's log line (human text) stays under this many bytes (UTF-8), whatever the job reported.
MAX_LINE_BYTES = 300
#: JSON logs carry at most this many of a summary's fields, each string at most ``_FIELD_CHARS``.
_MAX_FIELDS = 16
_FIELD_CHARS = 80
#: Names the JSON line already uses: a summary field by one of these names is renamed, not lost.
_RESERVED = frozenset({"ts", "level", "logger", "msg", "exc", "stack", "job", "duration_s"})


def summary_line(job_id: str, took: float, summary: JobSummary | None) -> tuple[str, dict[str, object]]:
    """The one line a run logs: ``job ID ok in S s: TEXT`` (cut to fit ``MAX_LINE_BYTES`` once the human
    formatter adds timestamp, level, logger and ``job=... duration_s=...``) and its ``extra``: the job and
    duration, and the summary's fields under ``logs.FIELDS`` (JSON fields; human lines leave them out)."""
    head = f"job {job_id} ok in {took:.2f} s"
    text = f"{head}: {summary.text}" if summary is not None and summary.text else head
    budget = MAX_LINE_BYTES - 70 - 2 * len(job_id.encode())  # what the human formatter puts around the message
    raw = text.encode()
    if len(raw) > budget:
        text = raw[: max(0, budget - 3)].decode(errors="ignore") + "..."
    fields: dict[str, object] = {}
    for key, value in list((summary.fields if summary is not None else {}).items())[:_MAX_FIELDS]:
        name = f"{key}_" if key in _RESERVED else key
        fields[name] = value[:_FIELD_CHARS] if isinstance(value, str) else value
    return text, {"job": job_id, "duration_s": round(took, 3), FIELDS: fields}


def _ours(job: ScheduledJob, health: JobHealth, clock: Callable[[], float], locks: JobLocks) -> bool:
    """Whether this run is this daemon's to do; a skip (the other daemon holds the job) is recorded."""
    try:
        acquired = locks.acquire(job.id)
    except Exception as exc:  # the database cannot be asked: the run fails (it could not have worked either)
        log.exception("job %s: cannot take its lock; it runs again in %g s", job.id, job.interval_s,
                      extra={"job": job.id})
        health.failed(job.id, at=clock(), duration_s=0.0, error=f"job lock: {type(exc).__name__}: {exc}")
        return False
    if acquired.held:
        return True
    previous = next((s.held_by for s in health.snapshot() if s.job == job.id), "")
    health.skipped(job.id, at=clock(), holder=acquired.holder)
    if previous != (acquired.holder or "another daemon"):  # say so when it changes hands, not at every interval
        log.info("job %s is held by %s; this daemon leaves it to that one", job.id, acquired.holder,
                 extra={"job": job.id, "holder": acquired.holder})
    return False


def guarded(
    job: ScheduledJob,
    context: ContextFactory,
    health: JobHealth,
    clock: Callable[[], float],
    locks: JobLocks | None = None,
) -> None:
    """Run one job once if it is this daemon's: record start, success, failure or skip; never raise (the daemon
    must outlive its jobs)."""
    locks = locks if locks is not None else NoJobLocks()
    if not _ours(job, health, clock, locks):
        return
    started_at = clock()
    started = time.monotonic()
    health.started(job.id, started_at)
    try:
        summary = job.definition.func(context(job))
    except Exception as exc:
        locks.release(job.id)  # let the other daemon, if any, try it at its next run
        took = time.monotonic() - started
        log.exception(
            "job %s failed after %.2f s; it runs again in %g s",
            job.id,
            took,
            job.interval_s,
            extra={"job": job.id, "duration_s": round(took, 3)},
        )
        health.failed(job.id, at=clock(), duration_s=took, error=f"{type(exc).__name__}: {exc}")
        return
    took = time.monotonic() - started
    health.succeeded(job.id, at=clock(), duration_s=took)
    text, fields = summary_line(job.id, took, summary if isinstance(summary, JobSummary) else None)
    log.info("%s", text, extra=fields)


class JobScheduler:
    """A ``BackgroundScheduler`` holding the resolved jobs; ``apply`` brings it to a new job list."""

    def __init__(
        self,
        *,
        health: JobHealth,
        context: ContextFactory,
        clock: Callable[[], float],
        max_workers: int,
        locks: JobLocks | None = None,
    ) -> None:
        self._locks: JobLocks = locks if locks is not None else NoJobLocks()
        self._health = health
        self._context = context
        self._clock = clock
        self._max_workers = max_workers
        self._scheduler: BackgroundScheduler | None = None
        self._jobs: dict[str, ScheduledJob] = {}

    def start(self, jobs: list[ScheduledJob]) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=self._max_workers)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.start()
        self.apply(jobs)

    def apply(self, jobs: list[ScheduledJob]) -> None:
        """Add new jobs, drop removed ones, reschedule those whose interval changed; keep the rest running."""
        scheduler = self._require()
        wanted = {job.id: job for job in jobs}
        for job_id in [j for j in self._jobs if j not in wanted]:
            scheduler.remove_job(job_id)
            self._health.unregister(job_id)
            self._locks.release(job_id)
            del self._jobs[job_id]
            log.info("job %s removed", job_id, extra={"job": job_id})
        for job_id, job in wanted.items():
            self._health.register(job_id, stale_after_s=job.stale_after_s)
            old = self._jobs.get(job_id)
            if old is None:
                first = datetime.now(UTC) if job.definition.run_at_start else None
                scheduler.add_job(
                    guarded,
                    IntervalTrigger(seconds=job.interval_s, timezone=UTC),
                    args=(job, self._context, self._health, self._clock, self._locks),
                    id=job_id,
                    name=job_id,
                    next_run_time=first or datetime.now(UTC) + timedelta(seconds=job.interval_s),
                )
                log.info(
                    "job %s scheduled every %g s (stale after %g s)",
                    job_id,
                    job.interval_s,
                    job.stale_after_s,
                    extra={"job": job_id},
                )
            elif old != job:
                scheduler.modify_job(job_id, args=(job, self._context, self._health, self._clock, self._locks))
                if old.interval_s != job.interval_s:
                    scheduler.reschedule_job(job_id, trigger=IntervalTrigger(seconds=job.interval_s, timezone=UTC))
                    log.info("job %s now every %g s", job_id, job.interval_s, extra={"job": job_id})
            self._jobs[job_id] = job

    def jobs(self) -> list[ScheduledJob]:
        return list(self._jobs.values())

    def shutdown(self) -> None:
        """Stop scheduling and wait for running jobs to return (their transactions commit or roll back), then
        give every job lock back (the other daemon takes the jobs at its next runs)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self._locks.close()

    def _require(self) -> BackgroundScheduler:
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not started")
        return self._scheduler
