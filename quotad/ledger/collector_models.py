"""Collector progress tables: where each collector stopped, for Slurm and PBS alike.

Every collector's progress is written in the poll's own transaction, with the records it covers, so a poll that
dies leaves position and records untouched together. ``collector_state`` is the watermark and health of every
(cluster, source); PBS reads accounting files rather than a time window, so it also keeps its file position
(``pbs_log_cursor``) and the runs it has seen start but not end (``pbs_open_runs``). They are ledger tables
(the ledger never imports collectors), read and written through ``quotad.ledger.collector_state`` and
``quotad.collectors.pbs_state``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base

__all__ = ["CollectorState", "PbsLogCursor", "PbsOpenRun"]


class CollectorState(Base):
    """Per (cluster, source) progress of a collector: the watermark of the next poll and its health.

    The watermark moves only in the same transaction as the records it covers, so a poll that dies leaves
    both untouched; failures are recorded in a transaction of their own.
    """

    __tablename__ = "collector_state"
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[int | None] = mapped_column(BigInteger)
    last_attempt: Mapped[int | None] = mapped_column(BigInteger)
    last_success: Mapped[int | None] = mapped_column(BigInteger)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    polls_total: Mapped[int] = mapped_column(Integer, default=0)
    errors_total: Mapped[int] = mapped_column(Integer, default=0)


class PbsLogCursor(Base):
    """Where the PBS collector stopped in a cluster's accounting directory.

    ``inode`` and the SHA-256 of the file's first ``head_len`` bytes identify the file, so a replaced or truncated
    file is detected and read again from its start (the write path is idempotent by segment key).
    """

    __tablename__ = "pbs_log_cursor"
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    inode: Mapped[int] = mapped_column(BigInteger)
    byte_offset: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(Integer)
    head_len: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PbsOpenRun(Base):
    """A PBS run seen started (S record) and not yet ended: charged up to now, never past its walltime limit.

    Keyed like ``jobs`` (cluster, job_id_raw, submit = the run's start); removed when the run is closed.
    """

    __tablename__ = "pbs_open_runs"
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"), primary_key=True)
    job_id_raw: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submit: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    walltime_limit: Mapped[int | None] = mapped_column(BigInteger)
    seen_at: Mapped[int] = mapped_column(BigInteger)
