"""``quotad run``: the daemon (scheduled jobs, /metrics and /healthz) until SIGTERM.

Thin like every command: parse the options, set up logging, call ``run_daemon``. Exit 0 after a clean stop
(SIGTERM or SIGINT, running jobs finished), 2 for a bad configuration or outdated schema, 1 when the listen
address cannot be bound or the ledger cannot be opened (a SQLite ledger whose directory is not writable or
full is refused before it is opened, naming the path; so is a SQLite ledger another ``quotad run`` serves).
"""

from __future__ import annotations

import logging

import typer

from quotad.cli.context import state
from quotad.config import load_config
from quotad.daemon.instance import single_daemon
from quotad.daemon.logs import configure_logging
from quotad.daemon.service import run_daemon
from quotad.daemon.storage import check_ledger_storage
from quotad.errors import UsageError
from quotad.listen import parse_listen

__all__ = ["run"]


def run(
    ctx: typer.Context,
    log_format: str = typer.Option(
        "human", "--log-format", help="Log lines as 'human' text or 'json' (one object per line)."
    ),
    listen: str | None = typer.Option(
        None, "--listen", help="ADDR:PORT for /metrics and /healthz (default: daemon.listen, 127.0.0.1:9817)."
    ),
) -> None:
    """Run the daemon: Slurm polls and other jobs on their intervals, the Prometheus exporter and /healthz.

    SIGHUP reloads and re-validates the configuration (a bad one is refused, the old one kept). SIGTERM lets
    running jobs finish, then exits 0.
    """
    if log_format not in ("human", "json"):
        raise UsageError(f"--log-format {log_format!r}: expected human or json")
    if listen is not None:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise UsageError(f"--listen {exc}") from None
    configure_logging("json" if log_format == "json" else "human", level=logging.getLogger().level)
    app_state = state(ctx)
    settings = app_state.settings
    check_ledger_storage(settings.database.url)  # before SQLite maps its -shm file: a clear error, not SIGBUS
    with single_daemon(settings.database.url):  # one daemon per SQLite ledger; PostgreSQL shares by job locks
        engine = app_state.ledger()
        code = run_daemon(
            settings=settings,
            load=lambda: load_config(app_state.config_path),
            engine=engine,
            listen=listen,
        )
    raise typer.Exit(code)
