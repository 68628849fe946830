"""``quotad slurm``: push remaining grants into Slurm limits (a NoDecay QOS per company) and check accounts."""

from __future__ import annotations

import logging

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.enforce.sacctmgr import default_runner
from quotad.enforce.slurm_limits import AccountProblem, RunnerFor, SyncResult, check_accounts, sync_limits
from quotad.render import Table, emit

__all__ = ["accounts_app", "app", "problems_table", "sync_table"]

log = logging.getLogger("quotad.slurm")

#: How commands reach Slurm; tests replace it with a fake runner.
RUNNER_FOR: RunnerFor = default_runner

app = typer.Typer(help="Slurm: grants pushed into Slurm limits, accounts checked.", no_args_is_help=True)
accounts_app = typer.Typer(help="Slurm accounts against the ledger's companies.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")

ClusterOption = typer.Option(None, "--cluster", help="Only this configured cluster (default: every Slurm cluster).")


def sync_table(result: SyncResult) -> Table:
    return Table(
        ["Cluster", "Company", "QOS", "TRES", "Remaining GPU-min", "Slurm used GPU-min", "Limit", "Now in Slurm"],
        [
            [
                r.cluster,
                r.company_id,
                r.qos,
                r.tres,
                r.remaining_minutes,
                r.slurm_used_minutes,
                r.limit_minutes,
                r.current_minutes,
            ]
            for r in result.rows
        ],
        title="Slurm GrpTRESMins (applied and verified)" if result.applied else "Slurm GrpTRESMins (dry run)",
        keys=[
            "cluster",
            "company",
            "qos",
            "tres",
            "remaining_minutes",
            "slurm_used_minutes",
            "limit_minutes",
            "current_minutes",
        ],
        meta={"applied": result.applied, "commands": result.commands, "warnings": result.warnings},
    )


@app.command("sync-limits")
def sync_limits_cmd(
    ctx: typer.Context,
    cluster: str | None = ClusterOption,
    apply: bool = typer.Option(
        False, "--apply", help="Run the sacctmgr commands and verify them (default: only print them)."
    ),
    now_text: str | None = NowOption,
    as_json: bool = JsonOption,
) -> None:
    """Write each company's remaining grant as GrpTRESMins on its QOS quotad-<company> (dry run by default)."""
    app_state = state(ctx)
    with app_state.ledger().connect() as conn:
        result = sync_limits(
            conn, app_state.settings, now=parse_now(now_text), cluster=cluster, apply=apply, runner_for=RUNNER_FOR
        )
    table = sync_table(result)
    if as_json:
        emit(table, "json")
        return
    emit(table, "table")
    for command in result.commands:
        print(command)
    if not result.commands:
        log.info("Slurm already holds these limits: nothing to change")
    elif not apply:
        log.info("dry run: nothing was changed; --apply runs the %d command(s) above", len(result.commands))


def problems_table(problems: list[AccountProblem]) -> Table:
    return Table(
        ["Cluster", "Problem", "Subject", "Company", "Detail"],
        [[p.cluster, p.kind, p.subject, p.company_id, p.detail] for p in problems],
        title="Slurm accounts check",
        keys=["cluster", "kind", "subject", "company", "detail"],
    )


@accounts_app.command("check")
def check_cmd(
    ctx: typer.Context,
    cluster: str | None = ClusterOption,
    tolerance: int = typer.Option(
        0, "--tolerance-minutes", min=0, help="Accept limits this many GPU-minutes off (usage not yet ingested)."
    ),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Unclaimed Slurm accounts, ledger accounts missing in Slurm, limits differing from sync-limits'. Exit 1 if any."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    with app_state.ledger().connect() as conn:
        problems = check_accounts(
            conn,
            app_state.settings,
            now=parse_now(now_text),
            cluster=cluster,
            tolerance_minutes=tolerance,
            runner_for=RUNNER_FOR,
        )
    emit(problems_table(problems), chosen)
    if problems:
        raise typer.Exit(1)
    log.info("Slurm accounts and limits agree with the ledger")
