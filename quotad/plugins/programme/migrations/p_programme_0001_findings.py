"""programme plugin: the office's findings per chapter and language

Revision ID: p_programme_0001
Revises: 0002collector
Create Date: 2026-12-07 01:10:00.000000

The programme plugin's branch (label "programme") starts from a core revision, so it applies to any ledger at
or past 0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_programme_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("programme",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programme_findings",
        sa.Column("part", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("part", "lang", name=op.f("pk_programme_findings")),
    )


def downgrade() -> None:
    op.drop_table("programme_findings")
