"""The ledger's input contract: the typed record every scheduler collector produces (one job run segment),
and the name of a job the ledger's readers and the policies share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["JobRecord", "JobRef", "decode_gpus", "encode_gpus"]


class JobRecord(NamedTuple):
    """One run segment as the scheduler reports it, times in UTC epoch seconds.

    A NamedTuple rather than a dataclass because a six-month history is millions of these and tuple
    construction is the cheapest typed record Python offers.
    """

    cluster: str
    job_id: str
    job_id_raw: int
    submit: int
    account: str
    user: str
    partition: str
    state: str
    start: int | None
    end: int | None
    elapsed: int
    #: ((gpu_type, count), ...) sorted by type; empty when the segment held no GPU.
    gpus: tuple[tuple[str, int], ...]
    #: The nodes it ran on as the scheduler prints them (``gpu[01-03,07]``); None when the source does not say
    #: (an older sacct file without NodeList, a PBS record without exec_host): the ledger then keeps what it had.
    nodes: str | None = None

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @property
    def key(self) -> tuple[str, int, int]:
        """The segment key: requeued runs of one job differ in ``submit``."""
        return (self.cluster, self.job_id_raw, self.submit)


@dataclass(frozen=True, order=True)
class JobRef:
    """A job as Slurm names it on one cluster (``job_id_raw``, the number the NVML agent records too)."""

    cluster: str
    job_id: int

    def __str__(self) -> str:
        return f"{self.cluster}:{self.job_id}"


def encode_gpus(gpus: tuple[tuple[str, int], ...]) -> str:
    """``JobRecord.gpus`` as ``jobs.gpu_alloc`` stores it: ``h100=8,a100=2``."""
    return ",".join(f"{t}={n}" for t, n in gpus)


def decode_gpus(text: str) -> tuple[tuple[str, int], ...]:
    if not text:
        return ()
    pairs = (item.split("=", 1) for item in text.split(","))
    return tuple((t, int(n)) for t, n in pairs)
