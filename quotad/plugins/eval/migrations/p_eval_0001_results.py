"""eval plugin: result files, runs and scores

Revision ID: p_eval_0001
Revises: 0002collector
Create Date: 2026-12-01 15:00:00.000000

The eval plugin's branch (label "eval") starts from a core revision, so it applies to any ledger at or past
0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_eval_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("eval",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "eval_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("ingested_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_eval_files")),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("harness", sa.String(length=32), nullable=False),
        sa.Column("harness_version", sa.String(length=64), nullable=False),
        sa.Column("model_in_file", sa.Text(), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=True),
        sa.Column("limited", sa.Boolean(), nullable=False),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=True),
        sa.Column("ingested_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_sha256"],
            ["eval_files.sha256"],
            name=op.f("fk_eval_runs_file_sha256_eval_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
        sa.UniqueConstraint("file_sha256", "model", name=op.f("uq_eval_runs_file_sha256_model")),
    )
    op.create_index(op.f("ix_eval_runs_file_sha256"), "eval_runs", ["file_sha256"], unique=False)
    op.create_index(op.f("ix_eval_runs_company_id"), "eval_runs", ["company_id"], unique=False)
    op.create_table(
        "eval_scores",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("filter", sa.String(length=100), nullable=False),
        sa.Column("n_shot", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("stderr", sa.Float(), nullable=True),
        sa.Column("scale_max", sa.Float(), nullable=True),
        sa.Column("higher_is_better", sa.Boolean(), nullable=True),
        sa.Column("aggregate", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("samples_effective", sa.Integer(), nullable=True),
        sa.Column("samples_original", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name=op.f("fk_eval_scores_run_id_eval_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_scores")),
        sa.UniqueConstraint(
            "run_id", "task", "metric", "filter", name=op.f("uq_eval_scores_run_id_task_metric_filter")
        ),
    )
    op.create_index(op.f("ix_eval_scores_run_id"), "eval_scores", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_eval_scores_run_id"), table_name="eval_scores")
    op.drop_table("eval_scores")
    op.drop_index(op.f("ix_eval_runs_company_id"), table_name="eval_runs")
    op.drop_index(op.f("ix_eval_runs_file_sha256"), table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("eval_files")
