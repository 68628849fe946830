"""data plugin: holders, datasets, needs, introductions and their history

Revision ID: p_data_0001
Revises: 0002collector
Create Date: 2026-12-10 10:00:00.000000

The data plugin's branch (label "data") starts from a core revision, so it applies to any ledger at or past
0002collector, whatever core or plugin revisions come after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_data_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("data",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "data_holders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_ja", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_holders")),
    )
    op.create_table(
        "data_datasets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("title_ja", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("description_ja", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("publisher", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domains", sa.Text(), nullable=False),
        sa.Column("languages", sa.Text(), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("size_tokens", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("licence_spdx", sa.String(length=100), nullable=True),
        sa.Column("licence_name", sa.Text(), nullable=False),
        sa.Column("allow_training", sa.Boolean(), nullable=False),
        sa.Column("allow_commercial", sa.Boolean(), nullable=False),
        sa.Column("allow_derivatives", sa.Boolean(), nullable=False),
        sa.Column("access_mode", sa.String(length=16), nullable=False),
        sa.Column("pii_status", sa.String(length=16), nullable=False),
        sa.Column("copyright_status", sa.String(length=16), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=True),
        sa.Column("price_currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["data_holders.id"], name=op.f("fk_data_datasets_holder_id_data_holders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_datasets")),
    )
    op.create_index(op.f("ix_data_datasets_holder_id"), "data_datasets", ["holder_id"], unique=False)
    op.create_table(
        "data_needs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("domains", sa.Text(), nullable=False),
        sa.Column("languages", sa.Text(), nullable=False),
        sa.Column("modalities", sa.Text(), nullable=False),
        sa.Column("min_tokens", sa.BigInteger(), nullable=True),
        sa.Column("require_training", sa.Boolean(), nullable=False),
        sa.Column("require_commercial", sa.Boolean(), nullable=False),
        sa.Column("require_derivatives", sa.Boolean(), nullable=False),
        sa.Column("access_modes", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_needs")),
    )
    op.create_index(op.f("ix_data_needs_company_id"), "data_needs", ["company_id"], unique=False)
    op.create_table(
        "data_introductions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("need_id", _ID, nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["data_datasets.id"], name=op.f("fk_data_introductions_dataset_id_data_datasets")
        ),
        sa.ForeignKeyConstraint(["need_id"], ["data_needs.id"], name=op.f("fk_data_introductions_need_id_data_needs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_introductions")),
        sa.UniqueConstraint("need_id", "dataset_id", name=op.f("uq_data_introductions_need_id_dataset_id")),
    )
    op.create_index(op.f("ix_data_introductions_need_id"), "data_introductions", ["need_id"], unique=False)
    op.create_index(op.f("ix_data_introductions_dataset_id"), "data_introductions", ["dataset_id"], unique=False)
    op.create_table(
        "data_intro_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("intro_id", _ID, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["intro_id"],
            ["data_introductions.id"],
            name=op.f("fk_data_intro_events_intro_id_data_introductions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_intro_events")),
    )
    op.create_index(op.f("ix_data_intro_events_intro_id"), "data_intro_events", ["intro_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_data_intro_events_intro_id"), table_name="data_intro_events")
    op.drop_table("data_intro_events")
    op.drop_index(op.f("ix_data_introductions_dataset_id"), table_name="data_introductions")
    op.drop_index(op.f("ix_data_introductions_need_id"), table_name="data_introductions")
    op.drop_table("data_introductions")
    op.drop_index(op.f("ix_data_needs_company_id"), table_name="data_needs")
    op.drop_table("data_needs")
    op.drop_index(op.f("ix_data_datasets_holder_id"), table_name="data_datasets")
    op.drop_table("data_datasets")
    op.drop_table("data_holders")
