"""Plugin branches in the one migration history, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from quotad.config import Settings
from quotad.errors import SchemaError
from quotad.ledger.db import check_schema, create_ledger_engine
from quotad.tables import Base
from tests.test_plugin_common import (
    core_only_alembic_config,
    ledger,
    plugin_alembic_config,
    plugin_tables,
    registry,
    upgrade_all,
    with_builtins,
)

__all__ = ["ledger", "plugin_tables", "registry", "with_builtins"]

PLUGIN_TABLES = {"eval_files", "eval_runs", "eval_scores", "eval_compute_links", "site_companies", "site_news"}


def _diff_touches_plugins(diff: object) -> bool:
    text = repr(diff)
    return any(name in text for name in PLUGIN_TABLES)


def test_plugin_branches_hang_off_the_core(ledger: Engine) -> None:
    with ledger.connect() as conn:
        script = ScriptDirectory.from_config(plugin_alembic_config(conn))
    heads = set(script.get_heads())
    assert {"p_eval_0002", "p_site_0001"} <= heads
    for rev, label in (("p_eval_0001", "eval"), ("p_site_0001", "site")):
        revision = script.get_revision(rev)
        assert revision is not None and revision.branch_labels == {label}
        assert revision.down_revision == "0002collector"
    assert script.get_revision("eval@head").revision == "p_eval_0002"  # type: ignore[union-attr]
    assert script.get_revision("p_eval_0002").down_revision == "p_eval_0001"  # type: ignore[union-attr]


def test_migrated_plugin_schema_matches_the_plugin_models(ledger: Engine, registry: object) -> None:
    assert set(inspect(ledger).get_table_names()) >= PLUGIN_TABLES
    with ledger.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if _diff_touches_plugins(d)] == []


def test_schema_check_knows_every_head(ledger: Engine) -> None:
    check_schema(ledger)
    with ledger.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    assert {"p_eval_0002", "p_site_0001"} <= current


def test_a_ledger_without_the_plugin_branches_is_refused_then_upgraded(settings: Settings, with_builtins: None) -> None:
    engine = create_ledger_engine(settings)
    with engine.begin() as conn:
        command.upgrade(core_only_alembic_config(conn), "heads")  # a ledger made before the plugins were installed
    with pytest.raises(SchemaError, match=r"p_eval_0002.*quotad db upgrade"):
        check_schema(engine)
    upgrade_all(engine)
    check_schema(engine)
    assert set(inspect(engine).get_table_names()) >= PLUGIN_TABLES
    engine.dispose()


def test_one_plugin_branch_goes_down_and_up_alone(ledger: Engine) -> None:
    with ledger.begin() as conn:
        command.downgrade(plugin_alembic_config(conn), "eval@-1")
    tables = set(inspect(ledger).get_table_names())
    assert "eval_compute_links" not in tables and "eval_scores" in tables
    with ledger.begin() as conn:
        command.downgrade(plugin_alembic_config(conn), "eval@-1")  # the branch's first revision goes too
    tables = set(inspect(ledger).get_table_names())
    assert not tables & {"eval_files", "eval_runs", "eval_scores"}
    assert {"site_news", "jobs"} <= tables
    upgrade_all(ledger)
    assert "eval_scores" in inspect(ledger).get_table_names()


def test_everything_down_to_base_and_back(ledger: Engine) -> None:
    with ledger.begin() as conn:
        command.downgrade(plugin_alembic_config(conn), "base")
    assert not PLUGIN_TABLES & set(inspect(ledger).get_table_names())
    upgrade_all(ledger)
    check_schema(ledger)
