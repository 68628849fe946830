"""``quotad policy``: run every enabled policy (directives, notices, enforcement) or explain one subject."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.directives.config import rules_from
from quotad.directives.explain import Explanation, explain, resolve_job
from quotad.enforce.sacctmgr import default_runner
from quotad.enforce.slurm_limits import RunnerFor
from quotad.render import Cell, Table, emit
from quotad.tick import TickReport, policy_tick

__all__ = ["app", "explain_table", "tick_table"]

log = logging.getLogger("quotad.policy")

#: How enforcement reaches Slurm; tests replace it with a fake runner.
RUNNER_FOR: RunnerFor = default_runner

app = typer.Typer(
    help="Policies: findings about quota, pace, idle GPUs, efficiency and programme use.", no_args_is_help=True
)


def tick_table(report: TickReport) -> Table:
    result = report.result
    ids = {(d.policy, d.subject_key): d.id for d in result.active}
    return Table(
        ["Policy", "Subject", "Severity", "Directive", "Finding"],
        [
            [f.policy, f.subject.key, f.severity.label, ids.get((f.policy, f.subject.key)), f.summary]
            for f in sorted(report.findings, key=lambda f: (-f.severity, f.policy, f.subject.key))
        ],
        title="Policy tick (dry run: nothing was changed)" if report.dry_run else "Policy tick",
        keys=["policy", "subject", "severity", "directive", "summary"],
        meta={
            "now": report.now,
            "dry_run": report.dry_run,
            "working_day": report.working_day,
            "opened": [d.id for d in result.opened],
            "updated": [d.id for d in result.updated],
            "closed": [{"id": d.id, "state": d.state, "reason": d.close_reason} for d in result.closed],
            "notices": [
                {"directive": n.directive.id, "number": n.number, "kind": n.kind, "escalated": n.escalated}
                for n in result.notices
            ],
            "deferred": [d.id for d in result.deferred],
            "queued": [
                {"key": q.dedup_key, "message_id": q.message_id, "to": list(q.recipients), "subject": q.subject}
                for q in report.queued
            ],
            "actions": [
                {
                    "directive": a.planned.directive_id,
                    "action": a.planned.action,
                    "target": a.planned.target,
                    "command": a.planned.command,
                    "outcome": a.outcome,
                    "detail": a.detail,
                }
                for a in report.actions
            ],
            "failures": [{"policy": f.policy, "error": f.error} for f in report.failures],
            "elapsed_ms": round(report.elapsed_ms, 1),
        },
    )


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Evaluate and show what would happen; change nothing."),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate every enabled policy; open, update and close directives; queue notices; enforce if configured."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    settings = app_state.settings
    report = policy_tick(
        app_state.ledger(),
        settings,
        rules_from(settings),
        now=parse_now(now_text),
        dry_run=dry_run,
        runner_for=RUNNER_FOR,
    )
    emit(tick_table(report), chosen)
    if chosen != "json":
        result = report.result
        log.info(
            "%d opened, %d updated, %d closed; %d notices queued, %d waiting for a working day",
            len(result.opened),
            len(result.updated),
            len(result.closed),
            len(report.queued),
            len(result.deferred),
        )
        for action in report.actions:
            verb = "would run" if action.outcome == "dry-run" else f"ran ({action.outcome})"
            print(f"{verb}: {action.planned.command}    # directive {action.planned.directive_id}")
    for failure in report.failures:
        log.error("policy %s failed: %s", failure.policy, failure.error)
    if report.failures or any(a.outcome == "failed" for a in report.actions):
        raise typer.Exit(1)


def explain_table(explanations: list[Explanation]) -> Table:
    rows: list[Sequence[Cell]] = []
    for e in explanations:
        for c in e.checks:
            severity = c.finding.severity.label if c.finding else None
            rows.append(
                [
                    e.policy,
                    "yes" if e.enabled else "no",
                    c.subject.key,
                    "yes" if c.fired else "no",
                    severity,
                    "yes" if c.missing_data else "",
                    c.reason,
                ]
            )
        if e.error:
            rows.append([e.policy, "yes" if e.enabled else "no", "", "error", None, "", e.error])
    return Table(
        ["Policy", "Enabled", "Subject", "Fired", "Severity", "Missing data", "Why"],
        rows,
        title="Policy explanation",
        keys=["policy", "enabled", "subject", "fired", "severity", "missing_data", "reason"],
    )


@app.command("explain")
def explain_cmd(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job", help="A job id (JobIDRaw, or JobID such as 123_4)."),
    cluster: str | None = typer.Option(None, "--cluster", help="The job's cluster, when the id is ambiguous."),
    company: str | None = typer.Option(None, "--company", help="A company id."),
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """For each policy: did it fire for this job or company, and if not, which threshold or missing data held it."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    settings = app_state.settings
    with app_state.ledger().connect() as conn:
        ref = resolve_job(conn, job, cluster) if job is not None else None
        explanations = explain(
            conn, settings, rules_from(settings), now=parse_now(now_text), company_id=company, job=ref
        )
    emit(explain_table(explanations), chosen)
