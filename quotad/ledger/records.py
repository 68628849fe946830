"""The typed record every scheduler collector produces: one job run segment."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["JobRecord"]


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

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @property
    def key(self) -> tuple[str, int, int]:
        """The segment key: requeued runs of one job differ in ``submit``."""
        return (self.cluster, self.job_id_raw, self.submit)
