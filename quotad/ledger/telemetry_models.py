"""The GPU telemetry table: one row per (cluster, job, node, GPU, UTC hour), written by the NVML node agent.

Why this shape (see ARCHITECTURE, "Size the telemetry rows for the programme"): 2,000 GPUs with one row per
job and hour stay under ten million rows for a six-month programme, while raw samples stay in Prometheus.
The agent holds the open hour's running totals in memory and writes their absolute values at every flush, so
a repeated flush or a spool replay rewrites the same numbers instead of adding to them; ``last_sample`` only
moves forward, which keeps an out-of-order replay from rolling a row back.

Every amount is an integer: seconds, percent-seconds (utilisation × seconds, so a mean is exact to compute),
bytes and millijoules. A row also carries what an "idle allocation" policy must know without any other
source: whether Slurm allocated this GPU to the job, whether a process of the job was seen on it, processes
of others on it, the start of the current idle streak, and the trailing-window view at the last sample.

No foreign key to ``clusters``: an agent must be able to record facts before an operator has configured its
cluster centrally, and a refused flush would only fill the spool.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base

__all__ = ["GpuUsageHourly"]

_IDLE = text("idle_since IS NOT NULL")


class GpuUsageHourly(Base):
    """Per (cluster, job, node, GPU index, hour): what one GPU did for one job in one UTC hour."""

    __tablename__ = "gpu_usage_hourly"
    __table_args__ = (
        Index("ix_gpu_usage_hourly_hour", "hour"),
        Index("ix_gpu_usage_hourly_cluster_last_sample", "cluster", "last_sample"),
        # A finished job's utilisation summed from the index alone (low_efficiency), half the time of the rows.
        Index("ix_gpu_usage_hourly_job_hour", "cluster", "job_id", "hour", "observed_seconds", "util_pct_seconds"),
        # The GPUs in an idle streak, which every exporter scrape reads: a few rows per cluster instead of every
        # allocated GPU's fresh row (80,000 at 100,000 GPUs; migration 0009scale, ``bench/scale.py``).
        Index("ix_gpu_usage_hourly_idle", "cluster", "last_sample", sqlite_where=_IDLE, postgresql_where=_IDLE),
    )

    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    gpu_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(96))
    account: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    samples: Mapped[int] = mapped_column(Integer)
    observed_seconds: Mapped[int] = mapped_column(Integer)
    idle_seconds: Mapped[int] = mapped_column(Integer)
    idle_mem_held_seconds: Mapped[int] = mapped_column(Integer)
    util_pct_seconds: Mapped[int] = mapped_column(BigInteger)
    util_max: Mapped[int] = mapped_column(Integer)
    mem_used_max: Mapped[int] = mapped_column(BigInteger)
    mem_total: Mapped[int] = mapped_column(BigInteger)
    energy_mj: Mapped[int] = mapped_column(BigInteger)
    allocated: Mapped[bool] = mapped_column(Boolean)
    job_process_seen: Mapped[bool] = mapped_column(Boolean)
    foreign_processes: Mapped[int] = mapped_column(Integer)
    foreign_job_id: Mapped[int | None] = mapped_column(BigInteger)
    idle_since: Mapped[int | None] = mapped_column(BigInteger)
    recent_seconds: Mapped[int] = mapped_column(Integer)
    recent_idle_seconds: Mapped[int] = mapped_column(Integer)
    recent_util_pct_seconds: Mapped[int] = mapped_column(BigInteger)
    throttle_mask: Mapped[int] = mapped_column(BigInteger)
    xid_events: Mapped[int] = mapped_column(Integer)
    last_xid: Mapped[int | None] = mapped_column(Integer)
    ecc_uncorrected: Mapped[int] = mapped_column(Integer)
    first_sample: Mapped[int] = mapped_column(BigInteger)
    last_sample: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
