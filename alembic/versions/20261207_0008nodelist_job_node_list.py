"""jobs.node_list: the nodes a job segment ran on, as the scheduler names them

The compact hostlist sacct prints in its NodeList column (``gpu[01-03,07]``), or the hosts of a PBS record's
exec_host; kept as printed and expanded only where matched (``quotad.pool.maintenance``), so a 512-node job
stays one short string. NULL means not known: rows ingested before this revision, files without the column,
jobs never given nodes. It lets a maintenance window on some nodes tell which jobs without GPU telemetry ran
on them.

A new nullable column without a default: a plain ``ALTER TABLE ... ADD COLUMN`` on both databases (no table
rebuild on SQLite, so usage_hourly's triggers are untouched); existing rows get NULL.

Revision ID: 0008nodelist
Revises: 0007widen
Create Date: 2026-12-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008nodelist"
down_revision: str | Sequence[str] | None = "0007widen"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("node_list", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place too; the column has no index or constraint that would stop it.
    op.drop_column("jobs", "node_list")
