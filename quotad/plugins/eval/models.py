"""The eval plugin's tables: raw files, runs and one long table of scores. Changed only by its migrations.

- ``eval_files`` keeps each ingested file byte for byte under its sha256, so a score can always be traced to
  (and re-read from) what the company submitted, and re-ingesting the same bytes is recognised.
- ``eval_runs`` is one evaluation of one model (company, model, checkpoint) from one file, with its
  visibility and whether it was limited (a partial run is not a full evaluation).
- ``eval_compute_links`` says which compute produced a model (explicit job ids, or an account over a time
  range), resolved against the ledger whenever a board is built;
- ``eval_scores`` is the long table: one row per (run, task, metric, filter) as the harness named them; the
  catalogue's language and category at ingest time are kept beside them.

``company_id`` is checked through the core's query API when a run is ingested; there is deliberately no
foreign key into the core's tables (plugins own their tables and reach the core only through its API).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["EvalComputeLink", "EvalFile", "EvalRun", "EvalScore"]


class EvalFile(Base):
    """One submitted result file, verbatim."""

    __tablename__ = "eval_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(32))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    ingested_at: Mapped[int] = mapped_column(BigInteger)


class EvalRun(Base):
    """One model's evaluation as read from one file."""

    __tablename__ = "eval_runs"
    __table_args__ = (UniqueConstraint("file_sha256", "model"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("eval_files.sha256", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(200))
    checkpoint: Mapped[int | None] = mapped_column(BigInteger)
    visibility: Mapped[str] = mapped_column(String(16))
    harness: Mapped[str] = mapped_column(String(32))
    harness_version: Mapped[str] = mapped_column(String(64))
    model_in_file: Mapped[str] = mapped_column(Text, default="")
    limit_value: Mapped[float | None] = mapped_column(Float)
    limited: Mapped[bool] = mapped_column(Boolean)
    evaluated_at: Mapped[int | None] = mapped_column(BigInteger)
    ingested_at: Mapped[int] = mapped_column(BigInteger)


class EvalScore(Base):
    """One value of one metric (under one filter) of one task in one run."""

    __tablename__ = "eval_scores"
    __table_args__ = (UniqueConstraint("run_id", "task", "metric", "filter"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(100))
    filter: Mapped[str] = mapped_column(String(100))
    n_shot: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)
    scale_max: Mapped[float | None] = mapped_column(Float)
    higher_is_better: Mapped[bool | None] = mapped_column(Boolean)
    aggregate: Mapped[bool] = mapped_column(Boolean)
    language: Mapped[str | None] = mapped_column(String(2))
    category: Mapped[str | None] = mapped_column(String(16))
    samples_effective: Mapped[int | None] = mapped_column(Integer)
    samples_original: Mapped[int | None] = mapped_column(Integer)


class EvalComputeLink(Base):
    """The compute that produced one company's model: ``kind`` "jobs" (``job_ids``, comma-separated Slurm job ids)
    or "account" (``account`` charged in [start, end))."""

    __tablename__ = "eval_compute_links"
    __table_args__ = (UniqueConstraint("company_id", "model"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    job_ids: Mapped[str] = mapped_column(Text, default="")
    account: Mapped[str | None] = mapped_column(String(64))
    start: Mapped[int | None] = mapped_column(BigInteger)
    end: Mapped[int | None] = mapped_column(BigInteger)
    linked_at: Mapped[int] = mapped_column(BigInteger)
