"""partners plugin: partners, requests, introductions with history, outreach events

Revision ID: p_partners_0001
Revises: 0002collector
Create Date: 2026-12-07 01:00:00.000000

The partners plugin's branch (label "partners") starts from a core revision, so it applies to any ledger at or
past 0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_partners_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("partners",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partners_orgs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("offers", sa.Text(), nullable=False),
        sa.Column("contacts", sa.Text(), nullable=False),
        sa.Column("nda", sa.String(length=16), nullable=False),
        sa.Column("nda_on", sa.String(length=10), nullable=False),
        sa.Column("mou", sa.String(length=16), nullable=False),
        sa.Column("mou_on", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners_orgs")),
    )
    op.create_table(
        "partners_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("seeks", sa.Text(), nullable=False),
        sa.Column("countries", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("needed_by", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners_requests")),
    )
    op.create_index(op.f("ix_partners_requests_company_id"), "partners_requests", ["company_id"], unique=False)
    op.create_table(
        "partners_introductions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("request_id", _ID, nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners_orgs.id"], name=op.f("fk_partners_introductions_partner_id_partners_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["partners_requests.id"],
            name=op.f("fk_partners_introductions_request_id_partners_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners_introductions")),
        sa.UniqueConstraint("request_id", "partner_id", name=op.f("uq_partners_introductions_request_id_partner_id")),
    )
    op.create_index(
        op.f("ix_partners_introductions_request_id"), "partners_introductions", ["request_id"], unique=False
    )
    op.create_index(
        op.f("ix_partners_introductions_partner_id"), "partners_introductions", ["partner_id"], unique=False
    )
    op.create_table(
        "partners_intro_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("intro_id", _ID, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["intro_id"],
            ["partners_introductions.id"],
            name=op.f("fk_partners_intro_events_intro_id_partners_introductions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners_intro_events")),
    )
    op.create_index(op.f("ix_partners_intro_events_intro_id"), "partners_intro_events", ["intro_id"], unique=False)
    op.create_table(
        "partners_outreach",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners_orgs.id"], name=op.f("fk_partners_outreach_partner_id_partners_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners_outreach")),
        sa.UniqueConstraint("event_id", "partner_id", name=op.f("uq_partners_outreach_event_id_partner_id")),
    )
    op.create_index(op.f("ix_partners_outreach_event_id"), "partners_outreach", ["event_id"], unique=False)
    op.create_index(op.f("ix_partners_outreach_partner_id"), "partners_outreach", ["partner_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("partners_outreach", ("partner_id", "event_id")),
        ("partners_intro_events", ("intro_id",)),
        ("partners_introductions", ("partner_id", "request_id")),
        ("partners_requests", ("company_id",)),
        ("partners_orgs", ()),
    ):
        for column in indexes:
            op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_table(table)
