"""Slurm's view of this node: which jobs run here and which GRES indices (``IDX``) each was allocated.

Why in two steps: finding the jobs on the node must be cheap enough to repeat every ``slurm_refresh_s`` on
every node, so it asks local sources first (the job's cgroup directory, ``scontrol listpids`` from the local
slurmd) and ``squeue --nodelist`` only when configured. A job's allocation never changes while it runs, so
``scontrol show job -d -o <id>`` is asked once per job and cached until the job is gone from the node.

The command runner is injected (``Runner``): production passes ``subprocess_runner``, tests pass canned
output or the real test cluster. Parsing is pure and tested against real 22.05 output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from quotad.collectors.hostlist import expand_hostlist
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.errors import SlurmQueryError
from quotad.collectors.runner import CommandFailed, run_captured

__all__ = [
    "CGROUP_JOB_GLOBS",
    "JobAllocation",
    "Runner",
    "SlurmView",
    "expand_hostlist",
    "expand_indices",
    "parse_listpids",
    "parse_show_job",
    "parse_squeue",
    "subprocess_runner",
]

log = logging.getLogger("quotad.agent.slurm")

#: argv, timeout (s) -> stdout; raises ``SlurmQueryError`` on a non-zero exit or a timeout.
Runner = Callable[[Sequence[str], float], str]

#: Where Slurm's cgroup plugins put a job: v2 (slurmstepd.scope) and v1 (per controller, per uid).
CGROUP_JOB_GLOBS = (
    "system.slice/slurmstepd.scope/job_*",
    "*/slurm*/uid_*/job_*",
    "*/system.slice/slurmstepd.scope/job_*",
)
#: Job states in which a job still holds its GPUs.
HOLDING_STATES = frozenset({"RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "STOPPED", "RESIZING"})
_IDX = re.compile(r"gpu(?::[^:(\s]+)?(?::\d+)?\(IDX:([0-9,\-]+)\)")
_JOB_DIR = re.compile(r"^job_(\d+)$")


def subprocess_runner(argv: Sequence[str], timeout: float) -> str:
    """Run a Slurm command with a fixed C locale; its stdout, or ``SlurmQueryError``."""
    args = tuple(argv)
    try:
        done = run_captured(args, timeout_s=timeout, env={"LC_ALL": "C"})
    except CommandFailed as exc:
        raise SlurmQueryError(args, returncode=None, stderr=exc.reason) from exc
    if done.returncode != 0:
        raise SlurmQueryError(args, returncode=done.returncode, stderr=done.stderr)
    return done.stdout


def _range(spec: str) -> list[str]:
    out: list[str] = []
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        if not sep:
            out.append(lo)
            continue
        width = len(lo)
        out.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return out


def expand_indices(spec: str) -> frozenset[int]:
    """``0-1,4`` -> {0, 1, 4}."""
    return frozenset(int(n) for n in _range(spec) if n)


@dataclass(frozen=True, slots=True)
class JobAllocation:
    """One job as Slurm sees it on this node; ``gres_idx`` are its GPUs' GRES indices here."""

    job_id: int
    account: str
    user: str
    state: str
    gres_idx: frozenset[int]

    @property
    def holds_gpus(self) -> bool:
        return self.state in HOLDING_STATES


def _tokens(text: str) -> Iterable[tuple[str, str]]:
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep:
            yield key, value


def parse_show_job(text: str, node: str) -> JobAllocation | None:
    """Parse ``scontrol show job -d -o ID`` (one job); None when it has no JobId.

    The per-node detail lines (``Nodes=gpu[01-02] CPU_IDs=... GRES=gpu:h100:2(IDX:0-1)``) are matched to
    ``node`` through their hostlist, so a multi-node job yields only this node's indices.
    """
    job_id: int | None = None
    account = user = state = ""
    idx: set[int] = set()
    here = False
    for key, value in _tokens(text):
        if key == "JobId" and job_id is None:
            job_id = int(value)
        elif key == "Account":
            account = value
        elif key == "UserId":
            user = value.split("(", 1)[0]
        elif key == "JobState":
            state = value
        elif key == "Nodes":
            here = node in expand_hostlist(value)
        elif key == "GRES" and here:
            for match in _IDX.finditer(value):
                idx |= expand_indices(match.group(1))
    if job_id is None:
        return None
    return JobAllocation(job_id=job_id, account=account, user=user, state=state, gres_idx=frozenset(idx))


def parse_listpids(text: str) -> set[int]:
    """Job ids in ``scontrol listpids`` output (header ``PID JOBID STEPID LOCALID GLOBALID``)."""
    jobs: set[int] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            jobs.add(int(parts[1]))
    return jobs


def parse_squeue(text: str) -> set[int]:
    """Job ids from ``squeue --noheader --format=%A``."""
    return {int(line.strip()) for line in text.splitlines() if line.strip().isdigit()}


def cgroup_jobs(cgroup_root: Path) -> set[int]:
    """Job ids that have a cgroup directory on this node (Slurm's cgroup v1 or v2 layout)."""
    jobs: set[int] = set()
    for pattern in CGROUP_JOB_GLOBS:
        for path in cgroup_root.glob(pattern):
            match = _JOB_DIR.match(path.name)
            if match and path.is_dir():
                jobs.add(int(match.group(1)))
    return jobs


class SlurmView:
    """Jobs on this node and their allocations, refreshed on demand and cached per job."""

    def __init__(
        self,
        runner: Runner,
        *,
        node: str,
        counters: AgentCounters,
        sources: Sequence[str] = ("cgroup", "listpids"),
        scontrol: str = "scontrol",
        squeue: str = "squeue",
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        timeout_s: float = 10,
    ) -> None:
        self.runner = runner
        self.node = node
        self.counters = counters
        self.sources = tuple(sources)
        self.scontrol = scontrol
        self.squeue = squeue
        self.cgroup_root = cgroup_root
        self.timeout_s = timeout_s
        self._cache: dict[int, JobAllocation] = {}
        self._unknown: set[int] = set()
        self._failing: set[str] = set()

    def discover(self) -> set[int]:
        """Job ids running on this node according to the configured sources (their union).

        Also forgets which jobs Slurm did not know, so they are asked about again once per refresh.
        """
        self._unknown.clear()
        jobs: set[int] = set()
        for source in self.sources:
            try:
                if source == "cgroup":
                    found = cgroup_jobs(self.cgroup_root)
                elif source == "listpids":
                    found = parse_listpids(self.runner([self.scontrol, "listpids"], self.timeout_s))
                else:
                    argv = [
                        self.squeue,
                        "--noheader",
                        f"--nodelist={self.node}",
                        "--format=%A",
                        "--states=RUNNING,SUSPENDED,COMPLETING,CONFIGURING",
                    ]
                    found = parse_squeue(self.runner(argv, self.timeout_s))
            except (SlurmQueryError, OSError) as exc:
                self._failed(source, exc)
                continue
            if source in self._failing:
                self._failing.discard(source)
                log.info("job discovery through %s works again", source)
            jobs |= found
        return jobs

    def allocations(self, job_ids: Iterable[int]) -> dict[int, JobAllocation]:
        """Allocations of ``job_ids`` (asked once per job, then cached); jobs Slurm no longer knows are left out.

        The cache keeps only the jobs asked for, so it is as large as the jobs on this node.
        """
        wanted = set(job_ids)
        for job_id in sorted(wanted - set(self._cache) - self._unknown):
            found = self._show_job(job_id)
            if found is not None:
                self._cache[job_id] = found
            else:
                self._unknown.add(job_id)
        self._cache = {j: a for j, a in self._cache.items() if j in wanted}
        return dict(self._cache)

    def forget(self, job_id: int) -> None:
        """Drop a cached allocation (e.g. the job left a holding state and must be asked again)."""
        self._cache.pop(job_id, None)

    def _show_job(self, job_id: int) -> JobAllocation | None:
        try:
            text = self.runner([self.scontrol, "show", "job", "-d", "-o", str(job_id)], self.timeout_s)
        except SlurmQueryError as exc:
            if "Invalid job id" in exc.stderr:
                return None
            self._failed("show_job", exc)
            return None
        self._failing.discard("show_job")
        return parse_show_job(text, self.node)

    def _failed(self, source: str, exc: Exception) -> None:
        self.counters.inc("attribution_errors", source=source)
        if source not in self._failing:
            self._failing.add(source)
            log.warning("job discovery through %s failed: %s (counted; logged again when it recovers)", source, exc)
