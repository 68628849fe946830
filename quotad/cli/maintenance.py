"""``quotad maintenance``: provider maintenance windows, taken out of reserved capacity and charged to nobody.

Windows come from the CLI, CSV, or Slurm MAINT reservations (``import-slurm`` runs ``scontrol show reservation``).
Times are ``YYYY-MM-DDTHH:MM`` in the programme's time zone unless they carry an offset. ``--nodes`` (and the
CSV ``nodes`` column) takes the nodes as a Slurm hostlist (``gpu[01-10]``), stored as Slurm-imported windows
store theirs, or only how many (``10``), which cannot be matched per node. ``overlaps`` lists job
segments that ran during a window: their charges are kept, a person decides what they mean. A window on named
nodes lists only the segments on them (GPU telemetry, else the scheduler's node list); segments whose node nothing
records are counted apart ("node unknown", ``overlaps --node-unknown`` lists them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.cli.pool import NODE_UNKNOWN_NOTE, window_from_options
from quotad.cli.provider import run_csv_import
from quotad.collectors.runner import Runner, SubprocessRunner
from quotad.config import ClusterConfig
from quotad.enforce.sacctmgr import SlurmError, slurm_tools
from quotad.errors import NotFoundError, UsageError
from quotad.pool import fields
from quotad.pool.maintenance import MaintenanceSpec, list_windows, maintenance_overlaps, remove_window, set_window
from quotad.pool.slurm_maint import SCONTROL_ENV, import_scontrol_reservations, scontrol_args
from quotad.render import Table, emit
from quotad.timeutil import epoch_now, parse_day

__all__ = ["RUNNER_FOR", "app"]

log = logging.getLogger("quotad.maintenance")


def _runner(cluster: ClusterConfig) -> Runner:
    conf = cluster.sacct.slurm_conf
    return SubprocessRunner(env={**SCONTROL_ENV, **({"SLURM_CONF": str(conf)} if conf else {})})


#: How ``import-slurm`` reaches scontrol; tests replace it with a fake runner.
RUNNER_FOR: Callable[[ClusterConfig], Runner] = _runner

app = typer.Typer(help="Provider maintenance windows.", no_args_is_help=True)


def _when(epoch: int, tz: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@app.command("add")
def add(
    ctx: typer.Context,
    cluster: str = typer.Option(..., "--cluster", help="Configured cluster."),
    start: str = typer.Option(..., "--start", help="Start, YYYY-MM-DDTHH:MM (programme time zone)."),
    end: str = typer.Option(..., "--end", help="End, YYYY-MM-DDTHH:MM."),
    node_type: str = typer.Option("", "--node-type", help="Only nodes of this reserved node type [default: all]."),
    nodes: str = typer.Option(
        "", "--nodes", help="Which nodes, as a Slurm hostlist (gpu[01-10]), or how many (10) [default: all of them]."
    ),
    reference: str = typer.Option("", "--ref", help="The provider's notice or ticket reference."),
    reason: str = typer.Option("", "--reason", help="Free text."),
) -> None:
    """Enter a maintenance window (or update the one with the same cluster, reference, node type and start)."""
    tz = state(ctx).settings.programme.timezone
    try:
        node_count, node_names = fields.node_spec(nodes, field="--nodes")
        spec = MaintenanceSpec(
            cluster=cluster,
            start=fields.moment(start, tz, field="--start"),
            end=fields.moment(end, tz, field="--end"),
            source="manual",
            reference=reference,
            node_type=node_type,
            node_count=node_count,
            nodes=node_names,
            reason=reason,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with state(ctx).writing() as conn:
        window_id, what = set_window(conn, spec, now=epoch_now())
    print(f"maintenance window {window_id} {what}: {cluster} {start} .. {end}")


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    since: str | None = typer.Option(None, "--from", help="Only windows ending after this day, YYYY-MM-DD."),
    until: str | None = typer.Option(None, "--to", help="Only windows starting before the end of this day."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Maintenance windows with their source, nodes and duration."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    lo = parse_day(since, tz) if since else None
    hi = parse_day(until, tz, end_of_day=True) if until else None
    with app_state.ledger().connect() as conn:
        windows = list_windows(conn, cluster=cluster, start=lo, end=hi)
    table = Table(
        ["Id", "Cluster", "Start", "End", "Hours", "Source", "Reference", "Node type", "Nodes", "Node names", "Reason"],
        [
            [
                w.id,
                w.cluster,
                _when(w.start, tz),
                _when(w.end, tz),
                round(w.duration / 3600, 2),
                w.source,
                w.reference,
                w.node_type or "all",
                w.node_count if w.node_count is not None else "all",
                w.nodes,
                w.reason,
            ]
            for w in windows
        ],
        keys=[
            "id",
            "cluster",
            "start",
            "end",
            "hours",
            "source",
            "reference",
            "node_type",
            "nodes",
            "node_names",
            "reason",
        ],
    )
    emit(table, pick_format(fmt, as_json))


@app.command("remove")
def remove(
    ctx: typer.Context, window_id: int = typer.Argument(..., help="Window id (see `maintenance list`).")
) -> None:
    """Delete a window entered by mistake."""
    with state(ctx).writing() as conn:
        remove_window(conn, window_id)
    print(f"maintenance window {window_id} removed")


@app.command("import")
def import_csv_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., help="CSV: cluster,start,end[,node_type,nodes,reference,reason]; nodes: a hostlist or a count"
    ),
) -> None:
    """Import maintenance windows from CSV; exit 1 if any row was refused."""
    run_csv_import(ctx, "maintenance", path)


@app.command("import-slurm")
def import_slurm(
    ctx: typer.Context,
    cluster: list[str] = typer.Option([], "--cluster", help="Only this cluster (repeatable) [default: all Slurm]."),
) -> None:
    """Import Slurm reservations with the MAINT flag; future windows Slurm no longer has are removed."""
    app_state = state(ctx)
    settings = app_state.settings
    names = cluster or [c.name for c in settings.clusters if c.scheduler == "slurm"]
    if not names:
        raise UsageError("no Slurm cluster is configured under [[clusters]]")
    failed = 0
    for name in names:
        config = settings.cluster(name)
        if config is None:
            raise NotFoundError("cluster", name, hint="configure it under [[clusters]]")
        tools = slurm_tools(config, RUNNER_FOR(config))
        try:
            text = tools.run(tools.scontrol_argv(*scontrol_args()))
        except SlurmError as exc:
            log.error("%s: %s", name, exc)
            failed += 1
            continue
        with app_state.writing() as conn:
            result = import_scontrol_reservations(
                conn, cluster=name, timezone=config.timezone, text=text, now=epoch_now()
            )
        print(
            f"{name}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged, "
            f"{result.removed} removed (Slurm MAINT reservations)"
        )
    if failed:
        raise typer.Exit(1)


@app.command("overlaps")
def overlaps(
    ctx: typer.Context,
    period: str | None = typer.Option(None, "--period", help="Month YYYY-MM [default: the current month]."),
    start: str | None = typer.Option(None, "--start", help="First day YYYY-MM-DD (instead of --period)."),
    end: str | None = typer.Option(None, "--end", help="Last day YYYY-MM-DD, inclusive."),
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    node_unknown: bool = typer.Option(
        False, "--node-unknown", help="List instead the segments whose nodes nothing records (not counted)."
    ),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Job segments that ran while a maintenance window was open (still charged: check them)."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    now = parse_now(now_text)
    lo, hi = window_from_options(period, start, end, now=now, tz=tz)
    with app_state.ledger().connect() as conn:  # up to now, as `pool status` counts them
        result = maintenance_overlaps(conn, start=lo, end=min(hi, now), cluster=cluster)
    found = result.node_unknown if node_unknown else result.found
    table = Table(
        [
            "Window",
            "Whole cluster",
            "Cluster",
            "Job",
            "Account",
            "User",
            "State",
            "Run start",
            "Run end",
            "GPUs",
            "Overlap h",
            "Overlap GPU-h",
            "Node from",
        ],
        [
            [
                o.window_id,
                "yes" if o.window_whole_cluster else "no",
                o.cluster,
                o.job_id,
                o.account,
                o.user,
                o.state,
                _when(o.run_start, tz),
                _when(o.run_end, tz),
                o.gpu_count,
                round(o.overlap_s / 3600, 2),
                round(o.gpu_seconds / 3600, 2),
                o.nodes_from.replace("_", " "),
            ]
            for o in found
        ],
        keys=[
            "window",
            "whole_cluster",
            "cluster",
            "job_id",
            "account",
            "user",
            "state",
            "run_start",
            "run_end",
            "gpus",
            "overlap_hours",
            "overlap_gpu_hours",
            "node_from",
        ],
    )
    emit(table, pick_format(fmt, as_json))
    if result.node_unknown and not node_unknown:
        log.warning(NODE_UNKNOWN_NOTE, len(result.node_unknown), "the same command with --node-unknown")
