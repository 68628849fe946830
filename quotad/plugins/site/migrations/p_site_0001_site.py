"""site plugin: company disclosure flags and news

Revision ID: p_site_0001
Revises: 0002collector
Create Date: 2026-12-01 15:10:00.000000

The site plugin's branch (label "site") starts from a core revision, independent of the eval branch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_site_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("site",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_companies",
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_site_companies")),
    )
    op.create_table(
        "site_news",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("title_ja", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("body_ja", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_news")),
    )
    op.create_index(op.f("ix_site_news_day"), "site_news", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_site_news_day"), table_name="site_news")
    op.drop_table("site_news")
    op.drop_table("site_companies")
