"""per-user daily usage rollup (kept by triggers on usage_hourly)

Revision ID: 0010userdaily
Revises: 0009scale
Create Date: 2026-12-07 05:00:00.000000

Why: ``quotad report --by user`` (and ``--by partition``) for a month summed every hourly row of the month,
1.8 M rows at 100,000 GPUs (2.6 s against a 2 s target, ``bench/scale.py``). ``usage_daily`` has no user or
partition, so ``usage_user_daily`` holds the GPU-seconds of each ``usage_hourly`` key per UTC day: the same
key with the hour replaced by its day. Like ``usage_daily`` (migration 0004directives) it is kept exact by row
triggers on ``usage_hourly`` in the same transaction as every ingest write, back-filled here from the rows
already there, and checked/repaired by ``quotad db check-rollups`` and the daemon's ``rollup_upkeep``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010userdaily"
down_revision: str | Sequence[str] | None = "0009scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("cluster", "account", "user_name", "partition", "gpu_type")
DAY = "{row}.hour - {row}.hour % 86400"
MATCH = " AND ".join(f"{c} = OLD.{c}" for c in KEY) + " AND day = " + DAY.format(row="OLD")
ADD_NEW = (
    f"INSERT INTO usage_user_daily ({', '.join(KEY)}, day, gpu_seconds) "
    f"VALUES ({', '.join('NEW.' + c for c in KEY)}, " + DAY.format(row="NEW") + ", NEW.gpu_seconds) "
    f"ON CONFLICT ({', '.join(KEY)}, day) DO UPDATE SET gpu_seconds = usage_user_daily.gpu_seconds + "
    "excluded.gpu_seconds"
)
TAKE_OLD = "UPDATE usage_user_daily SET gpu_seconds = gpu_seconds - OLD.gpu_seconds WHERE " + MATCH
#: The usual update (an additive upsert adding seconds to an hour): one statement instead of two.
ADD_DELTA = "UPDATE usage_user_daily SET gpu_seconds = gpu_seconds + NEW.gpu_seconds - OLD.gpu_seconds WHERE " + MATCH
SAME_DAY_ROW = " AND ".join(f"NEW.{c} = OLD.{c}" for c in KEY) + " AND " + DAY.format(row="NEW") + " = " + DAY.format(
    row="OLD"
)

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER trg_usage_hourly_user_daily_insert AFTER INSERT ON usage_hourly BEGIN {ADD_NEW}; END",
    f"CREATE TRIGGER trg_usage_hourly_user_daily_update AFTER UPDATE ON usage_hourly WHEN {SAME_DAY_ROW} "
    f"BEGIN {ADD_DELTA}; END",
    f"CREATE TRIGGER trg_usage_hourly_user_daily_move AFTER UPDATE ON usage_hourly WHEN NOT ({SAME_DAY_ROW}) "
    f"BEGIN {TAKE_OLD}; {ADD_NEW}; END",
    f"CREATE TRIGGER trg_usage_hourly_user_daily_delete AFTER DELETE ON usage_hourly BEGIN {TAKE_OLD}; END",
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION quotad_usage_user_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND {SAME_DAY_ROW} THEN
        {ADD_DELTA};
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {TAKE_OLD};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {ADD_NEW};
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER trg_usage_hourly_user_daily AFTER INSERT OR UPDATE OR DELETE ON usage_hourly "
    "FOR EACH ROW EXECUTE FUNCTION quotad_usage_user_daily_sync()",
    # Every ingest batch rewrites the day rows it touches (as usage_daily's): room for HOT updates, early vacuum.
    "ALTER TABLE usage_user_daily SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_vacuum_threshold = 1000)",
]


def upgrade() -> None:
    op.create_table(
        "usage_user_daily",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.String(length=255), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, "day", name=op.f("pk_usage_user_daily")),
    )
    with op.batch_alter_table("usage_user_daily", schema=None) as batch_op:
        batch_op.create_index("ix_usage_user_daily_day", ["day"], unique=False)
    op.execute(
        f"INSERT INTO usage_user_daily ({', '.join(KEY)}, day, gpu_seconds) "
        f"SELECT {', '.join(KEY)}, hour - hour % 86400, SUM(gpu_seconds) FROM usage_hourly "
        f"GROUP BY {', '.join(KEY)}, hour - hour % 86400"
    )
    for statement in POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_usage_hourly_user_daily ON usage_hourly")
        op.execute("DROP FUNCTION IF EXISTS quotad_usage_user_daily_sync()")
    else:
        for name in ("insert", "update", "move", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_usage_hourly_user_daily_{name}")
    op.drop_table("usage_user_daily")
