"""widen the job text columns real Slurm exceeds

A pending job array's JobID lists its pending tasks (``900_[1,3,5,...,59]``, 90 characters and more), and site
account, user and partition names are not bounded at 64 characters by Slurm either; every table that copies an
account or user name from a job is widened with it. The gate (``quotad.ledger.bounds``) reads the widths from the
models, so a record still longer is quarantined, not written.

Quarantined lines also get the code of their refusal (``ingest_errors.code``: ``quotad.ledger.bounds.Refusal``),
so refused lines can be counted by reason.

SQLite: batch mode recreates each table, which drops the triggers defined on it (``usage_hourly`` keeps
``usage_daily`` by triggers), so they are read from ``sqlite_master``, dropped, and created again afterwards.

Revision ID: 0007widen
Revises: 0006merge
Create Date: 2026-12-07 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007widen"
down_revision: str | Sequence[str] | None = "0006merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> [(column, old width, new width, nullable)]
_WIDENED: dict[str, list[tuple[str, int, int, bool]]] = {
    "jobs": [
        ("job_id", 64, 1024, False),
        ("account", 64, 255, False),
        ("user_name", 64, 255, False),
        ("partition", 64, 255, False),
    ],
    "usage_hourly": [("account", 64, 255, False), ("user_name", 64, 255, False), ("partition", 64, 255, False)],
    "usage_daily": [("account", 64, 255, False)],
    "company_accounts": [("account", 64, 255, False)],
    "directives": [("account", 64, 255, True)],
    "gpu_usage_hourly": [("account", 64, 255, False), ("user_name", 64, 255, False)],
}


def _alter(*, widen: bool) -> None:
    bind = op.get_bind()
    triggers: list[tuple[str, str]] = []
    if bind.dialect.name == "sqlite":
        # Every trigger, not only those on the altered tables: SQLite checks trigger bodies when a table is
        # renamed, and usage_hourly's triggers name usage_daily, which batch mode drops and renames.
        found = bind.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"))
        triggers = [(str(name), str(sql)) for name, sql in found]
        for name, _sql in triggers:
            op.execute(f'DROP TRIGGER "{name}"')
    for table, columns in _WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column, old, new, nullable in columns:
                before, after = (old, new) if widen else (new, old)
                batch.alter_column(
                    column, type_=sa.String(after), existing_type=sa.String(before), existing_nullable=nullable
                )
    for _name, sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    _alter(widen=True)
    with op.batch_alter_table("ingest_errors") as batch:
        batch.add_column(sa.Column("code", sa.String(32), server_default="malformed", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ingest_errors") as batch:
        batch.drop_column("code")
    # Fails on PostgreSQL if a longer value is stored: truncating a job id or account would merge or lose rows.
    _alter(widen=False)
