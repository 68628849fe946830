"""``[agent]``: how the NVML node agent samples, attributes, aggregates, spools and exports.

Why a section of its own: the agent runs on every GPU node with its own lifetime and privileges, so its knobs
(sampling interval, spool limit, where Slurm's files are) are validated once at start like every other
section, and the agent code only ever sees this typed, frozen object. Every default is what a production node
needs; tests and the GPU check override single keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from quotad.httpserve import HttpLimits
from quotad.listen import parse_listen

__all__ = ["DEFAULT_LISTEN", "AgentConfig", "JobDiscovery"]

DEFAULT_LISTEN = "127.0.0.1:9818"

#: Where the agent learns which jobs run on this node. ``cgroup`` and ``listpids`` ask only local state (no
#: load on slurmctld); ``squeue`` also sees allocations that have no process on the node yet (``salloc``
#: without ``PrologFlags=Contain``) at the cost of one slurmctld query per refresh.
JobDiscovery = Literal["cgroup", "listpids", "squeue"]


class AgentConfig(BaseModel):
    """The node agent's settings; see ``collectors/nvml/README.md`` for what each one is for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str | None = None
    node: str | None = None
    interval_s: PositiveFloat = 10.0
    flush_interval_s: PositiveInt = 60
    #: Each flush first waits a random time in [0, flush_jitter_s], so agents started together do not reach
    #: the ledger together; unset: a third of flush_interval_s (20 s). At most half of flush_interval_s.
    flush_jitter_s: NonNegativeFloat | None = None
    #: A refused ledger connection is retried this many times, after a jittered backoff (1 s, 2 s, 4 s, ...
    #: at most the jitter window), before the window goes to the spool.
    flush_retries: int = Field(default=3, ge=0, le=10)
    #: A sample at or below this GPU utilisation (%) counts as idle.
    idle_util_pct: int = Field(default=0, ge=0, le=100)
    #: GPU memory at or above this counts as "held" (an idle GPU with memory held is a parked job).
    memory_held_mib: int = Field(default=1024, ge=0)
    #: Trailing window kept next to the hourly totals, so "busy, then idle for the last 30 min" is visible.
    recent_window_s: PositiveInt = 1800
    #: A gap between two samples longer than this is not counted (the agent was stopped or stalled).
    max_gap_s: PositiveInt = 120
    listen: str = DEFAULT_LISTEN
    #: The listener's limits: worker threads, open connections, read timeout (slow clients are cut off).
    http: HttpLimits = Field(default_factory=HttpLimits)
    spool_dir: Path = Path("/var/spool/quotad-agent")
    spool_max_bytes: PositiveInt = 64 * 1024 * 1024
    proc_root: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    gres_conf: Path = Path("/etc/slurm/gres.conf")
    #: Device minor number of each Slurm GRES index (IDX 0, 1, ...), when gres.conf cannot tell.
    gres_minors: tuple[int, ...] | None = None
    scontrol: str = "scontrol"
    squeue: str = "squeue"
    job_discovery: tuple[JobDiscovery, ...] = ("cgroup", "listpids")
    slurm_refresh_s: PositiveInt = 30
    slurm_timeout_s: PositiveInt = 10
    company_refresh_s: PositiveInt = 300
    #: Retry a GPU that NVML reported lost after this long.
    lost_retry_s: PositiveInt = 60

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value, any_port=False, example=DEFAULT_LISTEN)
        return value

    @field_validator("job_discovery")
    @classmethod
    def _unique(cls, value: tuple[JobDiscovery, ...]) -> tuple[JobDiscovery, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each source may be listed once")
        return value

    @model_validator(mode="after")
    def _window(self) -> AgentConfig:
        if self.recent_window_s % 60:
            raise ValueError(f"recent_window_s = {self.recent_window_s}: expected a whole number of minutes")
        if self.max_gap_s < self.interval_s:
            raise ValueError(f"max_gap_s = {self.max_gap_s} is shorter than interval_s = {self.interval_s}")
        if self.flush_jitter_s is not None and self.flush_jitter_s > self.flush_interval_s / 2:
            raise ValueError(
                f"flush_jitter_s = {self.flush_jitter_s} is more than half of flush_interval_s = "
                f"{self.flush_interval_s}: the delay and the retries must fit inside one flush interval"
            )
        return self

    @property
    def flush_jitter(self) -> float:
        """The jitter window in seconds: ``flush_jitter_s``, or a third of ``flush_interval_s`` when unset."""
        return self.flush_interval_s / 3 if self.flush_jitter_s is None else self.flush_jitter_s

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_listen(self.listen, any_port=False, example=DEFAULT_LISTEN)
