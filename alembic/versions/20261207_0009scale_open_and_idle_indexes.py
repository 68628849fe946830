"""index the job segments a poll still holds open, and the idle GPUs a scrape reads

Every Slurm poll reads the JobIDRaw of its cluster's segments still open (``RUNNING``, ``PENDING``,
``SUSPENDED``, ``REQUEUED``, ``RESIZING``: ``collectors/slurm.py`` ``OPEN_STATES``) to re-read those sacct's
window did not return. ``ix_jobs_running`` covers only ``RUNNING``, so that read walked all of the cluster's
history through the segment key: 0.1 s at 100,000 segments per cluster and growing with every poll
(``bench/scale.py``). This partial index holds only the open segments, a few hundred per cluster whatever the
history, so the read is as fast at year five as at week one.

``ix_gpu_usage_hourly_idle`` does the same for the exporter's idle-GPU read at every scrape: only the rows of
GPUs in an idle streak (``idle_since`` set), instead of every allocated GPU's fresh row.

Revision ID: 0009scale
Revises: 0008nodelist
Create Date: 2026-12-07 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009scale"
down_revision: str | Sequence[str] | None = "0008nodelist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("state IN ('RUNNING', 'PENDING', 'SUSPENDED', 'REQUEUED', 'RESIZING')")


_IDLE = sa.text("idle_since IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_jobs_open", "jobs", ["cluster", "job_id_raw"], postgresql_where=_OPEN, sqlite_where=_OPEN)
    op.create_index(
        "ix_gpu_usage_hourly_idle",
        "gpu_usage_hourly",
        ["cluster", "last_sample"],
        postgresql_where=_IDLE,
        sqlite_where=_IDLE,
    )


def downgrade() -> None:
    op.drop_index("ix_gpu_usage_hourly_idle", table_name="gpu_usage_hourly")
    op.drop_index("ix_jobs_open", table_name="jobs")
