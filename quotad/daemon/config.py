"""``[daemon]``: what ``quotad run`` schedules, how often, how stale each job may get, and where it listens.

Why a section of its own, validated like every other: the daemon reloads it on SIGHUP, and a typo in an
interval must be refused (naming the key) before anything is rescheduled, leaving the running configuration
in force. Job names are fields, not free-form keys, so ``[daemon.jobs.polcy_tick]`` is an error, not a job
silently never run. A job left unset keeps the interval and staleness its registration gives it.

Until ``Settings`` carries ``daemon`` (see the issue note), ``daemon_config`` falls back to the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from quotad.httpserve import HttpLimits
from quotad.listen import parse_listen

__all__ = ["DEFAULT_LISTEN", "DaemonConfig", "JobSchedule", "JobsConfig", "daemon_config"]

DEFAULT_LISTEN = "127.0.0.1:9817"

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobSchedule(_Section):
    """Overrides for one named job; ``None`` keeps the default its registration declares."""

    enabled: bool = True
    interval_s: PositiveFloat | None = None
    #: /healthz answers 503 once the job's last success is older than this (from daemon start if none yet).
    stale_after_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _stale_covers_interval(self) -> JobSchedule:
        if self.interval_s is not None and self.stale_after_s is not None and self.stale_after_s < self.interval_s:
            raise ValueError(
                f"stale_after_s = {self.stale_after_s:g} is shorter than interval_s = {self.interval_s:g}: "
                "the job would be reported stale between two normal runs"
            )
        return self


class JobsConfig(_Section):
    """One optional table per job the daemon knows by name (``[daemon.jobs.<name>]``)."""

    slurm_poll: JobSchedule = Field(default_factory=JobSchedule)
    pbs_poll: JobSchedule = Field(default_factory=JobSchedule)
    metrics_refresh: JobSchedule = Field(default_factory=JobSchedule)
    policy_tick: JobSchedule = Field(default_factory=JobSchedule)
    outbox: JobSchedule = Field(default_factory=JobSchedule)
    digest: JobSchedule = Field(default_factory=JobSchedule)
    spool_replay: JobSchedule = Field(default_factory=JobSchedule)
    rollup_upkeep: JobSchedule = Field(default_factory=JobSchedule)

    def schedule(self, name: str) -> JobSchedule:
        """The table for ``name``; a job registered under a name not listed here gets the defaults."""
        value = getattr(self, name, None)
        return value if isinstance(value, JobSchedule) else JobSchedule()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)


class DaemonConfig(_Section):
    """``quotad run``: the HTTP listener for /metrics and /healthz, the job pool and per-job schedules."""

    #: Loopback unless configured: the exporter shows every company's usage, so it is not published by default.
    listen: str = DEFAULT_LISTEN
    #: The listener's limits: worker threads, open connections, read timeout (slow clients are cut off).
    http: HttpLimits = Field(default_factory=HttpLimits)
    #: Worker threads for jobs; one job never overlaps itself, different jobs (and clusters) run side by side.
    max_workers: PositiveInt = 4
    #: A scrape recomputes the usage aggregate itself when the refresh job left it older than this.
    metrics_max_age_s: PositiveFloat = 300.0
    #: NVML rows older than this no longer describe what a GPU is doing now (a few missed agent flushes).
    telemetry_stale_s: PositiveInt = 300
    #: Agent spool directories on shared storage (globs allowed, e.g. ``/shared/quotad-spool/*``) whose
    #: windows the daemon writes when their node cannot (``spool_replay``); none by default.
    agent_spool_dirs: list[Path] = Field(default_factory=list)
    #: Trailing whole UTC days ``rollup_upkeep`` checks (and repairs) the daily rollup over.
    rollup_check_days: PositiveInt = 3
    jobs: JobsConfig = Field(default_factory=JobsConfig)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


def daemon_config(settings: Any) -> DaemonConfig:
    """``settings.daemon`` once ``Settings`` has the section; the defaults until then."""
    value = getattr(settings, "daemon", None)
    return value if isinstance(value, DaemonConfig) else DaemonConfig()
