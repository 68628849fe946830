"""Shared by the plugin, eval and site tests (imported by them; holds no tests of its own).

Until ``pyproject.toml`` registers the built-ins and ``quotad/ledger/db.py`` asks the host for version
locations, these fixtures stand in: discovery returns the built-in entry points, and the Alembic config used
by ``check_schema`` and the tests carries the plugins' migration folders. Both keep working once the core
changes land (they then configure the same thing).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine
from typer.testing import CliRunner

from quotad.amounts import NORMALISED
from quotad.cli import main as cli_main
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.ledger import db
from quotad.ledger.db import create_ledger_engine
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import POOL
from quotad.ledger.registry import AccountRef, GrantSpec, add_company, set_grant
from quotad.plugins import host
from quotad.plugins.api import table_of
from quotad.plugins.eval import models as eval_models
from quotad.plugins.host import ENTRY_POINT_GROUP, PluginRegistry, configure_alembic, load_plugins
from quotad.plugins.site import models as site_models
from quotad.tables import Base
from quotad.units import TFLOP_PER_EFLOPS_HOUR
from tests.helpers import row, sacct_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eval"
LM_EVAL_EN = FIXTURES / "lm_eval" / "results_2026-11-18T09-12-44.518903.json"
LM_EVAL_JA = FIXTURES / "lm_eval" / "results_2026-11-19T02-40-11.004417.json"
LM_EVAL_LIMITED = FIXTURES / "lm_eval" / "results_2026-11-10T14-03-27.771520.json"
LLM_JP_EVAL = FIXTURES / "llm_jp_eval" / "sakura-13b-v1_step120000.json"
MT_BENCH = FIXTURES / "japanese_mt_bench" / "model_judgment" / "gpt-4_single.jsonl"

BUILTINS = (
    EntryPoint("eval", "quotad.plugins.eval:plugin", ENTRY_POINT_GROUP),
    EntryPoint("site", "quotad.plugins.site:plugin", ENTRY_POINT_GROUP),
)

#: 2026-11-25T00:00:00Z; usage below is planted in November 2026.
NOW = 1795564800
H = 3600

_CORE_ALEMBIC_CONFIG = db._alembic_config


def builtins() -> list[EntryPoint]:
    return list(BUILTINS)


def core_names() -> set[str]:
    """Names of the core's commands only (main.py's table of lazily imported commands)."""
    return set(cli_main.CORE_NAMES) - {"plugins"}


def core_only_alembic_config(connection: Connection) -> AlembicConfig:
    """The core history alone: a ledger as it was before any plugin was installed."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(db.MIGRATIONS_DIR / "versions"))
    cfg.attributes["connection"] = connection
    return cfg


def plugin_alembic_config(connection: Connection) -> AlembicConfig:
    """The core's Alembic config with the built-in plugins' branches added (what db.py will do itself)."""
    cfg = _CORE_ALEMBIC_CONFIG(connection)
    configure_alembic(cfg, db.MIGRATIONS_DIR / "versions", builtins)
    return cfg


def upgrade_all(engine: Engine) -> None:
    """``upgrade heads`` over the core and every plugin branch."""
    with engine.begin() as conn:
        command.upgrade(plugin_alembic_config(conn), "heads")


def _core_migrates_plugins() -> bool:
    """Whether quotad/ledger/db.py already adds the plugins' branches to the core's Alembic config."""
    locations = _CORE_ALEMBIC_CONFIG(None).get_main_option("version_locations") or ""
    return str(PLUGIN_TABLES_MIGRATIONS) in locations


# Transitional, until db.py configures the plugin branches: every core test migrates the core history only and
# compares it with ``Base.metadata``, which the plugin models join as soon as a test module imports them. So
# while the core does not migrate plugin tables, they are kept out of the shared metadata except during the
# tests that ask for them (``with_builtins``). Once the db.py change is in, this does nothing.
PLUGIN_TABLES_MIGRATIONS = Path(eval_models.__file__).resolve().parent / "migrations"
_PLUGIN_TABLES = table_of(
    eval_models.EvalFile,
    eval_models.EvalRun,
    eval_models.EvalScore,
    eval_models.EvalComputeLink,
    site_models.SiteCompany,
    site_models.SiteNews,
)
QUARANTINE = not _core_migrates_plugins()


def _hide_plugin_tables() -> None:
    for table in _PLUGIN_TABLES:
        if Base.metadata.tables.get(table.key) is table:
            Base.metadata.remove(table)


def _show_plugin_tables() -> None:
    for table in _PLUGIN_TABLES:
        if table.key not in Base.metadata.tables:
            Base.metadata._add_table(table.name, table.schema, table)


if QUARANTINE:
    _hide_plugin_tables()


@pytest.fixture
def plugin_tables() -> Iterator[None]:
    """The plugin tables in ``Base.metadata`` for the duration of one test (see QUARANTINE)."""
    if QUARANTINE:
        _show_plugin_tables()
    yield
    if QUARANTINE:
        _hide_plugin_tables()


@pytest.fixture
def with_builtins(monkeypatch: pytest.MonkeyPatch, plugin_tables: None) -> None:
    """Entry-point discovery finds the built-ins; the schema check knows their revisions."""
    monkeypatch.setattr(host, "discover", builtins)
    monkeypatch.setattr(db, "_alembic_config", plugin_alembic_config)


@pytest.fixture
def registry(with_builtins: None) -> PluginRegistry:
    reg = load_plugins(reserved=core_names())
    assert not reg.failed, reg.failed
    return reg


@pytest.fixture
def ledger(settings: Settings, with_builtins: None) -> Iterator[Engine]:
    """A ledger migrated to every head, core and plugins, on SQLite and PostgreSQL."""
    eng = create_ledger_engine(settings)
    upgrade_all(eng)
    yield eng
    eng.dispose()


def seed_programme(engine: Engine, settings: Settings) -> None:
    """Three companies: sakura (100 GPU-h), fuji (a distinctive private figure) and kumo (no use, no results)."""
    nov, may = 1793491200, 1809129600  # 2026-11-01, 2027-05-01 UTC
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(
            conn,
            company_id="sakura",
            name_ja="さくらAI",
            name_en="Sakura AI",
            now=NOW,
            accounts=[AccountRef("c1", "sakura")],
        )
        add_company(
            conn,
            company_id="fuji",
            name_ja="富士ラボ",
            name_en="Fuji Labs",
            now=NOW,
            accounts=[AccountRef("c2", "fuji")],
        )
        add_company(conn, company_id="kumo", name_ja="雲テック", name_en="Kumo Tech", now=NOW)
        types = list(settings.gpu_types)
        set_grant(conn, GrantSpec("sakura", "c1", "h100", 50_000 * H, nov, may), known_gpu_types=types)
        set_grant(
            conn, GrantSpec("fuji", POOL, NORMALISED, 40 * TFLOP_PER_EFLOPS_HOUR, nov, may), known_gpu_types=types
        )
        lines = sacct_text(
            # sakura: 8 GPUs x 12.5 h = 100 GPU-h
            row(
                "1",
                1,
                start="2026-11-02T00:00:00",
                end="2026-11-02T12:30:00",
                elapsed=45000,
                gpus="gres/gpu=8",
                account="sakura",
            ),
            # fuji: 56 GPUs x 98,771 s = 1,536.44 GPU-h (the private figure the site must never show)
            row(
                "2",
                2,
                start="2026-11-03T00:00:00",
                end="2026-11-04T03:26:11",
                elapsed=98771,
                gpus="gres/gpu:h200=56,gres/gpu=56",
                cluster="c2",
                account="fuji",
            ),
        )
        ingest_sacct_text(conn, settings, lines, source="seed", now=NOW, timezone="UTC")


def seed_fuji_december(engine: Engine, settings: Settings) -> None:
    """On top of ``seed_programme``: fuji alone uses compute in December, 3 GPUs x 12,345 s = 10.29 GPU-h.

    With sakura and fuji both undisclosed, November's total stands (two users) and December's is withheld (fuji
    alone), so a total over both months less November's would be fuji's December: it must be withheld too."""
    lines = sacct_text(
        row("3", 3, submit="2026-12-02T00:00:00", start="2026-12-02T00:00:00", end="2026-12-02T03:25:45",
            elapsed=12345, gpus="gres/gpu:h200=3,gres/gpu=3", cluster="c2", account="fuji"),
    )  # fmt: skip
    with engine.begin() as conn:
        ingest_sacct_text(conn, settings, lines, source="seed", now=NOW + 30 * 86400, timezone="UTC")


class PluginCli:
    """``quotad -c CONFIG ...`` in-process, with the built-in plugins mounted as main.py will mount them."""

    def __init__(self, config: Path, registry: PluginRegistry) -> None:
        self.config = config
        self.runner = CliRunner()
        self.app = cli_main.make_cli(registry)

    def __call__(self, *args: str) -> Any:
        return self.runner.invoke(self.app, ["-c", str(self.config), *args])


@pytest.fixture
def plugin_cli(config_file: Path, registry: PluginRegistry, ledger: Engine) -> PluginCli:
    return PluginCli(config_file, registry)
