"""Migrations on SQLite and PostgreSQL: they build exactly the models' schema, and the revision is enforced."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from quotad.config import Settings
from quotad.errors import SchemaError
from quotad.ledger.db import _alembic_config, check_schema, create_ledger_engine, upgrade
from quotad.plugins.host import load_plugins
from quotad.tables import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    registry = load_plugins()  # the installed plugins declare their tables on Base.metadata as they load
    assert not registry.failed
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_upgrade_is_idempotent_and_reports_revisions(settings: Settings) -> None:
    engine = create_ledger_engine(settings)
    before, after = upgrade(engine)
    assert before is None and after
    assert upgrade(engine) == (after, after)
    check_schema(engine)


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert "jobs" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "jobs" in inspect(engine).get_table_names()


def test_missing_schema_is_refused(settings: Settings) -> None:
    engine = create_ledger_engine(settings)
    with pytest.raises(SchemaError, match="quotad db upgrade"):
        check_schema(engine)


def test_outdated_schema_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('old0000')"))
    with pytest.raises(SchemaError, match=r"at old0000 but this quotad expects .*quotad db upgrade"):
        check_schema(engine)


def test_node_list_arrives_as_null_on_existing_jobs_and_goes_again(engine: Engine) -> None:
    """0008nodelist: a job stored before it has no known nodes (NULL), and the downgrade keeps the job."""
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0007widen")
    assert "node_list" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO clusters (name, scheduler, default_gpu_type) VALUES ('c1', 'slurm', 'h100')"))
        conn.execute(text(
            "INSERT INTO jobs (cluster, job_id, job_id_raw, submit, account, user_name, partition, state, elapsed_raw,"
            " gpu_count, gpu_alloc, charged_seconds) VALUES ('c1', '7', 7, 1, 'acme', 'alice', 'gpu', 'COMPLETED',"
            " 60, 1, 'h100=1', 60)"
        ))  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT job_id, node_list FROM jobs")).all() == [("7", None)]
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0007widen")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT job_id FROM jobs")).all() == [("7",)]
