"""``Daemon``: the scheduler, the HTTP listener and the configuration in force, driven by signal requests.

Two daemons on one PostgreSQL ledger share the jobs: each run first takes the job's advisory lock
(``joblock``), so a job runs on one daemon at a time and the other records the skip; /healthz names this
daemon (``instance``) and, per job, which runs were its own and which it left to the holder.

Lifecycle: ``start`` binds the listener (so a port already taken fails at once, exit 1) and schedules the
jobs; ``serve`` blocks on the signal queue; SIGHUP reloads, SIGTERM/SIGINT returns; ``stop`` stops the
scheduler *waiting for running jobs* (each finishes its transaction), then closes the listener.

Reload re-reads and re-validates the whole configuration; a bad file is refused with every problem logged
and the old configuration stays in force. Intervals, staleness, enabled jobs and the cluster list take effect
at once; the listen address, the database, the worker count and the exporter's two ages are bound at start,
so a change to them is logged as needing a restart and the old value is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError

from quotad.collectors.runner import CommandRunner, SubprocessRunner
from quotad.config import Settings
from quotad.daemon.config import DaemonConfig, daemon_config
from quotad.daemon.health import JobHealth, healthz
from quotad.daemon.joblock import JobLocks, instance_name, job_locks
from quotad.daemon.jobs import JobContext, JobRegistry, ScheduledJob, default_registry
from quotad.daemon.problems import Check, Problems
from quotad.daemon.scheduler import JobScheduler
from quotad.daemon.server import MetricsServer
from quotad.daemon.signals import Request, signal_requests
from quotad.errors import ConfigError, QuotadError
from quotad.listen import parse_listen
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.pool import PoolCache
from quotad.metrics.snapshot import SnapshotCache

__all__ = ["Daemon", "run_daemon"]

log = logging.getLogger("quotad.daemon")

#: How often the main thread wakes to run pending signal handlers (see ``Daemon.serve``).
_SIGNAL_POLL_S = 0.5


class Daemon:
    """One ``quotad run`` process. ``load`` re-reads the configuration (called on SIGHUP)."""

    def __init__(
        self,
        *,
        settings: Settings,
        load: Callable[[], Settings],
        engine: Engine,
        registry: JobRegistry,
        snapshots: SnapshotCache,
        pool: PoolCache | None = None,
        clock: Callable[[], float] = time.time,
        listen: str | None = None,
        locks: JobLocks | None = None,
    ) -> None:
        self._settings = settings
        #: Advisory job locks on PostgreSQL (two daemons share the jobs); none on SQLite.
        self._locks = locks if locks is not None else job_locks(engine)
        self._instance = instance_name()
        self._load = load
        self._engine = engine
        self._registry = registry
        self._snapshots = snapshots
        self._pool = pool
        self._clock = clock
        self._listen = listen
        self._health = JobHealth(clock)
        self._problems = Problems()
        self._lock = threading.Lock()
        self._scheduler: JobScheduler | None = None
        self._server: MetricsServer | None = None

    def settings(self) -> Settings:
        """The configuration in force (jobs read it at every run, so a reload reaches the next run)."""
        with self._lock:
            return self._settings

    @property
    def health(self) -> JobHealth:
        return self._health

    @property
    def problems(self) -> Problems:
        return self._problems

    def healthz(self) -> tuple[int, dict[str, Any]]:
        return healthz(
            self._health.snapshot(), now=self._clock(), problems=self._problems.standing(), instance=self._instance
        )

    def start(self) -> tuple[str, int]:
        """Bind the listener and schedule the jobs; returns the bound (host, port)."""
        settings = self.settings()
        config = daemon_config(settings)
        jobs = self._resolve(settings, config)
        collector = LedgerCollector(
            engine=self._engine,
            settings=self.settings,
            snapshots=self._snapshots,
            clock=self._clock,
            jobs=self._health.snapshot,
            telemetry_stale_s=config.telemetry_stale_s,
            pool=self._pool,
            problems=self._problems,
        )
        host, port = parse_listen(self._listen or config.listen)
        self._server = MetricsServer(
            host, port, registry=build_registry(collector), health=self.healthz, limits=config.http
        )
        try:
            bound = self._server.start()
        except OSError as exc:
            raise QuotadError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._scheduler = JobScheduler(
            health=self._health,
            context=self._context,
            clock=self._clock,
            max_workers=config.max_workers,
            locks=self._locks,
        )
        self._scheduler.start(jobs)
        shown = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        log.info("serving /metrics and /healthz on http://%s", shown, extra={"address": shown, "port": bound[1]})
        return bound

    def serve(self, requests: SimpleQueue[Request]) -> None:
        """Act on signal requests until one asks to stop.

        The wait wakes every ``_SIGNAL_POLL_S``: a signal the kernel hands to another thread (the scheduler's,
        the listener's) only marks Python's handler as pending, and the handler runs when the *main* thread
        next executes bytecode. A wait with no timeout could then sleep through SIGHUP and SIGTERM for ever.
        """
        while True:
            try:
                request = requests.get(timeout=_SIGNAL_POLL_S)
            except Empty:
                continue
            if request is Request.STOP:
                log.info("stop requested: finishing running jobs")
                return
            self.reload()

    def reload(self) -> bool:
        """Re-read and re-validate the configuration; apply it, or keep the old one and say why."""
        old = self.settings()
        try:
            new = self._load()
            config = daemon_config(new)
            jobs = self._resolve(new, config)
        except ConfigError as exc:
            log.error("reload refused, the running configuration stays in force: %s", exc)
            return False
        old_config = daemon_config(old)
        for what, before, after in (
            ("daemon.listen", old_config.listen, config.listen),
            ("daemon.http", old_config.http, config.http),
            ("daemon.max_workers", old_config.max_workers, config.max_workers),
            ("daemon.metrics_max_age_s", old_config.metrics_max_age_s, config.metrics_max_age_s),
            ("daemon.telemetry_stale_s", old_config.telemetry_stale_s, config.telemetry_stale_s),
            ("database.url", _masked_url(old.database.url), _masked_url(new.database.url)),
        ):
            if before != after and not (what == "daemon.listen" and self._listen):
                log.warning("reload: %s changed from %r to %r; takes effect at the next restart", what, before, after)
        with self._lock:
            self._settings = new
        if self._scheduler is not None:
            self._scheduler.apply(jobs)
        self._problems.keep_only(Check.REFUSED_LINES, (c.name for c in new.clusters))
        log.info("configuration reloaded from %s: %d jobs", new.source, len(jobs))
        return True

    def stop(self) -> None:
        """Wait for running jobs, then close the listener. Safe to call twice."""
        if self._scheduler is not None:
            self._scheduler.shutdown()
            self._scheduler = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        log.info("stopped")

    def scheduled(self) -> list[ScheduledJob]:
        return self._scheduler.jobs() if self._scheduler is not None else []

    def _resolve(self, settings: Settings, config: DaemonConfig) -> list[ScheduledJob]:
        jobs = self._registry.resolve(settings, config.jobs)
        for name in self._registry.unprovided(config.jobs):
            log.warning("daemon.jobs.%s is configured but this build provides no such job yet", name)
        return jobs

    def _context(self, job: ScheduledJob) -> JobContext:
        return JobContext(self._engine, self.settings(), self._clock, job.cluster, self._problems)


def _masked_url(url: str) -> str:
    """The URL with any password as ``***``: the reload log must not carry a password typed into the URL."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparsable URL, not shown)"


def run_daemon(
    *,
    settings: Settings,
    load: Callable[[], Settings],
    engine: Engine,
    listen: str | None = None,
    runner: CommandRunner | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Run until SIGTERM/SIGINT (SIGHUP reloads); returns the exit status, 0 after a clean stop."""
    max_age_s = daemon_config(settings).metrics_max_age_s
    snapshots = SnapshotCache(max_age_s=max_age_s)
    pool = PoolCache(max_age_s=max_age_s)
    registry = default_registry(runner=runner or SubprocessRunner(), snapshots=snapshots, pool=pool)
    daemon = Daemon(
        settings=settings,
        load=load,
        engine=engine,
        registry=registry,
        snapshots=snapshots,
        pool=pool,
        clock=clock,
        listen=listen,
    )
    with signal_requests() as requests:
        try:
            daemon.start()
            daemon.serve(requests)
        finally:
            daemon.stop()
            engine.dispose()
    return 0
