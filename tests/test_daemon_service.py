"""The daemon in-process: /healthz and /metrics on one port, SIGHUP reload, SIGTERM waits for running jobs."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import Field
from sqlalchemy import Engine, text

from quotad.config import Settings
from quotad.daemon.config import DaemonConfig
from quotad.daemon.jobs import JobContext, JobRegistry, slurm_clusters
from quotad.daemon.service import Daemon
from quotad.daemon.signals import Request, signal_requests
from quotad.errors import ConfigError, QuotadError
from quotad.metrics.snapshot import SnapshotCache
from tests.conftest import CLUSTERS

PATIENCE_S = 30.0


class DaemonSettings(Settings):
    """``Settings`` with the ``[daemon]`` section, as quotad/config.py will have it."""

    daemon: DaemonConfig = Field(default_factory=DaemonConfig)


def make(db_url: str, **daemon: Any) -> DaemonSettings:
    return DaemonSettings(
        database={"url": db_url}, clusters=CLUSTERS, daemon=DaemonConfig.model_validate({"listen": "127.0.0.1:0", **daemon})
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=PATIENCE_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def nothing(ctx: JobContext) -> None:
    return None


@pytest.fixture
def daemon_factory(engine: Engine, db_url: str) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def build(registry: JobRegistry, *, settings: Settings | None = None, load: Callable[[], Settings] | None = None,
              clock: Callable[[], float] = Clock(1_800_000_000.0)) -> Daemon:
        current = settings or make(db_url)
        daemon = Daemon(settings=current, load=load or (lambda: current), engine=engine, registry=registry,
                        snapshots=SnapshotCache(max_age_s=300), clock=clock)
        started.append(daemon)
        return daemon

    yield build
    for d in started:
        d.stop()


def quiet_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.add("outbox", nothing, interval_s=3600, stale_after_s=600 * 6, run_at_start=False)
    registry.add("slurm_poll", nothing, interval_s=3600, stale_after_s=7200, targets=slurm_clusters, run_at_start=False)
    return registry


def test_healthz_is_200_until_a_job_is_older_than_its_staleness_then_503(daemon_factory: Callable[..., Daemon]) -> None:
    clock = Clock(1_800_000_000.0)
    daemon = daemon_factory(quiet_registry(), clock=clock)
    _, port = daemon.start()
    status, body = get(port, "/healthz")
    info = json.loads(body)
    assert status == 200 and info["status"] == "ok"
    assert set(info["jobs"]) == {"outbox", "slurm_poll:c1", "slurm_poll:c2"}
    assert info["jobs"]["outbox"]["last_success_age_s"] is None  # never ran: measured from start
    daemon.health.succeeded("slurm_poll:c1", at=clock.now + 7000, duration_s=1.0)
    clock.now += 7201
    status, body = get(port, "/healthz")
    info = json.loads(body)
    assert status == 503 and info["status"] == "stale"
    assert info["stale_jobs"] == ["outbox", "slurm_poll:c2"]
    assert info["jobs"]["slurm_poll:c1"]["last_success_age_s"] == 201


def test_metrics_share_the_port_and_unknown_paths_are_404(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(quiet_registry())
    _, port = daemon.start()
    status, body = get(port, "/metrics")
    assert status == 200
    assert b'quotad_daemon_job_stale_after_seconds{daemon_job="outbox"} 7200.0' in body
    assert b"quotad_ledger_up 1.0" in body
    assert get(port, "/nope")[0] == 404


def test_a_taken_port_fails_start_with_a_quotad_error(daemon_factory: Callable[..., Daemon], db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = daemon_factory(quiet_registry(), settings=make(db_url, listen=f"127.0.0.1:{port}"))
        with pytest.raises(QuotadError, match="cannot listen"):
            daemon.start()


def test_reload_applies_intervals_and_new_clusters(daemon_factory: Callable[..., Daemon], db_url: str) -> None:
    new = make(db_url, jobs={"slurm_poll": {"interval_s": 600, "stale_after_s": 1200}})
    new = DaemonSettings(
        database={"url": db_url},
        clusters=[*CLUSTERS, {"name": "c3", "default_gpu_type": "h100"}],
        daemon=new.daemon,
    )
    daemon = daemon_factory(quiet_registry(), load=lambda: new)
    daemon.start()
    assert daemon.reload() is True
    jobs = {j.id: j for j in daemon.scheduled()}
    assert set(jobs) == {"outbox", "slurm_poll:c1", "slurm_poll:c2", "slurm_poll:c3"}
    assert jobs["slurm_poll:c1"].interval_s == 600 and jobs["slurm_poll:c3"].stale_after_s == 1200
    assert daemon.settings() is new


def test_a_bad_config_on_reload_keeps_the_old_one(
    daemon_factory: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Settings:
        raise ConfigError("invalid configuration in quotad.toml:", problems=["daemon.jobs.polcy_tick: unknown key"])

    daemon = daemon_factory(quiet_registry(), load=broken)
    daemon.start()
    before, jobs_before = daemon.settings(), daemon.scheduled()
    with caplog.at_level(logging.ERROR, logger="quotad.daemon"):
        assert daemon.reload() is False
    assert daemon.settings() is before and daemon.scheduled() == jobs_before
    assert any("reload refused" in r.getMessage() and "polcy_tick" in r.getMessage() for r in caplog.records)


def test_reload_warns_about_what_needs_a_restart(
    daemon_factory: Callable[..., Daemon], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    moved = make(db_url, listen="127.0.0.1:19999")
    daemon = daemon_factory(quiet_registry(), load=lambda: moved)
    daemon.start()
    with caplog.at_level(logging.WARNING, logger="quotad.daemon"):
        assert daemon.reload() is True
    assert any("daemon.listen" in r.getMessage() and "next restart" in r.getMessage() for r in caplog.records)


def test_stop_waits_for_the_running_job_to_commit(daemon_factory: Callable[..., Daemon], engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE daemon_probe (n INTEGER)"))
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def transaction(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(text("INSERT INTO daemon_probe VALUES (1)"))
            inside.set()
            release.wait(PATIENCE_S)
        order.append("committed")

    registry = JobRegistry()
    registry.add("writer", transaction, interval_s=3600, stale_after_s=7200)
    daemon = daemon_factory(registry)
    daemon.start()
    assert inside.wait(PATIENCE_S)
    def stop() -> None:
        daemon.stop()
        order.append("stopped")

    stopper = threading.Thread(target=stop)
    stopper.start()
    release.set()
    stopper.join(PATIENCE_S)
    assert order == ["committed", "stopped"]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM daemon_probe")) == 1
    (status,) = daemon.health.snapshot()
    assert status.last_success is not None


def test_signals_become_requests_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with signal_requests() as requests:
        os.kill(os.getpid(), signal.SIGHUP)
        assert requests.get(timeout=PATIENCE_S) is Request.RELOAD
        os.kill(os.getpid(), signal.SIGTERM)
        assert requests.get(timeout=PATIENCE_S) is Request.STOP
    assert signal.getsignal(signal.SIGHUP) == before


def test_serve_reloads_on_hup_and_returns_on_stop(daemon_factory: Callable[..., Daemon]) -> None:
    loads: list[int] = []

    def load() -> Settings:
        loads.append(1)
        return daemon.settings()

    daemon = daemon_factory(quiet_registry(), load=load)
    daemon.start()
    from queue import SimpleQueue

    requests: SimpleQueue[Request] = SimpleQueue()
    for r in (Request.RELOAD, Request.RELOAD, Request.STOP, Request.RELOAD):
        requests.put(r)
    daemon.serve(requests)
    assert len(loads) == 2
