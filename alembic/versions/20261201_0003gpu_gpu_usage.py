"""gpu usage hourly (NVML node agent)

Revision ID: 0003gpu
Revises: 0002collector
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003gpu"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gpu_usage_hourly",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("gpu_index", sa.Integer(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=96), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("observed_seconds", sa.Integer(), nullable=False),
        sa.Column("idle_seconds", sa.Integer(), nullable=False),
        sa.Column("idle_mem_held_seconds", sa.Integer(), nullable=False),
        sa.Column("util_pct_seconds", sa.BigInteger(), nullable=False),
        sa.Column("util_max", sa.Integer(), nullable=False),
        sa.Column("mem_used_max", sa.BigInteger(), nullable=False),
        sa.Column("mem_total", sa.BigInteger(), nullable=False),
        sa.Column("energy_mj", sa.BigInteger(), nullable=False),
        sa.Column("allocated", sa.Boolean(), nullable=False),
        sa.Column("job_process_seen", sa.Boolean(), nullable=False),
        sa.Column("foreign_processes", sa.Integer(), nullable=False),
        sa.Column("foreign_job_id", sa.BigInteger(), nullable=True),
        sa.Column("idle_since", sa.BigInteger(), nullable=True),
        sa.Column("recent_seconds", sa.Integer(), nullable=False),
        sa.Column("recent_idle_seconds", sa.Integer(), nullable=False),
        sa.Column("recent_util_pct_seconds", sa.BigInteger(), nullable=False),
        sa.Column("throttle_mask", sa.BigInteger(), nullable=False),
        sa.Column("xid_events", sa.Integer(), nullable=False),
        sa.Column("last_xid", sa.Integer(), nullable=True),
        sa.Column("ecc_uncorrected", sa.Integer(), nullable=False),
        sa.Column("first_sample", sa.BigInteger(), nullable=False),
        sa.Column("last_sample", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "job_id", "node", "gpu_index", "hour", name=op.f("pk_gpu_usage_hourly")),
    )
    with op.batch_alter_table("gpu_usage_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_gpu_usage_hourly_cluster_last_sample", ["cluster", "last_sample"], unique=False)
        batch_op.create_index("ix_gpu_usage_hourly_hour", ["hour"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gpu_usage_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_gpu_usage_hourly_hour")
        batch_op.drop_index("ix_gpu_usage_hourly_cluster_last_sample")

    op.drop_table("gpu_usage_hourly")
