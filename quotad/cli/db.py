"""``quotad db``: schema management, rollup checks and the ledger's PostgreSQL roles. ``upgrade`` is the only
command that works on an outdated ledger."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.config import Settings
from quotad.errors import UsageError
from quotad.ledger.db import create_ledger_engine, describe_url, upgrade
from quotad.render import Cell, Table, emit
from quotad.timeutil import epoch_now, format_day, parse_day

app = typer.Typer(
    help="Ledger schema: apply migrations; check the rollups; least-privilege database roles.", no_args_is_help=True
)
log = logging.getLogger("quotad.db")


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Create the ledger or bring its schema to the newest revision (safe to run repeatedly)."""
    settings = state(ctx).settings
    before, after = upgrade(create_ledger_engine(settings))
    where = describe_url(settings)
    if before == after:
        print(f"ledger {where} already at revision {after}")
    else:
        print(f"ledger {where} upgraded from {before or '(empty)'} to {after}")


@app.command("check-rollups")
def check_rollups_cmd(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day to check (YYYY-MM-DD, UTC)."),
    until: str | None = typer.Option(None, "--until", help="Last day to check (YYYY-MM-DD, UTC) [default: today]."),
    repair: bool = typer.Option(False, "--repair", help="Rewrite the differing daily rows from the hourly ones."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Check that the daily rollups equal the hourly one (the daemon's rollup_upkeep does this for recent days).

    Exit 1 when drift was found and not repaired.
    """
    from quotad.ledger.upkeep import check_rollups

    app_state = state(ctx)
    start = parse_day(since, "UTC")
    end = parse_day(until, "UTC", end_of_day=True) if until else epoch_now()
    if end <= start:
        raise UsageError(f"--until {until!r} is before --since {since!r}")
    with app_state.ledger().begin() as conn:
        check = check_rollups(conn, start=start, end=end, repair=repair)
    rows: list[Sequence[Cell]] = [
        [d.rollup, d.cluster, d.account, d.user_name, d.partition, d.gpu_type, format_day(d.day, "UTC"),
         d.daily, d.hourly, d.difference]
        for d in check.drift
    ]
    emit(
        Table(
            ["Rollup", "Cluster", "Account", "User", "Partition", "GPU type", "Day", "Daily", "Hourly", "Difference"],
            rows,
            title=f"{check.cells} daily cell(s) checked, {len(check.drift)} differ"
            + (" (repaired)" if check.repaired else ""),
            keys=["rollup", "cluster", "account", "user", "partition", "gpu_type", "day", "daily_gpu_seconds",
                  "hourly_gpu_seconds", "difference"],
        ),
        pick_format(fmt, as_json),
    )
    if check.drift and not check.repaired:
        raise typer.Exit(1)


def _read_password(option: str, path: Path) -> str:
    """The password in ``path``, stripped as ``[database] password_file`` is read, so one file serves both."""
    try:
        password = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option} {path}: cannot read it: {exc}") from exc
    if not password:
        raise UsageError(f"{option} {path}: the file is empty")
    return password


def _role_url(settings: Settings, role: str) -> str:
    """The ledger URL a host using ``role`` puts in its ``[database] url`` (no password: that goes in a file)."""
    from sqlalchemy import make_url

    return make_url(settings.database.url).set(username=role, password=None).render_as_string(hide_password=False)


_SQLITE = (
    "`quotad db roles` is for a PostgreSQL ledger; this one is SQLite ({where}), which has no roles. A SQLite "
    "ledger is one file on one host: node agents cannot reach it over the network, and the permissions of the "
    "file and its folder are the control (only the quotad user, and its group if an agent runs on that host, may "
    "write them)"
)


@app.command("roles")
def roles_cmd(
    ctx: typer.Context,
    agent_role: str = typer.Option(
        "quotad_agent",
        "--agent-role",
        help="Role for the node agents: upserts GPU telemetry; reads the account map only.",
    ),
    reader_role: str = typer.Option(
        "quotad_reader", "--reader-role", help="Read-only role for dashboards and reports."
    ),
    schema: str | None = typer.Option(
        None, "--schema", help="The ledger's schema [default: the configured connection's current schema]."
    ),
    agent_password_file: Path | None = typer.Option(
        None,
        "--agent-password-file",
        help="Set the agent role's password from this file (as [database] password_file).",
    ),
    reader_password_file: Path | None = typer.Option(
        None, "--reader-password-file", help="Set the reader role's password from this file."
    ),
    print_sql: bool = typer.Option(
        False, "--print-sql", help="Print the SQL for a DBA to apply (psql -v ON_ERROR_STOP=1 -f FILE); change nothing."
    ),
) -> None:
    """Create or update the ledger's least-privilege PostgreSQL roles: node agents' (telemetry only) and readers'.

    Safe to run repeatedly: each run brings both roles to exactly their privileges (checked before it commits).
    Needs CREATEROLE and ownership of the ledger's tables (or a superuser). A SQLite ledger has no roles: exit 2.
    """
    from quotad.ledger import roles

    settings = state(ctx).settings
    if settings.database.url.startswith("sqlite"):
        raise UsageError(_SQLITE.format(where=describe_url(settings)))
    names = roles.RoleNames(
        agent=roles.check_role_name("--agent-role", agent_role),
        reader=roles.check_role_name("--reader-role", reader_role),
    )
    files = {names.agent: ("--agent-password-file", agent_password_file),
             names.reader: ("--reader-password-file", reader_password_file)}  # fmt: skip
    if print_sql and (agent_password_file or reader_password_file):
        raise UsageError(
            "--print-sql never prints passwords: drop the password files (set them with \\password in psql)"
        )
    engine = create_ledger_engine(settings)
    try:
        if print_sql:
            place, statements = roles.roles_sql(engine, names, schema=schema)
            # repr: a name from the catalog may hold a newline, which would end the comment and start a statement
            print(
                f"-- quotad db roles: the ledger in database {place.database!r}, schema {place.schema!r}, "
                f"tables owned by {place.owner!r}"
            )
            print("-- Apply as a superuser (or the tables' owner with CREATEROLE): psql -v ON_ERROR_STOP=1 -f FILE.")
            print(
                "-- Safe to apply again. No passwords here: set them in psql with "
                f"\\password {names.agent} and \\password {names.reader}"
            )
            print("BEGIN;")
            for statement in statements:
                print(f"{statement};")
            print("COMMIT;")
            return
        passwords = {role: _read_password(option, path) for role, (option, path) in files.items() if path is not None}
        done = roles.set_up_roles(engine, names, schema=schema, passwords=passwords)
    finally:
        engine.dispose()
    place = done.place

    def how(role: str) -> str:
        return "created" if role in done.created else "existed, updated"

    print(f"ledger {describe_url(settings)}: schema {place.schema}, tables owned by {place.owner}")
    print(
        f"agent role {names.agent} ({how(names.agent)}): may upsert {', '.join(roles.AGENT_WRITES)} and read "
        f"{', '.join(roles.AGENT_READS)}; nothing else"
    )
    print(
        f"reader role {names.reader} ({how(names.reader)}): may read all {len(place.tables)} tables of "
        f"{place.schema} and those later migrations create; write nothing"
    )
    for role, (option, path) in files.items():
        if role in done.passwords_set:
            print(f"password of {role}: set from {path}")
        else:
            print(f"password of {role}: unchanged (give {option} FILE, or in psql: \\password {role})")
    for who, role in (("node agents:       ", names.agent), ("dashboards/reports:", names.reader)):
        print(f'{who} [database] url = "{_role_url(settings, role)}" and password_file = a file holding its password')
