"""Wiring of the node agent process: build the parts from ``AgentConfig``, schedule them, serve ``/metrics``.

Why APScheduler and not a loop of our own: sampling, flushing and the company refresh run at different
periods, must not pile up when one is slow (``max_instances=1``, ``coalesce``) and the flush must not hold up
sampling when the ledger hangs, which is exactly what a ``BackgroundScheduler`` with one executor per kind of
work gives. The steps themselves live in ``agent.NodeAgent`` and are tested without a scheduler.
"""

from __future__ import annotations

import logging
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import Engine, make_url
from sqlalchemy.pool import NullPool

from quotad.agent_config import AgentConfig
from quotad.collectors.nvml.agent import NodeAgent, NodeView
from quotad.collectors.nvml.aggregate import Aggregator
from quotad.collectors.nvml.attribution import Attributor
from quotad.collectors.nvml.companies import CompanyDirectory
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.device import NvmlApi, NvmlDevices, load_nvml
from quotad.collectors.nvml.exporter import AgentCollector, build_registry, unattributed_gpus
from quotad.collectors.nvml.gres import gres_minors
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.procmap import ProcessJobs
from quotad.collectors.nvml.sink import LedgerSink
from quotad.collectors.nvml.slurm import Runner, SlurmView, subprocess_runner
from quotad.collectors.nvml.spool import Spool
from quotad.config import Settings
from quotad.errors import UsageError
from quotad.httpserve import LimitedServer, metrics_app
from quotad.ledger.db import create_ledger_engine

__all__ = [
    "AgentParts",
    "build_agent",
    "default_node",
    "ledger_engine",
    "open_agent",
    "pick_cluster",
    "run_once",
    "serve",
]

log = logging.getLogger("quotad.agent")
MIB = 1024 * 1024


def default_node() -> str:
    """The short host name, as Slurm names nodes (``NodeName`` is usually ``hostname -s``)."""
    return socket.gethostname().split(".", 1)[0]


@dataclass(frozen=True)
class AgentParts:
    """A built agent and what the process needs beside it."""

    agent: NodeAgent
    counters: AgentCounters
    registry: CollectorRegistry


def build_agent(
    config: AgentConfig,
    *,
    cluster: str,
    node: str,
    engine: Engine | None,
    api: NvmlApi,
    runner: Runner | None,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    sleep: Callable[[float], object] | None = None,
) -> AgentParts:
    """Assemble the agent; ``runner`` None (or no discovery sources) means no Slurm on this machine. ``rng``
    and ``sleep`` drive the flush jitter and retry backoff (tests inject them; production waits for real)."""
    counters = AgentCounters()
    pacing = FlushPacing(
        jitter_s=config.flush_jitter, retries=config.flush_retries, rng=rng, sleep=sleep, counters=counters
    )
    slurm = None
    if runner is not None and config.job_discovery:
        slurm = SlurmView(
            runner,
            node=node,
            counters=counters,
            sources=config.job_discovery,
            scontrol=config.scontrol,
            squeue=config.squeue,
            cgroup_root=config.cgroup_root,
            timeout_s=config.slurm_timeout_s,
        )
    minors = gres_minors(config.gres_conf, node, override=config.gres_minors) if slurm is not None else None
    spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes, counters=counters)
    companies = CompanyDirectory(engine, cluster=cluster, counters=counters)
    agent = NodeAgent(
        cluster=cluster,
        node=node,
        devices=NvmlDevices(api, counters=counters, proc_root=config.proc_root, lost_retry_s=config.lost_retry_s),
        attributor=Attributor(
            slurm=slurm, processes=ProcessJobs(config.proc_root), idx_minors=minors, refresh_s=config.slurm_refresh_s
        ),
        aggregator=Aggregator(
            cluster=cluster,
            node=node,
            idle_util_pct=config.idle_util_pct,
            memory_held_bytes=config.memory_held_mib * MIB,
            max_gap_s=config.max_gap_s,
            recent_window_s=config.recent_window_s,
        ),
        sink=LedgerSink(engine, spool, counters=counters, pacing=pacing),
        companies=companies,
        counters=counters,
        clock=clock,
        pacing=pacing,
    )
    collector = AgentCollector(view=agent.view, counters=counters, company_of=companies.company_of)
    return AgentParts(agent=agent, counters=counters, registry=build_registry(collector))


def run_once(parts: AgentParts) -> NodeView:
    """``--once``: start, one sample, one flush, stop; the sampled view."""
    agent = parts.agent
    agent.start()
    view = agent.sample()
    agent.stop()
    return view


def _guarded(name: str, step: Callable[[], Any], counters: AgentCounters) -> Callable[[], None]:
    def run() -> None:
        try:
            step()
        except Exception:  # a bug in one round must not end the agent; it is counted and logged with its trace
            counters.inc("loop_errors")
            log.exception("agent %s round failed", name)

    return run


_INDEX = b"quotad agent: /metrics (Prometheus), /healthz (503 when NVML is down or a GPU runs a process of no job)\n"


def agent_health(view: NodeView) -> tuple[int, dict[str, Any]]:
    """The agent's /healthz: 200 ``ok``; 503 ``degraded`` while NVML is down or a GPU runs a process that no
    Slurm job owns (its use is charged to nobody), naming the node and how many GPUs."""
    problems: list[dict[str, object]] = []
    if not view.nvml_up:
        problems.append({"check": "nvml_down", "subject": view.node, "reason": "nvml_down", "count": 1})
    gpus = unattributed_gpus(view)
    if gpus:
        problems.append(
            {"check": "agent_unattributed", "subject": view.node, "reason": "process_of_no_job", "count": gpus}
        )
    body = {"status": "degraded" if problems else "ok", "node": view.node, "cluster": view.cluster,
            "problems": problems}
    return (503 if problems else 200), body


def serve(parts: AgentParts, config: AgentConfig, *, stop: threading.Event, listen: tuple[str, int]) -> None:
    """Run until ``stop`` is set (SIGTERM/SIGINT set it when called from the main thread)."""
    agent, counters = parts.agent, parts.counters
    scheduler_log = logging.getLogger("apscheduler")
    scheduler_log.setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))  # one line per run: noise
    agent.open()
    addr, port = listen
    server = LimitedServer(
        metrics_app(parts.registry, lambda: agent_health(agent.view()), index=_INDEX),
        addr, port, limits=config.http, name="quotad-agent-http",
    )
    server.start()  # before the resume's jitter delay: /metrics and /healthz answer from the start
    try:
        agent.resume()
    except BaseException:
        server.stop()
        raise
    log.info(
        "serving /metrics and /healthz on %s:%d; sampling every %gs, flushing every %ds (after a random delay "
        "of up to %gs)",
        addr,
        port,
        config.interval_s,
        config.flush_interval_s,
        config.flush_jitter,
    )
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _signo, _frame: stop.set())
    scheduler = BackgroundScheduler(
        executors={"sample": ThreadPoolExecutor(1), "flush": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(config.interval_s))},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    scheduler.add_job(
        _guarded("sample", agent.sample, counters),
        "interval",
        seconds=config.interval_s,
        next_run_time=now,
        executor="sample",
        id="sample",
        name="sample",
    )
    scheduler.add_job(
        _guarded("flush", agent.flush, counters),
        "interval",
        seconds=config.flush_interval_s,
        executor="flush",
        id="flush",
        name="flush",
    )
    scheduler.add_job(
        _guarded("companies", agent.refresh_companies, counters),
        "interval",
        seconds=config.company_refresh_s,
        executor="flush",
        id="companies",
        name="companies",
    )
    scheduler.start()
    try:
        stop.wait()
    finally:
        log.info("stopping: final flush")
        agent.pacing.hurry()  # a flush waiting out its jitter goes now, so the unit's stop timeout is kept
        scheduler.shutdown(wait=True)
        agent.stop()
        server.stop()


def ledger_engine(settings: Settings, *, node: str) -> Engine:
    """The agent's ledger engine: no pool, so no connection is held between flushes, and no schema check.

    Why no pool: one agent runs on every GPU node and talks to the ledger once a minute; a pooled connection
    would sit idle the rest of the time and take one of PostgreSQL's ``max_connections`` per node (past ~95
    nodes agents, daemon and operators would be refused). Opening one per flush costs a few milliseconds.
    No schema check (``open_ledger`` does one): the agent starts (and spools) while the ledger is down or
    being migrated; ``LedgerSink.check`` reports a ledger it cannot use once NVML is up. On PostgreSQL the
    connection is named ``quotad-agent/<node>`` (``application_name``), so ``pg_stat_activity`` shows
    which node holds one.
    """
    connect_args: dict[str, Any] = {}
    url = make_url(settings.database.url)
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 5
        if "application_name" not in url.query:
            connect_args["application_name"] = f"quotad-agent/{node}"[:63]
    return create_ledger_engine(settings, poolclass=NullPool, connect_args=connect_args)


def pick_cluster(settings: Settings, config: AgentConfig) -> str:
    """``[agent] cluster`` (or ``--cluster``), else the only configured cluster."""
    if config.cluster:
        if settings.clusters and settings.cluster(config.cluster) is None:
            log.warning("cluster %r is not in [[clusters]]; its rows are recorded all the same", config.cluster)
        return config.cluster
    if len(settings.clusters) == 1:
        return settings.clusters[0].name
    known = ", ".join(c.name for c in settings.clusters) or "none configured"
    raise UsageError(f"which cluster is this node in? pass --cluster or set [agent] cluster (known: {known})")


def open_agent(settings: Settings, config: AgentConfig, *, fake: Path | None, slurm: bool) -> AgentParts:
    """Everything the ``agent`` command needs, from validated configuration: real NVML unless ``fake``."""
    if fake is not None:
        from quotad.collectors.nvml.fake import FakeNvml, load_scenario  # only for --fake: keeps it out of production

        api: NvmlApi = FakeNvml(load_scenario(fake), clock=time.time)
    else:
        api = load_nvml()
    node = config.node or default_node()
    return build_agent(
        config,
        cluster=pick_cluster(settings, config),
        node=node,
        engine=ledger_engine(settings, node=node),
        api=api,
        runner=subprocess_runner if slurm else None,
    )
