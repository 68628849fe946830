"""Ledger tables (SQLAlchemy 2.0 typed mappings). The schema changes only through Alembic migrations.

Conventions that keep accounting exact and portable between SQLite and PostgreSQL:
- times are UTC epoch seconds (BIGINT), amounts are integer GPU-seconds or TFLOP (see ``quotad.units``);
- "*" in ``grants.cluster`` means the whole pool and in ``grants.gpu_type`` means "any type, normalised",
  so unique constraints hold without relying on how each database treats NULLs;
- usage rollups are keyed by Slurm account, not company, so re-mapping an account moves its history too.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "OPEN_SEGMENT",
    "OPEN_STATES",
    "POOL",
    "Base",
    "Cluster",
    "Company",
    "CompanyAccount",
    "Contact",
    "Grant",
    "GrantPlan",
    "IngestError",
    "IngestRun",
    "Job",
    "UsageDaily",
    "UsageHourly",
    "UsageUserDaily",
]

POOL = "*"

#: Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Cluster(Base):
    """A scheduler instance, mirrored from config so jobs and grants can reference it."""

    __tablename__ = "clusters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    scheduler: Mapped[str] = mapped_column(String(16))
    default_gpu_type: Mapped[str] = mapped_column(String(32))


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)


class CompanyAccount(Base):
    """A Slurm (or PBS project) account on one cluster that belongs to a company."""

    __tablename__ = "company_accounts"
    __table_args__ = (UniqueConstraint("cluster", "account"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"))
    account: Mapped[str] = mapped_column(String(255))


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("company_id", "email"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(2), default="ja")


class Grant(Base):
    """An allocation for a period: ``amount`` GPU-seconds of ``gpu_type``, or TFLOP when unit is 'tflop'."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("company_id", "cluster", "gpu_type", "period_start"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    cluster: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")


class GrantPlan(Base):
    """Planned use per calendar month of a grant, in the grant's unit; the plan curve for pacing."""

    __tablename__ = "grant_plan"
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True)
    month_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


_RUNNING = text("state = 'RUNNING'")
#: States whose record sacct may still change: each Slurm poll (``collectors/slurm.py``) re-reads those of its
#: cluster that its window missed until they are final, and finds them by ``ix_jobs_open`` (migration 0009scale)
#: without walking the cluster's history.
OPEN_STATES = ("RUNNING", "PENDING", "SUSPENDED", "REQUEUED", "RESIZING")
#: The index's predicate; a query uses it verbatim so that SQLite, which matches a partial index's WHERE only
#: term for term (bound values do not count), can use the index too.
OPEN_SEGMENT = text("state IN (" + ", ".join(f"'{s}'" for s in OPEN_STATES) + ")")


class Job(Base):
    """One run segment of a job: key (cluster, job_id_raw, submit) separates requeued runs.

    ``charged_seconds`` is what this segment has put into ``usage_hourly`` (elapsed × GPUs when it held
    GPUs); re-ingesting replaces that contribution instead of adding to it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("cluster", "job_id_raw", "submit"),
        Index("ix_jobs_running", "cluster", "state", sqlite_where=_RUNNING, postgresql_where=_RUNNING),
        # "Jobs that finished in the last day" (low_efficiency, out_of_programme) without scanning history.
        Index("ix_jobs_end_time", "end_time"),
        # The open segments of one cluster, which every poll reads (migration 0009scale).
        Index("ix_jobs_open", "cluster", "job_id_raw", sqlite_where=OPEN_SEGMENT, postgresql_where=OPEN_SEGMENT),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(ForeignKey("clusters.name"))
    #: Wide: a pending array's JobID lists its tasks (``900_[1,3,5,...]``); widths set in migration 0007widen.
    job_id: Mapped[str] = mapped_column(String(1024))
    job_id_raw: Mapped[int] = mapped_column(BigInteger)
    submit: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    partition: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(24))
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    elapsed_raw: Mapped[int] = mapped_column(BigInteger)
    gpu_count: Mapped[int] = mapped_column(Integer)
    gpu_alloc: Mapped[str] = mapped_column(String(128))
    charged_seconds: Mapped[int] = mapped_column(BigInteger)
    #: The nodes the segment ran on as the scheduler prints them (compact hostlist ``gpu[01-03,07]``); NULL when
    #: not known (rows from before migration 0008nodelist, sources without it). Read by maintenance overlaps.
    node_list: Mapped[str | None] = mapped_column(Text)


class UsageHourly(Base):
    """GPU-seconds charged per (cluster, account, user, partition, GPU type, UTC hour start)."""

    __tablename__ = "usage_hourly"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[str] = mapped_column(String(255), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_usage_hourly_hour", "hour"),)


class UsageDaily(Base):
    """GPU-seconds per (cluster, account, GPU type, UTC day start); maintained by triggers on usage_hourly.

    Kept equal to the sum of ``usage_hourly`` by database triggers (migration 0004directives). Usage since a
    grant started is up to six months of hourly rows, asked for on every policy tick; full days come from here
    and only the partial days at either end from the hourly table, which keeps a tick within its time budget
    while staying exact to the second.
    """

    __tablename__ = "usage_daily"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_usage_daily_day", "day"),)


class UsageUserDaily(Base):
    """GPU-seconds per ``usage_hourly`` key (cluster, account, user, partition, GPU type) and UTC day start.

    Kept equal to the sum of ``usage_hourly`` by database triggers (migration 0010userdaily), like
    ``UsageDaily``, which lacks the user and partition: ``quotad report --by user`` / ``--by partition`` over
    a month read whole days from here (about a twentieth of the hourly rows) and only the partial days at
    either end from the hourly table, exact to the second.
    """

    __tablename__ = "usage_user_daily"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[str] = mapped_column(String(255), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_usage_user_daily_day", "day"),)


class IngestRun(Base):
    """One ingest of one source (file, stdin, a collector poll): what came in and what was refused."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    lines_total: Mapped[int] = mapped_column(Integer, default=0)
    records_ok: Mapped[int] = mapped_column(Integer, default=0)
    lines_bad: Mapped[int] = mapped_column(Integer, default=0)


class IngestError(Base):
    """A quarantined input line: kept verbatim with its line number and the reason it was refused."""

    __tablename__ = "ingest_errors"
    __table_args__ = (UniqueConstraint("source", "line_no", "line_sha256"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(512))
    line_no: Mapped[int] = mapped_column(Integer)
    line_sha256: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    #: Why, as one of a small fixed set (``quotad.ledger.bounds.Refusal``), for counting by reason.
    code: Mapped[str] = mapped_column(String(32), server_default="malformed")
    created_at: Mapped[int] = mapped_column(BigInteger)
