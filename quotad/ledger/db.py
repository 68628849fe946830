"""Opening the ledger: engine creation, the schema-revision check and ``db upgrade``.

Every command but ``db upgrade`` goes through ``open_ledger``, which refuses a missing or outdated schema with a
message telling the operator what to run, instead of failing later on a missing column.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from quotad.config import Settings
from quotad.errors import LedgerError, SchemaError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["MIGRATIONS_DIR", "check_schema", "create_ledger_engine", "describe_url", "open_ledger", "upgrade"]

#: The migrations ship inside the package (``quotad/migrations``: the repository's top-level ``alembic/`` folder),
#: so an installed wheel upgrades a ledger exactly as a checkout does.
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def _url(settings: Settings) -> URL:
    url = make_url(settings.database.url)
    password = settings.database_password()
    if password is not None:
        url = url.set(password=password)
    return url


def describe_url(settings: Settings) -> str:
    """The database URL with any password masked, for logs and messages."""
    return _url(settings).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_own_transactions(dbapi_conn: Any, _record: Any) -> None:
    """Stop pysqlite from managing transactions itself (see ``_sqlite_begin``)."""
    dbapi_conn.isolation_level = None


#: Statements that write (or open a savepoint): the transaction's BEGIN is emitted before the first of them.
_SQLITE_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER")


def _sqlite_begin(
    _conn: Connection, cursor: Any, statement: str, _parameters: Any, _context: Any, _executemany: bool
) -> None:
    """Emit ``BEGIN IMMEDIATE`` before a transaction's first write or savepoint.

    pysqlite by default opens a transaction only before INSERT/UPDATE/DELETE, so a ``begin_nested()`` before
    the first write issued SAVEPOINT outside any transaction and its RELEASE committed for real: rows an import
    saved before it failed stayed in the ledger. SQLAlchemy's documented pysqlite fix takes transactions out
    of pysqlite's hands (``isolation_level = None``) and emits BEGIN itself; it is emitted here at the first
    write or savepoint rather than at SQLAlchemy's "begin", and IMMEDIATE, because a transaction that read
    first and then asks for the write lock cannot wait for it in WAL mode (SQLite answers "database is
    locked" at once when another writer committed since the read), which failed concurrent collector polls.
    Reads before the first write therefore run as they always did, each in its own snapshot.
    """
    if cursor.connection.in_transaction:
        return
    if statement.lstrip().upper().startswith(_SQLITE_WRITES):
        cursor.execute("BEGIN IMMEDIATE")


def create_ledger_engine(settings: Settings, **kwargs: Any) -> Engine:
    """An engine for the configured ledger; SQLite gets WAL and foreign keys so the daemon and CLI coexist, and
    explicit transactions so savepoints nest as they do on PostgreSQL."""
    url = _url(settings)
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_own_transactions)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", _sqlite_begin)
    return engine


def _alembic_config(connection: Any) -> AlembicConfig:
    # Alembic is imported only where migrations are touched: the node agent never needs it (~11 MB of RSS).
    from alembic.config import Config as AlembicConfig

    if not MIGRATIONS_DIR.is_dir():
        raise SchemaError(f"migrations not found at {MIGRATIONS_DIR}; the installation is incomplete; reinstall quotad")
    from quotad.plugins.host import configure_alembic

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # One history: the core's versions plus each plugin's branch (found without importing plugin code).
    configure_alembic(cfg, MIGRATIONS_DIR / "versions")
    cfg.attributes["connection"] = connection
    return cfg


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    path = _sqlite_file(engine)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with engine.begin() as conn:
            before = ",".join(sorted(MigrationContext.configure(conn).get_current_heads())) or None
            command.upgrade(_alembic_config(conn), "heads")
            after = ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))
    except SQLAlchemyError as exc:
        raise LedgerError(f"migration failed on {engine.url.render_as_string()}: {exc}") from exc
    return before, after


def _at_static_heads(engine: Engine) -> bool:
    """Whether the ledger's recorded revisions are exactly the heads read from the revision files.

    The fast path of ``check_schema`` (see ``quotad.ledger.schema_heads``): no Alembic, no plugin host.
    """
    from quotad.ledger.schema_heads import plugin_migration_folders, static_heads

    expected = static_heads([MIGRATIONS_DIR / "versions", *plugin_migration_folders()])
    if not expected:
        return False
    try:
        with engine.connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return False  # no table yet, or the database is down: the full check words the error
    return current == expected


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the ledger exists and is at the newest revision."""
    hint = "run `quotad db upgrade` first"
    path = _sqlite_file(engine)
    if path is not None and not path.exists():
        raise SchemaError(f"no ledger at {path}: {hint}")
    if _at_static_heads(engine):
        return
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            heads = set(ScriptDirectory.from_config(_alembic_config(conn)).get_heads())
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot open the ledger at {engine.url.render_as_string()}: {exc}") from exc
    if not current:
        raise SchemaError(f"the ledger at {engine.url.render_as_string()} has no schema: {hint}")
    if current != heads:
        raise SchemaError(
            f"the ledger schema is at {', '.join(sorted(current))} but this quotad expects "
            f"{', '.join(sorted(heads))}: {hint}"
        )


def open_ledger(settings: Settings) -> Engine:
    engine = create_ledger_engine(settings)
    check_schema(engine)
    return engine
