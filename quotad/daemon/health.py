"""What each scheduled job last did, for ``/healthz`` and the exporter's ``quotad_daemon_job_*`` metrics.

Why in memory and not in the ledger: this is the health of *this* process's scheduler (is the poll thread
alive, is the outbox loop running), which the ledger cannot tell; the collectors' durable health is in
``collector_state`` and exported separately. A job that has not succeeded yet is measured from the moment it
was registered (daemon start or the reload that added it), so a fresh daemon is healthy until a job has had
its whole allowed staleness to succeed once.

With two daemons on one PostgreSQL ledger (``joblock``), a run can also be *skipped*: the other daemon holds
the job. That is this daemon doing its duty (the job is the other's), so a recent skip counts like a success
for staleness here; whether the job itself succeeds is for the holder's /healthz to say, and each answer
names who ran what: ``ran_here``/``last_run_age_s`` for this daemon's runs, ``skipped_total``,
``last_skipped_age_s`` and ``held_by`` for runs left to the other.

Thread-safe: jobs record from worker threads while HTTP threads read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from quotad.daemon.problems import Problem

__all__ = ["JobHealth", "JobStatus", "healthz"]


@dataclass(frozen=True)
class JobStatus:
    """One job's record; times are epoch seconds (floats: sub-second durations matter for a 1 s job)."""

    job: str
    stale_after_s: float
    registered_at: float
    last_success: float | None = None
    last_failure: float | None = None
    last_duration_s: float | None = None
    last_error: str = ""
    runs_total: int = 0
    errors_total: int = 0
    running_since: float | None = None
    #: Last time a run was skipped because another daemon held the job's lock, and that holder.
    last_skipped: float | None = None
    skipped_total: int = 0
    held_by: str = ""

    def success_age(self, now: float) -> float:
        """Seconds since the last success, or since registration when there was none."""
        return max(0.0, now - (self.last_success if self.last_success is not None else self.registered_at))

    def duty_age(self, now: float) -> float:
        """Seconds since this daemon last did its duty for the job: ran it successfully, or left it to the
        other daemon holding its lock (whichever is later); since registration when neither happened yet."""
        done = [t for t in (self.last_success, self.last_skipped) if t is not None]
        return max(0.0, now - (max(done) if done else self.registered_at))

    @property
    def left_to_other(self) -> bool:
        """The last attempt found the job held by another daemon (and no run of ours came after it)."""
        return bool(self.held_by)

    def stale(self, now: float) -> bool:
        return self.duty_age(now) > self.stale_after_s


class JobHealth:
    """The live table of job statuses; the scheduler wrapper writes, /healthz and /metrics read."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}

    def register(self, job: str, *, stale_after_s: float) -> None:
        """Add a job, or change its allowed staleness keeping its history (a SIGHUP reload)."""
        with self._lock:
            old = self._jobs.get(job)
            self._jobs[job] = (
                replace(old, stale_after_s=stale_after_s)
                if old is not None
                else JobStatus(job, stale_after_s, registered_at=self._clock())
            )

    def unregister(self, job: str) -> None:
        with self._lock:
            self._jobs.pop(job, None)

    def started(self, job: str, at: float) -> None:
        self._update(job, running_since=at, held_by="")

    def skipped(self, job: str, *, at: float, holder: str) -> None:
        """The run was not ours: another daemon holds the job's lock."""
        with self._lock:
            old = self._jobs.get(job)
            if old is not None:
                self._jobs[job] = replace(
                    old, last_skipped=at, skipped_total=old.skipped_total + 1, held_by=holder or "another daemon"
                )

    def succeeded(self, job: str, *, at: float, duration_s: float) -> None:
        with self._lock:
            old = self._jobs.get(job)
            if old is not None:
                self._jobs[job] = replace(
                    old,
                    last_success=at,
                    last_duration_s=duration_s,
                    runs_total=old.runs_total + 1,
                    running_since=None,
                )

    def failed(self, job: str, *, at: float, duration_s: float, error: str) -> None:
        with self._lock:
            old = self._jobs.get(job)
            if old is not None:
                self._jobs[job] = replace(
                    old,
                    last_failure=at,
                    last_duration_s=duration_s,
                    last_error=error[:2000],
                    runs_total=old.runs_total + 1,
                    errors_total=old.errors_total + 1,
                    running_since=None,
                )

    def _update(self, job: str, **changes: Any) -> None:
        with self._lock:
            old = self._jobs.get(job)
            if old is not None:
                self._jobs[job] = replace(old, **changes)

    def snapshot(self) -> list[JobStatus]:
        with self._lock:
            return [self._jobs[name] for name in sorted(self._jobs)]


def _age(now: float, at: float | None) -> float | None:
    return round(max(0.0, now - at), 3) if at is not None else None


def healthz(
    statuses: list[JobStatus], *, now: float, problems: Sequence[Problem] = (), instance: str = ""
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body): 200 ``ok`` when every job succeeded within its allowed staleness and no job
    found data being lost; else 503, ``stale`` (a job is not succeeding) before ``degraded`` (jobs succeed but
    report problems: lines refused, mail failing, GPUs unattributed). 503 for both, because a probe that reads
    only the status code must not call a daemon that is losing usage healthy.

    Per job, who ran it: ``ran_here`` (this daemon's last attempt was a run of its own), ``last_run_age_s``
    (its last run, success or failure), ``skipped_total``/``last_skipped_age_s`` (runs left to the other
    daemon) and ``held_by`` (that daemon as the database names it, ``quotad run pid=… host=…``)."""
    jobs = {
        s.job: {
            "last_success_age_s": _age(now, s.last_success),
            "age_s": round(s.duty_age(now), 3),
            "stale_after_s": s.stale_after_s,
            "stale": s.stale(now),
            "running": s.running_since is not None,
            "runs_total": s.runs_total,
            "errors_total": s.errors_total,
            "last_error": s.last_error,
            "ran_here": s.runs_total > 0 and not s.left_to_other,
            "last_run_age_s": _age(now, max((t for t in (s.last_success, s.last_failure) if t is not None),
                                            default=None)),
            "skipped_total": s.skipped_total,
            "last_skipped_age_s": _age(now, s.last_skipped),
            "held_by": s.held_by or None,
        }
        for s in statuses
    }
    stale = sorted(name for name, info in jobs.items() if info["stale"])
    status = "stale" if stale else "degraded" if problems else "ok"
    body = {
        "status": status,
        "instance": instance,
        "stale_jobs": stale,
        "problems": [p.as_json() for p in problems],
        "jobs": jobs,
    }
    return (200 if status == "ok" else 503), body
