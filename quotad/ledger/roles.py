"""Least-privilege PostgreSQL roles for the ledger: one for the node agents, one for readers (``quotad db roles``).

Why: every GPU node runs ``quotad agent`` on a machine where users run arbitrary code, so whatever credentials it
holds must be assumed stolen. With the ledger owner's credentials a thief could rewrite grants, jobs and
directives; with the agent role's they can only upsert GPU telemetry rows (the daemon and the policies treat
those as measurements, never as charges) and read the account -> company map. Dashboards and report users get
a read-only role, so a leaked Grafana datasource password changes nothing.

What each role may do (``plan_statements`` is the one list; ``verify`` checks the result in the same
transaction, so a grant that silently did nothing, e.g. run by a role that does not own the tables, fails):

- agent: ``SELECT, INSERT, UPDATE`` on ``AGENT_WRITES`` (``INSERT ... ON CONFLICT DO UPDATE`` needs all three),
  ``USAGE`` on their sequences if they have any (``gpu_usage_hourly`` has none: its key is natural),
  ``SELECT`` on ``AGENT_READS`` (``company_accounts`` for the metrics' company label; ``alembic_version``, the
  schema revision, nothing secret, so a schema check by the agent works). ``gpu_usage_hourly`` has no trigger
  (the rollup triggers are on ``usage_hourly``, which the daemon writes), so the upsert needs nothing more.
- reader: ``SELECT`` on every table of the ledger's schema (plugins' included) and, through default privileges
  of the tables' owner, on every table a later migration creates.
- both: ``CONNECT`` on the database, ``USAGE`` on the schema, and ``search_path`` set to the schema for that
  database, so their URLs need no ``options``. Every other table privilege they hold in the schema is revoked
  first, so rerunning after a change of this list narrows the roles too (the command is idempotent).

Names are quoted by psycopg (``sql.Identifier``), values passed as ``sql.Literal``; the SQL ``--print-sql``
shows is rendered from the same statements that run. A password is never sent as text: libpq computes its
SCRAM verifier on this side (``PQencryptPasswordConn``), so server logs of the ``ALTER ROLE`` hold no password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from quotad.errors import LedgerError, SchemaError, UsageError
from quotad.ledger.queries import AGENT_READS as REGISTRY_READS
from quotad.ledger.telemetry_models import GpuUsageHourly

__all__ = [
    "AGENT_READS",
    "AGENT_WRITES",
    "TABLE_PRIVILEGES",
    "LedgerPlace",
    "RoleNames",
    "RolesDone",
    "check_role_name",
    "execute",
    "existing_roles",
    "locate",
    "password_statement",
    "plan_statements",
    "refuse_unsafe",
    "render",
    "roles_sql",
    "set_up_roles",
    "verify",
]

#: Tables the agent upserts (``quotad.ledger.telemetry.upsert_gpu_usage``).
AGENT_WRITES: tuple[str, ...] = (GpuUsageHourly.__tablename__,)
#: Tables the agent reads besides those: the account -> company map, and the schema revision.
AGENT_READS: tuple[str, ...] = (*REGISTRY_READS, "alembic_version")
#: The table privileges ``verify`` looks at.
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_WRITER = frozenset({"SELECT", "INSERT", "UPDATE"})
_READER = frozenset({"SELECT"})

#: Lower case, so the name in a URL is the name in the catalog; 63 bytes is PostgreSQL's identifier limit.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class RoleNames:
    agent: str
    reader: str


def check_role_name(option: str, name: str) -> str:
    """``name`` if it is a plain lower-case identifier that is not reserved; ``UsageError`` naming ``option``."""
    if not _ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        raise UsageError(
            f"{option} {name!r}: a role name here is lower-case letters, digits and '_' (up to 63, not starting "
            "with a digit or 'pg_')"
        )
    return name


@dataclass(frozen=True)
class LedgerPlace:
    """Where the ledger lives in the cluster, read from the catalog."""

    database: str
    schema: str
    #: The role that owns the ledger's tables: the one ``quotad db upgrade`` runs as.
    owner: str
    tables: tuple[str, ...]
    #: Sequences owned by a column of ``AGENT_WRITES`` (serial or identity).
    agent_sequences: tuple[str, ...]


def locate(conn: Connection, schema: str | None) -> LedgerPlace:
    """The ledger in ``schema`` (default: the connection's current schema); ``SchemaError`` without one."""
    database = str(conn.scalar(text("SELECT current_database()")))
    if schema is None:
        found = conn.scalar(text("SELECT current_schema()"))
        if found is None:
            raise SchemaError("the connection has no current schema (search_path is empty): pass --schema")
        schema = str(found)
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') ORDER BY c.relname"
        ),
        {"schema": schema},
    ).all()
    owners = {str(name): str(owner) for name, owner in rows}
    missing = [t for t in (*AGENT_WRITES, *AGENT_READS) if t not in owners]
    if missing:
        raise SchemaError(
            f"schema {schema!r} of database {database!r} holds no quotad ledger (no {', '.join(missing)}): "
            "run `quotad db upgrade` first, or pass --schema"
        )
    sequences = conn.execute(
        text(
            "SELECT s.relname FROM pg_catalog.pg_depend d "
            "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_catalog.pg_class t ON t.oid = d.refobjid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = :schema AND t.relname = ANY(:tables) AND d.deptype IN ('a', 'i') ORDER BY 1"
        ),
        {"schema": schema, "tables": list(AGENT_WRITES)},
    ).scalars()
    return LedgerPlace(
        database=database,
        schema=schema,
        owner=owners[AGENT_WRITES[0]],
        tables=tuple(owners),
        agent_sequences=tuple(str(s) for s in sequences),
    )


def existing_roles(conn: Connection, roles: RoleNames) -> set[str]:
    found = conn.execute(
        text("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(:names)"),
        {"names": [roles.agent, roles.reader]},
    ).scalars()
    return {str(name) for name in found}


def refuse_unsafe(conn: Connection, place: LedgerPlace, roles: RoleNames) -> None:
    """``UsageError`` when a role of that name exists already with powers no grant can take back.

    A superuser, a role that may bypass row security, create roles or replicate, or a member of the role owning
    the tables, the schema or the database is not limited by table privileges: naming it here would print
    "least privilege" over a role that has all of it.
    """
    if roles.agent == roles.reader:
        raise UsageError(f"--agent-role and --reader-role are both {roles.agent!r}: they must differ")
    for option, name in (("--agent-role", roles.agent), ("--reader-role", roles.reader)):
        row = conn.execute(
            text(
                "SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolreplication, "
                "pg_catalog.pg_has_role(r.oid, :owner, 'MEMBER'), pg_catalog.pg_has_role(r.oid, n.nspowner, 'MEMBER'), "
                "pg_catalog.pg_has_role(r.oid, d.datdba, 'MEMBER') "
                "FROM pg_catalog.pg_roles r, pg_catalog.pg_namespace n, pg_catalog.pg_database d "
                "WHERE r.rolname = :role AND n.nspname = :schema AND d.datname = current_database()"
            ),
            {"role": name, "owner": place.owner, "schema": place.schema},
        ).first()
        if row is None:
            continue
        powers = [
            what
            for what, held in zip(
                (
                    "is a superuser",
                    "may bypass row security",
                    "may create roles",
                    "may replicate (read everything)",
                    f"is (a member of) {place.owner}, the tables' owner",
                    f"is (a member of) the owner of schema {place.schema}",
                    f"is (a member of) the owner of database {place.database}",
                ),
                row,
                strict=True,
            )
            if held
        ]
        if powers:
            raise UsageError(
                f"{option} {name}: that role exists and {'; '.join(powers)}, so no grant can limit it: "
                f"pick another name"
            )


def plan_statements(place: LedgerPlace, roles: RoleNames) -> list[sql.Composed]:
    """Every statement that creates or updates both roles, in order; rerunning them changes nothing."""
    agent, reader = sql.Identifier(roles.agent), sql.Identifier(roles.reader)
    both = sql.SQL(", ").join([agent, reader])
    schema, database, owner = sql.Identifier(place.schema), sql.Identifier(place.database), sql.Identifier(place.owner)
    names = {"agent": agent, "reader": reader, "both": both, "schema": schema, "db": database, "owner": owner}

    def stmt(template: str, **extra: sql.Composable) -> sql.Composed:
        return sql.SQL(template).format(**names, **extra)

    statements: list[sql.Composed] = []
    for name in (roles.agent, roles.reader):
        statements += [
            stmt(
                "DO $quotad$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {literal}) "
                "THEN CREATE ROLE {role} LOGIN; END IF; END $quotad$",
                literal=sql.Literal(name),
                role=sql.Identifier(name),
            ),
            stmt("ALTER ROLE {role} WITH LOGIN", role=sql.Identifier(name)),
        ]
    statements += [
        stmt("GRANT CONNECT ON DATABASE {db} TO {both}"),
        stmt("GRANT USAGE ON SCHEMA {schema} TO {both}"),
        stmt("REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {both}"),
        stmt("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {both}"),
        stmt("ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {both}"),
        stmt("ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {both}"),
    ]
    statements += [
        stmt("GRANT SELECT, INSERT, UPDATE ON TABLE {schema}.{table} TO {agent}", table=sql.Identifier(t))
        for t in AGENT_WRITES
    ]
    statements += [
        stmt("GRANT USAGE ON SEQUENCE {schema}.{seq} TO {agent}", seq=sql.Identifier(s)) for s in place.agent_sequences
    ]
    statements += [
        stmt("GRANT SELECT ON TABLE {schema}.{table} TO {agent}", table=sql.Identifier(t)) for t in AGENT_READS
    ]
    statements += [
        stmt("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}"),
        stmt("ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT SELECT ON TABLES TO {reader}"),
        stmt("ALTER ROLE {agent} IN DATABASE {db} SET search_path TO {schema}"),
        stmt("ALTER ROLE {reader} IN DATABASE {db} SET search_path TO {schema}"),
    ]
    return statements


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn`` (same session, same transaction)."""
    return conn.connection.driver_connection


def password_statement(conn: Connection, role: str, password: str) -> sql.Composed:
    """``ALTER ROLE ... PASSWORD`` with the SCRAM verifier libpq computes here: the password never leaves."""
    verifier = cast(bytes, _driver(conn).pgconn.encrypt_password(password.encode(), role.encode(), None))
    return sql.SQL("ALTER ROLE {role} PASSWORD {verifier}").format(
        role=sql.Identifier(role), verifier=sql.Literal(verifier.decode())
    )


def render(conn: Connection, statements: Sequence[sql.Composed]) -> list[str]:
    """Each statement as the SQL text that would run (quoted for this server)."""
    driver = _driver(conn)
    return [s.as_string(driver) for s in statements]


def execute(conn: Connection, statements: Sequence[sql.Composed]) -> None:
    """Run ``statements`` in ``conn``'s transaction."""
    with _driver(conn).cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def verify(conn: Connection, place: LedgerPlace, roles: RoleNames) -> None:
    """``LedgerError`` unless each role holds exactly its privileges on every table of the schema.

    Checked as the server answers ``has_table_privilege`` (grants to PUBLIC and inherited ones count), because a
    GRANT by a role that does not own a table only warns and grants nothing. Also refused: either role able to
    CREATE in the schema (PostgreSQL before 15 lets PUBLIC create in ``public``), which would let an agent plant
    functions or operators that the daemon resolves through its search path.
    """
    agent_tables = {t: _WRITER for t in AGENT_WRITES} | {t: _READER for t in AGENT_READS}
    checks = ", ".join(f"pg_catalog.has_table_privilege(:role, c.oid, '{p}')" for p in TABLE_PRIVILEGES)
    schema_sql = sql.Identifier(place.schema).as_string(_driver(conn))
    problems: list[str] = []
    for role in (roles.agent, roles.reader):
        held = conn.execute(
            text(
                f"SELECT c.relname, {checks} FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname"
            ),
            {"role": role, "schema": place.schema},
        ).all()
        for name, *flags in held:
            got = {p for p, flag in zip(TABLE_PRIVILEGES, flags, strict=True) if flag}
            want = agent_tables.get(str(name), frozenset()) if role == roles.agent else _READER
            if got != want:
                problems.append(
                    f"{role} on {name}: holds {', '.join(sorted(got)) or 'nothing'}, "
                    f"should hold {', '.join(sorted(want)) or 'nothing'}"
                )
        if conn.scalar(
            text("SELECT pg_catalog.has_schema_privilege(:role, :schema, 'CREATE')"),
            {"role": role, "schema": place.schema},
        ):
            problems.append(
                f"{role} may CREATE in schema {place.schema} (granted to it or to PUBLIC): as the schema's owner run "
                f"REVOKE CREATE ON SCHEMA {schema_sql} FROM PUBLIC, then this command again"
            )
    if problems:
        raise LedgerError(
            "the roles did not end up with exactly their privileges, so nothing was changed "
            "(run this command as the tables' owner with CREATEROLE, or as a superuser):\n  - "
            + "\n  - ".join(problems)
        )


@dataclass(frozen=True)
class RolesDone:
    """What ``set_up_roles`` did."""

    place: LedgerPlace
    #: The roles that did not exist before (the others were brought to the same privileges).
    created: tuple[str, ...]
    #: The roles whose password was set.
    passwords_set: tuple[str, ...]


@contextmanager
def _database_errors(engine: Engine) -> Iterator[None]:
    """A refused or failed statement as a ``LedgerError`` saying who may run this (the transaction rolls back)."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        yield
    except (DBAPIError, pg_errors.Error) as exc:
        # statements run on the driver's cursor (``execute``) raise psycopg's own errors, SQLAlchemy's wrap them
        error = exc.orig if isinstance(exc, DBAPIError) else exc
        first = str(error).splitlines()[0] if error is not None and str(error) else type(exc).__name__
        if isinstance(error, pg_errors.InsufficientPrivilege):
            raise LedgerError(
                f"{where} refused: {first}. Run `quotad db roles` as a role with CREATEROLE that owns the ledger's "
                "tables, or as a superuser; or give the output of `quotad db roles --print-sql` to your DBA"
            ) from exc
        raise LedgerError(f"cannot set up roles on {where}: {first}") from exc


def set_up_roles(engine: Engine, roles: RoleNames, *, schema: str | None, passwords: Mapping[str, str]) -> RolesDone:
    """Create or update both roles and set ``passwords`` (role -> password), in one transaction, then verify."""
    with _database_errors(engine), engine.begin() as conn:
        place = locate(conn, schema)
        refuse_unsafe(conn, place, roles)
        before = existing_roles(conn, roles)
        statements = plan_statements(place, roles)
        statements += [password_statement(conn, role, password) for role, password in passwords.items()]
        execute(conn, statements)
        verify(conn, place, roles)
    created = tuple(r for r in (roles.agent, roles.reader) if r not in before)
    return RolesDone(place=place, created=created, passwords_set=tuple(passwords))


def roles_sql(engine: Engine, roles: RoleNames, *, schema: str | None) -> tuple[LedgerPlace, list[str]]:
    """The statements ``set_up_roles`` would run (without passwords), as SQL text; nothing is changed."""
    with _database_errors(engine), engine.connect() as conn:
        place = locate(conn, schema)
        refuse_unsafe(conn, place, roles)
        return place, render(conn, plan_statements(place, roles))
