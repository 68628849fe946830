"""Which Slurm job a process belongs to, from ``/proc`` alone.

Why two sources: ``/proc/<pid>/cgroup`` names the job (``.../job_<id>/step_...``) under Slurm's cgroup plugins
and is readable by any user, so it is tried first; ``/proc/<pid>/environ`` (``SLURM_JOB_ID``) works without
cgroups (``proctrack/linuxproc``, or a machine without Slurm where a job id was set by hand) but is readable
only by the process owner, root or a holder of ``CAP_SYS_PTRACE``. The proc root is injected so tests can use
a directory of canned files as well as the real ``/proc``.

Nothing is cached: the pids asked about are those on a GPU right now (a handful per GPU), and a cache would
have to defend itself against pid reuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ProcessJobs"]

_CGROUP_JOB = re.compile(r"/job_(\d+)(?:/|$)")


class ProcessJobs:
    """Maps pids to Slurm job ids through ``proc_root``."""

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self.proc_root = proc_root

    def job_of(self, pid: int) -> int | None:
        """The job id of ``pid``, None when it belongs to no job (or is gone, or unreadable)."""
        base = self.proc_root / str(pid)
        try:
            cgroup = (base / "cgroup").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cgroup = ""
        for line in cgroup.splitlines():
            match = _CGROUP_JOB.search(line.rpartition(":")[2])
            if match:
                return int(match.group(1))
        try:
            environ = (base / "environ").read_bytes()
        except OSError:
            return None
        for entry in environ.split(b"\0"):
            if entry.startswith(b"SLURM_JOB_ID="):
                value = entry[len(b"SLURM_JOB_ID=") :]
                return int(value) if value.isdigit() else None
        return None

    def jobs_of(self, pids: Iterable[int]) -> dict[int, int | None]:
        return {pid: self.job_of(pid) for pid in pids}
