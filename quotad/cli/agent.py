"""``quotad agent``: the NVML node agent (long-running, or ``--once`` for one sample and flush).

Thin like every command: options are merged into ``[agent]`` and validated once, ``open_agent`` builds the
parts, ``serve``/``run_once`` runs them; ``--once`` renders what it sampled. NVML missing on the node is an
``NvmlUnavailableError``: one clear line on stderr and exit 1 at start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from quotad.agent_config import AgentConfig
from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.collectors.nvml.agent import NodeView
from quotad.collectors.nvml.service import open_agent, run_once, serve
from quotad.config import Settings
from quotad.errors import ConfigError
from quotad.render import Cell, Table, emit

__all__ = ["agent", "agent_config", "view_table"]

log = logging.getLogger("quotad.agent")
MIB = 1024 * 1024


def agent_config(settings: Settings, overrides: dict[str, Any]) -> AgentConfig:
    """``[agent]`` from the configuration (defaults until Settings has the section) with CLI overrides."""
    base = getattr(settings, "agent", None)
    data = base.model_dump() if isinstance(base, AgentConfig) else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"agent.{'.'.join(str(p) for p in e['loc'])} = {e.get('input')!r}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("invalid agent options:", problems=problems) from exc


def view_table(view: NodeView) -> Table:
    """One row per (GPU, holding job) of a sample; a GPU nobody holds gets one row without a job."""
    rows: list[Sequence[Cell]] = []
    for g in view.gpus:
        r = g.reading
        base: list[Cell] = [
            g.identity.index,
            g.identity.uuid,
            "lost" if r is not None and r.lost else (r.util_gpu if r is not None else None),
            r.mem_used // MIB if r is not None and r.mem_used is not None else None,
            round(r.power_mw / 1000, 1) if r is not None and r.power_mw is not None else None,
            len(r.processes) if r is not None else None,
        ]
        holders = g.ownership.holders or (None,)
        for h in holders:
            rows.append(
                [
                    *base,
                    h.job_id if h else None,
                    h.account if h else None,
                    h.allocated if h else None,
                    h.process_seen if h else None,
                    h.foreign_processes if h else g.ownership.unattributed_processes,
                ]
            )
    return Table(
        ["GPU", "UUID", "Util %", "Mem MiB", "Power W", "Procs", "Job", "Account", "Allocated", "Job proc", "Foreign"],
        rows,
        keys=[
            "gpu",
            "uuid",
            "util",
            "mem_used_mib",
            "power_w",
            "processes",
            "job",
            "account",
            "allocated",
            "job_process_seen",
            "foreign_processes",
        ],
        title=f"{view.cluster}/{view.node}",
    )


def agent(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Take one sample, flush it, print it and exit."),
    listen: str | None = typer.Option(None, "--listen", help="ADDR:PORT for /metrics (default 127.0.0.1:9818)."),
    spool: Path | None = typer.Option(None, "--spool", help="Spool directory for windows the ledger missed."),
    cluster: str | None = typer.Option(None, "--cluster", help="Cluster name (default: the only configured one)."),
    node: str | None = typer.Option(None, "--node", help="Node name as Slurm knows it (default: hostname -s)."),
    fake: Path | None = typer.Option(None, "--fake", help="Run against the fake NVML driven by SCENARIO.json."),
    interval: float | None = typer.Option(None, "--interval", help="Seconds between samples (default 10)."),
    no_slurm: bool = typer.Option(False, "--no-slurm", help="No Slurm here: attribute GPUs from /proc only."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Sample every GPU through NVML, attribute it to Slurm jobs, write hourly aggregates, serve /metrics."""
    settings = state(ctx).settings
    config = agent_config(
        settings,
        {"listen": listen, "spool_dir": spool, "cluster": cluster, "node": node, "interval_s": interval},
    )
    chosen = pick_format(fmt, as_json)
    parts = open_agent(settings, config, fake=fake, slurm=not no_slurm)
    if once:
        emit(view_table(run_once(parts)), chosen)
        return
    serve(parts, config, stop=threading.Event(), listen=config.listen_address)
