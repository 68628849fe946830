"""Who holds each GPU: Slurm's allocation combined with the processes NVML sees on the GPU.

Why both: an allocated GPU with no process on it is still its job's GPU (allocated-and-idle is exactly what
the programme most needs to see), and a process on a GPU its job was not allocated (a job escaping its
``CUDA_VISIBLE_DEVICES``, or a process outside Slurm) must be reported as such rather than silently credited.

Slurm numbers GPUs by GRES index and NVML by PCI order; they meet at the device minor number
(``gres.gres_minors``: IDX -> minor; ``GpuIdentity.minor``: NVML index -> minor).

``attribute`` is pure (typed facts in, ``Ownership`` out); ``Attributor`` feeds it, refreshing Slurm's view
every ``refresh_s`` and asking Slurm at once about a job first seen through a process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quotad.collectors.nvml.device import GpuIdentity, GpuProcess, GpuReading
from quotad.collectors.nvml.procmap import ProcessJobs
from quotad.collectors.nvml.slurm import JobAllocation, SlurmView

__all__ = ["Attributor", "Holder", "Ownership", "attribute", "nvml_indices"]


@dataclass(frozen=True, slots=True)
class Holder:
    """A job with a claim on a GPU: allocated to it by Slurm, or running a process on it, or both."""

    job_id: int
    account: str
    user: str
    allocated: bool
    process_seen: bool
    #: Processes on the GPU that are not this job's (other jobs' or no job's).
    foreign_processes: int
    #: Another job with a process on this GPU (the lowest id when several), else None.
    foreign_job_id: int | None


@dataclass(frozen=True, slots=True)
class Ownership:
    """Everything known about who uses one GPU (NVML index) at one sample."""

    gpu_index: int
    holders: tuple[Holder, ...] = ()
    #: Processes on the GPU that belong to no Slurm job at all.
    unattributed_processes: int = 0

    @property
    def primary(self) -> Holder | None:
        """The allocated job (the first, if a GPU is shared), else the first job seen using the GPU."""
        return self.holders[0] if self.holders else None


def nvml_indices(
    allocation: JobAllocation, gpus: Sequence[GpuIdentity], idx_minors: Sequence[int] | None
) -> frozenset[int]:
    """NVML indices of the GPUs Slurm allocated to ``allocation`` on this node."""
    by_minor = {g.minor if g.minor is not None else g.index: g.index for g in gpus}
    found = set()
    for idx in allocation.gres_idx:
        minor = idx_minors[idx] if idx_minors is not None and idx < len(idx_minors) else idx
        if minor in by_minor:
            found.add(by_minor[minor])
    return frozenset(found)


def attribute(
    gpus: Sequence[GpuIdentity],
    processes: Mapping[int, Sequence[GpuProcess]],
    pid_jobs: Mapping[int, int | None],
    allocations: Mapping[int, JobAllocation],
    idx_minors: Sequence[int] | None,
) -> dict[int, Ownership]:
    """Ownership of every GPU, keyed by NVML index."""
    allocated_to: dict[int, list[JobAllocation]] = {g.index: [] for g in gpus}
    for alloc in sorted(allocations.values(), key=lambda a: a.job_id):
        if alloc.holds_gpus:
            for index in nvml_indices(alloc, gpus, idx_minors):
                allocated_to[index].append(alloc)
    result: dict[int, Ownership] = {}
    for gpu in gpus:
        procs = processes.get(gpu.index, ())
        jobs_here = [pid_jobs.get(p.pid) for p in procs]
        per_job: dict[int, int] = {}
        for job in jobs_here:
            if job is not None:
                per_job[job] = per_job.get(job, 0) + 1
        holders: list[Holder] = []
        allocated_ids = [a.job_id for a in allocated_to[gpu.index]]
        for job_id in [*allocated_ids, *sorted(j for j in per_job if j not in allocated_ids)]:
            known = allocations.get(job_id)
            others = sorted(j for j in per_job if j != job_id)
            holders.append(
                Holder(
                    job_id=job_id,
                    account=known.account if known else "",
                    user=known.user if known else "",
                    allocated=job_id in allocated_ids,
                    process_seen=job_id in per_job,
                    foreign_processes=len(procs) - per_job.get(job_id, 0),
                    foreign_job_id=others[0] if others else None,
                )
            )
        result[gpu.index] = Ownership(
            gpu_index=gpu.index,
            holders=tuple(holders),
            unattributed_processes=sum(1 for job in jobs_here if job is None),
        )
    return result


class Attributor:
    """Keeps Slurm's view of the node fresh enough and turns readings into ``Ownership``."""

    def __init__(
        self,
        *,
        slurm: SlurmView | None,
        processes: ProcessJobs,
        idx_minors: Sequence[int] | None,
        refresh_s: float = 30,
    ) -> None:
        self.slurm = slurm
        self.processes = processes
        self.idx_minors = idx_minors
        self.refresh_s = refresh_s
        self._jobs: set[int] = set()
        self._next_refresh: float | None = None
        self._allocations: dict[int, JobAllocation] = {}

    @property
    def allocations(self) -> dict[int, JobAllocation]:
        """The allocations used by the last ``ownership`` call."""
        return dict(self._allocations)

    def ownership(
        self, gpus: Sequence[GpuIdentity], readings: Sequence[GpuReading], now: float
    ) -> dict[int, Ownership]:
        processes = {r.index: r.processes for r in readings}
        pid_jobs = self.processes.jobs_of({p.pid for r in readings for p in r.processes})
        if self.slurm is not None:
            if self._next_refresh is None or now >= self._next_refresh:
                self._jobs = self.slurm.discover()
                self._next_refresh = now + self.refresh_s
            wanted = self._jobs | {job for job in pid_jobs.values() if job is not None}
            self._allocations = self.slurm.allocations(wanted)
        return attribute(gpus, processes, pid_jobs, self._allocations, self.idx_minors)
