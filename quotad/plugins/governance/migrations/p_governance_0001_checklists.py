"""governance plugin: checklists, items and self-assessments

Revision ID: p_governance_0001
Revises: 0002collector
Create Date: 2026-12-05 10:30:00.000000

The governance plugin's branch (label "governance") starts from a core revision, so it applies to any ledger
at or past 0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_governance_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("governance",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CURRENT = sa.text("superseded_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "governance_checklists",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("title_ja", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("guideline_ja", sa.Text(), nullable=False),
        sa.Column("guideline_en", sa.Text(), nullable=False),
        sa.Column("guideline_version", sa.String(length=32), nullable=False),
        sa.Column("guideline_published", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_governance_checklists")),
    )
    op.create_table(
        "governance_items",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("section", sa.String(length=32), nullable=False),
        sa.Column("text_ja", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["governance_checklists.version"],
            name=op.f("fk_governance_items_version_governance_checklists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version", "key", name=op.f("pk_governance_items")),
    )
    op.create_table(
        "governance_assessments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("evidence_url", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.String(length=200), nullable=False),
        sa.Column("answered_at", sa.BigInteger(), nullable=False),
        sa.Column("carried_from", sa.String(length=32), nullable=True),
        sa.Column("signed_off_by", sa.String(length=200), nullable=True),
        sa.Column("signed_off_at", sa.BigInteger(), nullable=True),
        sa.Column("superseded_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version", "item_key"],
            ["governance_items.version", "governance_items.key"],
            name=op.f("fk_governance_assessments_version_governance_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_assessments")),
    )
    op.create_index(
        "uq_governance_assessments_current",
        "governance_assessments",
        ["company_id", "version", "item_key"],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )
    op.create_index(
        "ix_governance_assessments_version_item_key", "governance_assessments", ["version", "item_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_governance_assessments_version_item_key", table_name="governance_assessments")
    op.drop_index("uq_governance_assessments_current", table_name="governance_assessments")
    op.drop_table("governance_assessments")
    op.drop_table("governance_items")
    op.drop_table("governance_checklists")
