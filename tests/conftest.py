"""Shared fixtures: every ledger test runs on SQLite and on the real PostgreSQL, each in a clean schema.

PostgreSQL is found at ``QUOTAD_TEST_PG_URL`` (default the local server, trust auth, database ``test``). It is
a real dependency of the suite: if it cannot be reached the PostgreSQL variants fail, they are not skipped.
"""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from quotad.cli.main import app
from quotad.config import Settings
from quotad.ledger.db import create_ledger_engine, upgrade

PG_URL = os.environ.get("QUOTAD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

CLUSTERS = [
    {"name": "c1", "default_gpu_type": "h100", "timezone": "UTC"},
    {"name": "c2", "default_gpu_type": "h200", "timezone": "Asia/Tokyo"},
]


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Give each test the root logger it found, and keep aiosmtpd's connection chatter below INFO.

    Every in-process CLI call installs a root handler on CliRunner's captured stderr, which is closed once the
    call returns. A thread that logs later (the loopback SMTP server's) would write to that closed stream, and
    logging prints the error with a traceback; Python 3.11 formats tracebacks with ``ast.parse``, whose
    interpreter-wide state races with an ``ast.parse`` in the main thread (a spurious ``SystemError: AST
    constructor recursion depth mismatch``, cpython gh-106905).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A ledger URL on a new PostgreSQL schema of its own, dropped (with everything in it) on leaving."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with nothing in it: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    with fresh_pg_schema() as url:
        yield url


def make_settings(db_url: str, *, clusters: list[dict[str, str]] | None = None, **extra: Any) -> Settings:
    return Settings(database={"url": db_url}, clusters=CLUSTERS if clusters is None else clusters, **extra)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = create_ledger_engine(settings)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def config_file(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "quotad.toml"
    clusters = "".join(
        f'\n[[clusters]]\nname = "{c["name"]}"\ndefault_gpu_type = "{c["default_gpu_type"]}"\ntimezone = "{c["timezone"]}"\n'
        for c in CLUSTERS
    )
    # the test process's login is the review office, as an operator's is on a real installation
    office = f'[review]\noffice = ["{pwd.getpwuid(os.geteuid()).pw_name}"]\n'
    path.write_text(f'[database]\nurl = "{db_url}"\n{office}{clusters}', encoding="utf-8")
    return path


class Cli:
    """Runs ``quotad -c CONFIG ...`` in-process and returns the result (exit code, stdout, stderr)."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, ["-c", str(self.config), *args], input=input)


@pytest.fixture
def cli(config_file: Path) -> Cli:
    return Cli(config_file)


TESTCLUSTER = Path(__file__).resolve().parents[1] / "deploy" / "slurm-testcluster"


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The project's real single-node Slurm test cluster (root only); brought up if it is down.

    Returns its ClusterName. Not root: the test is skipped, loudly, since sbatch/sacctmgr need the daemons
    this fixture starts. Root and the cluster cannot be brought up: the test fails with the logs.
    """
    if os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: the Slurm test cluster needs root (run `make test` as root, as .ci/run does)")
    status = subprocess.run([TESTCLUSTER / "status", "-q"], capture_output=True, text=True, check=False)
    if status.returncode != 0:
        up = subprocess.run([TESTCLUSTER / "up"], capture_output=True, text=True, check=False)
        if up.returncode != 0:
            pytest.fail(f"deploy/slurm-testcluster/up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}")
    return os.environ.get("QUOTAD_TEST_CLUSTER", "quotad-test")
