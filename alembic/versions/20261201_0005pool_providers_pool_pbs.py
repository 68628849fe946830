"""providers, reserved capacity, maintenance windows, PBS collector progress

Revision ID: 0005pool
Revises: 0003gpu
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005pool"
down_revision: str | Sequence[str] | None = "0003gpu"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
    )
    op.create_table(
        "provider_contracts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("contact", sa.String(length=254), nullable=False),
        sa.Column("terms_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_contracts_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_contracts")),
        sa.UniqueConstraint("provider_id", "reference", name=op.f("uq_provider_contracts_provider_id_reference")),
    )
    with op.batch_alter_table("provider_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_contracts_provider_id"), ["provider_id"], unique=False)
    op.create_table(
        "reserved_capacity",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", _ID, nullable=True),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("node_type", sa.String(length=64), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("gpus_per_node", sa.Integer(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_reserved_capacity_cluster_clusters")),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["provider_contracts.id"],
            name=op.f("fk_reserved_capacity_contract_id_provider_contracts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_reserved_capacity_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reserved_capacity")),
        sa.UniqueConstraint(
            "provider_id",
            "cluster",
            "node_type",
            "period_start",
            name=op.f("uq_reserved_capacity_provider_id_cluster_node_type_period_start"),
        ),
    )
    with op.batch_alter_table("reserved_capacity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reserved_capacity_provider_id"), ["provider_id"], unique=False)
    op.create_table(
        "maintenance_windows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("node_type", sa.String(length=64), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=True),
        sa.Column("nodes", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_maintenance_windows_cluster_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
        sa.UniqueConstraint(
            "cluster",
            "source",
            "reference",
            "node_type",
            "start_time",
            name="uq_maintenance_windows_key",
        ),
    )
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_windows_cluster_start_time", ["cluster", "start_time"], unique=False)
    op.create_table(
        "pbs_log_cursor",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("head_len", sa.Integer(), nullable=False),
        sa.Column("head_sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_pbs_log_cursor_cluster_clusters")),
        sa.PrimaryKeyConstraint("cluster", name=op.f("pk_pbs_log_cursor")),
    )
    op.create_table(
        "pbs_open_runs",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("job_id_raw", sa.BigInteger(), nullable=False),
        sa.Column("submit", sa.BigInteger(), nullable=False),
        sa.Column("walltime_limit", sa.BigInteger(), nullable=True),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_pbs_open_runs_cluster_clusters")),
        sa.PrimaryKeyConstraint("cluster", "job_id_raw", "submit", name=op.f("pk_pbs_open_runs")),
    )


def downgrade() -> None:
    op.drop_table("pbs_open_runs")
    op.drop_table("pbs_log_cursor")
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_maintenance_windows_cluster_start_time")
    op.drop_table("maintenance_windows")
    with op.batch_alter_table("reserved_capacity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reserved_capacity_provider_id"))
    op.drop_table("reserved_capacity")
    with op.batch_alter_table("provider_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_contracts_provider_id"))
    op.drop_table("provider_contracts")
    op.drop_table("providers")
