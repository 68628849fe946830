"""``quotad run`` on a SQLite ledger whose directory is full or read-only: a clear error naming the path,
logged, exit 1 — not SIGBUS inside SQLite or an anonymous "disk I/O error". Real file systems: a small tmpfs
filled up, then remounted read-only (root can write through permission bits, not through these)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quotad.daemon.storage import check_ledger_storage
from quotad.errors import LedgerError

QUOTAD = [str(Path(sys.executable).with_name("quotad"))]


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own (the test needs root, as the issue's SIGBUS needed a real full disk)."""
    where = tmp_path / "fs"
    where.mkdir()
    if os.geteuid() != 0 or mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)).returncode != 0:
        pytest.skip("needs root and mount(8) to make a small tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def config(directory: Path, ledger_dir: Path) -> Path:
    path = directory / "quotad.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{ledger_dir / "ledger.sqlite"}"\n'
        '[[clusters]]\nname = "c1"\ndefault_gpu_type = "h100"\n[daemon.jobs.slurm_poll]\nenabled = false\n',
        encoding="utf-8",
    )
    return path


def quotad(cfg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUOTAD, "-c", str(cfg), *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def error_lines(stderr: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("level") == "ERROR"]


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_or_read_only_ledger_directory_stops_the_daemon_with_the_path(small_fs: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, small_fs)
    assert quotad(cfg, "db", "upgrade").returncode == 0
    run = ["run", "--listen", "127.0.0.1:0", "--log-format", "json"]

    filler = fill(small_fs)
    full = quotad(cfg, *run)
    assert full.returncode == 1 and full.returncode != -signal.SIGBUS
    assert "Traceback" not in full.stderr
    (logged,) = error_lines(full.stderr)
    assert f"{small_fs / 'ledger.sqlite'}" in str(logged["msg"]) and "no space left" in str(logged["msg"])

    filler.unlink()
    assert mount("-o", "remount,ro", str(small_fs)).returncode == 0
    read_only = quotad(cfg, *run)
    assert read_only.returncode == 1 and "Traceback" not in read_only.stderr
    (logged,) = error_lines(read_only.stderr)
    assert f"{small_fs}" in str(logged["msg"]) and "not writable" in str(logged["msg"])

    # Writable with room again: the same command starts, and stops cleanly on SIGTERM sent while its first jobs
    # run (the signal may land on a worker thread: the main loop must still notice it).
    assert mount("-o", "remount,rw", str(small_fs)).returncode == 0
    daemon = subprocess.Popen([*QUOTAD, "-c", str(cfg), *run], stderr=subprocess.PIPE, text=True)
    try:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            if "serving /metrics" in line:
                break
        daemon.send_signal(signal.SIGTERM)
        try:
            stopped = daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            stopped = -1  # ignored SIGTERM: what systemd would SIGKILL after TimeoutStopSec
        assert stopped == 0, daemon.stderr.read()[-3000:]
    finally:
        daemon.kill()
        daemon.wait()


def test_a_missing_directory_or_an_unwritable_wal_is_named(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match=f"directory {tmp_path / 'nope'} does not exist"):
        check_ledger_storage(f"sqlite:///{tmp_path / 'nope' / 'ledger.sqlite'}")
    # A -wal that is a directory cannot be opened for writing, whoever runs the daemon.
    (tmp_path / "ledger.sqlite-wal").mkdir()
    with pytest.raises(LedgerError, match=r"ledger.sqlite-wal is not writable"):
        check_ledger_storage(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    check_ledger_storage("postgresql+psycopg://u@127.0.0.1/test")  # not SQLite: nothing to check here
    (tmp_path / "ledger.sqlite-wal").rmdir()
    check_ledger_storage(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
