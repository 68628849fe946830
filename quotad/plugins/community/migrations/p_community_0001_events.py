"""community plugin: events, registrations and materials

Revision ID: p_community_0001
Revises: 0002collector
Create Date: 2026-12-05 10:00:00.000000

The community plugin's branch (label "community") starts from a core revision, so it applies to any ledger at
or past 0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_community_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("community",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "community_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title_ja", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("description_ja", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("place_ja", sa.Text(), nullable=False),
        sa.Column("place_en", sa.Text(), nullable=False),
        sa.Column("online_url", sa.Text(), nullable=False),
        sa.Column("info_url", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_events")),
    )
    op.create_index(op.f("ix_community_events_starts_at"), "community_events", ["starts_at"], unique=False)
    op.create_table(
        "community_registrations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_events.id"],
            name=op.f("fk_community_registrations_event_id_community_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_registrations")),
        sa.UniqueConstraint("event_id", "email", name=op.f("uq_community_registrations_event_id_email")),
    )
    op.create_index(op.f("ix_community_registrations_event_id"), "community_registrations", ["event_id"], unique=False)
    op.create_table(
        "community_materials",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_events.id"],
            name=op.f("fk_community_materials_event_id_community_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_materials")),
    )
    op.create_index(op.f("ix_community_materials_event_id"), "community_materials", ["event_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_community_materials_event_id"), table_name="community_materials")
    op.drop_table("community_materials")
    op.drop_index(op.f("ix_community_registrations_event_id"), table_name="community_registrations")
    op.drop_table("community_registrations")
    op.drop_index(op.f("ix_community_events_starts_at"), table_name="community_events")
    op.drop_table("community_events")
