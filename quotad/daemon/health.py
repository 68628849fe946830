"""What each scheduled job last did, for ``/healthz`` and the exporter's ``quotad_daemon_job_*`` metrics.

Why in memory and not in the ledger: this is the health of *this* process's scheduler (is the poll thread
alive, is the outbox loop running), which the ledger cannot tell; the collectors' durable health is in
``collector_state`` and exported separately. A job that has not succeeded yet is measured from the moment it
was registered (daemon start or the reload that added it), so a fresh daemon is healthy until a job has had
its whole allowed staleness to succeed once.

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

    def success_age(self, now: float) -> float:
        """Seconds since the last success, or since registration when there was none."""
        return max(0.0, now - (self.last_success if self.last_success is not None else self.registered_at))

    def stale(self, now: float) -> bool:
        return self.success_age(now) > self.stale_after_s


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
        self._update(job, running_since=at)

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


def healthz(
    statuses: list[JobStatus], *, now: float, problems: Sequence[Problem] = ()
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body): 200 ``ok`` when every job succeeded within its allowed staleness and no job
    found data being lost; else 503, ``stale`` (a job is not succeeding) before ``degraded`` (jobs succeed but
    report problems: lines refused, mail failing, GPUs unattributed). 503 for both, because a probe that reads
    only the status code must not call a daemon that is losing usage healthy."""
    jobs = {
        s.job: {
            "last_success_age_s": round(s.success_age(now), 3) if s.last_success is not None else None,
            "age_s": round(s.success_age(now), 3),
            "stale_after_s": s.stale_after_s,
            "stale": s.stale(now),
            "running": s.running_since is not None,
            "runs_total": s.runs_total,
            "errors_total": s.errors_total,
            "last_error": s.last_error,
        }
        for s in statuses
    }
    stale = sorted(name for name, info in jobs.items() if info["stale"])
    status = "stale" if stale else "degraded" if problems else "ok"
    body = {
        "status": status,
        "stale_jobs": stale,
        "problems": [p.as_json() for p in problems],
        "jobs": jobs,
    }
    return (200 if status == "ok" else 503), body
