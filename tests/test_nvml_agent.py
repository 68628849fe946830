"""The agent process: ``quotad agent`` (--once, missing NVML, bad options) and the APScheduler service."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from typer.testing import CliRunner

from quotad.cli.agent import agent
from quotad.cli.main import QuotadGroup, main
from quotad.collectors.nvml.fake import FakeNvml
from quotad.collectors.nvml.service import build_agent, serve
from quotad.ledger.telemetry import job_gpu_totals
from tests.conftest import Cli
from tests.test_nvml_support import FIXTURES, agent_config, fixture_scenario


def agent_app() -> typer.Typer:
    """The root app with the ``agent`` command, as main.py will register it."""
    app = typer.Typer(cls=QuotadGroup)
    app.callback()(main)
    app.command("agent")(agent)
    return app


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands point logging at the CliRunner's stderr, closed once they return: put the handlers back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(config: Path, *args: str) -> Any:
    return CliRunner().invoke(agent_app(), ["-c", str(config), "agent", *args])


@pytest.fixture
def job_process() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"], env={**os.environ, "SLURM_JOB_ID": "880001"})
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_once_with_the_fake_samples_attributes_and_flushes(
    cli: Cli, config_file: Path, engine: Engine, tmp_path: Path, job_process: subprocess.Popen[bytes]
) -> None:
    assert cli("db", "upgrade").exit_code == 0
    scen = json.loads((FIXTURES / "busy_then_idle.json").read_text())
    scen["devices"][0]["processes"][0]["pid"] = job_process.pid
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scen))
    result = invoke(
        config_file,
        "--once",
        "--fake",
        str(path),
        "--cluster",
        "c1",
        "--node",
        "gpu001",
        "--spool",
        str(tmp_path / "spool"),
        "--no-slurm",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["gpu"], r["job"], r["allocated"], r["job_process_seen"], r["util"]) for r in rows] == [
        (0, 880001, False, True, 95),
        (1, None, None, None, 0),
    ]
    with engine.connect() as conn:
        (totals,) = job_gpu_totals(conn, start=0, end=2**40, cluster="c1")
    assert totals.job_id == 880001 and totals.gpus == 1 and totals.unallocated_gpu_seconds == 0


def test_missing_nvml_library_is_one_clear_line_and_exit_1(cli: Cli, config_file: Path, tmp_path: Path) -> None:
    """No --fake: the real pynvml, and this machine has no NVIDIA driver."""
    assert cli("db", "upgrade").exit_code == 0
    result = invoke(config_file, "--once", "--cluster", "c1", "--spool", str(tmp_path / "s"), "--no-slurm")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "NVML is not available" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_bad_options_are_refused_with_key_and_value(config_file: Path) -> None:
    result = invoke(config_file, "--once", "--listen", "nowhere", "--cluster", "c1")
    assert result.exit_code == 2 and "agent.listen = 'nowhere'" in result.stderr
    result = invoke(config_file, "--once", "--fake", str(FIXTURES / "busy_then_idle.json"))
    assert result.exit_code == 2 and "pass --cluster" in result.stderr  # two clusters configured


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_service_schedules_sampling_and_flushing_and_serves_metrics(engine: Engine, tmp_path: Path) -> None:
    config = agent_config(tmp_path, interval_s=0.2, flush_interval_s=1, job_discovery=())
    parts = build_agent(
        config,
        cluster="c1",
        node="gpu001",
        engine=engine,
        api=FakeNvml(fixture_scenario("busy_then_idle.json"), clock=time.time),
        runner=None,
    )
    stop = threading.Event()
    port = _free_port()
    thread = threading.Thread(target=serve, args=(parts, config), kwargs={"stop": stop, "listen": ("127.0.0.1", port)})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while parts.counters.get("samples") < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"quotad_gpu_util", "quotad_gpu_fb_used", "quotad_agent_samples"} <= names
    assert parts.counters.get("samples") >= 5
    assert parts.agent.view().last_flush is not None  # the final flush on stop
