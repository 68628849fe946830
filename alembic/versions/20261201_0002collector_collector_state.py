"""collector state

Revision ID: 0002collector
Revises: e409e42f2b55
Create Date: 2026-12-01 12:28:06.080100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002collector"
down_revision: str | Sequence[str] | None = "e409e42f2b55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collector_state",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("last_attempt", sa.BigInteger(), nullable=True),
        sa.Column("last_success", sa.BigInteger(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("polls_total", sa.Integer(), nullable=False),
        sa.Column("errors_total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["clusters.name"], name=op.f("fk_collector_state_cluster_clusters")),
        sa.PrimaryKeyConstraint("cluster", "source", name=op.f("pk_collector_state")),
    )


def downgrade() -> None:
    op.drop_table("collector_state")
