"""The incremental Slurm collector with a controlled sacct: watermark, overlap, re-reads, failures, crashes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from quotad.collectors.runner import CommandFailed, SubprocessRunner
from quotad.collectors.slurm import poll_cluster, sacct_argv
from quotad.config import Settings
from quotad.ledger.collector_state import collector_health
from quotad.ledger.models import Job, UsageHourly
from tests.conftest import make_settings
from tests.helpers import row

HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList|JobName"
NOW = 1_796_000_000  # 2026-11-30T00:53:20Z


def line(raw: int, **kw: object) -> str:
    return row(str(raw), raw, **kw) + "|n1|job"  # type: ignore[arg-type]


class FakeSacct:
    """Answers sacct calls from a script of outputs; records every argv it was given."""

    def __init__(self, *outputs: list[str] | Exception) -> None:
        self.outputs = list(outputs)
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    @contextlib.contextmanager
    def _stream(self, lines: list[str]) -> Iterator[Iterator[str]]:
        yield iter([HEADER, *lines])

    def stream(self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float) -> contextlib.AbstractContextManager[Iterator[str]]:
        self.calls.append(list(argv))
        self.envs.append(dict(env))
        out = self.outputs.pop(0) if self.outputs else []
        if isinstance(out, Exception):
            raise out
        return self._stream(out)


def jobs(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        return {r.job_id: (r.state, r.charged_seconds) for r in conn.execute(select(Job.job_id, Job.state, Job.charged_seconds))}


def charged(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.sum(UsageHourly.gpu_seconds), 0))) or 0)


def test_argv_and_environment(settings: Settings) -> None:
    cluster = settings.clusters[0]
    argv = sacct_argv(cluster, start=1_796_000_000)
    assert argv[:5] == ["sacct", "--allocations", "--duplicates", "--parsable2", "--allusers"]
    assert "--starttime=2026-11-30T00:53:20" in argv and "--endtime=now" in argv
    assert any(a.startswith("--format=JobID,JobIDRaw,Cluster,") for a in argv)
    rerun = sacct_argv(cluster, job_ids=[5, 7])
    assert "--jobs=5,7" in rerun and "--starttime=1970-01-01T00:00:00" in rerun


def test_polls_are_incremental_with_overlap_and_idempotent(engine: Engine, settings: Settings) -> None:
    fake = FakeSacct(
        [line(1, state="RUNNING", start="2026-11-29T00:00:00", elapsed=3600, gpus="gres/gpu=2", cluster="c1")],
        [line(1, state="COMPLETED", start="2026-11-29T00:00:00", end="2026-11-29T02:00:00", elapsed=7200,
              gpus="gres/gpu=2", cluster="c1")],
        [line(1, state="COMPLETED", start="2026-11-29T00:00:00", end="2026-11-29T02:00:00", elapsed=7200,
              gpus="gres/gpu=2", cluster="c1")],
    )
    first = poll_cluster(engine, settings, "c1", runner=fake, now=NOW)
    assert first.window_start == NOW - 7 * 86400  # no grant, no watermark: the default look-back
    assert fake.envs[0]["TZ"] == "UTC" and fake.envs[0]["SLURM_TIME_FORMAT"] == "%s"
    assert jobs(engine) == {"1": ("RUNNING", 7200)}
    second = poll_cluster(engine, settings, "c1", runner=fake, now=NOW + 600)
    assert second.window_start == NOW - settings.clusters[0].sacct.overlap_s
    assert jobs(engine) == {"1": ("COMPLETED", 14400)} and charged(engine) == 14400
    third = poll_cluster(engine, settings, "c1", runner=fake, now=NOW + 1200)
    assert (third.total("inserted"), third.total("updated"), third.total("unchanged")) == (0, 0, 1)
    with engine.connect() as conn:
        [health] = collector_health(conn)
    assert (health.watermark, health.polls_total, health.errors_total) == (NOW + 1200, 3, 0)


def test_running_job_missing_from_the_window_is_re_read_by_id(engine: Engine, settings: Settings) -> None:
    fake = FakeSacct(
        [line(7, state="RUNNING", start="2026-11-29T00:00:00", elapsed=100, cluster="c1")],
        [],  # the window no longer returns job 7 (e.g. slurmdbd got its end late)
        [line(7, state="COMPLETED", start="2026-11-29T00:00:00", end="2026-11-29T00:05:00", elapsed=300, cluster="c1")],
    )
    poll_cluster(engine, settings, "c1", runner=fake, now=NOW)
    result = poll_cluster(engine, settings, "c1", runner=fake, now=NOW + 60)
    assert result.rechecked == 1 and "--jobs=7" in fake.calls[2]
    assert jobs(engine) == {"7": ("COMPLETED", 300)}


def test_first_poll_starts_at_the_earliest_grant(engine: Engine, settings: Settings) -> None:
    from quotad.ledger.ingest import sync_clusters
    from quotad.ledger.registry import GrantSpec, add_company, set_grant

    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(conn, company_id="a", name_ja="a", name_en="a", now=NOW)
        set_grant(conn, GrantSpec("a", "c1", "h100", 3600, NOW - 86400 * 30, NOW + 86400), known_gpu_types=["h100"])
    result = poll_cluster(engine, settings, "c1", runner=FakeSacct([]), now=NOW)
    assert result.window_start == NOW - 86400 * 30


def test_sacct_failure_writes_nothing_records_the_error_and_the_next_poll_catches_up(engine: Engine, settings: Settings) -> None:
    good = [line(1, start="2026-11-29T00:00:00", end="2026-11-29T00:01:40", elapsed=100, cluster="c1")]
    boom = CommandFailed(["sacct"], "exited with status 1", stderr="sacct: error: Problem talking to the database")
    fake = FakeSacct(boom, good)
    with pytest.raises(CommandFailed, match="Problem talking to the database"):
        poll_cluster(engine, settings, "c1", runner=fake, now=NOW)
    assert jobs(engine) == {}
    with engine.connect() as conn:
        [health] = collector_health(conn)
    assert health.watermark is None and health.errors_total == 1 and "Problem talking" in health.last_error
    poll_cluster(engine, settings, "c1", runner=fake, now=NOW + 60)
    assert jobs(engine) == {"1": ("COMPLETED", 100)}
    with engine.connect() as conn:
        [health] = collector_health(conn)
    assert health.watermark == NOW + 60 and health.last_error == ""


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!" + sys.executable + "\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)
    return path


def with_command(settings: Settings, command: Path, timeout_s: int = 30) -> Settings:
    clusters = [{**c.model_dump(), "sacct": {"command": str(command), "timeout_s": timeout_s}} for c in settings.clusters]
    return make_settings(settings.database.url, clusters=clusters)


def test_sacct_exiting_non_zero_half_way_writes_nothing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    fake = script(tmp_path, "sacct", f"""
        import sys
        print({HEADER!r})
        for i in range(1, 20001):
            print({line(0, start="2026-11-29T00:00:00", end="2026-11-29T00:01:40", elapsed=100, cluster="c1")!r}.replace("0|0|", f"{{i}}|{{i}}|", 1))
        sys.stderr.write("sacct: error: slurmdbd: Connection refused\\n")
        sys.exit(1)
    """)
    with pytest.raises(CommandFailed, match="status 1: sacct: error: slurmdbd: Connection refused"):
        poll_cluster(engine, with_command(settings, fake), "c1", runner=SubprocessRunner(), now=NOW)
    assert jobs(engine) == {} and charged(engine) == 0


def test_sacct_timeout_kills_it_and_writes_nothing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    fake = script(tmp_path, "sacct", f"""
        import time
        print({HEADER!r}, flush=True)
        time.sleep(60)
    """)
    started = time.monotonic()
    with pytest.raises(CommandFailed, match="timed out after 1 s"):
        poll_cluster(engine, with_command(settings, fake, timeout_s=1), "c1", runner=SubprocessRunner(), now=NOW)
    assert time.monotonic() - started < 20
    assert jobs(engine) == {}


def test_a_killed_poll_leaves_nothing_half_written(engine: Engine, settings: Settings, tmp_path: Path, db_url: str) -> None:
    marker = tmp_path / "printed"
    body = f"""
        import os, sys, time
        n = int(os.environ.get("FAKE_JOBS", "30000"))
        print({HEADER!r})
        for i in range(1, n + 1):
            print({line(0, start="2026-11-29T00:00:00", end="2026-11-29T00:01:40", elapsed=100, gpus="gres/gpu=1", cluster="c1")!r}.replace("0|0|", f"{{i}}|{{i}}|", 1))
        sys.stdout.flush()
        open({str(marker)!r}, "w").close()
        if os.path.exists({str(tmp_path / "hang")!r}):  # a file, not an env var: sacct gets an allow-listed env
            time.sleep(120)
    """
    fake = script(tmp_path, "sacct", body)
    config = tmp_path / "crash.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[[clusters]]\nname = "c1"\ndefault_gpu_type = "h100"\n'
        f'[clusters.sacct]\ncommand = "{fake}"\n', encoding="utf-8")
    quotad = [sys.executable, "-m", "quotad", "-c", str(config), "collect", "slurm", "--since", "2026-11-01"]
    (tmp_path / "hang").touch()
    proc = subprocess.Popen(quotad, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the fake sacct never finished printing"
    time.sleep(1.0)  # the collector has written its batches into the open transaction and waits for sacct's exit
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert jobs(engine) == {} and charged(engine) == 0
    with engine.connect() as conn:
        assert collector_health(conn) == [] or collector_health(conn)[0].watermark is None
    marker.unlink()
    (tmp_path / "hang").unlink()
    done = subprocess.run(quotad, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert charged(engine) == 30000 * 100
    assert len(jobs(engine)) == 30000


def test_two_clusters_polled_concurrently_into_one_ledger(engine: Engine, settings: Settings) -> None:
    def lines(cluster: str, n: int) -> list[str]:
        return [line(i, start="2026-11-29T00:00:00", end="2026-11-29T05:00:00", elapsed=18000 - i % 100,
                     gpus="gres/gpu=8", cluster=cluster, account=f"acct{i % 7}") for i in range(1, n + 1)]

    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def poll(cluster: str) -> None:
        try:
            barrier.wait()
            for k in range(3):  # overlapping re-polls on top of the first
                poll_cluster(engine, settings, cluster, runner=FakeSacct(lines(cluster, 8000)), now=NOW + k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(c,)) for c in ("c1", "c2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    expected = sum((18000 - i % 100) * 8 for i in range(1, 8001))
    with engine.connect() as conn:
        per_cluster = dict(conn.execute(select(UsageHourly.cluster, func.sum(UsageHourly.gpu_seconds)).group_by(UsageHourly.cluster)).all())
    assert {k: int(v) for k, v in per_cluster.items()} == {"c1": expected, "c2": expected}


def pyslurm_settings(settings: Settings) -> Settings:
    clusters = [{**c.model_dump(), "backend": "pyslurm"} for c in settings.clusters]
    return make_settings(settings.database.url, clusters=clusters)


def test_pyslurm_backend_that_cannot_load_falls_back_to_sacct_and_says_why(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from quotad.collectors.slurm_pyslurm import BackendUnavailable

    def missing() -> object:
        raise BackendUnavailable("pyslurm is not installed; using the sacct backend")

    fake = FakeSacct([line(1, start="2026-11-29T00:00:00", end="2026-11-29T00:01:40", elapsed=100, cluster="c1")])
    poll_cluster(engine, pyslurm_settings(settings), "c1", runner=fake, now=NOW, pyslurm_loader=missing)  # type: ignore[arg-type]
    assert len(fake.calls) == 1 and jobs(engine) == {"1": ("COMPLETED", 100)}
    assert "pyslurm backend unavailable: pyslurm is not installed" in caplog.text


def test_pyslurm_backend_feeds_the_same_write_path(engine: Engine, settings: Settings) -> None:
    from types import SimpleNamespace

    from tests.test_slurm_pyslurm import DbJob, gpus

    loaded: list[object] = []

    class JobFilter(SimpleNamespace):
        with_duplicates = False

    def load(db_filter: JobFilter) -> list[DbJob]:
        loaded.append(db_filter)
        return [DbJob(id=5, cluster="c1", start_time=NOW - 3600, end_time=NOW - 3000, elapsed_time=600,
                      submit_time=NOW - 3600, allocated_tres=gpus(2, h100=2))]

    module = SimpleNamespace(db=SimpleNamespace(JobFilter=JobFilter, Jobs=SimpleNamespace(load=load)))
    fake = FakeSacct()
    poll_cluster(engine, pyslurm_settings(settings), "c1", runner=fake, now=NOW, pyslurm_loader=lambda: module)  # type: ignore[arg-type,return-value]
    assert fake.calls == [] and loaded and loaded[0].with_duplicates is True  # type: ignore[attr-defined]
    assert jobs(engine) == {"5": ("COMPLETED", 1200)}
