"""ledger core

Revision ID: e409e42f2b55
Revises: (none)
Create Date: 2026-12-01 12:08:46.345025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e409e42f2b55"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scheduler", sa.String(length=16), nullable=False),
        sa.Column("default_gpu_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clusters")),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("lines_total", sa.Integer(), nullable=False),
        sa.Column("records_ok", sa.Integer(), nullable=False),
        sa.Column("lines_bad", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("partition", sa.String(length=64), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "cluster", "account", "user_name", "partition", "gpu_type", "hour", name=op.f("pk_usage_hourly")
        ),
    )
    with op.batch_alter_table("usage_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_usage_hourly_hour", ["hour"], unique=False)

    op.create_table(
        "company_accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_company_accounts_cluster_clusters")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_company_accounts_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_accounts")),
        sa.UniqueConstraint("cluster", "account", name=op.f("uq_company_accounts_cluster_account")),
    )
    with op.batch_alter_table("company_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_company_accounts_company_id"), ["company_id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_contacts_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("company_id", "email", name=op.f("uq_contacts_company_id_email")),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_grants_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint(
            "company_id",
            "cluster",
            "gpu_type",
            "period_start",
            name=op.f("uq_grants_company_id_cluster_gpu_type_period_start"),
        ),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_company_id"), ["company_id"], unique=False)

    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("line_sha256", sa.String(length=64), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.id"], name=op.f("fk_ingest_errors_run_id_ingest_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_errors")),
        sa.UniqueConstraint(
            "source", "line_no", "line_sha256", name=op.f("uq_ingest_errors_source_line_no_line_sha256")
        ),
    )
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_errors_run_id"), ["run_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("job_id_raw", sa.BigInteger(), nullable=False),
        sa.Column("submit", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("partition", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("elapsed_raw", sa.BigInteger(), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("gpu_alloc", sa.String(length=128), nullable=False),
        sa.Column("charged_seconds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_jobs_cluster_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("cluster", "job_id_raw", "submit", name=op.f("uq_jobs_cluster_job_id_raw_submit")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_running",
            ["cluster", "state"],
            unique=False,
            sqlite_where=sa.text("state = 'RUNNING'"),
            postgresql_where=sa.text("state = 'RUNNING'"),
        )

    op.create_table(
        "grant_plan",
        sa.Column("grant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("month_start", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_grant_plan_grant_id_grants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grant_id", "month_start", name=op.f("pk_grant_plan")),
    )


def downgrade() -> None:
    op.drop_table("grant_plan")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_jobs_running", sqlite_where=sa.text("state = 'RUNNING'"), postgresql_where=sa.text("state = 'RUNNING'")
        )

    op.drop_table("jobs")
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_errors_run_id"))

    op.drop_table("ingest_errors")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_company_id"))

    op.drop_table("grants")
    op.drop_table("contacts")
    with op.batch_alter_table("company_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_accounts_company_id"))

    op.drop_table("company_accounts")
    with op.batch_alter_table("usage_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_hourly_hour")

    op.drop_table("usage_hourly")
    op.drop_table("ingest_runs")
    op.drop_table("companies")
    op.drop_table("clusters")
