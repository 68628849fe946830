"""challenges plugin: the challenges log and its history

Revision ID: p_challenges_0001
Revises: 0002collector
Create Date: 2026-12-07 00:30:00.000000

The challenges plugin's branch (label "challenges") starts from a core revision, so it applies to any ledger
at or past 0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_challenges_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("challenges",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "challenges_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("noted_on", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("description_ja", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_challenges_entries_key")),
    )
    op.create_index(op.f("ix_challenges_entries_company_id"), "challenges_entries", ["company_id"], unique=False)
    op.create_index(op.f("ix_challenges_entries_noted_on"), "challenges_entries", ["noted_on"], unique=False)
    op.create_table(
        "challenges_changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["challenges_entries.id"],
            name=op.f("fk_challenges_changes_entry_id_challenges_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges_changes")),
    )
    op.create_index(op.f("ix_challenges_changes_entry_id"), "challenges_changes", ["entry_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_challenges_changes_entry_id"), table_name="challenges_changes")
    op.drop_table("challenges_changes")
    op.drop_index(op.f("ix_challenges_entries_noted_on"), table_name="challenges_entries")
    op.drop_index(op.f("ix_challenges_entries_company_id"), table_name="challenges_entries")
    op.drop_table("challenges_entries")
