"""A failed command leaves nothing behind, even where it saved rows in savepoints (``begin_nested``).

On SQLite, pysqlite opened no transaction before a SAVEPOINT that came ahead of the first write, so the
savepoint's RELEASE committed for real and rows saved before the failure stayed. Each import path that uses
savepoints is run here inside a transaction that then fails, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from quotad.cli.context import AppState
from quotad.plugins.api import LedgerView
from quotad.plugins.community.store import register
from quotad.plugins.data.importer import import_rows, read_rows
from quotad.pool.csv_import import import_csv
from tests.community_support import NOW, add_event, seed_companies
from tests.conftest import Cli
from tests.data_support import CSV_FILE


class CommandFailed(Exception):
    """What went wrong after the import: the whole command must leave no trace."""


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def test_a_provider_csv_import_that_fails_half_way_writes_nothing(engine: Engine) -> None:
    def lines() -> Iterator[str]:
        yield "id,name_ja,name_en,kind\n"
        yield "abci,産総研,AIST ABCI,national-hpc\n"
        yield "sakura,さくら,Sakura,cloud\n"
        raise OSError("the file's disk went away")

    with pytest.raises(OSError), engine.begin() as conn:
        import_csv(conn, "providers", lines(), source="p.csv", tz="UTC", known_gpu_types=["h100"], now=NOW)
    assert count(engine, "providers") == 0


def test_a_data_import_in_a_failed_command_writes_nothing(engine: Engine) -> None:
    rows = read_rows(CSV_FILE, "csv")
    with pytest.raises(CommandFailed), engine.begin() as conn:
        report = import_rows(conn, rows, source=str(CSV_FILE), kind="csv", now=NOW)
        assert report.created  # rows were saved in their savepoints ...
        raise CommandFailed  # ... and then the command failed
    assert count(engine, "data_datasets") == 0


def test_a_community_registration_in_a_failed_command_is_not_kept(engine: Engine, cli: Cli, config_file: Path) -> None:
    seed_companies(engine)
    add_event(cli, "kickoff")
    catalog = AppState(config_path=config_file).catalog
    with pytest.raises(CommandFailed), engine.begin() as conn:
        register(conn, LedgerView(conn, catalog), "kickoff", name="a", email="a@x.jp", company_id=None, now=NOW)
        raise CommandFailed
    assert count(engine, "community_registrations") == 0
