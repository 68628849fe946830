"""directives, outbox, daily usage rollup (kept by triggers), jobs.end_time index

Revision ID: 0004directives
Revises: 0003gpu
Create Date: 2026-12-01 14:00:00.000000

Why the rollup and the index (see ``quotad.directives.models``): a policy tick asks for each company's usage
since its grant started and for the jobs that finished in the last day. Summing up to six months of
``usage_hourly`` rows and scanning every historical job on every tick does not fit a 200 ms tick at the
programme's size (1M jobs); ``usage_daily`` holds the same GPU-seconds per UTC day, kept exact by row
triggers on ``usage_hourly`` in the same transaction as every ingest write, and is back-filled here from
the rows already there. Two indexes serve the per-tick job queries: ``jobs.end_time`` (jobs finished in
the last day) and ``gpu_usage_hourly (cluster, job_id, hour, observed_seconds, util_pct_seconds)`` (their
utilisation, summed from the index alone).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004directives"
down_revision: str | Sequence[str] | None = "0003gpu"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = "state IN ('open', 'notified', 'acknowledged')"
DAY = "{row}.hour - {row}.hour % 86400"
MATCH = "cluster = OLD.cluster AND account = OLD.account AND gpu_type = OLD.gpu_type AND day = " + DAY.format(row="OLD")
ADD_NEW = (
    "INSERT INTO usage_daily (cluster, account, gpu_type, day, gpu_seconds) "
    "VALUES (NEW.cluster, NEW.account, NEW.gpu_type, " + DAY.format(row="NEW") + ", NEW.gpu_seconds) "
    "ON CONFLICT (cluster, account, gpu_type, day) DO UPDATE SET gpu_seconds = usage_daily.gpu_seconds + "
    "excluded.gpu_seconds"
)
TAKE_OLD = "UPDATE usage_daily SET gpu_seconds = gpu_seconds - OLD.gpu_seconds WHERE " + MATCH
#: The usual update (an additive upsert adding seconds to an hour): one statement instead of two.
ADD_DELTA = "UPDATE usage_daily SET gpu_seconds = gpu_seconds + NEW.gpu_seconds - OLD.gpu_seconds WHERE " + MATCH
SAME_DAY_ROW = (
    "NEW.cluster = OLD.cluster AND NEW.account = OLD.account AND NEW.gpu_type = OLD.gpu_type AND "
    + DAY.format(row="NEW") + " = " + DAY.format(row="OLD")
)

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER trg_usage_hourly_daily_insert AFTER INSERT ON usage_hourly BEGIN {ADD_NEW}; END",
    f"CREATE TRIGGER trg_usage_hourly_daily_update AFTER UPDATE ON usage_hourly WHEN {SAME_DAY_ROW} "
    f"BEGIN {ADD_DELTA}; END",
    f"CREATE TRIGGER trg_usage_hourly_daily_move AFTER UPDATE ON usage_hourly WHEN NOT ({SAME_DAY_ROW}) "
    f"BEGIN {TAKE_OLD}; {ADD_NEW}; END",
    f"CREATE TRIGGER trg_usage_hourly_daily_delete AFTER DELETE ON usage_hourly BEGIN {TAKE_OLD}; END",
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION quotad_usage_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
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
    "CREATE TRIGGER trg_usage_hourly_daily AFTER INSERT OR UPDATE OR DELETE ON usage_hourly "
    "FOR EACH ROW EXECUTE FUNCTION quotad_usage_daily_sync()",
    # Every ingest batch rewrites the day rows it touches: leave room for HOT updates and vacuum it early, so
    # the few thousand live rows do not drag tens of thousands of dead versions through every tick's scan.
    "ALTER TABLE usage_daily SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_vacuum_threshold = 1000)",
]


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "account", "gpu_type", "day", name=op.f("pk_usage_daily")),
    )
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_day", ["day"], unique=False)
    op.execute(
        "INSERT INTO usage_daily (cluster, account, gpu_type, day, gpu_seconds) "
        "SELECT cluster, account, gpu_type, hour - hour % 86400, SUM(gpu_seconds) FROM usage_hourly "
        "GROUP BY cluster, account, gpu_type, hour - hour % 86400"
    )
    for statement in POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table(
        "directives",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("subject_key", sa.String(length=255), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("cluster", sa.String(length=64), nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("base_severity", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("enforceable", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("unchanged_notices", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.Integer(), nullable=False),
        sa.Column("last_notified_at", sa.BigInteger(), nullable=True),
        sa.Column("notified_level", sa.String(length=64), nullable=True),
        sa.Column("notified_severity", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_directives_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directives")),
    )
    with op.batch_alter_table("directives", schema=None) as batch_op:
        batch_op.create_index("ix_directives_company_id", ["company_id"], unique=False)
        batch_op.create_index("ix_directives_state", ["state"], unique=False)
        batch_op.create_index(
            "ux_directives_active_subject",
            ["policy", "subject_key"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )

    op.create_table(
        "directive_actions",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("directive_id", IdType, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["directive_id"],
            ["directives.id"],
            name=op.f("fk_directive_actions_directive_id_directives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directive_actions")),
    )
    with op.batch_alter_table("directive_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directive_actions_directive_id"), ["directive_id"], unique=False)

    op.create_table(
        "directive_events",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("directive_id", IdType, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["directive_id"],
            ["directives.id"],
            name=op.f("fk_directive_events_directive_id_directives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directive_events")),
    )
    with op.batch_alter_table("directive_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directive_events_directive_id"), ["directive_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("directive_id", IdType, nullable=True),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=254), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["directives.id"], name=op.f("fk_outbox_directive_id_directives"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_outbox_dedup_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_directive_id"), ["directive_id"], unique=False)
        batch_op.create_index("ix_outbox_state_next_attempt_at", ["state", "next_attempt_at"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_end_time", ["end_time"], unique=False)
    with op.batch_alter_table("gpu_usage_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gpu_usage_hourly_job_hour",
            ["cluster", "job_id", "hour", "observed_seconds", "util_pct_seconds"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("gpu_usage_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_gpu_usage_hourly_job_hour")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_end_time")
    op.drop_table("outbox")
    op.drop_table("directive_events")
    op.drop_table("directive_actions")
    op.drop_table("directives")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_usage_hourly_daily ON usage_hourly")
        op.execute("DROP FUNCTION IF EXISTS quotad_usage_daily_sync()")
    else:
        for name in ("insert", "update", "move", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_usage_hourly_daily_{name}")
    op.drop_table("usage_daily")
