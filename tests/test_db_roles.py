"""``quotad db roles`` on the real PostgreSQL: each role connects with its own credentials and is held to its job.

Roles are cluster-wide, not per schema: every test makes its own names and drops them (and what they own or were
granted) before ``db_url`` drops the test's schema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, inspect, make_url, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from quotad.collectors.nvml.companies import CompanyDirectory
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.sink import LedgerSink
from quotad.collectors.nvml.spool import Spool
from tests.conftest import CLUSTERS, PG_URL, Cli
from tests.test_nvml_ledger import row
from tests.test_nvml_support import FIXTURES, T0

POSTGRES = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
SCENARIO = FIXTURES / "busy_then_idle.json"


class Roles:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.agent = f"qa_{tag}"
        self.reader = f"qr_{tag}"

    def args(self) -> list[str]:
        return ["--agent-role", self.agent, "--reader-role", self.reader]


@pytest.fixture
def roles(db_url: str) -> Iterator[Roles]:
    """Two fresh role names; afterwards the roles are dropped with everything granted to them."""
    names = Roles()
    yield names
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        for name in (names.agent, names.reader):
            if conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}):
                conn.execute(text(f'DROP OWNED BY "{name}"'))
                conn.execute(text(f'DROP ROLE "{name}"'))
    admin.dispose()


def as_role(role: str) -> Engine:
    """The test server as ``role``, with no search_path in the URL (the role's own setting must find the schema)."""
    return create_engine(make_url(PG_URL).set(username=role), poolclass=NullPool)


def role_config(tmp_path: Path, role: str, password_file: Path | None = None) -> Path:
    path = tmp_path / f"{role}.toml"
    url = make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
    secret = f'password_file = "{password_file}"\n' if password_file else ""
    clusters = "".join(
        f'\n[[clusters]]\nname = "{c["name"]}"\ndefault_gpu_type = "{c["default_gpu_type"]}"\ntimezone = "{c["timezone"]}"\n'
        for c in CLUSTERS
    )
    path.write_text(f'[database]\nurl = "{url}"\n{secret}{clusters}', encoding="utf-8")
    return path


def refused(engine: Engine, statement: str) -> bool:
    """Whether PostgreSQL refuses ``statement`` for lack of privilege (any other error fails the test)."""
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except ProgrammingError as exc:
        assert isinstance(exc.orig, psycopg.errors.InsufficientPrivilege), exc
        return True
    return False


def privileges(roles: Roles) -> dict[str, Any]:
    """Everything ``db roles`` sets for both roles: table and sequence grants, default privileges, role settings."""
    names = [roles.agent, roles.reader]
    admin = create_engine(PG_URL, poolclass=NullPool)
    with admin.connect() as conn:
        snapshot = {
            "tables": sorted(
                conn.execute(
                    text(
                        "SELECT grantee, table_schema, table_name, privilege_type FROM information_schema.role_table_grants "
                        "WHERE grantee = ANY(:n)"
                    ),
                    {"n": names},
                ).all()
            ),
            "defaults": sorted(
                str(r[0]) for r in conn.execute(text("SELECT defaclacl::text FROM pg_default_acl")).all()
                if any(n in str(r[0]) for n in names)
            ),
            "settings": sorted(
                conn.execute(
                    text(
                        "SELECT r.rolname, s.setconfig::text FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                        "WHERE r.rolname = ANY(:n)"
                    ),
                    {"n": names},
                ).all()
            ),
            "login": sorted(
                conn.execute(
                    text("SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = ANY(:n)"), {"n": names}
                ).all()
            ),
        }
    admin.dispose()
    return snapshot


@pytest.fixture
def job_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of Slurm job 880001, as the fake NVML's GPU 0 shows it."""
    proc = subprocess.Popen(["sleep", "60"], env={**os.environ, "SLURM_JOB_ID": "880001"})
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@POSTGRES
def test_agent_role_runs_the_agent_and_may_do_nothing_else(
    cli: Cli, engine: Engine, roles: Roles, tmp_path: Path, job_process: subprocess.Popen[bytes]
) -> None:
    secret = tmp_path / "agent.password"
    secret.write_text("correct horse battery staple\n")
    assert cli("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme-ai").exit_code == 0
    result = cli("db", "roles", *roles.args(), "--agent-password-file", str(secret))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"agent role {roles.agent} (created): may upsert gpu_usage_hourly and read company_accounts" in out
    assert f"password of {roles.agent}: set from {secret}" in out
    assert "correct horse" not in result.output
    assert f'url = "postgresql+psycopg://{roles.agent}@' in out
    with engine.connect() as conn:
        stored = conn.scalar(text("SELECT rolpassword FROM pg_authid WHERE rolname = :n"), {"n": roles.agent})
    assert str(stored).startswith("SCRAM-SHA-256$")  # a verifier computed client-side, never the password

    # the agent itself, one sample and flush, configured with the agent role's URL and password file
    scen = json.loads(SCENARIO.read_text())
    scen["devices"][0]["processes"][0]["pid"] = job_process.pid
    (tmp_path / "scenario.json").write_text(json.dumps(scen))
    spool = tmp_path / "spool"
    agent_cli = Cli(role_config(tmp_path, roles.agent, secret))
    ran = agent_cli(
        "agent", "--once", "--fake", str(tmp_path / "scenario.json"), "--cluster", "c1", "--node", "gpu001",
        "--spool", str(spool), "--no-slurm", "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "spool" not in ran.stderr and "cannot" not in ran.stderr, ran.stderr
    assert not spool.exists() or not list(spool.iterdir())
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT job_id, node FROM gpu_usage_hourly")).all()
    assert jobs == [(880001, "gpu001")]

    agent = as_role(roles.agent)
    try:
        # the sink's upsert again, now over an existing row (ON CONFLICT DO UPDATE), and its resume read
        sink = LedgerSink(agent, Spool(tmp_path / "spool2", max_bytes=2**20, counters=AgentCounters()),
                          counters=AgentCounters())  # fmt: skip
        first = row(observed_seconds=1200, last_sample=T0 + 1200)
        assert sink.deliver([first], now=T0 + 1200).written == 1
        later = row(observed_seconds=2400, last_sample=T0 + 2400)
        delivery = sink.deliver([later], now=T0 + 2400)
        assert (delivery.written, delivery.spooled, delivery.error) == (1, False, "")
        with sink.session() as startup:  # the start-up reads: the table check and this hour's rows
            assert startup is not None
            assert sink.resume_rows(cluster="c1", node="gpu001", hour=T0, conn=startup, since=T0 + 2500).rows == [later]
        companies = CompanyDirectory(agent, cluster="c1", counters=AgentCounters())
        assert companies.refresh() and companies.company_of("acme-ai") == "acme"

        for statement in (
            "INSERT INTO grants DEFAULT VALUES",
            "UPDATE grants SET amount = amount * 10",
            "DELETE FROM grants",
            "INSERT INTO jobs DEFAULT VALUES",
            "UPDATE jobs SET charged_seconds = 0",
            "DELETE FROM jobs",
            "INSERT INTO directives DEFAULT VALUES",
            "UPDATE directives SET state = 'resolved'",
            "DELETE FROM directives",
            "DELETE FROM gpu_usage_hourly",
            "TRUNCATE gpu_usage_hourly",
            "SELECT * FROM contacts",
            "SELECT * FROM grants",
            "CREATE TABLE planted (i int)",
            "DROP TABLE grants",
            "ALTER TABLE gpu_usage_hourly ADD COLUMN planted int",
            "CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            assert refused(agent, statement), statement
    finally:
        agent.dispose()
    with engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(text("gpu_usage_hourly"))).scalar() == 2


@POSTGRES
def test_reader_role_reads_every_table_now_and_later_and_writes_nothing(
    cli: Cli, engine: Engine, roles: Roles, tmp_path: Path
) -> None:
    assert cli("db", "roles", *roles.args()).exit_code == 0
    reader = as_role(roles.reader)
    try:
        tables = inspect(engine).get_table_names()
        assert len(tables) > 40  # the core's and every plugin's
        with reader.connect() as conn:
            for table in tables:
                conn.execute(text(f'SELECT count(*) FROM "{table}"'))
        for statement in (
            "INSERT INTO grants DEFAULT VALUES",
            "UPDATE grants SET amount = 0",
            "DELETE FROM directives",
            "INSERT INTO gpu_usage_hourly DEFAULT VALUES",
            "UPDATE jobs SET charged_seconds = 0",
            "CREATE TABLE planted (i int)",
        ):
            assert refused(reader, statement), statement
        # a later migration's table (created by the tables' owner): readable by the reader at once, not the agent
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE later_plugin_rows (i int)"))
        with reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM later_plugin_rows")).scalar() == 0
        agent = as_role(roles.agent)
        assert refused(agent, "SELECT * FROM later_plugin_rows")
        agent.dispose()
    finally:
        reader.dispose()

    # report users run quotad with the reader's URL: reads work, a write is one clear line, and it cannot make roles
    reader_cli = Cli(role_config(tmp_path, roles.reader))
    status = reader_cli("status")
    assert status.exit_code == 0, status.output
    write = reader_cli("company", "add", "x", "--name-ja", "x", "--name-en", "x")
    assert write.exit_code == 1
    assert "the ledger refused: permission denied for table" in write.stderr and "Traceback" not in write.output
    escalate = reader_cli("db", "roles", "--agent-role", roles.agent + "x", "--reader-role", roles.reader + "x")
    assert escalate.exit_code == 1
    assert "permission denied to create role" in escalate.stderr and "--print-sql" in escalate.stderr


@POSTGRES
def test_twice_is_idempotent_and_a_rerun_takes_back_extra_privileges(
    cli: Cli, engine: Engine, roles: Roles
) -> None:
    assert cli("db", "roles", *roles.args()).exit_code == 0
    once = privileges(roles)
    assert once["login"] == sorted([(roles.agent, True, False), (roles.reader, True, False)])
    with engine.connect() as conn:
        schema = str(conn.scalar(text("SELECT current_schema()")))
    again = cli("db", "roles", *roles.args(), "--schema", schema)  # named, as where search_path does not find it
    assert again.exit_code == 0, again.output
    assert f"agent role {roles.agent} (existed, updated)" in again.stdout
    assert privileges(roles) == once
    with engine.begin() as conn:  # someone widened the agent's role by hand
        conn.execute(text(f'GRANT DELETE ON grants TO "{roles.agent}"'))
        conn.execute(text(f'GRANT INSERT ON gpu_usage_hourly TO "{roles.reader}"'))
    assert privileges(roles) != once
    assert cli("db", "roles", *roles.args()).exit_code == 0
    assert privileges(roles) == once


@POSTGRES
def test_print_sql_changes_nothing_and_a_dba_can_apply_it(
    cli: Cli, engine: Engine, roles: Roles, tmp_path: Path
) -> None:
    shown = cli("db", "roles", *roles.args(), "--print-sql")
    assert shown.exit_code == 0, shown.output
    sql = shown.stdout
    lines = sql.splitlines()
    assert lines[0].startswith("-- quotad db roles") and "BEGIN;" in lines and lines[-1] == "COMMIT;"
    with engine.connect() as conn:
        schema = conn.scalar(text("SELECT current_schema()"))
    assert f'GRANT SELECT, INSERT, UPDATE ON TABLE "{schema}"."gpu_usage_hourly" TO "{roles.agent}";' in lines
    assert f"\\password {roles.agent}" in sql
    with engine.connect() as conn:
        assert not conn.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname LIKE :p"), {"p": roles.agent})

    psql = shutil.which("psql")
    assert psql, "psql (the PostgreSQL client) is needed to apply the SQL as a DBA would"
    url = make_url(PG_URL)
    (tmp_path / "roles.sql").write_text(sql)
    for _ in range(2):  # applying it twice is as safe as running the command twice
        applied = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(url.host), "-p", str(url.port or 5432),
             "-U", str(url.username), "-d", str(url.database), "-f", str(tmp_path / "roles.sql")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
    by_dba = privileges(roles)
    assert cli("db", "roles", *roles.args()).exit_code == 0  # the command's own check passes on the DBA's result
    assert privileges(roles) == by_dba

    with_secret = cli("db", "roles", *roles.args(), "--print-sql", "--agent-password-file", str(tmp_path / "roles.sql"))
    assert with_secret.exit_code == 2 and "never prints passwords" in with_secret.stderr


@POSTGRES
def test_roles_that_no_grant_could_limit_are_refused(cli: Cli, engine: Engine, roles: Roles) -> None:
    superuser = cli("db", "roles", "--agent-role", str(make_url(PG_URL).username), "--reader-role", roles.reader)
    assert superuser.exit_code == 2 and "is a superuser" in superuser.stderr and "pick another name" in superuser.stderr
    same = cli("db", "roles", "--agent-role", roles.agent, "--reader-role", roles.agent)
    assert same.exit_code == 2 and "must differ" in same.stderr
    bad = cli("db", "roles", "--agent-role", 'x"; DROP TABLE grants; --', "--reader-role", roles.reader)
    assert bad.exit_code == 2 and "--agent-role" in bad.stderr and "lower-case" in bad.stderr
    elsewhere = cli("db", "roles", *roles.args(), "--schema", "no_ledger_here")
    assert elsewhere.exit_code == 2 and "schema 'no_ledger_here'" in elsewhere.stderr
    assert "quotad db upgrade" in elsewhere.stderr
    with engine.begin() as conn:  # a grant to everyone reaches the agent too, whatever the command revokes
        conn.execute(text("GRANT SELECT ON contacts TO PUBLIC"))
    public_read = cli("db", "roles", *roles.args())
    assert public_read.exit_code == 1
    assert f"{roles.agent} on contacts: holds SELECT, should hold nothing" in public_read.stderr
    with engine.begin() as conn:  # PostgreSQL < 15's default for schema public: anyone may create there
        conn.execute(text("REVOKE SELECT ON contacts FROM PUBLIC"))
        schema = conn.scalar(text("SELECT current_schema()"))
        conn.execute(text(f'GRANT CREATE ON SCHEMA "{schema}" TO PUBLIC'))
    open_schema = cli("db", "roles", *roles.args())
    assert open_schema.exit_code == 1
    assert f'REVOKE CREATE ON SCHEMA "{schema}" FROM PUBLIC' in open_schema.stderr
    with engine.connect() as conn:  # nothing was left half done
        assert not conn.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname IN (:a, :r)"),
                               {"a": roles.agent, "r": roles.reader})  # fmt: skip


def test_sqlite_has_no_roles(tmp_path: Path) -> None:
    config = tmp_path / "quotad.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "ledger.sqlite"}"\n', encoding="utf-8")
    result = Cli(config)("db", "roles")
    assert result.exit_code == 2
    assert "SQLite" in result.stderr and "no roles" in result.stderr and "permissions of the file and its folder" in result.stderr
    assert not (tmp_path / "ledger.sqlite").exists()
