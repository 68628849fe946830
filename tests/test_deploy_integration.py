"""End to end: a real Prometheus (Debian's binary) scrapes a running `quotad run` over the demo programme.

What it proves: the daemon starts from a config file as a subprocess, polls (a fake sacct), serves every
catalogued metric, and every Grafana panel's PromQL returns data against what Prometheus stored; the
shipped alert rules load; a bad config on SIGHUP is refused while the daemon keeps serving; SIGTERM stops it
with exit 0. Everything binds to loopback on free ports with temporary data directories.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from quotad.config import load_config
from quotad.demo.run import run_demo
from quotad.directives.config import rules_from
from quotad.ledger.db import create_ledger_engine
from quotad.ledger.models import Cluster, CompanyAccount, Job
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.metrics.catalogue import CATALOGUE
from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation
from quotad.tick import policy_tick

ROOT = Path(__file__).resolve().parents[1]
#: Guards against a hung process; none of them is an assertion about speed.
PATIENCE_S = 45.0
SACCT_HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList|JobName"
#: The agent's fake NVML: one GPU busy then idle, one idle from the start.
SCENARIO = ROOT / "tests" / "fixtures" / "nvml" / "busy_then_idle.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@dataclass
class Stack:
    daemon: subprocess.Popen[str]
    logs: queue.SimpleQueue[dict[str, Any]]
    seen: list[dict[str, Any]]
    port: int
    prometheus: str
    config: Path
    company: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        answer = json.loads(body) if body else {}
        assert status == 200 and answer.get("status") == "success", f"{expr}: {status} {body[:500]!r}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_log(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            for line in self.seen:
                if predicate(line):
                    self.seen.remove(line)
                    return line
            try:
                self.seen.append(self.logs.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"the daemon never logged {what}; it said: {self.seen[-20:]}")


def _demo_with_telemetry(directory: Path, now: int) -> str:
    """The demo ledger, plus NVML rows (a company's running job idle on all its GPUs), reserved capacity on each
    cluster, and the directives a policy tick opens on it."""
    run_demo(directory, now=now, seed=1)
    engine = create_engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    with engine.begin() as conn:
        cluster, job_id, account, user, gpus = conn.execute(
            select(Job.cluster, Job.job_id_raw, Job.account, Job.user_name, Job.gpu_count)
            .where(Job.state == "RUNNING", Job.gpu_count >= 8)
            .order_by(Job.gpu_count.desc(), Job.job_id_raw)
            .limit(1)
        ).one()
        company = conn.scalar(
            select(CompanyAccount.company_id).where(CompanyAccount.cluster == cluster, CompanyAccount.account == account)
        )
        hour = now - now % 3600
        upsert_gpu_usage(
            conn,
            [
                GpuUsageRow(
                    cluster=cluster, job_id=job_id, node="node-001", gpu_index=g, hour=hour, gpu_uuid=f"GPU-{g}",
                    account=account, user_name=user, samples=60, observed_seconds=600, idle_seconds=600,
                    idle_mem_held_seconds=600, util_pct_seconds=0, util_max=0, mem_used_max=40 << 30,
                    mem_total=80 << 30, energy_mj=0, allocated=True, job_process_seen=True, foreign_processes=0,
                    foreign_job_id=None, idle_since=now - 2400, recent_seconds=1800, recent_idle_seconds=1800,
                    recent_util_pct_seconds=0, throttle_mask=0, xid_events=0, last_xid=None, ecc_uncorrected=0,
                    first_sample=hour, last_sample=now, updated_at=now,
                )
                for g in range(min(gpus, 8))
            ],
        )
        # Reserved capacity on every cluster this month, so the pool figures have something to measure.
        set_provider(conn, ProviderSpec("demo-dc", "デモDC", "Demo DC", "cloud"), now=now)
        for name, gpu_type in conn.execute(select(Cluster.name, Cluster.default_gpu_type)):
            set_reservation(
                conn, ReservationSpec("demo-dc", name, f"{gpu_type}x8", gpu_type, 8, 4, now - 40 * 86400, now + 86400),
                known_gpu_types=[gpu_type],
            )
    engine.dispose()
    # Directives come from a real policy tick over that ledger (what the daemon's own first tick also does).
    settings = load_config(directory / "quotad.toml")
    ledger = create_ledger_engine(settings)
    policy_tick(ledger, settings, rules_from(settings), now=now)
    ledger.dispose()
    return str(company)


def _config(directory: Path, sacct: Path) -> Path:
    """The demo's quotad.toml with every cluster's sacct pointed at the fake."""
    path = directory / "quotad.toml"
    text_ = path.read_text(encoding="utf-8").replace(
        "programme_partitions", f'sacct = {{ command = "{sacct}" }}\nprogramme_partitions'
    )
    path.write_text(text_, encoding="utf-8")
    return path


def _drain(stream: Any, sink: queue.SimpleQueue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            sink.put(json.loads(line))
        except json.JSONDecodeError:
            sink.put({"msg": line.rstrip(), "level": "RAW"})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install Debian's prometheus package (deploy/dev/test-services does)")
    work = tmp_path_factory.mktemp("stack")
    now = int(time.time())
    company = _demo_with_telemetry(work / "demo", now)
    sacct = work / "fake-sacct"
    # One job of an account no company claims: kept, charged to nobody, and shown (quotad_unclaimed_gpu_seconds).
    ghost = f"9000001|9000001|yamato-ai|ghost-lab|eve|gpu|COMPLETED|{now - 7200}|{now - 7200}|{now - 3600}|3600|" \
        "gres/gpu=8|n1|job"
    sacct.write_text(f"#!/bin/sh\necho '{SACCT_HEADER}'\necho '{ghost}'\n", encoding="utf-8")
    sacct.chmod(0o755)
    config = _config(work / "demo", sacct)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTAD_")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "quotad", "-c", str(config), "run", "--listen", "127.0.0.1:0", "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=work,
    )
    agent_port = free_port()
    agent = subprocess.Popen(
        [sys.executable, "-m", "quotad", "-c", str(config), "agent", "--fake", str(SCENARIO), "--no-slurm",
         "--cluster", "yamato-ai", "--node", "gpu-node-001", "--interval", "1", "--listen", f"127.0.0.1:{agent_port}",
         "--spool", str(work / "agent-spool")],
        stdout=subprocess.DEVNULL, stderr=(work / "agent.log").open("wb"), env=env, cwd=work,
    )
    logs: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    threading.Thread(target=_drain, args=(daemon.stderr, logs), daemon=True).start()
    prom: subprocess.Popen[bytes] | None = None
    try:
        probe = Stack(daemon, logs, [], 0, "", config, company)
        serving = probe.wait_log(lambda line: str(line.get("msg", "")).startswith("serving /metrics"), "its address")
        probe.port = int(serving["port"])
        prom_port, dead_agent = free_port(), free_port()
        rules = ROOT / "deploy" / "prometheus" / "rules" / "quotad.rules.yml"
        (work / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{rules}']\n"
            "scrape_configs:\n"
            f"  - {{job_name: quotad, static_configs: [{{targets: ['127.0.0.1:{probe.port}']}}]}}\n"
            f"  - {{job_name: quotad-agent, static_configs: [{{targets: ['127.0.0.1:{agent_port}', "
            f"'127.0.0.1:{dead_agent}']}}]}}\n",
            encoding="utf-8",
        )
        prom = subprocess.Popen(
            [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(work / "prometheus.log").open("wb"), cwd=work,
        )
        probe.prometheus = f"http://127.0.0.1:{prom_port}"
        wait_for(lambda: http_get(f"{probe.prometheus}/-/ready")[0] == 200, "Prometheus to be ready")

        def two_scrapes() -> bool:
            result = probe.query('count_over_time(up{job="quotad"}[5m]) >= 2 and on () up{job="quotad"} == 1')
            return bool(result)

        wait_for(two_scrapes, "two successful scrapes of quotad")
        # The agent samples after its start-up delay (up to flush_jitter_s); the trailing window needs two samples.
        wait_for(lambda: probe.query('up{job="quotad-agent"} == 1 and on () count(quotad_gpu_recent_util) == 2'),
                 "a scrape of the agent on the fake NVML with both GPUs' trailing window")
        yield probe
    finally:
        if prom is not None:
            prom.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                prom.wait(PATIENCE_S)
            prom.kill()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        agent.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            agent.wait(PATIENCE_S)
        agent.kill()


def dashboards() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quotad_grafana_dashboards_it", ROOT / "deploy/grafana/dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_metric_reaches_prometheus(stack: Stack) -> None:
    # the unclaimed job lands with the first poll; the usage aggregate takes it at the next refresh (30 s)
    wait_for(lambda: stack.query('quotad_unclaimed_gpu_seconds{account="ghost-lab"} == 28800'), "unclaimed usage")
    empty = [spec.name for spec in CATALOGUE if not stack.query(spec.name)]
    # quotad_daemon_problems has series only while /healthz is degraded; this stack is healthy (see below).
    assert empty == ["quotad_daemon_problems"]
    assert stack.query(f'quotad_gpus_idle{{company="{stack.company}"}} >= 1')
    assert stack.query('quotad_ledger_up == 1')


def test_every_dashboard_expression_returns_data(stack: Stack) -> None:
    failing = []
    module = dashboards()
    for uid, title, expr in module.expressions():
        concrete = module.substitute(expr, company=stack.company)
        if not stack.query(concrete):
            failing.append(f"{uid} / {title}: {concrete}")
    assert failing == []


def test_alert_rules_load_and_evaluate(stack: Stack) -> None:
    status, body = http_get(f"{stack.prometheus}/api/v1/rules")
    assert status == 200
    groups = json.loads(body)["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"QuotadGrantNearlyUsed", "QuotadIdleGpus", "QuotadCollectorStale", "QuotadAgentDown"} <= names
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"])
    # the demo has companies past 90 % and an agent that does not answer: both alerts are at least pending
    wait_for(lambda: stack.query('ALERTS{alertname="QuotadGrantNearlyUsed"}'), "QuotadGrantNearlyUsed to be pending")
    wait_for(lambda: stack.query('ALERTS{alertname="QuotadAgentDown"}'), "QuotadAgentDown to be pending")


def test_healthz_answers_on_the_metrics_port(stack: Stack) -> None:
    status, body = http_get(f"http://127.0.0.1:{stack.port}/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert {"slurm_poll:yamato-ai", "slurm_poll:sora-cloud", "metrics_refresh"} <= set(health["jobs"])


def test_sighup_with_a_bad_config_keeps_the_running_one(stack: Stack) -> None:
    good = stack.config.read_text(encoding="utf-8")
    stack.config.write_text(good + "\n[programme]\ntimezon = 'UTC'\n", encoding="utf-8")
    stack.daemon.send_signal(signal.SIGHUP)
    refused = stack.wait_log(lambda line: "reload refused" in str(line.get("msg", "")), "the refused reload")
    assert "timezon" in refused["msg"] and refused["level"] == "ERROR"
    assert http_get(f"http://127.0.0.1:{stack.port}/healthz")[0] == 200
    stack.config.write_text(good, encoding="utf-8")
    stack.daemon.send_signal(signal.SIGHUP)
    stack.wait_log(lambda line: "configuration reloaded" in str(line.get("msg", "")), "the good reload")


def test_sigterm_stops_cleanly_with_exit_0(stack: Stack) -> None:
    stack.daemon.send_signal(signal.SIGTERM)
    assert stack.daemon.wait(PATIENCE_S) == 0
    stack.wait_log(lambda line: line.get("msg") == "stopped", "that it stopped")
    errors = [line for line in stack.seen if line.get("level") in ("ERROR", "CRITICAL", "RAW")]
    assert errors == [], json.dumps(errors, indent=1)
