"""Hostile and clumsy configuration through the real CLI and the real daemon: a clear error, never a traceback,
never a password in what is printed or logged, and a daemon that keeps its running configuration on SIGHUP."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tests.conftest import PG_URL, Cli

PASSWORD = "Zq7-hunter2-secret"  # the secret the tests look for in every output
PATIENCE_S = 60.0
SHIFT_JIS_TOML = '[programme]\nname_ja = "基盤モデル開発計算資源プログラム"\n'.encode("shift_jis")


def toml(tmp_path: Path, text: str, name: str = "quotad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def sqlite_toml(tmp_path: Path) -> str:
    return f'[database]\nurl = "sqlite:///{tmp_path / "ledger.sqlite"}"\n'


def refused(result: Result) -> str:
    """The output of a command that must have failed cleanly: exit 2, no exception escaped, no traceback."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    return result.output


def test_a_shift_jis_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "quotad.toml"
    path.write_bytes(SHIFT_JIS_TOML)
    output = refused(Cli(path)("company", "list"))
    assert f"{path}: not UTF-8 text" in output and "save the file as UTF-8" in output


def test_a_very_long_config_path_is_a_clear_error(tmp_path: Path) -> None:
    long_name = tmp_path / ("x" * 300 + ".toml")
    output = refused(Cli(long_name)("company", "list"))
    assert "too long" in output and len(output) < 600
    deep = Path("/" + "/".join(["d" * 200] * 30) + "/quotad.toml")
    assert "too long" in refused(Cli(deep)("company", "list"))


def test_a_very_long_sqlite_path_is_a_clear_error(tmp_path: Path) -> None:
    config = toml(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path / ("y" * 300)}/ledger.sqlite"\n')
    output = refused(Cli(config)("company", "list"))
    assert "database.url" in output and "too long" in output


def test_a_database_password_with_a_sqlite_url_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUOTAD_DATABASE__PASSWORD", PASSWORD)
    output = refused(Cli(toml(tmp_path, sqlite_toml(tmp_path)))("company", "list"))
    assert "database" in output and "SQLite, which takes no password" in output and PASSWORD not in output


@pytest.mark.parametrize(
    "text",
    [
        f'[database]\nurl = "postgres://quotad:{PASSWORD}@db.example/quotad"\n',  # scheme SQLAlchemy does not take
        f'[database]\nurl = "mysql://quotad:{PASSWORD}@db.example/quotad"\n',
        f'password = "{PASSWORD}"\n',  # a stray key at the top
        f'[notify]\npassword = "{PASSWORD}"\n',  # a stray key in a section
        f'[notify.smtp]\nhost = "mail"\nsmtp_password = "{PASSWORD}"\n',
    ],
)
def test_validation_errors_never_print_a_rejected_secret(tmp_path: Path, text: str) -> None:
    output = refused(Cli(toml(tmp_path, text))("company", "list"))
    assert PASSWORD not in output and ("value hidden" in output or "://***@db.example/quotad" in output)


def test_an_env_override_with_a_password_in_the_url_is_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUOTAD_DATABASE__URL", f"postgres://u:{PASSWORD}@db/x")
    output = refused(Cli(toml(tmp_path, ""))("company", "list"))
    assert "database.url" in output and PASSWORD not in output


@pytest.mark.postgres
def test_sacct_runs_without_the_database_and_smtp_passwords_in_its_environment(tmp_path: Path) -> None:
    """The child's environment is an allow-list: PATH and Slurm's own settings pass, quotad's secrets do not."""
    dump = tmp_path / "sacct-env"
    fake = tmp_path / "sacct"
    fake.write_text(
        f"#!{sys.executable}\nimport os\nopen({str(dump)!r}, 'w').write(repr(dict(os.environ)))\n"
        "print('JobIDRaw|JobID|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList')\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    config = toml(
        tmp_path,
        f'[database]\nurl = "{PG_URL}"\n[[clusters]]\nname = "c1"\ndefault_gpu_type = "h100"\n'
        f'[clusters.sacct]\ncommand = "{fake}"\n',
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUOTAD_")},
        "QUOTAD_DATABASE__PASSWORD": PASSWORD,
        "QUOTAD_NOTIFY__SMTP__PASSWORD": PASSWORD + "-smtp",
        "SLURM_PROBE": "kept",  # any SLURM_* setting of the operator's passes
    }
    subprocess.run(
        [sys.executable, "-m", "quotad", "-c", str(config), "db", "upgrade"], env=env, capture_output=True, check=True
    )
    done = subprocess.run(
        [sys.executable, "-m", "quotad", "-c", str(config), "collect", "slurm", "--since", "2026-11-01"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert dump.exists(), done.stderr
    seen = dump.read_text(encoding="utf-8")
    assert PASSWORD not in seen and "QUOTAD_" not in seen
    assert "'PATH'" in seen and "'SLURM_PROBE': 'kept'" in seen


# -- the daemon: SIGHUP with a bad file keeps the running configuration; the reload log masks URLs -------------


class RunningDaemon:
    def __init__(self, proc: subprocess.Popen[str], lines: queue.SimpleQueue[str]) -> None:
        self.proc = proc
        self.lines = lines
        self.seen: list[str] = []

    def wait_for(self, needle: str) -> str:
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if needle in line:
                return line
        pytest.fail(f"the daemon never logged {needle!r} (exit {self.proc.poll()}):\n{''.join(self.seen)}")

    def healthz(self, port: int) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=PATIENCE_S) as response:
            return int(response.status)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[RunningDaemon, Path]]:
    config = toml(tmp_path, sqlite_toml(tmp_path) + "[daemon]\nlisten = \"127.0.0.1:0\"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTAD_")}
    base = [sys.executable, "-m", "quotad", "-c", str(config)]
    subprocess.run([*base, "db", "upgrade"], env=env, capture_output=True, check=True, timeout=120)
    proc = subprocess.Popen(
        [*base, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield RunningDaemon(proc, lines), config
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(PATIENCE_S)
            proc.kill()
            proc.wait()


def test_sighup_with_a_bad_file_keeps_the_daemon_and_its_configuration(
    daemon: tuple[RunningDaemon, Path], tmp_path: Path
) -> None:
    running, config = daemon
    serving = running.wait_for("serving /metrics")
    port = int(serving.rsplit("port=", 1)[1])
    good = config.read_text(encoding="utf-8")

    config.write_bytes(SHIFT_JIS_TOML)
    running.proc.send_signal(signal.SIGHUP)
    line = running.wait_for("reload refused")
    assert "not UTF-8" in line
    assert running.proc.poll() is None and running.healthz(port) == 200

    config.write_text(good + f'[notify]\npassword = "{PASSWORD}"\n', encoding="utf-8")
    running.proc.send_signal(signal.SIGHUP)
    running.wait_for("reload refused")
    assert running.proc.poll() is None

    moved = good.replace(
        f"sqlite:///{tmp_path / 'ledger.sqlite'}", f"postgresql+psycopg://quotad:{PASSWORD}@db.example/quotad"
    )
    config.write_text(moved, encoding="utf-8")
    running.proc.send_signal(signal.SIGHUP)
    changed = running.wait_for("database.url changed")
    assert "postgresql+psycopg://quotad:***@db.example/quotad" in changed
    running.wait_for("configuration reloaded")
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(PATIENCE_S) == 0
    running.wait_for("stopped")
    assert PASSWORD not in "".join(running.seen)


def test_a_config_nested_too_deeply_is_a_clear_error(tmp_path: Path) -> None:
    deep = toml(tmp_path, "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nested too deeply" in refused(Cli(deep)("company", "list"))
