"""eval plugin: the compute linked to a model

Revision ID: p_eval_0002
Revises: p_eval_0001
Create Date: 2026-12-07 00:45:00.000000

One row per (company, model): the jobs (explicit Slurm job ids) or the account and time range whose charged
compute produced the model's checkpoints. Resolved against the ledger when a board is built, never copied.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_eval_0002"
down_revision: str | Sequence[str] | None = "p_eval_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "eval_compute_links",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("job_ids", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("start", sa.BigInteger(), nullable=True),
        sa.Column("end", sa.BigInteger(), nullable=True),
        sa.Column("linked_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_compute_links")),
        sa.UniqueConstraint("company_id", "model", name=op.f("uq_eval_compute_links_company_id_model")),
    )


def downgrade() -> None:
    op.drop_table("eval_compute_links")
